#pragma once
/// One SSH server connection on one worker (DESIGN.md §6, §9): non-blocking key exchange
/// and public-key authentication under login_grace_time, then direct-tcpip channels
/// (permitopen, then ACL, then an outbound connect, confirmed only once connected), remote
/// forwards (tcpip-forward / cancel-tcpip-forward per permitlisten and gateway_ports), and
/// a one-line refusal for shell sessions. asio waits on a dup of the fd and calls pump(),
/// which drives libssh; channels are serviced after the pump, never inside libssh callbacks.
///
/// Every request (authentication, channel opens, channel and global requests) is taken
/// from libssh's message queue (no server or message callbacks are installed), so a
/// direct-tcpip open can stay unanswered while its outbound connect runs (libssh 0.10
/// frees a message handed to a callback when the callback returns). The queue is emptied
/// after every packet poll.

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio.hpp>

#include "daemon/server/listener.hpp"
#include "daemon/server/outbound.hpp"
#include "daemon/server/server_shared.hpp"
#include "daemon/ssh/bridge_host.hpp"
#include "daemon/ssh/channel_reaper.hpp"
#include "daemon/ssh/read_ahead.hpp"

namespace ghost::daemon::server {

class RemoteForward;

/// Create with make_shared on a worker's io_context; use only there.
class ServerSession final : public ssh::BridgeHost,
                            public std::enable_shared_from_this<ServerSession> {
  public:
    ServerSession(asio::io_context& io, std::shared_ptr<ServerShared> shared, Accepted conn,
                  StartupSlot slot);
    ~ServerSession();
    ServerSession(const ServerSession&) = delete;
    ServerSession& operator=(const ServerSession&) = delete;

    /// Starts the key exchange (registers the session first).
    void start();
    /// Ends the session with a reason (logged, event published). Idempotent.
    void close(const std::string& reason);
    /// authorized_keys changed: close when our key is gone, else adopt its new options.
    void recheck_key();

    // --- BridgeHost (used by ssh::ChannelBridge); io() also by RemoteForward ---
    asio::io_context& io() override { return io_; }
    const log::Logger& logger() const override { return log_; }
    size_t out_allowance() const override { return out_budget_; }
    void consume_out(size_t n) override { out_budget_ = n >= out_budget_ ? 0 : out_budget_ - n; }
    char* scratch() override {
        if (scratch_.empty()) scratch_.resize(kScratchSize);  // not for unauthenticated ones
        return scratch_.data();
    }
    size_t scratch_size() const override { return kScratchSize; }
    void count_bytes(uint64_t in, uint64_t out) override;
    ssh::SessionWindows& windows() override { return windows_; }
    void add_stalled(const std::shared_ptr<ssh::ChannelBridge>& c) override;
    void release_bridge(const std::shared_ptr<ssh::ChannelBridge>& c) override;
    void after_io() override;
    bool input_pending() const override { return ssh::read_ahead_buffered(fd_) > 0; }
    void add_corked(const std::shared_ptr<ssh::ChannelBridge>& c) override { corked_.add(c); }
    /// A remote-forward listener accepted a connection: open a forwarded-tcpip channel.
    void open_forwarded(RemoteForward& fwd, asio::ip::tcp::socket socket);

  private:
    static constexpr size_t kScratchSize = 64 * 1024;
    enum class Phase { kex, auth, up, closed };
    /// What became of a message: refused (libssh's default reply is sent), answered (or
    /// deliberately left unanswered), or held by the session (direct-tcpip while connecting).
    enum class Answer { refuse, answered, held };
    /// A direct-tcpip open whose outbound connect is running; answered when it ends.
    struct PendingOpen {
        ssh_message msg;  // owned: freed when answered or at teardown
        std::string target;
    };
    /// A forwarded-tcpip channel waiting for the client's OPEN_CONFIRMATION.
    struct PendingReverse {
        std::shared_ptr<ssh::ChannelBridge> channel;
        asio::ip::tcp::socket socket;
        std::string requested;
        uint16_t port;
        std::string origin;
        uint16_t origin_port;
    };

    bool setup(std::string* why);
    void step_kex();
    void wait_io();
    void arm_read();
    void arm_write();
    void pump();
    void after_pump(bool more);
    bool check_alive();
    void become_up();
    void refill_budget();
    void service_stalled();
    void service_reverse();
    void service_session_channels();
    void sweep_idle();
    size_t channel_count() const;
    void teardown();

    bool drain_messages(size_t& budget);
    bool session_usable() const;
    void dispatch(ssh_message msg);
    Answer dispatch_up(ssh_message msg);
    Answer handle_auth(ssh_message msg);
    void send_banner();
    int auth_pubkey(ssh_key key, char state);
    Answer handle_direct_tcpip(ssh_message msg);
    Answer handle_session_open(ssh_message msg);
    Answer handle_channel_request(ssh_message msg);
    Answer handle_tcpip_forward(ssh_message msg);
    Answer handle_cancel_forward(ssh_message msg);
    void start_outbound(uint64_t id, std::string host, uint16_t port);
    void finish_open(uint64_t id, OutboundResult r, asio::ip::tcp::socket s);
    void deny_auth(const std::string& fp, const std::string& reason);

    asio::io_context& io_;
    std::shared_ptr<ServerShared> shared_;
    Accepted conn_;
    StartupSlot slot_;
    std::shared_ptr<SessionInfo> info_;
    log::Logger log_;
    Phase phase_ = Phase::kex;
    std::shared_ptr<ServerSession> self_;  // keeps the session alive until close()
    bool reserved_ = false;                // holds one of limits.max_sessions

    ssh_session session_ = nullptr;
    ssh_event event_ = nullptr;
    int fd_ = -1;  // owned by libssh once accepted
    asio::posix::stream_descriptor watch_;
    bool read_armed_ = false;
    bool write_armed_ = false;
    bool pump_posted_ = false;
    asio::steady_timer grace_;
    asio::steady_timer idle_;
    struct ssh_counter_struct counter_in_ {};
    struct ssh_counter_struct counter_out_ {};
    uint64_t last_in_packets_ = 0;

    std::vector<uint8_t> key_blob_;
    std::shared_ptr<const auth::AuthorizedKeys> keys_;  // keeps entry_ alive
    const auth::KeyEntry* entry_ = nullptr;
    std::string denied_fp_;  // last refused key (log once per key)

    size_t out_budget_;
    std::vector<char> scratch_;
    ssh::CorkList corked_;
    ssh::SessionWindows windows_;
    std::unordered_map<ssh::ChannelBridge*, std::shared_ptr<ssh::ChannelBridge>> channels_;
    std::map<uint64_t, PendingOpen> opens_;  // direct-tcpip opens waiting for their connect
    uint64_t next_open_ = 0;
    ssh::ChannelReaper reaper_;  // every channel, until both CLOSEs are exchanged
    std::vector<std::weak_ptr<ssh::ChannelBridge>> stalled_;
    std::vector<std::unique_ptr<PendingReverse>> reverse_;
    std::vector<ssh_channel> session_channels_;  // plain `ssh host`: explained and closed
    std::vector<ssh_channel> to_explain_;
    std::map<std::pair<std::string, uint16_t>, std::shared_ptr<RemoteForward>> forwards_;
};

}  // namespace ghost::daemon::server
