#include "daemon/tun/nat_engine.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

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

}  // namespace

NatEngine::NatEngine(asio::io_context& io, NatEngineConfig config, AcceptHandler on_accept)
    : io_(io),
      config_(std::move(config)),
      on_accept_(std::move(on_accept)),
      listener_v4_(io),
      listener_v6_(io),
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
    auto open = [&](core::TcpAcceptor& acc, const net::IpAddress& ip) -> std::error_code {
        std::error_code ec =
            acc.open({to_asio(ip), a.listener_port}, {.reuse_address = false, .v6_only = ip.v6});
        if (ec) {
            if (why != nullptr)
                *why = "cannot listen on " + ip.str() + ":" + std::to_string(a.listener_port) +
                       ": " + ec.message();
            return ec;
        }
        // Each flow's kernel half runs between this listener and ghostd's TUN loop, one hop
        // inside this machine: nothing to share or pace. A pacing congestion control (the
        // system may default to bbr) meters it against ghostd's own read loop and leaves
        // both idle; accepted sockets inherit reno, which never paces. Best effort.
        static constexpr char kReno[] = "reno";
        ::setsockopt(acc.native_handle(), IPPROTO_TCP, TCP_CONGESTION, kReno, sizeof kReno - 1);
        a.listener_port = acc.local_endpoint().port();
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
    accept(listener_v4_);
    if (config_.nat.ipv6) accept(listener_v6_);
    sweep();
    return {};
}

void NatEngine::on_packet(std::span<uint8_t> packet,
                          std::optional<ghost::tun::PartialChecksum> partial) {
    auto r = nat_->process(packet, ghost::tun::Clock::now(), &reply_, partial);
    // A checksum left partial stays so: the kernel's own TCP trusts it without summing.
    if (r.verdict == ghost::tun::Verdict::forward) tun_io_->send(packet.first(r.length), r.partial);
    if (r.verdict == ghost::tun::Verdict::reply) tun_io_->send(reply_);
    if (r.verdict == ghost::tun::Verdict::dns || r.verdict == ghost::tun::Verdict::udp ||
        r.verdict == ghost::tun::Verdict::icmp_echo)
        hand_over(packet.first(r.length), r.verdict);
}

void NatEngine::hand_over(std::span<uint8_t> packet, ghost::tun::Verdict verdict) {
    namespace gt = ghost::tun;
    gt::PacketView v;
    if (gt::parse_packet(packet, &v) != gt::ParseError::none) return;
    if (verdict == gt::Verdict::icmp_echo) {
        gt::EchoView e;
        if (on_echo_ && gt::parse_echo(packet, v, &e))
            on_echo_(v.src, v.dst, e.ident, e.sequence, packet.subspan(e.data_offset, e.data_len));
        return;
    }
    auto payload = packet.subspan(v.l4_offset + gt::kUdpHeaderLen, v.payload_len);
    if (verdict == gt::Verdict::dns) {
        if (on_dns_) on_dns_(v.source(), v.destination(), {payload.begin(), payload.end()});
        return;
    }
    if (on_udp_) return on_udp_(v.source(), v.destination(), payload);
    tun_io_->send(gt::build_port_unreachable(packet, v));
}

bool NatEngine::write(const std::vector<uint8_t>& packet) {
    if (!running_ || !tun_io_ || packet.empty()) return false;
    return tun_io_->send(packet);
}

bool NatEngine::send_udp(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                         std::span<const uint8_t> payload) {
    if (!running_ || !tun_io_) return false;
    return write(ghost::tun::build_udp_datagram(from, to, payload));
}

bool NatEngine::send_icmp_echo_reply(const net::IpAddress& from, const net::IpAddress& to,
                                     uint16_t ident, uint16_t sequence,
                                     std::span<const uint8_t> data) {
    if (!running_ || !tun_io_) return false;
    return write(ghost::tun::build_echo(from, to, false, ident, sequence, data));
}

bool NatEngine::send_icmp_error(const ghost::tun::SocketAddr& client,
                                const ghost::tun::SocketAddr& remote, uint8_t type, uint8_t code,
                                uint32_t mtu, std::span<const uint8_t> payload) {
    if (!running_ || !tun_io_) return false;
    return write(ghost::tun::build_udp_icmp_error(client, remote, type, code, mtu, payload));
}

void NatEngine::accept(core::TcpAcceptor& listener) {
    std::weak_ptr<NatEngine> weak = weak_from_this();
    listener.start(
        [weak](asio::ip::tcp::socket sock) {
            if (auto self = weak.lock()) self->on_accepted(std::move(sock));
        },
        {.what = log::cat("accept on ", listener.local_endpoint(), " (", device_name_, ") failed"),
         .pause = config_.accept_backoff});
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
    sweep_timer_.cancel();
    listener_v4_.close();
    listener_v6_.close();
    if (tun_io_) tun_io_->close();
}

NatEngineCounters NatEngine::counters() const {
    NatEngineCounters c = counters_;
    for (const auto* l : {&listener_v4_, &listener_v6_}) {
        c.accept_errors += l->counters().errors;
        c.accept_backoffs += l->counters().pauses;
    }
    return c;
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
