#pragma once
/// Packet I/O on a TUN fd with asio: one read per packet, a bounded write queue, and
/// backpressure (reading pauses while the write queue is full).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include <asio.hpp>

#include "daemon/transport/unique_fd.hpp"

namespace ghost::daemon::tun {

/// Packet counters of a TunIo.
struct TunIoCounters {
    uint64_t packets_in = 0;
    uint64_t packets_out = 0;
    uint64_t queue_full = 0;  // packets dropped because the write queue was full
    uint64_t io_errors = 0;
};

/// Reads packets from and writes packets to one TUN fd on one io_context.
class TunIo : public std::enable_shared_from_this<TunIo> {
  public:
    /// Called for each packet read; the span is valid only during the call.
    using Handler = std::function<void(std::span<uint8_t>)>;

    TunIo(asio::io_context& io, transport::UniqueFd fd, size_t max_queue);

    /// Starts the read loop.
    void start(Handler on_packet);
    /// Queues a copy of `packet`; false (counted) when the queue is full or closed.
    bool send(std::span<const uint8_t> packet);
    /// Closes the fd; pending operations end. Idempotent.
    void close();

    const TunIoCounters& counters() const { return counters_; }

  private:
    void read();
    void drain_ready();
    void write_next();

    asio::posix::stream_descriptor fd_;
    size_t max_queue_;
    Handler on_packet_;
    std::vector<uint8_t> buffer_;
    std::deque<std::vector<uint8_t>> queue_;
    bool reading_ = false;
    bool writing_ = false;
    bool closed_ = false;
    TunIoCounters counters_;
};

}  // namespace ghost::daemon::tun
