// libFuzzer target for DNS in TUN mode (daemon/client/dns_forwarder): queries from
// applications and DNS-over-TCP answers from the resolver, through the real forwarder on a
// real event loop, with channels that a fake SSH session opens at once (or refuses).
// Input: operations, each one byte and its arguments:
//   0 LEN BYTES      an application sends this query (UDP payload)
//   1 C K LEN BYTES  the resolver on channel C answers query K it received (id set to
//                    that query's; LEN = 255: a length prefix larger than what follows)
//   2 C LEN BYTES    the resolver on channel C sends raw bytes (framing garbage)
//   3 C              the resolver closes channel C
//   4                the next channel open fails
// Every query must be answered exactly once, with its own id; answers too large for UDP
// are cut as TUN mode cuts them. DNS message helpers get each query and answer too.

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/dns/message.hpp"
#include "daemon/client/dns_forwarder.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
namespace client = ghost::daemon::client;
namespace ssh = ghost::daemon::ssh;

// A session whose channels open at once; the resolver's side of each is kept here.
class FakeSession : public ssh::ChannelOpener {
  public:
    struct Channel : ssh::ChannelHandle::Impl {
        explicit Channel(FakeSession& s) : session(s) {}
        void attach(asio::ip::tcp::socket socket, std::string) override {
            session.resolvers.push_back(std::move(socket));
            session.sent.emplace_back();
        }
        void abandon() override {}
        void terminate(const std::string&) override {}
        FakeSession& session;
    };

    asio::io_context& io() override { return io_; }
    void open(ssh::OpenRequest, OpenCallback cb) override {
        const bool fail = fail_next;
        fail_next = false;
        asio::post(io_, [this, fail, cb = std::move(cb)] {
            if (fail)
                return cb(ssh::OpenOutcome::fail(ghost::proxy::OpenFailure::refused, "refused"),
                          {});
            cb(ssh::OpenOutcome::success(), ssh::ChannelHandle(std::make_shared<Channel>(*this)));
        });
    }

    // Reads what the forwarder wrote on channel c; returns the query ids seen there so far.
    const std::vector<uint16_t>& ids(size_t c) {
        uint8_t buf[4096];
        ssize_t n;
        while ((n = ::recv(resolvers[c].native_handle(), buf, sizeof buf, MSG_DONTWAIT)) > 0)
            sent[c].bytes.insert(sent[c].bytes.end(), buf, buf + n);
        auto& s = sent[c];
        while (s.bytes.size() - s.parsed >= 4) {  // length prefix + id
            const size_t len = size_t{s.bytes[s.parsed]} << 8 | s.bytes[s.parsed + 1];
            if (s.bytes.size() - s.parsed < 2 + len) break;
            check(len >= 12, "forwarded a query shorter than a header");
            s.ids.push_back(
                static_cast<uint16_t>(s.bytes[s.parsed + 2] << 8 | s.bytes[s.parsed + 3]));
            s.parsed += 2 + len;
        }
        return s.ids;
    }

    struct Sent {
        std::vector<uint8_t> bytes;
        size_t parsed = 0;
        std::vector<uint16_t> ids;
    };
    asio::io_context io_;
    std::vector<asio::ip::tcp::socket> resolvers;
    std::vector<Sent> sent;
    bool fail_next = false;
};

struct Query {
    std::vector<uint8_t> message;
    size_t answers = 0;
};

class Run {
  public:
    Run(const uint8_t* data, size_t size) : in_(data), end_(data + size) {}

    void run() {
        auto fwd = std::make_shared<client::DnsForwarder>(
            session_, std::vector<ghost::net::Endpoint>{{"10.0.0.53", 53}, {"fd00::53", 5353}},
            ghost::log::Logger("fuzz"));
        while (in_ < end_) {
            step(*fwd);
            while (session_.io_.poll() > 0) {
            }
        }
        fwd->stop();
        while (session_.io_.poll() > 0) {
        }
        for (const auto& q : *queries_) check(q.answers == 1, "a query answered never or twice");
    }

  private:
    uint8_t byte() { return in_ < end_ ? *in_++ : 0; }
    std::vector<uint8_t> bytes(size_t n) {
        n = std::min<size_t>(n, end_ - in_);
        std::vector<uint8_t> out(in_, in_ + n);
        in_ += n;
        return out;
    }

    void step(client::DnsForwarder& fwd) {
        const uint8_t op = byte() % 5;
        if (op == 0) return query(fwd, bytes(byte() | size_t{byte()} << 8));
        if (op == 4) {
            session_.fail_next = true;
            return;
        }
        if (session_.resolvers.empty()) return;
        const size_t c = byte() % session_.resolvers.size();
        auto& sock = session_.resolvers[c];
        if (op == 3) {
            asio::error_code ec;
            sock.close(ec);
            return;
        }
        if (!sock.is_open()) return;
        std::vector<uint8_t> out;
        if (op == 1) out = answer(c);
        const std::vector<uint8_t> more = bytes(byte());
        out.insert(out.end(), more.begin(), more.end());
        if (op == 1 && out.size() >= 2) {
            const size_t len = out[0] == 0xff ? 0xffff : out.size() - 2;
            out[0] = static_cast<uint8_t>(len >> 8);
            out[1] = static_cast<uint8_t>(len);
        }
        (void)::send(sock.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }

    // A length prefix (filled in later) and the id of the K-th query the channel carried.
    std::vector<uint8_t> answer(size_t c) {
        const uint8_t k = byte();
        const auto& ids = session_.ids(c);
        const uint16_t id = ids.empty() ? k : ids[k % ids.size()];
        return {k, 0, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)};
    }

    void query(client::DnsForwarder& fwd, std::vector<uint8_t> message) {
        const std::vector<uint8_t> servfail = ghost::dns::servfail(message);
        check(servfail.empty() == (message.size() < 12), "SERVFAIL for a non-header or none");
        check(servfail.size() <= message.size(), "SERVFAIL larger than the query");
        const size_t index = queries_->size();
        queries_->push_back({message, 0});
        std::weak_ptr<std::vector<Query>> queries = queries_;
        fwd.query(std::move(message), [queries, index](std::vector<uint8_t> a) {
            auto qs = queries.lock();
            check(qs != nullptr, "answer after the forwarder was gone");
            Query& q = (*qs)[index];
            ++q.answers;
            if (a.size() > client::kMaxUdpDnsAnswer) a = ghost::dns::truncated(a);
            check(a.size() <= client::kMaxUdpDnsAnswer, "answer too large for UDP");
            if (q.message.size() < 12 || q.message.size() > 65535)
                return check(a.empty(), "answer to non-DNS");
            check(a.size() >= 12 && a[0] == q.message[0] && a[1] == q.message[1],
                  "answer with another id");
        });
    }

    const uint8_t* in_;
    const uint8_t* end_;
    FakeSession session_;
    std::shared_ptr<std::vector<Query>> queries_ = std::make_shared<std::vector<Query>>();
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    ghost::log::set_level(ghost::log::Level::error);  // closed channels log at notice
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Run(data, size).run();
    return 0;
}
