#pragma once
/// One server-side SSH channel (direct-tcpip or forwarded-tcpip) bridged to one TCP
/// socket with bounded buffers and backpressure both ways (libssh-0.10.md "Event loop
/// and flow control"):
///   ssh -> socket: sent straight to the socket; what does not fit is kept up to kDownCap;
///     beyond that the data callback takes less, keeping the SSH window closed until the
///     rest is pulled with ssh_channel_read_nonblocking.
///   socket -> ssh: read only what the remote window and the session's output budget
///     allow; otherwise the channel waits on the session's stalled list.
/// Lives on the session's worker; frees of the libssh channel are deferred out of libssh
/// callbacks by the session.

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>

namespace ghost::daemon::server {

class ServerSession;

/// Bridges an open channel and a socket attached later (after connect/accept).
class ServerChannel : public std::enable_shared_from_this<ServerChannel> {
public:
    static constexpr size_t kDownCap = 256 * 1024;

    ServerChannel(ServerSession& session, ssh_channel channel, std::string label);
    ServerChannel(const ServerChannel&) = delete;
    ServerChannel& operator=(const ServerChannel&) = delete;

    /// Installs the libssh callbacks (once owned by a shared_ptr).
    void install_callbacks();
    /// The destination socket is connected: start moving bytes.
    void attach(asio::ip::tcp::socket socket);
    /// Window or output budget may have grown: try to move socket data.
    void resume_up();
    /// Ends the flow (closes socket, asks the session to close/free the channel).
    void finish(const std::string& why);
    /// Session teardown: drop callbacks, forget the channel, close the socket.
    void detach_for_teardown();

    ssh_channel channel() const { return channel_; }
    bool finished() const { return finished_; }
    bool attached() const { return attached_; }
    const std::string& label() const { return label_; }
    bool& on_stalled_list() { return on_stalled_list_; }
    /// Last time bytes moved either way (idle timeout).
    std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }

private:
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
    void maybe_done();
    void post_service(bool done_check);

    ServerSession& session_;
    ssh_channel channel_;
    std::string label_;
    struct ssh_channel_callbacks_struct callbacks_{};
    bool callbacks_installed_ = false;
    asio::ip::tcp::socket socket_;
    bool attached_ = false;
    bool finished_ = false;
    bool on_stalled_list_ = false;
    std::chrono::steady_clock::time_point last_activity_;

    std::vector<char> down_;  // ssh -> socket, bounded by kDownCap
    size_t down_off_ = 0;
    bool writing_ = false;
    bool libssh_pending_ = false;
    bool remote_eof_ = false;
    bool remote_closed_ = false;
    bool local_write_shut_ = false;

    std::vector<char> up_pending_;  // socket -> ssh remainder after a short write
    size_t up_off_ = 0;
    bool reading_ = false;
    bool local_eof_ = false;
    bool eof_sent_ = false;
};

}  // namespace ghost::daemon::server
