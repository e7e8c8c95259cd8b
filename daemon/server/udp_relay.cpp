#include "daemon/server/udp_relay.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/server/icmp_echo.hpp"
#include "daemon/server/udp_flows.hpp"
#include "daemon/server/udp_socket.hpp"

namespace ghost::daemon::server {
namespace {

using Clock = UdpClock;

enum class Filtering { endpoint_independent, address_dependent, address_and_port_dependent };

Filtering parse_filtering(const std::string& s) {
    if (s == "endpoint-independent") return Filtering::endpoint_independent;
    if (s == "address-dependent") return Filtering::address_dependent;
    return Filtering::address_and_port_dependent;
}

/// Why a datagram was dropped; status() names each.
enum class Drop : size_t {
    disabled,          // udp.enabled false
    proxy,             // outbound goes through an upstream proxy: UDP is refused
    bad_address,       // remote port 0, an IPv4-mapped or unspecified address
    oversize,          // payload over udp.max_payload (from the client)
    denied,            // ACL or permitopen
    flow_limit,        // udp.max_flows reached and no own flow to evict
    socket_error,      // could not open a flow socket (e.g. out of descriptors)
    send_would_block,  // the socket's send buffer is full
    send_failed,       // sendto failed otherwise (unreachable network, ...)
    filtered,          // from a remote the filtering mode does not admit
    inbound_denied,    // from a remote the ACL / permitopen deny (endpoint-independent)
    inbound_oversize,  // payload over udp.max_payload (from a remote)
    client_busy,       // the channel towards the client could not take the frame
    unexpected_frame,  // hello / icmp_error from the client
    closed,            // after close()
    kCount,
};

constexpr std::array<const char*, size_t(Drop::kCount)> kDropNames = {
    "disabled",       "proxy",
    "bad_address",    "oversize",
    "denied",         "flow_limit",
    "socket_error",   "send_would_block",
    "send_failed",    "filtered",
    "inbound_denied", "inbound_oversize",
    "client_busy",    "unexpected_frame",
    "closed"};

constexpr size_t kErrorsPerWakeup = 16;
constexpr size_t kDatagramsPerWakeup = 64;
constexpr size_t kFlowsInStatus = 32;

std::string str(const tun::SocketAddr& a) {
    return a.ip.v6 ? "[" + a.ip.str() + "]:" + std::to_string(a.port)
                   : a.ip.str() + ":" + std::to_string(a.port);
}

bool is_v4_mapped(const net::IpAddress& ip) {
    return ip.v6 && ip.unmapped() != ip;
}

}  // namespace

class UdpRelay::Impl : public std::enable_shared_from_this<UdpRelay::Impl> {
  public:
    Impl(asio::io_context& io, UdpRelayConfig cfg, std::shared_ptr<const OutboundPolicy> policy,
         UdpPermits permits, UdpSendToClient send, log::Logger log);

    udp::Hello hello() const;
    void on_frame(udp::Datagram d);
    nlohmann::json status() const;
    void close();

  private:
    using FlowPtr = UdpFlowTable::Ptr;

    void on_udp(udp::Datagram& d);
    void on_echo(const udp::Datagram& d);
    bool valid_remote(const tun::SocketAddr& remote) const;
    /// ACL, then permitopen; "" when allowed, else why.
    std::string refusal(const tun::SocketAddr& remote) const;
    void refuse(const udp::Datagram& d, Drop why, UdpFlow* flow, const std::string& reason);
    FlowPtr flow_for(const tun::SocketAddr& client);
    bool take_profile_slot();
    FlowPtr open_flow(const tun::SocketAddr& client);
    void close_flow(const FlowPtr& f);
    void send_to_remote(UdpFlow& f, const udp::Datagram& d);
    void wait_readable(const FlowPtr& f);
    void on_readable(const FlowPtr& f);
    bool drain_errors(UdpFlow& f);
    bool drain_datagrams(UdpFlow& f);
    void deliver(UdpFlow& f, const tun::SocketAddr& from, size_t n);
    bool admits(UdpFlow& f, const tun::SocketAddr& from);
    void report_icmp(UdpFlow& f, const udpio::IcmpReport& r);
    bool to_client(udp::Datagram d);
    void arm_sweep();
    void sweep();
    void count(Drop d) { ++drops_[size_t(d)]; }
    uint32_t max_flows() const;

    asio::io_context& io_;
    UdpRelayConfig cfg_;
    Filtering filtering_;
    std::shared_ptr<const OutboundPolicy> policy_;
    UdpPermits permits_;
    UdpSendToClient send_;
    log::Logger log_;
    std::string proxy_refusal_;  // non-empty: outbound goes through a proxy
    bool proxy_logged_ = false;
    bool socket_error_logged_ = false;
    bool closed_ = false;

    std::shared_ptr<IcmpEcho> echo_;
    UdpFlowTable flows_;
    AddrRing denials_logged_{64};  // flows without a socket whose denial was logged
    asio::steady_timer sweep_timer_;
    bool sweeping_ = false;
    std::vector<uint8_t> buf_;

    std::array<uint64_t, size_t(Drop::kCount)> drops_{};
    uint64_t flows_created_ = 0;
    uint64_t flows_expired_ = 0;
    uint64_t flows_evicted_ = 0;
    uint64_t to_remote_datagrams_ = 0;
    uint64_t to_remote_bytes_ = 0;
    uint64_t to_client_datagrams_ = 0;
    uint64_t to_client_bytes_ = 0;
    uint64_t icmp_errors_ = 0;
};

UdpRelay::Impl::Impl(asio::io_context& io, UdpRelayConfig cfg,
                     std::shared_ptr<const OutboundPolicy> policy, UdpPermits permits,
                     UdpSendToClient send, log::Logger log)
    : io_(io),
      cfg_(std::move(cfg)),
      filtering_(parse_filtering(cfg_.udp.filtering)),
      policy_(std::move(policy)),
      permits_(std::move(permits)),
      send_(std::move(send)),
      log_(std::move(log)),
      sweep_timer_(io),
      buf_(udp::kMaxPayload + 1) {
    if (!cfg_.profile_flows) cfg_.profile_flows = std::make_shared<std::atomic<uint32_t>>(0);
    const auto& out = policy_->cfg;
    if (out.type != "direct" && out.proxy)
        proxy_refusal_ = "outbound.type is \"" + out.type + "\" (" + out.proxy->str() +
                         "): UDP is not relayed through an upstream proxy";
    bool echo = cfg_.udp.enabled && cfg_.icmp.echo && proxy_refusal_.empty();
    EchoMode v4 = echo ? probe_echo_mode(false) : EchoMode::disabled;
    EchoMode v6 = echo ? probe_echo_mode(true) : EchoMode::disabled;
    echo_ = std::make_shared<IcmpEcho>(
        io, cfg_.icmp, cfg_.udp.max_payload, v4, v6,
        [this](udp::Datagram d) { return to_client(std::move(d)); }, log_);
}

uint32_t UdpRelay::Impl::max_flows() const {
    return std::min(cfg_.udp.max_flows_per_session, cfg_.udp.max_flows);
}

udp::Hello UdpRelay::Impl::hello() const {
    udp::Hello h;
    h.max_payload = static_cast<uint16_t>(std::min<uint32_t>(cfg_.udp.max_payload, 65535));
    h.max_flows = cfg_.udp.enabled && proxy_refusal_.empty() ? max_flows() : 0;
    auto usable = [](EchoMode m) { return m == EchoMode::ping || m == EchoMode::raw; };
    if (usable(echo_->mode(false))) h.features |= udp::kFeatureIcmpEcho4;
    if (usable(echo_->mode(true))) h.features |= udp::kFeatureIcmpEcho6;
    return h;
}

void UdpRelay::Impl::on_frame(udp::Datagram d) {
    if (closed_) return count(Drop::closed);
    if (d.type == udp::FrameType::udp) return on_udp(d);
    if (d.type == udp::FrameType::icmp_echo) return on_echo(d);
    count(Drop::unexpected_frame);
}

void UdpRelay::Impl::on_echo(const udp::Datagram& d) {
    const auto& remote = d.remote.ip;
    if (d.client.ip.v6 != remote.v6 || is_v4_mapped(remote) || remote.is_unspecified())
        return count(Drop::bad_address);
    std::string why;
    if (!proxy_refusal_.empty())
        why = proxy_refusal_;
    else if (auto acl = policy_->acl.check_host(remote); !acl.allowed)
        why = "denied by ACL: " + acl.reason;
    else if (permits_ && !permits_(remote.str(), 0))
        why = "not permitted for the key (echo needs permitopen=\"host:*\" or none)";
    if (why.empty()) return echo_->request(d);
    echo_->count_denied();
    if (denials_logged_.contains(d.client)) return;
    denials_logged_.add(d.client);
    log_.notice("icmp echo from ", d.client.ip.str(), " (id ", d.client.port, ") to ", remote.str(),
                " refused: ", why);
}

bool UdpRelay::Impl::valid_remote(const tun::SocketAddr& remote) const {
    return remote.port != 0 && !is_v4_mapped(remote.ip) && !remote.ip.is_unspecified();
}

std::string UdpRelay::Impl::refusal(const tun::SocketAddr& remote) const {
    auto d = policy_->acl.check(remote.ip, remote.port);
    if (!d.allowed) return "denied by ACL: " + d.reason;
    if (permits_ && !permits_(remote.ip.str(), remote.port))
        return "not permitted for the key (permitopen / no-port-forwarding / restrict)";
    return {};
}

void UdpRelay::Impl::refuse(const udp::Datagram& d, Drop why, UdpFlow* flow,
                            const std::string& reason) {
    count(why);
    bool logged = flow ? flow->denial_logged : denials_logged_.contains(d.client);
    if (!logged && !reason.empty())
        log_.notice("udp from ", str(d.client), " to ", str(d.remote), " refused: ", reason);
    if (flow)
        flow->denial_logged = true;
    else
        denials_logged_.add(d.client);
    udp::Datagram e;
    e.type = udp::FrameType::icmp_error;
    e.client = d.client;
    e.remote = d.remote;
    bool v6 = d.remote.ip.v6;
    e.icmp_type = v6 ? udpio::kIcmp6Unreachable : udpio::kIcmp4Unreachable;
    e.icmp_code = v6 ? udpio::kIcmp6AdminProhibited : udpio::kIcmp4AdminProhibited;
    to_client(std::move(e));
}

void UdpRelay::Impl::on_udp(udp::Datagram& d) {
    if (!cfg_.udp.enabled) return refuse(d, Drop::disabled, nullptr, "udp.enabled is false");
    if (!proxy_refusal_.empty()) {
        if (!proxy_logged_) log_.notice("udp refused: ", proxy_refusal_);
        proxy_logged_ = true;
        return refuse(d, Drop::proxy, nullptr, {});
    }
    if (d.client.ip.v6 != d.remote.ip.v6 || !valid_remote(d.remote))
        return count(Drop::bad_address);
    if (d.payload.size() > cfg_.udp.max_payload) return count(Drop::oversize);
    FlowPtr f = flows_.find(d.client);
    if (!f || !f->remotes.contains(d.remote)) {
        if (std::string why = refusal(d.remote); !why.empty())
            return refuse(d, Drop::denied, f.get(), why);
    }
    if (!f) f = flow_for(d.client);
    if (!f) return;
    send_to_remote(*f, d);
}

bool UdpRelay::Impl::take_profile_slot() {
    auto& n = *cfg_.profile_flows;
    if (n.fetch_add(1) < cfg_.udp.max_flows) return true;
    n.fetch_sub(1);
    return false;
}

UdpRelay::Impl::FlowPtr UdpRelay::Impl::flow_for(const tun::SocketAddr& client) {
    if (flows_.size() >= max_flows()) {
        close_flow(flows_.oldest());
        ++flows_evicted_;
    }
    if (!take_profile_slot()) {
        // Other sessions hold the profile's flows: give up our own oldest, if any.
        if (flows_.size() == 0) {
            count(Drop::flow_limit);
            return nullptr;
        }
        close_flow(flows_.oldest());
        ++flows_evicted_;
        if (!take_profile_slot()) {
            count(Drop::flow_limit);
            return nullptr;
        }
    }
    FlowPtr f = open_flow(client);
    if (!f) cfg_.profile_flows->fetch_sub(1);
    return f;
}

UdpRelay::Impl::FlowPtr UdpRelay::Impl::open_flow(const tun::SocketAddr& client) {
    auto f = std::make_shared<UdpFlow>(io_);
    f->client = client;
    bool v6 = client.ip.v6;
    asio::error_code ec;
    f->socket.open(v6 ? asio::ip::udp::v6() : asio::ip::udp::v4(), ec);
    if (!ec) {
        if (int e = udpio::enable_error_queue(f->socket.native_handle(), v6))
            ec = asio::error_code(e, asio::system_category());
    }
    if (!ec) f->socket.non_blocking(true, ec);
    if (!ec)
        f->socket.bind({v6 ? asio::ip::address(asio::ip::address_v6::any())
                           : asio::ip::address(asio::ip::address_v4::any()),
                        0},
                       ec);
    if (!ec) f->local_port = f->socket.local_endpoint(ec).port();
    if (ec) {
        count(Drop::socket_error);
        if (!socket_error_logged_)
            log_.warning("udp flow for ", str(client), " has no socket: ", ec.message());
        socket_error_logged_ = true;
        return nullptr;
    }
    socket_error_logged_ = false;
    f->last_active = Clock::now();
    flows_.insert(f);
    ++flows_created_;
    wait_readable(f);
    arm_sweep();
    return f;
}

void UdpRelay::Impl::close_flow(const FlowPtr& f) {
    if (!f || f->closed) return;
    f->closed = true;
    asio::error_code ignore;
    f->socket.close(ignore);
    flows_.erase(f->client);
    cfg_.profile_flows->fetch_sub(1);
}

void UdpRelay::Impl::send_to_remote(UdpFlow& f, const udp::Datagram& d) {
    int fd = f.socket.native_handle();
    int err = udpio::send_datagram(fd, d.remote, d.payload);
    if (err != 0 && err != EAGAIN && err != EWOULDBLOCK) {
        // A pending ICMP error (IP_RECVERR) fails the next send once: report it, retry.
        drain_errors(f);
        err = udpio::send_datagram(fd, d.remote, d.payload);
    }
    if (err == EAGAIN || err == EWOULDBLOCK) return count(Drop::send_would_block);
    if (err != 0) {
        count(Drop::send_failed);
        // No route here is what a router would have answered with ICMP: say so.
        bool v6 = d.remote.ip.v6;
        udpio::IcmpReport r{d.remote, v6 ? udpio::kIcmp6Unreachable : udpio::kIcmp4Unreachable};
        if (err == ENETUNREACH)
            r.code = 0;  // network unreachable, both families
        else if (err == EHOSTUNREACH)
            r.code = v6 ? 3 : 1;
        else if (err == EACCES || err == EPERM)
            r.code = v6 ? udpio::kIcmp6AdminProhibited : udpio::kIcmp4AdminProhibited;
        else
            return;
        return report_icmp(f, r);
    }
    f.remotes.add(d.remote);
    flows_.touch(f, Clock::now());
    ++f.to_remote_datagrams;
    f.to_remote_bytes += d.payload.size();
    ++to_remote_datagrams_;
    to_remote_bytes_ += d.payload.size();
}

void UdpRelay::Impl::wait_readable(const FlowPtr& f) {
    f->socket.async_wait(asio::socket_base::wait_read,
                         [w = weak_from_this(), f](asio::error_code ec) {
                             auto self = w.lock();
                             if (self && !ec && !f->closed) self->on_readable(f);
                         });
}

void UdpRelay::Impl::on_readable(const FlowPtr& f) {
    // Drain both queues to EAGAIN before waiting again (the reactor is edge-triggered);
    // at the per-wakeup cap, continue later so one busy flow cannot starve the others.
    bool more = drain_errors(*f);
    more = drain_datagrams(*f) || more;
    if (f->closed) return;
    if (!more) return wait_readable(f);
    asio::post(io_, [w = weak_from_this(), f] {
        auto self = w.lock();
        if (self && !f->closed) self->on_readable(f);
    });
}

bool UdpRelay::Impl::drain_errors(UdpFlow& f) {
    for (size_t i = 0; i < kErrorsPerWakeup; ++i) {
        udpio::IcmpReport r;
        auto got = udpio::read_error_queue(f.socket.native_handle(), &r);
        if (got == udpio::ErrorQueue::empty) return false;
        if (got == udpio::ErrorQueue::report) report_icmp(f, r);
    }
    return true;
}

bool UdpRelay::Impl::drain_datagrams(UdpFlow& f) {
    for (size_t i = 0; i < kDatagramsPerWakeup && !f.closed; ++i) {
        tun::SocketAddr from;
        ssize_t n = udpio::receive_datagram(f.socket.native_handle(), buf_, &from);
        if (n == -EAGAIN || n == -EWOULDBLOCK) return false;
        if (n < 0) continue;  // a pending ICMP error (reported from the error queue)
        deliver(f, from, static_cast<size_t>(n));
    }
    return !f.closed;
}

bool UdpRelay::Impl::admits(UdpFlow& f, const tun::SocketAddr& from) {
    if (f.remotes.contains(from)) return true;
    if (filtering_ == Filtering::address_and_port_dependent ||
        (filtering_ == Filtering::address_dependent && !f.remotes.contains_address(from.ip))) {
        count(Drop::filtered);
        return false;
    }
    if (!refusal(from).empty()) {
        count(Drop::inbound_denied);
        return false;
    }
    return true;
}

void UdpRelay::Impl::deliver(UdpFlow& f, const tun::SocketAddr& from, size_t n) {
    if (!admits(f, from)) return;
    if (n > cfg_.udp.max_payload) return count(Drop::inbound_oversize);
    udp::Datagram d;
    d.type = udp::FrameType::udp;
    d.client = f.client;
    d.remote = from;
    d.payload.assign(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
    if (!to_client(std::move(d))) return;
    flows_.touch(f, Clock::now());
    ++f.to_client_datagrams;
    f.to_client_bytes += n;
    ++to_client_datagrams_;
    to_client_bytes_ += n;
}

void UdpRelay::Impl::report_icmp(UdpFlow& f, const udpio::IcmpReport& r) {
    udp::Datagram e;
    e.type = udp::FrameType::icmp_error;
    e.client = f.client;
    e.remote = r.dest;
    e.icmp_type = r.type;
    e.icmp_code = r.code;
    e.mtu = r.mtu;
    if (to_client(std::move(e))) ++icmp_errors_;
}

bool UdpRelay::Impl::to_client(udp::Datagram d) {
    if (closed_ || !send_) return false;
    if (send_(std::move(d))) return true;
    count(Drop::client_busy);
    return false;
}

void UdpRelay::Impl::arm_sweep() {
    if (sweeping_ || closed_) return;
    sweeping_ = true;
    auto every = std::chrono::seconds(std::clamp<uint32_t>(cfg_.udp.idle_timeout_s / 4, 1, 30));
    sweep_timer_.expires_after(every);
    sweep_timer_.async_wait([w = weak_from_this()](asio::error_code ec) {
        auto self = w.lock();
        if (!self) return;
        self->sweeping_ = false;
        if (!ec) self->sweep();
    });
}

void UdpRelay::Impl::sweep() {
    if (closed_) return;
    auto limit = Clock::now() - std::chrono::seconds(cfg_.udp.idle_timeout_s);
    while (auto f = flows_.oldest()) {
        if (f->last_active > limit) break;
        close_flow(f);
        ++flows_expired_;
    }
    if (flows_.size() > 0) arm_sweep();
}

void UdpRelay::Impl::close() {
    if (closed_) return;
    while (auto f = flows_.oldest()) close_flow(f);
    closed_ = true;
    sweep_timer_.cancel();
    echo_->close();
}

nlohmann::json UdpRelay::Impl::status() const {
    nlohmann::json drops = nlohmann::json::object();
    for (size_t i = 0; i < drops_.size(); ++i) drops[kDropNames[i]] = drops_[i];
    nlohmann::json list = nlohmann::json::array();
    for (const UdpFlow* f : flows_.by_use()) {
        if (list.size() >= kFlowsInStatus) break;
        list.push_back(
            {{"client", str(f->client)},
             {"local_port", f->local_port},
             {"remotes", f->remotes.size()},
             {"to_remote", {{"datagrams", f->to_remote_datagrams}, {"bytes", f->to_remote_bytes}}},
             {"to_client",
              {{"datagrams", f->to_client_datagrams}, {"bytes", f->to_client_bytes}}}});
    }
    return {{"enabled", cfg_.udp.enabled && proxy_refusal_.empty()},
            {"refused", proxy_refusal_},
            {"filtering", cfg_.udp.filtering},
            {"flows", flows_.size()},
            {"max_flows", max_flows()},
            {"flows_created", flows_created_},
            {"flows_expired", flows_expired_},
            {"flows_evicted", flows_evicted_},
            {"to_remote", {{"datagrams", to_remote_datagrams_}, {"bytes", to_remote_bytes_}}},
            {"to_client", {{"datagrams", to_client_datagrams_}, {"bytes", to_client_bytes_}}},
            {"icmp_errors", icmp_errors_},
            {"drops", drops},
            {"recent_flows", list},
            {"icmp_echo", echo_->status()}};
}

// ---------------------------------------------------------------- UdpRelay

UdpRelay::UdpRelay(asio::io_context& io, UdpRelayConfig cfg,
                   std::shared_ptr<const OutboundPolicy> policy, UdpPermits permits,
                   UdpSendToClient send_to_client, log::Logger log)
    : impl_(std::make_shared<Impl>(io, std::move(cfg), std::move(policy), std::move(permits),
                                   std::move(send_to_client), std::move(log))) {}

UdpRelay::~UdpRelay() {
    impl_->close();
}

udp::Hello UdpRelay::hello() const {
    return impl_->hello();
}

void UdpRelay::on_frame(udp::Datagram d) {
    impl_->on_frame(std::move(d));
}

nlohmann::json UdpRelay::status() const {
    return impl_->status();
}

void UdpRelay::close() {
    impl_->close();
}

}  // namespace ghost::daemon::server
