#pragma once
/// The client role of the SSH engine (ssh::Connection, DESIGN.md §6).
/// Handshake: connect -> host key -> auth -> up.
/// After up: direct-tcpip opens (ChannelOpener semantics), remote forwards (tcpip-forward
/// requests), incoming forwarded-tcpip channels, and a keepalive that probes a quiet link
/// with keepalive@openssh.com and ends the session when nothing arrives for
/// interval x count seconds. Global requests go one at a time (GlobalRequests).

#include <libssh/libssh.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio.hpp>

#include "common/net/endpoint.hpp"
#include "daemon/core/log.hpp"
#include "daemon/core/unique_fd.hpp"
#include "daemon/ssh/channel_opener.hpp"
#include "daemon/ssh/connection.hpp"
#include "daemon/ssh/datagram_open.hpp"
#include "daemon/ssh/global_requests.hpp"
#include "daemon/ssh/host_key_check.hpp"
#include "daemon/ssh/session_windows.hpp"
#include "daemon/ssh/ssh_key.hpp"

namespace ghost::daemon::ssh {

class ChannelBridge;

/// Everything a client session needs to know.
struct ClientSessionConfig {
    std::string host;  // as configured (known_hosts key, messages)
    uint16_t port = 22;
    std::string user;
    std::string ciphers;  // comma list; empty = ghost's preference
    HostKeyPolicy host_key;
    Identity identity;  // used unless agent
    bool agent = false;
    std::chrono::milliseconds handshake_timeout{15000};
    std::chrono::milliseconds open_timeout{15000};
    uint32_t keepalive_interval_s = 5;  // a quiet link is probed after this long
    uint32_t keepalive_count = 3;       // dead after interval x count without inbound packets
    size_t max_channels = 16384;        // open + opening
    size_t max_opening = 512;           // CHANNEL_OPENs in flight
    WindowSettings window;              // receive windows of this session's channels
    bool datagrams = false;             // ask for the datagram channel once up
};

/// Counters shared with the control thread.
struct SessionStats : ConnectionStats {
    std::atomic<uint64_t> keepalives_sent{0};      // keepalive@openssh.com probes
    std::atomic<uint64_t> keepalives_answered{0};  // success or failure, both mean alive
};

/// How a session ended.
struct SessionEnd {
    std::string reason;
    bool fatal = false;  // host key mismatch / auth rejected: do not retry
};

/// Callbacks to the owner; all run on the session's worker, never inside libssh calls.
struct SessionEvents {
    std::function<void()> authenticating;
    std::function<void()> up;
    std::function<void(SessionEnd)> ended;  // once, unless close() was called first
    /// Target for an incoming forwarded-tcpip channel (bound address/port as the server
    /// reports them); nullopt rejects it.
    std::function<std::optional<net::Endpoint>(const std::string& addr, int port)> remote_target;
    /// The datagram channel (cfg.datagrams): each frame from the server, its hello, and
    /// the channel's coming (channel set) and going (nullptr and why: refused, ended).
    std::function<void(udp::Datagram)> datagram;
    std::function<void(const udp::Hello&)> datagram_hello;
    std::function<void(std::shared_ptr<DatagramChannel>, const std::string& why)> datagram_channel;
};

/// One SSH client connection. Create with make_shared; use only on io().
class ClientSession final : public Connection {
  public:
    using ForwardCallback = GlobalRequests::ForwardCallback;

    ClientSession(asio::io_context& io, ClientSessionConfig cfg, log::Logger logger,
                  std::shared_ptr<SessionStats> stats, SessionEvents events);
    ~ClientSession();
    ClientSession(const ClientSession&) = delete;
    ClientSession& operator=(const ClientSession&) = delete;

    /// Takes the connected transport fd and starts the handshake. `path_fd`: the TCP
    /// socket under `fd` when `fd` is not one itself (TLS), for the path RTT only.
    void start(core::UniqueFd fd, core::UniqueFd path_fd = {});
    /// Opens a direct-tcpip channel; callback semantics of ChannelOpener::open.
    void open_direct(OpenRequest req, ChannelOpener::OpenCallback cb);
    /// Asks the server to listen (ssh -R); requests are queued and sent one at a time.
    void listen_forward(std::string host, uint16_t port, ForwardCallback cb);
    /// Tears everything down without calling `ended`. Idempotent.
    void close();

    bool is_up() const { return phase_ == Phase::up; }
    /// Server host key fingerprint (after key exchange).
    const std::string& host_key_fingerprint() const { return host_fp_; }

  private:
    enum class Phase { idle, connecting, authenticating, up, closed };
    struct PendingOpen;

    std::weak_ptr<ClientSession> weak_self();
    bool configure(std::string* why);
    void step_handshake() override;
    void step_connect();
    void step_auth();
    void become_up();
    void on_packets() override;
    void lost(Loss how, const std::string& libssh_error) override;
    void free_channel(ssh_channel ch) override;
    void service_opens();
    void finish_open(PendingOpen& op, OpenOutcome outcome);
    void service_global_request();
    void on_keepalive_tick();
    void note_inbound(std::chrono::steady_clock::time_point now);
    std::string keepalive_timeout_reason() const;
    void sweep_open_deadlines();
    void open_datagrams();
    void service_datagram_open();
    void datagrams_ended(const std::string& why) override;
    void end(SessionEnd why);
    void teardown();
    OpenOutcome classify_open_error(const OpenRequest& req);
    static int on_message(ssh_session s, ssh_message msg, void* user);
    int handle_forwarded_open(ssh_message msg);

    ClientSessionConfig cfg_;
    std::shared_ptr<SessionStats> stats_;
    SessionEvents events_;
    Phase phase_ = Phase::idle;

    core::UniqueFd fd_;      // owned by us until libssh closes it
    bool fd_given_ = false;  // handed to libssh with SSH_OPTIONS_FD
    asio::steady_timer deadline_;
    asio::steady_timer keepalive_;
    uint64_t rx_seen_packets_ = 0;                   // in_packets when last_rx_ was taken
    std::chrono::steady_clock::time_point last_rx_;  // last inbound packet (liveness)
    std::string host_fp_;
    std::string server_label_;

    std::deque<std::unique_ptr<PendingOpen>> opening_;
    std::deque<std::unique_ptr<PendingOpen>> queued_opens_;
    std::unique_ptr<DatagramOpen> datagram_open_;  // while the datagram channel is negotiated
    GlobalRequests requests_;
    asio::steady_timer sweep_;
};

}  // namespace ghost::daemon::ssh
