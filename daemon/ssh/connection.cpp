#include "daemon/ssh/connection.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/ssh/channel_bridge.hpp"
#include "daemon/ssh/event_drain.hpp"
#include "daemon/ssh/read_ahead.hpp"
#include "daemon/ssh/ssh_log.hpp"

namespace ghost::daemon::ssh {
namespace {

constexpr int kMaxPollsPerPump = 64;            // ~256 KiB of input, then yield
constexpr size_t kOutBudget = 2 * 1024 * 1024;  // output queued between drains
constexpr uint64_t kQuickAckBelow = 32 * 1024;  // bytes read by one pump

}  // namespace

Connection::Connection(asio::io_context& io, log::Logger log, WindowSettings window,
                       std::shared_ptr<ConnectionStats> stats)
    : io_(io),
      log_(std::move(log)),
      stats_(std::move(stats)),
      watch_(io),
      publish_timer_(io),
      out_budget_(kOutBudget),
      windows_(window, std::shared_ptr<WindowStats>(stats_, &stats_->windows)) {}

Connection::~Connection() {
    stop_watching();
    free_session();
}

// ---------------------------------------------------------------- setup

bool Connection::watch(int fd, core::UniqueFd path_fd, std::string* why) {
    fd_ = fd;
    path_fd_ = std::move(path_fd);
    // Out of descriptors (EMFILE) fails this connection, never the daemon.
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    asio::error_code ec(dup < 0 ? errno : 0, asio::system_category());
    if (!ec) watch_.assign(dup, ec);
    if (ec) {
        if (dup >= 0) ::close(dup);
        *why = "cannot watch the connection: " + ec.message();
        return false;
    }
    windows_.set_path_fd(path_fd_ ? path_fd_.get() : dup);
    return true;
}

void Connection::wait_handshake_io() {
    // libssh reads at most 4 KiB per call: if more is buffered in the kernel, no new
    // edge would wake us, so step again instead of waiting.
    if (fd_ready_now(fd_, POLLIN)) {
        asio::post(io_, [w = weak_from_this()] {
            auto self = w.lock();
            if (self && self->stage_ == Stage::handshake) self->step_handshake();
        });
        return;
    }
    arm_read();
    if (ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) arm_write();
}

bool Connection::start_running() {
    event_ = ssh_event_new();
    if (!event_ || ssh_event_add_session(event_, session_) != SSH_OK) return false;
    ssh_set_counters(session_, &counter_out_, &counter_in_);
    stage_ = Stage::running;
    return true;
}

void Connection::attach_read_ahead() {
    read_ahead_attach(fd_, session_);
}

void Connection::adopt(std::shared_ptr<ChannelBridge> b) {
    bridges_.emplace(b.get(), std::move(b));
    ++stats_->channels_open;
    ++stats_->channels_total;
    publish();  // channel counts are shown exact; only bytes and RTT are coalesced
}

void Connection::note_activity() {
    if (publish_due_ || stage_ == Stage::closed) return;
    publish_due_ = true;
    publish_timer_.expires_after(kPublishInterval);
    publish_timer_.async_wait([w = weak_from_this()](asio::error_code ec) {
        auto self = w.lock();
        if (!self) return;
        self->publish_due_ = false;
        if (!ec && self->stage_ != Stage::closed) self->publish();
    });
}

// ---------------------------------------------------------------- readiness

void Connection::arm_read() {
    if (read_armed_ || stage_ == Stage::closed) return;
    read_armed_ = true;
    watch_.async_wait(asio::posix::descriptor_base::wait_read,
                      [w = weak_from_this()](asio::error_code ec) {
                          if (auto self = w.lock()) {
                              self->read_armed_ = false;
                              self->on_ready(ec);
                          }
                      });
}

void Connection::arm_write() {
    if (write_armed_ || stage_ == Stage::closed) return;
    write_armed_ = true;
    watch_.async_wait(asio::posix::descriptor_base::wait_write,
                      [w = weak_from_this()](asio::error_code ec) {
                          if (auto self = w.lock()) {
                              self->write_armed_ = false;
                              self->on_ready(ec);
                          }
                      });
}

void Connection::on_ready(const asio::error_code& ec) {
    if (ec) return;
    if (stage_ == Stage::running)
        pump();
    else if (stage_ == Stage::handshake)
        step_handshake();
}

void Connection::post_pump() {
    pump_posted_ = true;
    asio::post(io_, [w = weak_from_this()] {
        if (auto self = w.lock()) {
            self->pump_posted_ = false;
            self->pump();
        }
    });
}

void Connection::after_io() {
    corked_.flush();
    if (stage_ != Stage::running) return;
    if (!check_alive()) return;
    refill_budget();
    if (ssh_get_status(session_) & SSH_WRITE_PENDING) arm_write();
    // A libssh call may have consumed only part of the input, or handled packets (open
    // confirmations, window adjusts) outside pump(): let a pump deal with it.
    if (!pump_posted_ &&
        (counter_in_.in_packets != last_in_packets_ || pump_due() || fd_ready_now(fd_, POLLIN))) {
        post_pump();
    }
}

// ---------------------------------------------------------------- pump

void Connection::pump() {
    if (stage_ != Stage::running) return;
    LogScope scope(log_);
    begin_pump();
    auto r = drain_event(event_, kMaxPollsPerPump, [this] { return around_poll(); });
    if (stage_ != Stage::running) return;
    // After a failed poll the session may be half gone (libssh-0.10.md): only teardown.
    if (r == DrainResult::error) return lost(Loss::poll_error, ssh_get_error(session_));
    after_pump(r == DrainResult::more);
}

bool Connection::check_alive() {
    int st = ssh_get_status(session_);
    if (!(st & (SSH_CLOSED | SSH_CLOSED_ERROR)) && ssh_is_connected(session_)) return true;
    lost(Loss::disconnected, ssh_get_error(session_));
    return false;
}

void Connection::after_pump(bool more) {
    corked_.flush();
    if (!check_alive()) return;
    windows_.refresh_path(std::chrono::steady_clock::now());  // status, even while idle
    note_activity();
    if (quickack_small_reads_) quickack_if_light();
    if (counter_in_.in_packets != last_in_packets_) {
        last_in_packets_ = counter_in_.in_packets;
        on_packets();
        if (stage_ != Stage::running) return;
    }
    before_channels();
    if (stage_ != Stage::running) return;
    refill_budget();
    service_stalled();
    service_datagrams();
    corked_.flush();  // what servicing channels delivered
    if (stage_ != Stage::running || !check_alive()) return;
    // Servicing channels may have made libssh read: what it left buffered needs a pump,
    // not a wait for the kernel.
    if (more || read_ahead_buffered(fd_) > 0)
        post_pump();
    else
        arm_read();
    if (ssh_get_status(session_) & SSH_WRITE_PENDING) arm_write();
}

// Small inbound messages (a channel-open confirmation, then the first data of the new
// flow) are answered by servers that leave Nagle on (OpenSSH's sshd for non-tty
// sessions): its second segment waits for our ACK, which delayed ACK holds ~40 ms.
// Acknowledge at once while traffic is light; bulk transfers keep delayed ACKs.
void Connection::quickack_if_light() {
    uint64_t in = counter_in_.in_bytes;
    if (in == quickack_in_bytes_) return;
    if (in - quickack_in_bytes_ < kQuickAckBelow) {
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    quickack_in_bytes_ = in;
}

// ---------------------------------------------------------------- channels

void Connection::consume_out(size_t n) {
    out_budget_ = n >= out_budget_ ? 0 : out_budget_ - n;
}

char* Connection::scratch() {
    if (scratch_.empty()) scratch_.resize(kScratchSize);  // not for unauthenticated peers
    return scratch_.data();
}

void Connection::count_bytes(uint64_t in, uint64_t out) {
    stats_->bytes_in += in;
    stats_->bytes_out += out;
}

bool Connection::input_pending() const {
    return fd_ >= 0 && read_ahead_buffered(fd_) > 0;
}

void Connection::add_corked(const std::shared_ptr<ChannelBridge>& b) {
    corked_.add(b);
}

void Connection::refill_budget() {
    if (out_budget_ < kOutBudget && !(ssh_get_status(session_) & SSH_WRITE_PENDING))
        out_budget_ = kOutBudget;
}

void Connection::add_stalled(const std::shared_ptr<ChannelBridge>& b) {
    if (b->on_stalled_list()) return;
    b->on_stalled_list() = true;
    stalled_.push_back(b);
}

void Connection::service_stalled() {
    if (stalled_.empty() || out_budget_ == 0) return;
    std::vector<std::weak_ptr<ChannelBridge>> list;
    list.swap(stalled_);
    for (auto& w : list) {
        auto b = w.lock();
        if (!b) continue;
        b->on_stalled_list() = false;
        if (stage_ != Stage::running) return;
        b->resume_up();
    }
}

void Connection::adopt_datagrams(std::shared_ptr<DatagramChannel> d) {
    datagrams_ = std::move(d);
}

void Connection::service_datagrams() {
    if (!datagrams_) return;
    if (!datagrams_->finished()) datagrams_->flush();
    if (!datagrams_->finished() || stage_ != Stage::running) return;
    // Ended (in a callback, or by the flush): outside libssh now, so free it here.
    auto d = std::move(datagrams_);
    std::string why = d->end_reason();
    ssh_channel ch = d->channel();
    d->detach_for_teardown();  // removes callbacks first (0.10 use-after-free)
    if (ch) free_channel(ch);
    datagrams_ended(why);
}

void Connection::release_bridge(const std::shared_ptr<ChannelBridge>& b) {
    // Never free inside a libssh callback or call: defer to a fresh handler.
    asio::post(io_, [w = weak_from_this(), b] {
        auto self = w.lock();
        if (!self || self->stage_ == Stage::closed || !b->channel()) return;
        if (self->bridges_.erase(b.get()) > 0) --self->stats_->channels_open;
        self->publish();
        ssh_channel ch = b->channel();
        b->detach_for_teardown();  // removes callbacks first (0.10 use-after-free)
        LogScope scope(self->log_);
        self->free_channel(ch);
        self->after_io();
    });
}

// ---------------------------------------------------------------- teardown

void Connection::stop_watching() {
    stage_ = Stage::closed;
    publish_timer_.cancel();
    asio::error_code ec;
    windows_.set_path_fd(-1);
    watch_.close(ec);
    path_fd_.reset();
    for (auto& [_, b] : bridges_) b->detach_for_teardown();
    bridges_.clear();
    if (datagrams_) datagrams_->detach_for_teardown();
    datagrams_.reset();
    stats_->channels_open = 0;
}

void Connection::free_session() {
    if (!session_) return;
    // Order of libssh-0.10.md: event_free -> disconnect -> free.
    if (event_) ssh_event_free(event_);
    event_ = nullptr;
    read_ahead_detach(fd_);
    ssh_disconnect(session_);
    ssh_free(session_);
    session_ = nullptr;
}

}  // namespace ghost::daemon::ssh
