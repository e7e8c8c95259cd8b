#include "daemon/tun/tun_io.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "daemon/tun/tun_device.hpp"

namespace ghost::daemon::tun {

namespace {
constexpr size_t kMaxPacket = 65535;
constexpr int kPacketsPerWake = 64;  // read this many before yielding to other work

/// struct virtio_net_hdr of <linux/virtio_net.h>, which C++ cannot include (a field of
/// another struct there is named "class"). The legacy header is in host byte order.
struct VnetHeader {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
};
static_assert(sizeof(VnetHeader) == kVnetHeaderLen);
constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE

/// The offload header for a packet we write: nothing to do, or a checksum to finish.
VnetHeader header_for(const std::optional<ghost::tun::PartialChecksum>& partial) {
    VnetHeader h{};
    h.gso_type = kGsoNone;
    if (partial) {
        h.flags = kNeedsCsum;
        h.csum_start = partial->start;
        h.csum_offset = partial->offset;
    }
    return h;
}
}  // namespace

TunIo::TunIo(asio::io_context& io, core::UniqueFd fd, size_t max_queue)
    : fd_(io, fd.release()),
      max_queue_(max_queue == 0 ? 1 : max_queue),
      buffer_(kVnetHeaderLen + kMaxPacket) {}

void TunIo::start(Handler on_packet, ErrorHandler on_error) {
    on_packet_ = std::move(on_packet);
    on_error_ = std::move(on_error);
    read();
}

void TunIo::read() {
    if (closed_ || reading_) return;
    reading_ = true;
    fd_.async_read_some(asio::buffer(buffer_),
                        [self = shared_from_this()](std::error_code ec, size_t n) {
                            self->reading_ = false;
                            if (self->closed_ || ec == asio::error::operation_aborted) return;
                            if (ec) {
                                // Not "would block" (asio retries that): the device is gone or
                                // broken, and retrying at once would spin. The owner is told.
                                ++self->counters_.io_errors;
                                if (auto report = std::move(self->on_error_)) {
                                    report("read from the TUN device failed: " + ec.message());
                                }
                                return;
                            }
                            self->deliver(n);
                            self->drain_ready();
                            // Backpressure: stop reading while the write queue is full; write_next
                            // resumes.
                            if (self->queue_.size() < self->max_queue_) self->read();
                        });
}

void TunIo::drain_ready() {
    // One wake-up per packet costs a reactor round each; take what is already queued.
    for (int i = 0; i < kPacketsPerWake && !closed_ && queue_.size() < max_queue_; ++i) {
        ssize_t n = ::read(fd_.native_handle(), buffer_.data(), buffer_.size());
        if (n <= 0) return;  // EAGAIN (nothing more now) or an error the next async read reports
        deliver(static_cast<size_t>(n));
    }
}

void TunIo::deliver(size_t n) {
    ++counters_.packets_in;
    VnetHeader h;
    if (n < kVnetHeaderLen) {
        ++counters_.bad_offload;
        return;
    }
    std::memcpy(&h, buffer_.data(), sizeof h);
    std::span<uint8_t> packet(buffer_.data() + kVnetHeaderLen, n - kVnetHeaderLen);
    if (h.gso_type != kGsoNone) {  // segmentation offload is never enabled
        ++counters_.bad_offload;
        return;
    }
    std::optional<ghost::tun::PartialChecksum> partial;
    if (h.flags & kNeedsCsum) {
        partial = ghost::tun::PartialChecksum{h.csum_start, h.csum_offset};
        if (size_t{h.csum_start} + h.csum_offset + 2 > packet.size()) {
            ++counters_.bad_offload;
            return;
        }
    }
    on_packet_(packet, partial);
}

bool TunIo::send(std::span<const uint8_t> packet,
                 std::optional<ghost::tun::PartialChecksum> partial) {
    if (closed_) return false;
    VnetHeader h = header_for(partial);
    size_t total = kVnetHeaderLen + packet.size();
    if (!writing_ && queue_.empty()) {
        // A TUN write hands the packet to the kernel's input path and rarely blocks:
        // write now, and queue only when the device pushes back.
        iovec iov[2] = {{&h, kVnetHeaderLen}, {const_cast<uint8_t*>(packet.data()), packet.size()}};
        ssize_t n = ::writev(fd_.native_handle(), iov, 2);
        if (n == static_cast<ssize_t>(total)) {
            ++counters_.packets_out;
            return true;
        }
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            ++counters_.io_errors;  // a short write or a refused packet: it is gone
            return false;
        }
    }
    if (queue_.size() >= max_queue_) {
        ++counters_.queue_full;
        return false;
    }
    auto& q = queue_.emplace_back(total);
    std::memcpy(q.data(), &h, kVnetHeaderLen);
    std::memcpy(q.data() + kVnetHeaderLen, packet.data(), packet.size());
    write_next();
    return true;
}

void TunIo::write_next() {
    if (writing_ || closed_ || queue_.empty()) return;
    writing_ = true;
    fd_.async_write_some(asio::buffer(queue_.front()),
                         [self = shared_from_this()](std::error_code ec, size_t n) {
                             self->writing_ = false;
                             if (self->closed_ || ec == asio::error::operation_aborted) return;
                             // A TUN write takes a whole packet or fails; a short write is an error
                             // too.
                             if (ec || n != self->queue_.front().size())
                                 ++self->counters_.io_errors;
                             else
                                 ++self->counters_.packets_out;
                             self->queue_.pop_front();
                             self->write_next();
                             if (self->queue_.size() < self->max_queue_) self->read();
                         });
}

void TunIo::close() {
    if (closed_) return;
    closed_ = true;
    std::error_code ignored;
    fd_.close(ignored);  // cancels pending operations before their buffers go
    queue_.clear();
}

}  // namespace ghost::daemon::tun
