#pragma once
/// The SSH engine both roles share (DESIGN.md §6), the way OpenSSH's channels.c serves
/// client and server alike: one libssh session on one worker io_context, driven
/// non-blocking. asio waits for readiness of a dup of libssh's fd; during the handshake
/// the role steps it (ssh_connect / ssh_handle_key_exchange, authentication); once
/// running, pump() drains libssh's event, lets the role handle what arrived, and then
/// services the channels: output budget, stalled and corked bridges, path RTT, re-arming.
///
/// Connection implements BridgeHost for the session's ChannelBridges and owns them, and
/// tears the session down in the order libssh 0.10 needs (libssh-0.10.md). ClientSession
/// and ServerSession derive from it and keep only what differs: the handshake and
/// authentication, and which channels each opens or accepts. Use only on io().

#include <libssh/libssh.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio.hpp>

#include "daemon/core/log.hpp"
#include "daemon/core/unique_fd.hpp"
#include "daemon/ssh/bridge_host.hpp"
#include "daemon/ssh/datagram_channel.hpp"
#include "daemon/ssh/session_windows.hpp"

namespace ghost::daemon::ssh {

/// Counters of one connection; written by its worker, read by the control thread.
struct ConnectionStats {
    std::atomic<uint64_t> bytes_in{0};   // channel payload received
    std::atomic<uint64_t> bytes_out{0};  // channel payload sent
    std::atomic<uint64_t> channels_open{0};
    std::atomic<uint64_t> channels_total{0};
    WindowStats windows;  // path RTT and receive windows
    std::shared_ptr<DatagramCounters> datagrams = std::make_shared<DatagramCounters>();
};

class Connection : public BridgeHost, public std::enable_shared_from_this<Connection> {
  public:
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() override;

    // --- BridgeHost (used by ChannelBridge) ---
    asio::io_context& io() final { return io_; }
    const log::Logger& logger() const final { return log_; }
    size_t out_allowance() const final { return out_budget_; }
    void consume_out(size_t n) final;
    /// 64 KiB scratch buffer shared by the connection's bridges (made on first use).
    char* scratch() final;
    size_t scratch_size() const final { return kScratchSize; }
    void count_bytes(uint64_t in, uint64_t out) final;
    SessionWindows& windows() final { return windows_; }
    void add_stalled(const std::shared_ptr<ChannelBridge>& b) final;
    void release_bridge(const std::shared_ptr<ChannelBridge>& b) final;
    void after_io() final;
    bool input_pending() const final;
    void add_corked(const std::shared_ptr<ChannelBridge>& b) final;

  protected:
    enum class Stage { handshake, running, closed };
    /// How the connection was found gone: a failed packet poll, or libssh's status.
    enum class Loss { poll_error, disconnected };

    Connection(asio::io_context& io, log::Logger log, WindowSettings window,
               std::shared_ptr<ConnectionStats> stats);

    // --- for the role ---
    /// Watches `fd` (the fd libssh reads: a socket, or a socketpair end under TLS) through
    /// a dup; `path_fd` is the TCP socket under it when it is not one (RTT only). The
    /// role has created session_ first. False + *why when out of descriptors.
    bool watch(int fd, core::UniqueFd path_fd, std::string* why);
    /// Waits for the fd during the handshake, or steps again at once when the kernel
    /// holds more than libssh's 4 KiB read took.
    void wait_handshake_io();
    /// Handshake over: from now on pump() drives libssh through an ssh_event.
    bool start_running();
    /// Every read from here on goes through pump()/after_io() (read_ahead.hpp).
    void attach_read_ahead();
    /// An open channel joins the connection (counted until release_bridge()).
    void adopt(std::shared_ptr<ChannelBridge> b);
    const std::unordered_map<ChannelBridge*, std::shared_ptr<ChannelBridge>>& bridges() const {
        return bridges_;
    }
    /// The session's datagram channel joins the connection (at most one at a time):
    /// flushed after every pump, freed once it ends (datagrams_ended() tells the role).
    void adopt_datagrams(std::shared_ptr<DatagramChannel> d);
    const std::shared_ptr<DatagramChannel>& datagrams() const { return datagrams_; }
    /// Drives libssh: drains the event, then the role and the channels (see above).
    void pump();
    void post_pump();
    /// Teardown, first half: stops waiting and detaches every bridge (stage closed).
    void stop_watching();
    /// Teardown, second half: frees the event, then disconnects and frees the session.
    void free_session();
    Stage stage() const { return stage_; }
    uint64_t inbound_packets() const { return counter_in_.in_packets; }
    int fd() const { return fd_; }
    /// Our dup of fd(): still open when libssh has closed its own.
    int watch_fd() { return watch_.native_handle(); }

    // --- what the role does ---
    /// One handshake step (ssh_connect, key exchange, authentication) on readiness.
    virtual void step_handshake() = 0;
    /// Before a pump's first packet poll.
    virtual void begin_pump() {}
    /// Before the first and after every packet poll of a pump; false stops the pump.
    virtual bool around_poll() { return true; }
    /// A pump handled new inbound packets.
    virtual void on_packets() {}
    /// After every pump, before the channels are serviced.
    virtual void before_channels() {}
    /// True when the role needs a pump even without input (after_io()).
    virtual bool pump_due() const { return false; }
    /// The connection is gone; the role ends itself (teardown).
    virtual void lost(Loss how, const std::string& libssh_error) = 0;
    /// Frees a released channel: at once, or once its CLOSE is answered.
    virtual void free_channel(ssh_channel ch) = 0;
    /// The datagram channel ended (the peer closed it, or it broke the encoding); it is
    /// gone from datagrams() and its channel is being freed.
    virtual void datagrams_ended(const std::string& /*why*/) {}
    /// Publishes the role's status figures (core::Published): when a channel comes or
    /// goes, at most every kPublishInterval while bytes move, and on the role's events.
    virtual void publish() {}
    /// Something changed that status shows: publish() within kPublishInterval.
    void note_activity();
    /// The engine's figures: bytes_in, bytes_out, channels_open, channels_total, path.
    const ConnectionStats& connection_stats() const { return *stats_; }

    asio::io_context& io_;
    log::Logger log_;
    ssh_session session_ = nullptr;  // made and configured by the role, freed here
    bool quickack_small_reads_ = false;

  private:
    static constexpr size_t kScratchSize = 64 * 1024;
    static constexpr std::chrono::milliseconds kPublishInterval{250};

    void arm_read();
    void arm_write();
    void on_ready(const asio::error_code& ec);
    void after_pump(bool more);
    bool check_alive();
    void quickack_if_light();
    void refill_budget();
    void service_stalled();
    void service_datagrams();

    std::shared_ptr<ConnectionStats> stats_;
    Stage stage_ = Stage::handshake;
    ssh_event event_ = nullptr;
    int fd_ = -1;                           // libssh's fd
    core::UniqueFd path_fd_;                // TCP socket under a TLS transport (TCP_INFO only)
    asio::posix::stream_descriptor watch_;  // dup of fd_, readiness only
    bool read_armed_ = false;
    bool write_armed_ = false;
    bool pump_posted_ = false;
    asio::steady_timer publish_timer_;
    bool publish_due_ = false;
    struct ssh_counter_struct counter_in_ {};
    struct ssh_counter_struct counter_out_ {};
    uint64_t last_in_packets_ = 0;
    uint64_t quickack_in_bytes_ = 0;  // in_bytes when the last pump looked at ACK mode

    size_t out_budget_;
    std::vector<char> scratch_;
    CorkList corked_;
    SessionWindows windows_;
    std::unordered_map<ChannelBridge*, std::shared_ptr<ChannelBridge>> bridges_;
    std::vector<std::weak_ptr<ChannelBridge>> stalled_;
    std::shared_ptr<DatagramChannel> datagrams_;
};

}  // namespace ghost::daemon::ssh
