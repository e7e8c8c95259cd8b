#pragma once
/// The worker-side half of a client profile: owns the transport, the SSH session, the
/// local listeners and the reconnect logic, and is the profile's ChannelOpener.
/// Everything runs on one worker io_context; status_json() is thread-safe.

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "daemon/client/route_watch.hpp"
#include "daemon/client/tun_mode.hpp"
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
    static constexpr size_t kMaxWaiters = 1024;

    explicit ClientCore(RunnerContext ctx);
    ~ClientCore() override;

    /// Binds listeners and starts connecting (on the worker).
    void start();
    /// Tears everything down (on the worker); no reports afterwards.
    void stop();
    /// Snapshot for profile.status; any thread.
    nlohmann::json status_json() const;

    // ssh::ChannelOpener
    asio::io_context& io() override { return io_; }
    void open(ssh::OpenRequest req, OpenCallback cb) override;

  private:
    enum class Phase { idle, connecting, up, waiting_retry, failed, stopped };
    struct Waiter {
        ssh::OpenRequest req;
        OpenCallback cb;
        std::chrono::steady_clock::time_point deadline;
    };
    struct RemoteForwardState {
        config::RemoteForwardConfig cfg;
        int bound_port = 0;
        std::string state = "pending";  // pending | requesting | listening | refused
        std::string message;
    };

    bool bind_listeners(std::string* why);
    bool start_tun(std::string* why);
    /// Full tunnel to a server given by name: the name must be resolved before the tunnel
    /// takes the default route, since later lookups would go into the tunnel itself.
    bool needs_server_address() const;
    void resolve_server();
    void connect_attempt();
    void open_transport();
    void on_transport(transport::ConnectResult r);
    ssh::ClientSessionConfig session_config(const ssh::Identity& id) const;
    void on_session_up();
    void on_session_end(ssh::SessionEnd end);
    void schedule_retry(const std::string& reason);
    void fail(const std::string& reason);
    void on_route_change();
    void request_remote_forwards();
    std::optional<net::Endpoint> remote_target(const std::string& addr, int port);
    void flush_waiters();
    void expire_waiters();
    void fail_waiters(const std::string& why);
    void report(ProfileState s, const std::string& reason);
    std::chrono::milliseconds backoff_delay();

    RunnerContext ctx_;
    asio::io_context& io_;
    Phase phase_ = Phase::idle;
    std::unique_ptr<transport::Transport> transport_;
    std::shared_ptr<ssh::ClientSession> session_;
    std::shared_ptr<ssh::SessionStats> stats_;
    std::vector<std::shared_ptr<proxy::ForwardListener>> forwards_;
    std::vector<std::shared_ptr<proxy::ProxyListener>> proxies_;  // SOCKS5 / HTTP CONNECT
    std::vector<RemoteForwardState> remote_forwards_;             // guarded by mutex_ for reads
    std::shared_ptr<RouteWatch> route_watch_;
    std::shared_ptr<TunMode> tun_;  // set on the worker under mutex_ (status reads it)
    asio::steady_timer retry_timer_;
    asio::ip::tcp::resolver server_resolver_;          // full tunnel: the server's name, once
    asio::steady_timer resolve_timer_;                 // its deadline (ssh.connect_timeout)
    std::vector<asio::ip::address> server_addresses_;  // what the name resolved to
    uint64_t resolve_gen_ = 0;                         // the lookup whose answer counts
    asio::steady_timer waiter_timer_;
    std::deque<Waiter> waiters_;
    unsigned attempt_ = 0;
    bool ever_up_ = false;
    std::chrono::steady_clock::time_point next_retry_at_{};
    std::mt19937 rng_{std::random_device{}()};

    mutable std::mutex mutex_;  // guards the snapshot fields below
    std::string user_;
    std::string public_key_;
    std::string host_key_fp_;
    std::string last_error_;
    nlohmann::json transport_info_ =
        nlohmann::json::object();  // tls details of the last connection
    unsigned snapshot_attempt_ = 0;
    bool snapshot_retry_pending_ = false;
};

}  // namespace ghost::daemon::client
