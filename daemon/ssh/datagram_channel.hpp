#pragma once
/// The datagram channel of one SSH session between ghost peers (common/udp/frame.hpp,
/// docs/protocol.md "Datagram channel"), the same code for both roles: frames in, frames
/// out, nothing that ever blocks the session.
///
///   ssh -> receiver: the data callback splits the stream into frames and hands each to
///     the receiver at once (the server's UDP relay, the client's TUN); the window is
///     granted again as soon as the frames are taken, so the peer is held back only by
///     the path, never by us.
///   sender -> ssh: send() encodes the frame into a bounded queue and never writes from
///     its caller's stack (which may be a libssh callback); the queue is written out,
///     whole frames or not, as far as the peer's window and the session's output budget
///     allow, from a posted task and again after every pump. A frame that does not fit
///     the queue is dropped and counted: datagrams may be lost, the session never waits.
///
/// Lives on the session's worker; Connection owns it, services it with its bridges and
/// frees its channel outside libssh callbacks.

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/udp/frame.hpp"
#include "daemon/ssh/bridge_host.hpp"
#include "daemon/ssh/window_tuner.hpp"

namespace ghost::daemon::ssh {

/// Counters of one datagram channel; written on the worker, readable from any thread.
struct DatagramCounters {
    std::atomic<uint64_t> frames_in{0};
    std::atomic<uint64_t> frames_out{0};
    std::atomic<uint64_t> bytes_in{0};   // payload bytes of frames received
    std::atomic<uint64_t> bytes_out{0};  // payload bytes of frames queued for sending
    std::atomic<uint64_t> dropped_queue_full{0};
    std::atomic<uint64_t> dropped_unencodable{0};  // mixed families, payload over kMaxPayload
    std::atomic<uint64_t> dropped_closed{0};       // sent after the channel ended
    std::atomic<uint64_t> unknown_skipped{0};      // frames of types this version ignores

    nlohmann::json to_json() const;
};

class DatagramChannel : public std::enable_shared_from_this<DatagramChannel> {
  public:
    using Receiver = std::function<void(udp::Datagram)>;
    using HelloReceiver = std::function<void(const udp::Hello&)>;
    /// Bytes of encoded frames waiting for the window (about 90 ms at 200 Mbit/s).
    static constexpr size_t kQueueCap = 2 * 1024 * 1024;

    /// `announced_window`: what libssh announced for `channel` (WindowTuner).
    DatagramChannel(BridgeHost& session, ssh_channel channel, uint32_t announced_window,
                    std::shared_ptr<DatagramCounters> counters);
    ~DatagramChannel();
    DatagramChannel(const DatagramChannel&) = delete;
    DatagramChannel& operator=(const DatagramChannel&) = delete;

    /// Installs the libssh callbacks and opens the window to the session's initial
    /// size (call once owned by a shared_ptr).
    void start(Receiver on_datagram, HelloReceiver on_hello = {});
    /// Queues one frame; false when it was dropped (counted by reason).
    bool send(const udp::Datagram& d);
    /// Queues the hello (the server's first frame).
    void send_hello(const udp::Hello& h);
    /// Writes what the window and budget allow (Connection calls it after each pump).
    void flush();
    /// Grants the peer window when one is due (outside libssh callbacks).
    void update_window();

    /// Set once the channel ended (peer closed it, or it broke the encoding).
    bool finished() const { return finished_; }
    const std::string& end_reason() const { return end_reason_; }
    ssh_channel channel() const { return channel_; }
    /// Session teardown, or release: forget the channel (the session frees it).
    void detach_for_teardown();
    const std::shared_ptr<DatagramCounters>& counters() const { return counters_; }

  private:
    static int on_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                       void* user);
    static void on_eof(ssh_session, ssh_channel, void* user);
    static void on_close(ssh_session, ssh_channel, void* user);

    void take(const uint8_t* data, size_t len);
    void finish(std::string why);
    void want_flush();
    void want_grant();
    void kick();
    bool enqueue(const std::vector<uint8_t>& frame);

    BridgeHost& session_;
    ssh_channel channel_;
    std::shared_ptr<DatagramCounters> counters_;
    struct ssh_channel_callbacks_struct callbacks_ {};
    bool callbacks_installed_ = false;
    Receiver on_datagram_;
    HelloReceiver on_hello_;
    udp::FrameReader reader_;
    WindowTuner window_;
    bool grant_posted_ = false;
    bool flush_posted_ = false;
    bool finished_ = false;
    std::string end_reason_;
    std::vector<uint8_t> scratch_frame_;  // one encoded frame (reused)
    std::vector<uint8_t> out_;            // encoded frames waiting for the window
    size_t out_off_ = 0;
};

}  // namespace ghost::daemon::ssh
