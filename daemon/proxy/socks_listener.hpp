#pragma once
/// A SOCKS5 and/or HTTP CONNECT listener of a client profile: accepts on the opener's
/// io_context, runs one FrontDoorSession per connection, and keeps the counters shown
/// by `ghostctl status`. The listener stays bound while the SSH session reconnects;
/// requests made meanwhile wait (bounded) for the session, see ssh::ChannelOpener::open.

#include <atomic>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "daemon/core/acceptor.hpp"
#include "daemon/core/log.hpp"
#include "daemon/proxy/local_service.hpp"
#include "daemon/proxy/socks_session.hpp"
#include "daemon/ssh/channel_opener.hpp"

namespace ghost::daemon::proxy {

/// Per-listener limits.
struct ProxyListenerLimits {
    /// Connections in handshake or waiting for their channel; beyond, new ones are
    /// closed at once. Tunnels already bridged are bounded by the SSH engine.
    std::size_t max_connections = 8192;
    std::chrono::milliseconds handshake_timeout{10'000};
};

/// One SOCKS5 / HTTP CONNECT front-door port. Create with make_shared; use on
/// opener.io() only (status() is thread-safe).
class ProxyListener : public LocalService, public std::enable_shared_from_this<ProxyListener> {
  public:
    ProxyListener(ssh::ChannelOpener& opener, config::ProxyListenerConfig cfg, FrontDoorKind kind,
                  log::Logger logger, ProxyListenerLimits limits = {});

    /// Binds the listen address now; false + *why ("cannot listen on ...: in use").
    bool bind(std::string* why) override;
    /// Starts accepting (warns when the port is reachable from the network without auth).
    void start() override;
    /// Closes the port and every connection still in its handshake. Tunnels already
    /// bridged belong to the SSH session and continue until it ends.
    void close() override;
    /// {"listen","kind","auth","connections_total","connections_active","tunnels",
    ///  "failures","rejected"}; callable from any thread.
    nlohmann::json status() const override;
    /// The bound port (useful when the config asked for port 0).
    uint16_t bound_port() const { return bound_port_; }

  private:
    void on_accepted(asio::ip::tcp::socket socket);
    void on_session_done(FrontDoorSession* session, SessionResult result);
    std::string label() const;

    ssh::ChannelOpener& opener_;
    config::ProxyListenerConfig cfg_;
    std::shared_ptr<FrontDoorSettings> settings_;
    log::Logger log_;
    ProxyListenerLimits limits_;
    core::TcpAcceptor acceptor_;
    bool closed_ = false;
    std::unordered_map<FrontDoorSession*, std::shared_ptr<FrontDoorSession>> sessions_;
    std::atomic<uint16_t> bound_port_{0};
    std::atomic<uint64_t> total_{0};
    std::atomic<uint64_t> active_{0};
    std::atomic<uint64_t> tunnels_{0};
    std::atomic<uint64_t> failures_{0};
    std::atomic<uint64_t> rejected_{0};
};

/// Creates and binds the profile's front doors: `socks5` (sharing its port with HTTP
/// CONNECT unless socks5.http_connect is false) and `http_connect`. On a bind failure
/// returns false with *why; listeners bound so far are closed.
bool bind_proxy_listeners(ssh::ChannelOpener& opener, const config::Profile& profile,
                          const log::Logger& logger,
                          std::vector<std::shared_ptr<ProxyListener>>* out, std::string* why);

}  // namespace ghost::daemon::proxy
