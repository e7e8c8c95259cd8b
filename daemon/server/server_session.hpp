#pragma once
/// The server role of the SSH engine (ssh::Connection; DESIGN.md §6, §9): non-blocking key exchange
/// and public-key authentication under login_grace_time, then direct-tcpip channels
/// (permitopen, then ACL, then an outbound connect, confirmed only once connected), remote
/// forwards (tcpip-forward / cancel-tcpip-forward per permitlisten and gateway_ports), and
/// a one-line refusal for shell sessions. Channels are serviced after the pump, never
/// inside libssh callbacks.
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
#include "daemon/ssh/channel_reaper.hpp"
#include "daemon/ssh/connection.hpp"

namespace ghost::daemon::server {

class RemoteForward;
class UdpRelay;

/// Create with make_shared on a worker's io_context; use only there.
class ServerSession final : public ssh::Connection {
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

    /// A remote-forward listener accepted a connection: open a forwarded-tcpip channel.
    void open_forwarded(RemoteForward& fwd, asio::ip::tcp::socket socket);

  private:
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

    std::weak_ptr<ServerSession> weak_self();
    bool setup(std::string* why);
    void step_handshake() override;  // the key exchange
    void begin_pump() override { messages_left_ = kMaxMessagesPerPump; }
    bool around_poll() override { return drain_messages(); }
    void on_packets() override { service_reverse(); }
    void before_channels() override { service_session_channels(); }
    bool pump_due() const override { return reaper_.reap_due(); }
    void lost(Loss how, const std::string& libssh_error) override;
    void free_channel(ssh_channel ch) override;
    void publish() override;
    void become_up();
    void service_reverse();
    void service_session_channels();
    void sweep_idle();
    size_t channel_count() const;
    void teardown();

    bool drain_messages();
    bool session_usable() const;
    void dispatch(ssh_message msg);
    Answer dispatch_up(ssh_message msg);
    Answer handle_auth(ssh_message msg);
    void send_banner();
    int auth_pubkey(ssh_key key, char state);
    Answer handle_direct_tcpip(ssh_message msg);
    Answer handle_session_open(ssh_message msg);
    Answer handle_channel_request(ssh_message msg);
    // The datagram channel (server_datagrams.cpp).
    static bool is_datagram_request(ssh_message msg);
    Answer handle_datagram_request(ssh_message msg, ssh_channel ch);
    void datagrams_ended(const std::string& why) override;
    void close_udp();
    Answer handle_tcpip_forward(ssh_message msg);
    Answer handle_cancel_forward(ssh_message msg);
    void start_outbound(uint64_t id, std::string host, uint16_t port);
    void finish_open(uint64_t id, OutboundResult r, asio::ip::tcp::socket s);
    void deny_auth(const std::string& fp, const std::string& reason);

    static constexpr size_t kMaxMessagesPerPump = 1024;  // requests handled per pump

    std::shared_ptr<ServerShared> shared_;
    Accepted conn_;
    StartupSlot slot_;
    std::shared_ptr<SessionInfo> info_;
    int64_t since_ = 0;  // unix time of accept
    std::string key_name_, key_fingerprint_;
    size_t opening_ = 0;  // direct-tcpip opens waiting for their connect
    Phase phase_ = Phase::kex;
    std::shared_ptr<ServerSession> self_;  // keeps the session alive until close()
    bool reserved_ = false;                // holds one of limits.max_sessions

    asio::steady_timer grace_;
    asio::steady_timer idle_;
    size_t messages_left_ = 0;  // of this pump

    std::vector<uint8_t> key_blob_;
    std::shared_ptr<const auth::AuthorizedKeys> keys_;  // keeps entry_ alive
    const auth::KeyEntry* entry_ = nullptr;
    std::string denied_fp_;  // last refused key (log once per key)

    std::map<uint64_t, PendingOpen> opens_;  // direct-tcpip opens waiting for their connect
    uint64_t next_open_ = 0;
    ssh::ChannelReaper reaper_;  // every channel, until both CLOSEs are exchanged
    std::vector<std::unique_ptr<PendingReverse>> reverse_;
    std::vector<ssh_channel> session_channels_;  // plain `ssh host`: explained and closed
    std::vector<ssh_channel> to_explain_;
    std::map<std::pair<std::string, uint16_t>, std::shared_ptr<RemoteForward>> forwards_;
    std::shared_ptr<UdpRelay> udp_;  // while the datagram channel is open
};

}  // namespace ghost::daemon::server
