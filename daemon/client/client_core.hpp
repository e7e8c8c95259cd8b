#pragma once
/// The worker-side half of a client profile: owns the transport, the SSH session, the
/// local listeners and the reconnect logic, and is the profile's ChannelOpener.
/// Everything runs on one worker io_context; status_json() is thread-safe (what the worker
/// last published, plus live counters).
///
/// Its code: client_core.cpp (life cycle: start, connect, session up/lost, retry, fail,
/// stop; channel opens), client_connect.cpp (transport and SSH session set-up),
/// client_status.cpp (status). Pieces it uses: ReconnectPolicy, RemoteForwards,
/// PendingOpens, ServerLookup.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "daemon/client/pending_opens.hpp"
#include "daemon/client/reconnect_policy.hpp"
#include "daemon/client/remote_forwards.hpp"
#include "daemon/client/route_watch.hpp"
#include "daemon/client/server_lookup.hpp"
#include "daemon/client/tun_mode.hpp"
#include "daemon/core/published.hpp"
#include "daemon/core/runner.hpp"
#include "daemon/proxy/forward_listener.hpp"
#include "daemon/proxy/socks_listener.hpp"
#include "daemon/ssh/channel_opener.hpp"
#include "daemon/ssh/client_session.hpp"
#include "daemon/transport/transport.hpp"

namespace ghost::daemon::client {

/// One client profile's data plane.
class ClientCore : public ssh::ChannelOpener, public std::enable_shared_from_this<ClientCore> {
  public:
    /// Open requests allowed to wait for the session while (re)connecting.
    static constexpr size_t kMaxWaiters = PendingOpens::kMax;

    explicit ClientCore(RunnerContext ctx);
    ~ClientCore() override;

    /// Binds listeners and starts connecting (on the worker).
    void start();
    /// Tears everything down (on the worker); no reports afterwards.
    void stop();
    /// profile.status: what the worker last published, with live counters; any thread.
    nlohmann::json status_json() const;

    // ssh::ChannelOpener
    asio::io_context& io() override { return io_; }
    void open(ssh::OpenRequest req, OpenCallback cb) override;

  private:
    enum class Phase { idle, connecting, up, waiting_retry, failed, stopped };

    // Life cycle (client_core.cpp).
    bool bind_listeners(std::string* why);
    bool start_tun(std::string* why);
    void connect_attempt();
    /// Full tunnel to a server given by name: the name must be resolved before the tunnel
    /// takes the default route, since later lookups would go into the tunnel itself.
    bool needs_server_address() const;
    void resolve_server();
    void on_server_resolved(const std::string& error, std::vector<asio::ip::address> addresses);
    void on_session_up();
    void on_session_end(ssh::SessionEnd end);
    void schedule_retry(const std::string& reason);
    void on_route_change();
    void fail(const std::string& reason);
    /// Releases everything the profile holds and fails the opens still waiting with `why`;
    /// the one teardown of stop() and fail().
    void teardown(const std::string& why);
    void request_remote_forwards();
    void on_remote_forward(size_t i, bool ok, int bound, const std::string& message);
    void report(ProfileState s, const std::string& reason);

    // Status (client_status.cpp): published by the worker whenever what it shows changes.
    void publish();
    nlohmann::json datagram_status() const;

    // The session's datagram channel, handed to TUN mode (client_connect.cpp).
    void datagrams_ready();
    void datagrams_gone(const std::string& why);

    // Transport and SSH session set-up (client_connect.cpp).
    void open_transport();
    void on_transport(transport::ConnectResult r);
    /// The session configuration, with the identity loaded and the state directory made.
    bool prepare_session(ssh::ClientSessionConfig* cfg, std::string* why);
    ssh::ClientSessionConfig session_config(const ssh::Identity& id) const;
    ssh::SessionEvents session_events();

    RunnerContext ctx_;
    asio::io_context& io_;
    Phase phase_ = Phase::idle;
    ReconnectPolicy reconnect_;
    std::unique_ptr<transport::Transport> transport_;
    std::shared_ptr<ssh::ClientSession> session_;
    std::shared_ptr<ssh::SessionStats> stats_;
    std::vector<std::shared_ptr<proxy::ForwardListener>> forwards_;
    std::vector<std::shared_ptr<proxy::ProxyListener>> proxies_;  // SOCKS5 / HTTP CONNECT
    RemoteForwards remote_forwards_;
    std::shared_ptr<RouteWatch> route_watch_;
    std::shared_ptr<TunMode> tun_;
    asio::steady_timer retry_timer_;
    std::shared_ptr<ServerLookup> server_lookup_;      // full tunnel: the server's name, once
    std::vector<asio::ip::address> server_addresses_;  // what the name resolved to
    std::shared_ptr<PendingOpens> pending_;
    std::weak_ptr<ssh::DatagramChannel> datagram_channel_;  // while the session has one
    std::optional<udp::Hello> datagram_hello_;              // the server's, once it came
    std::string datagram_why_ = "no SSH session";           // why there is no channel

    /// What status_json() reads: the worker's fields, and the objects whose counters are
    /// read live (their status() is thread-safe).
    struct StatusSnapshot {
        nlohmann::json fields;
        std::vector<std::shared_ptr<const proxy::ForwardListener>> forwards;
        std::vector<std::shared_ptr<const proxy::ProxyListener>> proxies;
        std::shared_ptr<const TunMode> tun;
        std::optional<std::chrono::steady_clock::time_point> retry_at;
    };
    core::Published<StatusSnapshot> published_;
    // What status shows besides the session's counters.
    std::string user_;
    std::string public_key_;
    std::string host_key_fp_;
    std::string last_error_;
    nlohmann::json transport_info_ =
        nlohmann::json::object();  // tls details of the last connection
    unsigned snapshot_attempt_ = 0;
    bool snapshot_retry_pending_ = false;
    std::chrono::steady_clock::time_point next_retry_at_{};
};

}  // namespace ghost::daemon::client
