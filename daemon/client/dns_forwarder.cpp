#include "daemon/client/dns_forwarder.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <random>

#include "common/dns/message.hpp"

namespace ghost::daemon::client {

using dns::get16;
using dns::kHeaderSize;
using dns::put16;

struct DnsForwarder::Conn {
    Conn(asio::io_context& io, net::Endpoint r, uint16_t first_id)
        : sock(io), resolver(std::move(r)), next_id(first_id) {}
    enum class State { opening, open, closed };
    asio::local::stream_protocol::socket sock;
    net::Endpoint resolver;
    State state = State::opening;
    std::map<uint16_t, Pending> pending;   // by the id sent to the resolver
    std::deque<std::vector<uint8_t>> out;  // length-prefixed messages not yet written
    bool writing = false;
    uint16_t next_id;
    std::array<uint8_t, 2> len{};
    std::vector<uint8_t> body;
};

DnsForwarder::DnsForwarder(ssh::ChannelOpener& opener, std::vector<net::Endpoint> resolvers,
                           log::Logger log)
    : opener_(opener),
      resolvers_(std::move(resolvers)),
      log_(std::move(log)),
      sweep_timer_(opener.io()) {}

DnsForwarder::~DnsForwarder() {
    stop();
}

void DnsForwarder::query(std::vector<uint8_t> message, Answer answer) {
    ++queries_;
    if (message.size() < kHeaderSize || message.size() > 65535) return answer({});  // not DNS
    Pending p{get16(message, 0), message, std::move(answer),
              std::chrono::steady_clock::now() + kQueryTimeout};
    if (stopped_ || resolvers_.empty() || in_flight_ >= kMaxInFlight) {
        return fail(p, stopped_ ? Why::lost : Why::overload);
    }
    auto c = pick_connection();
    uint16_t id = c->next_id++;
    while (c->pending.count(id) != 0) id = c->next_id++;
    put16(message, 0, id);
    std::vector<uint8_t> frame(2);
    put16(frame, 0, static_cast<uint16_t>(message.size()));
    frame.insert(frame.end(), message.begin(), message.end());
    c->pending.emplace(id, std::move(p));
    ++in_flight_;
    if (!sweeping_) {  // the deadline sweep runs while queries are in flight
        sweeping_ = true;
        sweep();
    }
    c->out.push_back(std::move(frame));
    if (c->state == Conn::State::open) write_next(c);
}

std::shared_ptr<DnsForwarder::Conn> DnsForwarder::pick_connection() {
    std::shared_ptr<Conn> best;
    for (auto& c : conns_) {
        if (!best || c->pending.size() < best->pending.size()) best = c;
    }
    if (best && (best->pending.size() < kPerConnection || conns_.size() >= kMaxConnections))
        return best;
    static thread_local std::mt19937 rng{std::random_device{}()};
    auto c = std::make_shared<Conn>(opener_.io(), resolvers_[next_resolver_++ % resolvers_.size()],
                                    static_cast<uint16_t>(rng()));
    conns_.push_back(c);
    open_connection(c);
    return c;
}

void DnsForwarder::open_connection(const std::shared_ptr<Conn>& c) {
    ssh::OpenRequest req;
    req.host = c->resolver.host;
    req.port = c->resolver.port;
    std::weak_ptr<DnsForwarder> weak = weak_from_this();
    opener_.open(std::move(req), [weak, c](ssh::OpenOutcome o, ssh::ChannelHandle ch) {
        if (auto self = weak.lock()) self->on_open(c, std::move(o), std::move(ch));
    });
}

void DnsForwarder::on_open(const std::shared_ptr<Conn>& c, ssh::OpenOutcome o,
                           ssh::ChannelHandle ch) {
    if (c->state == Conn::State::closed) return;
    if (!o.ok()) {
        ++channel_failures_;
        return close_connection(c, "resolver " + c->resolver.str() + ": " + o.message);
    }
    // The channel is bridged to one end of a socket pair; we speak DNS over TCP on the other.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        return close_connection(c, std::string("socketpair: ") + std::strerror(errno));
    }
    asio::error_code ec;
    asio::ip::tcp::socket bridge_end(opener_.io());
    bridge_end.assign(asio::ip::tcp::v4(), sv[0], ec);
    if (!ec) c->sock.assign(asio::local::stream_protocol(), sv[1], ec);
    if (ec) {
        ::close(sv[0]);
        ::close(sv[1]);
        return close_connection(c, "socket pair: " + ec.message());
    }
    ch.attach(std::move(bridge_end));
    ++channels_opened_;
    c->state = Conn::State::open;
    write_next(c);
    read_next(c);
}

void DnsForwarder::write_next(const std::shared_ptr<Conn>& c) {
    if (c->writing || c->out.empty() || c->state != Conn::State::open) return;
    c->writing = true;
    std::weak_ptr<DnsForwarder> weak = weak_from_this();
    asio::async_write(
        c->sock, asio::buffer(c->out.front()), [weak, c](asio::error_code ec, size_t) {
            c->writing = false;
            auto self = weak.lock();
            if (!self || c->state != Conn::State::open) return;
            if (ec) return self->close_connection(c, "write to resolver channel: " + ec.message());
            c->out.pop_front();
            self->write_next(c);
        });
}

void DnsForwarder::read_next(const std::shared_ptr<Conn>& c) {
    std::weak_ptr<DnsForwarder> weak = weak_from_this();
    asio::async_read(c->sock, asio::buffer(c->len), [weak, c](asio::error_code ec, size_t) {
        auto self = weak.lock();
        if (!self || c->state != Conn::State::open) return;
        if (ec)
            return self->close_connection(
                c, "resolver " + c->resolver.str() + " closed: " + ec.message());
        c->body.resize(static_cast<size_t>((c->len[0] << 8) | c->len[1]));
        asio::async_read(c->sock, asio::buffer(c->body), [weak, c](asio::error_code ec2, size_t) {
            auto self2 = weak.lock();
            if (!self2 || c->state != Conn::State::open) return;
            if (ec2)
                return self2->close_connection(c, "resolver closed mid-answer: " + ec2.message());
            self2->on_response(c, std::move(c->body));
            self2->read_next(c);
        });
    });
}

void DnsForwarder::on_response(const std::shared_ptr<Conn>& c, std::vector<uint8_t> msg) {
    if (msg.size() < kHeaderSize) return;
    auto it = c->pending.find(get16(msg, 0));
    if (it == c->pending.end()) return;  // late answer to a query that already timed out
    put16(msg, 0, it->second.client_id);
    auto answer = std::move(it->second.answer);
    c->pending.erase(it);
    --in_flight_;
    ++answered_;
    answer(std::move(msg));
}

void DnsForwarder::fail(Pending& p, Why why) {
    if (why == Why::overload) ++overload_;
    if (why == Why::timeout) ++timeouts_;
    ++servfail_;
    if (p.answer) {
        auto a = std::move(p.answer);
        a(dns::servfail(p.query));
    }
}

void DnsForwarder::close_connection(const std::shared_ptr<Conn>& c, const std::string& why) {
    if (c->state == Conn::State::closed) return;
    c->state = Conn::State::closed;
    asio::error_code ec;
    c->sock.close(ec);
    if (!c->pending.empty()) {
        last_error_ = why;
        log_.notice("DNS: ", why, " (", c->pending.size(), " queries answered SERVFAIL)");
    }
    auto pending = std::move(c->pending);
    in_flight_ -= pending.size();
    conns_.erase(std::remove(conns_.begin(), conns_.end(), c), conns_.end());
    for (auto& [_, p] : pending) fail(p, Why::lost);
}

void DnsForwarder::sweep() {
    sweep_timer_.expires_after(std::chrono::seconds(1));
    std::weak_ptr<DnsForwarder> weak = weak_from_this();
    sweep_timer_.async_wait([weak](asio::error_code ec) {
        auto self = weak.lock();
        if (!self) return;
        if (ec || self->stopped_) {
            self->sweeping_ = false;
            return;
        }
        self->expire_queries();
        if (self->in_flight_ > 0) return self->sweep();
        self->sweeping_ = false;
    });
}

void DnsForwarder::expire_queries() {
    auto now = std::chrono::steady_clock::now();
    auto conns = conns_;
    for (auto& c : conns) {
        for (auto it = c->pending.begin(); it != c->pending.end();) {
            if (it->second.deadline > now) {
                ++it;
                continue;
            }
            Pending p = std::move(it->second);
            it = c->pending.erase(it);
            --in_flight_;
            fail(p, Why::timeout);
        }
    }
}

void DnsForwarder::stop() {
    if (stopped_) return;
    stopped_ = true;
    sweep_timer_.cancel();
    auto conns = conns_;
    for (auto& c : conns) close_connection(c, "DNS forwarder stopped");
}

nlohmann::json DnsForwarder::status() const {
    auto rs = nlohmann::json::array();
    for (const auto& r : resolvers_) rs.push_back(r.str());
    return {{"resolvers", rs},
            {"queries", queries_},
            {"answered", answered_},
            {"servfail", servfail_},
            {"timeouts", timeouts_},
            {"overload", overload_},
            {"in_flight", in_flight_},
            {"connections", conns_.size()},
            {"channels_opened", channels_opened_},
            {"channel_failures", channel_failures_},
            {"last_error", last_error_}};
}

}  // namespace ghost::daemon::client
