#include "daemon/tun/nat_engine.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/tun/reply.hpp"
#include "daemon/tun/tun_device.hpp"

namespace ghost::daemon::tun {

namespace {

asio::ip::address to_asio(const net::IpAddress& ip) {
    if (ip.v6) {
        asio::ip::address_v6::bytes_type b;
        std::copy(ip.bytes.begin(), ip.bytes.end(), b.begin());
        return asio::ip::address_v6(b);
    }
    return asio::ip::address_v4({ip.bytes[0], ip.bytes[1], ip.bytes[2], ip.bytes[3]});
}

net::IpAddress from_asio(const asio::ip::address& a) {  // the v6 listener is v6-only
    net::IpAddress ip;
    ip.v6 = a.is_v6();
    if (ip.v6) {
        auto b = a.to_v6().to_bytes();
        std::copy(b.begin(), b.end(), ip.bytes.begin());
    } else {
        auto b = a.to_v4().to_bytes();
        std::copy(b.begin(), b.end(), ip.bytes.begin());
    }
    return ip;
}

asio::ip::tcp::endpoint to_asio(const ghost::tun::SocketAddr& a) {
    return {to_asio(a.ip), a.port};
}

net::Cidr with_prefix(const net::IpAddress& ip, uint8_t prefix) {
    net::Cidr c;
    c.address = ip;
    c.prefix_len = prefix;
    return c;
}

// accept() errors of the connection being accepted (reset before we took it, or an error
// pending on it, see accept(2)): the next one may well succeed at once.
bool connection_error(const std::error_code& ec) {
    if (ec.category() != asio::error::get_system_category()) return false;
    switch (ec.value()) {
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case EINTR:
        case EAGAIN:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            return true;
        default:
            return false;
    }
}

}  // namespace

NatEngine::NatEngine(asio::io_context& io, NatEngineConfig config, AcceptHandler on_accept)
    : io_(io),
      config_(std::move(config)),
      on_accept_(std::move(on_accept)),
      listener_v4_(io),
      listener_v6_(io),
      accept_retry_v4_(io),
      accept_retry_v6_(io),
      sweep_timer_(io) {}

NatEngine::~NatEngine() {
    stop();
}

std::error_code NatEngine::configure_link(Netlink& nl, int ifindex, std::string* why) {
    const auto& a = config_.nat.addresses;
    auto fail = [&](std::error_code ec, const std::string& what) {
        if (why != nullptr) *why = what + " on " + device_name_ + ": " + ec.message();
        return ec;
    };
    if (auto ec = nl.add_address(ifindex, with_prefix(a.listener_v4, config_.prefix_v4)))
        return fail(ec, "cannot add address " + a.listener_v4.str());
    if (config_.nat.ipv6) {
        if (auto ec = nl.add_address(ifindex, with_prefix(a.listener_v6, config_.prefix_v6)))
            return fail(ec, "cannot add address " + a.listener_v6.str());
    }
    if (auto ec = nl.set_link_up(ifindex, config_.mtu, config_.txqlen))
        return fail(ec, "cannot set link up with MTU " + std::to_string(config_.mtu));
    return {};
}

std::error_code NatEngine::bind_listeners(std::string* why) {
    auto& a = config_.nat.addresses;
    auto open = [&](asio::ip::tcp::acceptor& acc, const net::IpAddress& ip) -> std::error_code {
        asio::ip::tcp::endpoint ep(to_asio(ip), a.listener_port);
        std::error_code ec;
        acc.open(ep.protocol(), ec);
        if (!ec && ip.v6) acc.set_option(asio::ip::v6_only(true), ec);
        // Each flow's kernel half runs between this listener and ghostd's TUN loop, one hop
        // inside this machine: nothing to share or pace. A pacing congestion control (the
        // system may default to bbr) meters it against ghostd's own read loop and leaves
        // both idle; accepted sockets inherit reno, which never paces. Best effort.
        if (!ec) {
            static constexpr char kReno[] = "reno";
            ::setsockopt(acc.native_handle(), IPPROTO_TCP, TCP_CONGESTION, kReno, sizeof kReno - 1);
        }
        if (!ec) acc.bind(ep, ec);
        if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
        if (ec && why != nullptr)
            *why = "cannot listen on " + ip.str() + ":" + std::to_string(a.listener_port) + ": " +
                   ec.message();
        if (!ec) a.listener_port = acc.local_endpoint().port();
        return ec;
    };
    if (auto ec = open(listener_v4_, a.listener_v4)) return ec;
    if (config_.nat.ipv6) return open(listener_v6_, a.listener_v6);
    return {};
}

std::error_code NatEngine::start(Netlink& nl, std::string* why) {
    TunDevice dev;
    if (auto ec = open_tun(config_.device, &dev, why)) return ec;
    device_name_ = dev.name;
    ifindex_ = dev.ifindex;
    checksum_offload_ = dev.checksum_offload;
    std::error_code ec = configure_link(nl, dev.ifindex, why);
    if (!ec) ec = bind_listeners(why);
    if (ec) {
        stop();  // dev.fd closes on return: the device and its addresses disappear
        return ec;
    }
    nat_.emplace(config_.nat);
    nat_->on_accepted_end([this](const ghost::tun::Flow& flow) { flow_ended(flow); });
    tun_io_ = std::make_shared<TunIo>(io_, std::move(dev.fd), config_.write_queue);
    running_ = true;
    std::weak_ptr<NatEngine> weak = weak_from_this();
    tun_io_->start(
        [weak](std::span<uint8_t> pkt, std::optional<ghost::tun::PartialChecksum> p) {
            if (auto self = weak.lock()) self->on_packet(pkt, p);
        },
        [weak](const std::string& error) {
            auto self = weak.lock();
            if (!self || !self->running_) return;
            if (auto report = std::move(self->on_failure_)) {
                report("TUN device " + self->device_name_ + ": " + error);
            }
        });
    accept(listener_v4_, accept_retry_v4_);
    if (config_.nat.ipv6) accept(listener_v6_, accept_retry_v6_);
    sweep();
    return {};
}

void NatEngine::on_packet(std::span<uint8_t> packet,
                          std::optional<ghost::tun::PartialChecksum> partial) {
    auto r = nat_->process(packet, ghost::tun::Clock::now(), &reply_, partial);
    // A checksum left partial stays so: the kernel's own TCP trusts it without summing.
    if (r.verdict == ghost::tun::Verdict::forward) tun_io_->send(packet.first(r.length), r.partial);
    if (r.verdict == ghost::tun::Verdict::reply) tun_io_->send(reply_);
    if (r.verdict == ghost::tun::Verdict::dns && on_dns_) {
        ghost::tun::PacketView v;
        if (ghost::tun::parse_packet(packet, &v) != ghost::tun::ParseError::none) return;
        size_t off = v.l4_offset + ghost::tun::kUdpHeaderLen;
        on_dns_(v.source(), v.destination(),
                std::vector<uint8_t>(packet.begin() + static_cast<ptrdiff_t>(off),
                                     packet.begin() + static_cast<ptrdiff_t>(off + v.payload_len)));
    }
}

bool NatEngine::send_udp(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                         std::span<const uint8_t> payload) {
    if (!running_ || !tun_io_) return false;
    return tun_io_->send(ghost::tun::build_udp_datagram(from, to, payload));
}

void NatEngine::accept(asio::ip::tcp::acceptor& acceptor, asio::steady_timer& retry) {
    std::weak_ptr<NatEngine> weak = weak_from_this();
    acceptor.async_accept(
        [weak, &acceptor, &retry](std::error_code ec, asio::ip::tcp::socket sock) {
            auto self = weak.lock();
            if (!self || !self->running_ || ec == asio::error::operation_aborted) return;
            if (ec) ++self->counters_.accept_errors;
            if (ec && !connection_error(ec)) return self->accept_later(acceptor, retry);
            if (!ec) self->on_accepted(std::move(sock));
            self->accept(acceptor, retry);
        });
}

void NatEngine::accept_later(asio::ip::tcp::acceptor& acceptor, asio::steady_timer& retry) {
    // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): accepting again now
    // would fail again at once, a busy loop on the worker. The connections wait in the
    // listen queue meanwhile.
    ++counters_.accept_backoffs;
    retry.expires_after(config_.accept_backoff);
    std::weak_ptr<NatEngine> weak = weak_from_this();
    retry.async_wait([weak, &acceptor, &retry](std::error_code ec) {
        auto self = weak.lock();
        if (self && !ec && self->running_) self->accept(acceptor, retry);
    });
}

void NatEngine::on_accepted(asio::ip::tcp::socket socket) {
    std::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    std::optional<ghost::tun::FlowTuple> flow;
    if (!ec) flow = nat_->lookup_accepted(from_asio(peer.address()), peer.port());
    if (!flow) {
        ++counters_.accepted_unknown;
        socket.set_option(asio::socket_base::linger(true, 0), ec);  // a reset, not a FIN
        socket.close(ec);
        return;
    }
    ++counters_.accepted;
    uint16_t n = peer.port();
    FlowCloser close =
        on_accept_(std::move(socket), AcceptedFlow{to_asio(flow->src), to_asio(flow->dst)});
    if (close && nat_->flows().find_port(n) != nullptr) closers_[n] = std::move(close);
}

void NatEngine::flow_ended(const ghost::tun::Flow& flow) {
    auto it = closers_.find(flow.port);
    if (it == closers_.end()) return;
    FlowCloser close = std::move(it->second);
    closers_.erase(it);
    // After FIN both ways or a RST the connection is over; its socket finishes by itself
    // once the channel has what it received. Any other flow outlived its record (idle or
    // half-closed too long): none of its packets passes any more, so its socket and
    // channel would stay open until the far end spoke.
    if (flow.state == ghost::tun::FlowState::closed) return;
    ++counters_.expired_open;
    close();
}

void NatEngine::sweep() {
    sweep_timer_.expires_after(config_.sweep_interval);
    std::weak_ptr<NatEngine> weak = weak_from_this();
    sweep_timer_.async_wait([weak](std::error_code ec) {
        auto self = weak.lock();
        if (!self || ec || !self->running_) return;
        self->nat_->expire(ghost::tun::Clock::now());
        self->sweep();
    });
}

void NatEngine::stop() {
    running_ = false;
    std::error_code ignored;
    sweep_timer_.cancel();
    accept_retry_v4_.cancel();
    accept_retry_v6_.cancel();
    listener_v4_.close(ignored);
    listener_v6_.close(ignored);
    if (tun_io_) tun_io_->close();
}

const ghost::tun::NatCounters* NatEngine::nat_counters() const {
    return nat_ ? &nat_->counters() : nullptr;
}

const TunIoCounters* NatEngine::io_counters() const {
    return tun_io_ ? &tun_io_->counters() : nullptr;
}

uint64_t NatEngine::flows_evicted() const {
    return nat_ ? nat_->flows().evicted() : 0;
}

size_t NatEngine::flow_count() const {
    return nat_ ? nat_->flows().size() : 0;
}

}  // namespace ghost::daemon::tun
