#include "daemon/tun/tun_io.hpp"

#include <unistd.h>

#include <cerrno>

namespace ghost::daemon::tun {

namespace {
constexpr size_t kMaxPacket = 65535;
constexpr int kPacketsPerWake = 64;  // read this many before yielding to other work
}

TunIo::TunIo(asio::io_context& io, transport::UniqueFd fd, size_t max_queue)
    : fd_(io, fd.release()), max_queue_(max_queue == 0 ? 1 : max_queue), buffer_(kMaxPacket) {}

void TunIo::start(Handler on_packet) {
    on_packet_ = std::move(on_packet);
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
                                // broken, and retrying at once would spin. The owner notices via
                                // counters and stops.
                                ++self->counters_.io_errors;
                                return;
                            }
                            ++self->counters_.packets_in;
                            self->on_packet_(std::span<uint8_t>(self->buffer_.data(), n));
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
        ++counters_.packets_in;
        on_packet_(std::span<uint8_t>(buffer_.data(), static_cast<size_t>(n)));
    }
}

bool TunIo::send(std::span<const uint8_t> packet) {
    if (closed_) return false;
    if (!writing_ && queue_.empty()) {
        // A TUN write hands the packet to the kernel's input path and rarely blocks:
        // write now, and queue only when the device pushes back.
        ssize_t n = ::write(fd_.native_handle(), packet.data(), packet.size());
        if (n == static_cast<ssize_t>(packet.size())) {
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
    queue_.emplace_back(packet.begin(), packet.end());
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
