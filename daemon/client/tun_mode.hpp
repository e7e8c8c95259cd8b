#pragma once
/// TUN mode of a client profile: the TUN device and NAT engine, the routes and rules, and
/// one direct-tcpip channel per TCP flow through the profile's ChannelOpener.
///
///   app --TCP--> ghost0 --NAT--> kernel --> NatEngine listener --accept--> open(D:dp)
///        --direct-tcpip--> SSH session --> server connects D:dp
///
/// Lives on the opener's worker io_context (start/stop/session events there);
/// status() is thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "daemon/client/dns_forwarder.hpp"
#include "daemon/client/resolved_link.hpp"
#include "daemon/client/tun_datagrams.hpp"
#include "daemon/core/log.hpp"
#include "daemon/ssh/channel_opener.hpp"
#include "daemon/tun/nat_engine.hpp"
#include "daemon/tun/netlink.hpp"
#include "daemon/tun/routing.hpp"

namespace ghost::daemon::client {

/// The SO_MARK ghostd's own transport sockets carry in full-tunnel mode, and the table
/// of the full-tunnel routes (both 0x67686f, "gho").
inline constexpr uint32_t kTunFwmark = 0x67686f;

/// Why the split tunnel of `p` would route the session into itself (its routes cover the
/// SSH server's address `server_ip`), or "" when the server stays outside the tunnel.
std::string tun_route_loop(const config::Profile& p, const std::string& server_ip);

class TunMode : public std::enable_shared_from_this<TunMode> {
  public:
    TunMode(ssh::ChannelOpener& opener, config::TunConfig cfg, log::Logger log);
    ~TunMode();

    /// Creates the device, starts the NAT engine and installs the routes. On failure
    /// everything is undone and *why names the step ("cannot create TUN device ghost0: ...").
    bool start(std::string* why);
    /// Removes routes and rules, then closes the device. Idempotent.
    void stop();

    /// Session lost / back: without the kill switch the routes are removed while the
    /// session is down (traffic then takes the normal path) and restored when it is up.
    void session_down();
    void session_up();

    /// `h` runs (on the worker, once) if the device stops working after start, e.g.
    /// because someone deleted it; set before start().
    void set_failure_handler(std::function<void(const std::string&)> h) {
        on_failure_ = std::move(h);
    }

    /// The session's datagram channel came (`send` and the server's hello) or went: UDP
    /// and echo requests go to the server, or are refused locally with `why` in status.
    void datagram_channel_up(TunDatagrams::Send send, const udp::Hello& hello);
    void datagram_channel_down(const std::string& why);
    /// A frame from the server (udp, icmp_echo, icmp_error) goes into the TUN.
    void on_datagram(const udp::Datagram& d);

    /// Device, addresses, routes, flow counts and drop reasons, as the worker last
    /// published them (every 250 ms and at each change of state). Any thread; never waits.
    nlohmann::json status() const;

  private:
    tun::FlowCloser on_accept(asio::ip::tcp::socket socket, tun::AcceptedFlow flow);
    bool apply_routes(std::string* why);
    bool configure_system_dns(std::string* why);
    void start_datagrams();
    void snapshot();
    void schedule_snapshot();
    void release_slot();

    ssh::ChannelOpener& opener_;
    config::TunConfig cfg_;
    log::Logger log_;
    tun::Netlink nl_;
    std::shared_ptr<tun::NatEngine> engine_;
    std::unique_ptr<tun::Routing> routing_;
    std::shared_ptr<DnsForwarder> dns_;
    std::shared_ptr<TunDatagrams> datagrams_;  // UDP and echo requests (tun.udp, tun.icmp)
    std::unique_ptr<ResolvedLink> resolved_;
    std::string system_dns_ = "none";  // what configure_system_dns did, for status
    tun::RoutingConfig routing_cfg_;
    asio::steady_timer snapshot_timer_;
    bool running_ = false;

    // Worker-side counters.
    uint64_t tunnelled_ = 0;    // flows bridged to a channel
    uint64_t open_failed_ = 0;  // flows reset because the channel did not open
    bool routes_applied_ = false;
    std::function<void(const std::string&)> on_failure_;
    std::optional<unsigned> slot_;        // NatAddresses slot held while started
    ghost::tun::NatAddresses addresses_;  // the device's subnet (from slot_)

    mutable std::mutex mutex_;  // guards snapshot_
    nlohmann::json snapshot_ = nlohmann::json::object();
};

}  // namespace ghost::daemon::client
