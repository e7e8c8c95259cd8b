#pragma once
/// One SSH channel bridged to one local TCP socket, with bounded buffers and real
/// backpressure both ways (libssh-0.10.md "Event loop and flow control"):
///   ssh -> local: data is sent straight to the socket; what does not fit is kept in a
///     bounded buffer; beyond that the data callback takes less, which keeps the SSH
///     window closed until we pull the rest with ssh_channel_read_nonblocking.
///   local -> ssh: we read only as much as the remote window and the session's output
///     budget allow; otherwise the channel waits on the session's stalled list.
/// Receive window: a WindowTuner keeps the account; grants are made with a read of the
///   empty stderr stream (window_tuner.hpp), always outside libssh callbacks.
/// Used by both the client (direct-tcpip, forwarded-tcpip) and the server (direct-tcpip,
/// remote forwards); the owning session is seen only through BridgeHost. Lives on the
/// session's worker; all frees of the libssh channel are deferred out of libssh callbacks.

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

#include "daemon/ssh/bridge_host.hpp"
#include "daemon/ssh/channel_opener.hpp"
#include "daemon/ssh/window_tuner.hpp"

namespace ghost::daemon::ssh {

/// Bridges an open channel and a local socket; also the ChannelHandle implementation.
class ChannelBridge : public ChannelHandle::Impl,
                      public std::enable_shared_from_this<ChannelBridge> {
  public:
    /// Bytes kept per direction beyond what the kernel socket buffers hold.
    static constexpr size_t kDownCap = 256 * 1024;

    /// `announced_window`: what libssh announced for the channel (WindowTuner).
    ChannelBridge(BridgeHost& session, ssh_channel channel, std::string label,
                  uint32_t announced_window);
    ~ChannelBridge() override;
    ChannelBridge(const ChannelBridge&) = delete;
    ChannelBridge& operator=(const ChannelBridge&) = delete;

    // ChannelHandle::Impl
    void attach(asio::ip::tcp::socket socket, std::string early_data) override;
    void abandon() override;
    void terminate(const std::string& why) override;

    /// Installs the libssh callbacks (call once the bridge is owned by a shared_ptr).
    void install_callbacks();
    /// Session says window or output budget may have grown: try to move local data.
    void resume_up();
    /// Ends the flow: closes the socket, frees the channel outside libssh callbacks.
    void finish(const std::string& why);
    /// Session teardown: forget the channel (the session frees it) and close the socket.
    void detach_for_teardown();
    /// Pushes what sends with MSG_MORE left in the socket (CorkList::flush).
    void uncork();
    /// Grants the peer window when the account says one is due. Runs libssh's packet
    /// loop: never call it from inside a libssh callback (want_grant() posts it).
    void update_window();
    uint32_t window_target() const { return window_.target(); }

    ssh_channel channel() const { return channel_; }
    bool finished() const { return phase_ == Phase::finished; }
    /// True while the local socket is attached and the flow not finished.
    bool attached() const { return phase_ == Phase::bridging; }
    const std::string& label() const { return label_; }
    /// Called by the session for its stalled list bookkeeping.
    bool& on_stalled_list() { return on_stalled_list_; }
    /// Last time bytes moved either way (idle timeouts).
    std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }

  private:
    /// The bridge's life: opening (no local socket yet) -> bridging -> finished.
    enum class Phase { opening, bridging, finished };
    /// What the peer said of the ssh -> local direction.
    enum class Remote { open, eof, closed };
    /// The local -> ssh direction: reading, local EOF seen, EOF sent to the peer.
    enum class Up { reading, local_eof, eof_sent };

    void set_phase(Phase p) { phase_ = p; }
    static int on_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                       void* user);
    static void on_eof(ssh_session, ssh_channel, void* user);
    static void on_close(ssh_session, ssh_channel, void* user);

    size_t deliver(const char* data, size_t len);
    void wait_writable();
    void on_writable();
    void pull_from_libssh();
    void maybe_half_close_local();
    void wait_readable();
    void on_readable();
    bool flush_up_pending();
    size_t write_channel(const char* data, size_t len);
    void stall();
    void service_later(bool done_check);
    void maybe_done();
    void kick();
    void delivered(size_t n);
    void account(uint64_t arrived, uint64_t left);
    void want_grant();
    uint64_t unconsumed() const { return libssh_left_ + (down_.size() - down_off_); }

    BridgeHost& session_;
    ssh_channel channel_;
    std::string label_;
    struct ssh_channel_callbacks_struct callbacks_ {};
    bool callbacks_installed_ = false;
    asio::ip::tcp::socket socket_;
    Phase phase_ = Phase::opening;
    bool on_stalled_list_ = false;
    std::chrono::steady_clock::time_point last_activity_;

    // ssh -> local
    std::vector<char> down_;
    size_t down_off_ = 0;
    bool writing_ = false;
    Remote remote_ = Remote::open;
    bool local_write_shut_ = false;
    bool corked_ = false;
    uint64_t libssh_left_ = 0;  // stdout bytes buffered in libssh (the callback took less)
    WindowTuner window_;
    bool grant_posted_ = false;

    // local -> ssh
    std::vector<char> up_pending_;
    size_t up_off_ = 0;
    bool reading_ = false;
    Up up_ = Up::reading;
};

}  // namespace ghost::daemon::ssh
