#pragma once
/// Packet I/O on a TUN fd with asio: one read per packet, a bounded write queue, and
/// backpressure (reading pauses while the write queue is full). Every packet on the fd
/// has a virtio-net header in front (tun_device.hpp); TunIo reads and writes it, and the
/// rest of ghostd sees only whether a checksum is partial.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/tun/packet.hpp"
#include "daemon/core/unique_fd.hpp"

namespace ghost::daemon::tun {

/// Packet counters of a TunIo.
struct TunIoCounters {
    uint64_t packets_in = 0;
    uint64_t packets_out = 0;
    uint64_t queue_full = 0;  // packets dropped because the write queue was full
    uint64_t io_errors = 0;
    uint64_t bad_offload = 0;  // read with an offload header ghostd never asked for: dropped
};

/// Reads packets from and writes packets to one TUN fd on one io_context.
class TunIo : public std::enable_shared_from_this<TunIo> {
  public:
    /// Called for each packet read, with its partial checksum if the kernel left one; the
    /// span is valid only during the call.
    using Handler =
        std::function<void(std::span<uint8_t>, std::optional<ghost::tun::PartialChecksum>)>;

    TunIo(asio::io_context& io, core::UniqueFd fd, size_t max_queue);

    /// Called once when reading the device fails (it was deleted, or broke): the read
    /// loop has stopped; the text names the error.
    using ErrorHandler = std::function<void(const std::string&)>;

    /// Starts the read loop.
    void start(Handler on_packet, ErrorHandler on_error = {});
    /// Writes `packet` (or queues a copy); false (counted) when the queue is full or
    /// closed. `partial`: its checksum is left for the kernel to finish or skip.
    bool send(std::span<const uint8_t> packet,
              std::optional<ghost::tun::PartialChecksum> partial = std::nullopt);
    /// Closes the fd; pending operations end. Idempotent.
    void close();

    const TunIoCounters& counters() const { return counters_; }

  private:
    void read();
    void drain_ready();
    void deliver(size_t n);
    void write_next();

    asio::posix::stream_descriptor fd_;
    size_t max_queue_;
    Handler on_packet_;
    ErrorHandler on_error_;
    std::vector<uint8_t> buffer_;
    std::deque<std::vector<uint8_t>> queue_;
    bool reading_ = false;
    bool writing_ = false;
    bool closed_ = false;
    TunIoCounters counters_;
};

}  // namespace ghost::daemon::tun
