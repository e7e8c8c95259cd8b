#include "daemon/server/server_channel.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "daemon/server/server_session.hpp"

namespace ghost::daemon::server {
namespace {
constexpr int kMaxReadsPerWake = 8;  // fairness between flows on one worker
}

ServerChannel::ServerChannel(ServerSession& session, ssh_channel channel, std::string label)
    : session_(session),
      channel_(channel),
      label_(std::move(label)),
      socket_(session.io()),
      last_activity_(std::chrono::steady_clock::now()) {}

void ServerChannel::install_callbacks() {
    callbacks_.userdata = this;
    callbacks_.channel_data_function = &ServerChannel::on_data;
    callbacks_.channel_eof_function = &ServerChannel::on_eof;
    callbacks_.channel_close_function = &ServerChannel::on_close;
    ssh_callbacks_init(&callbacks_);
    ssh_set_channel_callbacks(channel_, &callbacks_);
    callbacks_installed_ = true;
}

void ServerChannel::attach(asio::ip::tcp::socket socket) {
    if (finished_) return;
    asio::error_code ec;
    socket_ = std::move(socket);
    socket_.non_blocking(true, ec);
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    attached_ = true;
    last_activity_ = std::chrono::steady_clock::now();
    if (!down_.empty()) on_writable();  // data that arrived while connecting
    if (!finished_) resume_up();
    if (!finished_ && remote_eof_) maybe_half_close_local();
    session_.after_io();
}

// ---------------------------------------------------------------- ssh -> socket

int ServerChannel::on_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                           void* user) {
    auto* self = static_cast<ServerChannel*>(user);
    if (is_stderr || self->finished_) return static_cast<int>(len);
    size_t took = self->deliver(static_cast<const char*>(data), len);
    if (took < len) self->libssh_pending_ = true;
    return static_cast<int>(took);
}

size_t ServerChannel::deliver(const char* data, size_t len) {
    size_t sent = 0;
    if (attached_ && down_.size() == down_off_ && !local_write_shut_) {
        ssize_t n = ::send(socket_.native_handle(), data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            finish(std::string("write to ") + label_ + " failed: " + std::strerror(errno));
            return len;
        }
        sent = n > 0 ? static_cast<size_t>(n) : 0;
    }
    if (down_off_ > 0 && down_off_ == down_.size()) {
        down_.clear();
        down_off_ = 0;
    }
    size_t keep = std::min(len - sent, kDownCap - (down_.size() - down_off_));
    if (keep > 0) {
        if (down_off_ > 0 && down_.size() + keep > kDownCap) {
            down_.erase(down_.begin(), down_.begin() + static_cast<ptrdiff_t>(down_off_));
            down_off_ = 0;
        }
        down_.insert(down_.end(), data + sent, data + sent + keep);
        if (attached_) wait_writable();
    }
    if (sent + keep > 0) last_activity_ = std::chrono::steady_clock::now();
    session_.count_bytes(sent + keep, 0);
    return sent + keep;
}

void ServerChannel::wait_writable() {
    if (writing_ || finished_) return;
    writing_ = true;
    socket_.async_wait(asio::socket_base::wait_write,
                       [self = shared_from_this()](asio::error_code ec) {
                           self->writing_ = false;
                           if (ec || self->finished_) return;
                           self->on_writable();
                           self->session_.after_io();
                       });
}

void ServerChannel::on_writable() {
    while (down_off_ < down_.size()) {
        ssize_t n = ::send(socket_.native_handle(), down_.data() + down_off_,
                           down_.size() - down_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_writable();
            return finish(std::string("write to ") + label_ + " failed: " + std::strerror(errno));
        }
        down_off_ += static_cast<size_t>(n);
    }
    down_.clear();
    down_off_ = 0;
    pull_from_libssh();
    maybe_half_close_local();
}

void ServerChannel::pull_from_libssh() {
    while (libssh_pending_ && !finished_ && down_.size() - down_off_ < kDownCap) {
        size_t room = std::min(kDownCap - (down_.size() - down_off_), session_.scratch_size());
        int r = ssh_channel_read_nonblocking(channel_, session_.scratch(),
                                             static_cast<uint32_t>(room), 0);
        if (r == SSH_EOF || r == 0) {
            libssh_pending_ = false;
            break;
        }
        if (r < 0) return finish("channel read failed");
        deliver(session_.scratch(), static_cast<size_t>(r));
        if (static_cast<size_t>(r) < room) libssh_pending_ = false;
    }
}

void ServerChannel::post_service(bool done_check) {
    asio::post(session_.io(), [s = shared_from_this(), done_check] {
        if (s->finished_) return;
        s->pull_from_libssh();
        s->maybe_half_close_local();
        if (done_check) s->maybe_done();
        s->session_.after_io();
    });
}

void ServerChannel::on_eof(ssh_session, ssh_channel, void* user) {
    auto* self = static_cast<ServerChannel*>(user);
    self->remote_eof_ = true;
    self->post_service(false);  // data may still sit in libssh: half-close later
}

void ServerChannel::on_close(ssh_session, ssh_channel, void* user) {
    auto* self = static_cast<ServerChannel*>(user);
    self->remote_eof_ = true;
    self->remote_closed_ = true;
    if (!self->attached_) {
        // Closed while we were still connecting: nothing to flush.
        auto s = self->shared_from_this();
        asio::post(self->session_.io(), [s] { s->finish({}); });
        return;
    }
    self->post_service(true);
}

void ServerChannel::maybe_half_close_local() {
    if (!remote_eof_ || local_write_shut_ || finished_ || !attached_) return;
    if (down_off_ < down_.size() || libssh_pending_) return;
    if (!remote_closed_ && ssh_channel_poll(channel_, 0) > 0) {
        libssh_pending_ = true;
        return pull_from_libssh();
    }
    local_write_shut_ = true;
    asio::error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    maybe_done();
}

// ---------------------------------------------------------------- socket -> ssh

void ServerChannel::wait_readable() {
    if (reading_ || finished_ || local_eof_) return;
    reading_ = true;
    socket_.async_wait(asio::socket_base::wait_read,
                       [self = shared_from_this()](asio::error_code ec) {
                           self->reading_ = false;
                           if (ec || self->finished_) return;
                           self->on_readable();
                           self->session_.after_io();
                       });
}

void ServerChannel::resume_up() {
    if (finished_ || !attached_ || reading_ || remote_closed_) return;
    on_readable();
}

void ServerChannel::on_readable() {
    if (!flush_up_pending()) return;
    for (int i = 0; i < kMaxReadsPerWake && !local_eof_ && !finished_; ++i) {
        size_t want = std::min({session_.scratch_size(), session_.out_allowance(),
                                static_cast<size_t>(ssh_channel_window_size(channel_))});
        if (want == 0) return session_.add_stalled(shared_from_this());
        ssize_t n = ::recv(socket_.native_handle(), session_.scratch(), want, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_readable();
            return finish(std::string("read from ") + label_ + " failed: " + std::strerror(errno));
        }
        if (n == 0) {
            local_eof_ = true;
            break;
        }
        last_activity_ = std::chrono::steady_clock::now();
        size_t w = write_channel(session_.scratch(), static_cast<size_t>(n));
        if (finished_) return;
        if (w < static_cast<size_t>(n)) {  // rekey or window race: keep the rest
            up_pending_.assign(session_.scratch() + w, session_.scratch() + n);
            up_off_ = 0;
            return session_.add_stalled(shared_from_this());
        }
    }
    if (local_eof_) {
        if (!eof_sent_ && up_off_ == up_pending_.size()) {
            eof_sent_ = true;
            ssh_channel_send_eof(channel_);
        }
        return maybe_done();
    }
    asio::post(session_.io(), [self = shared_from_this()] {
        self->resume_up();
        self->session_.after_io();
    });
}

bool ServerChannel::flush_up_pending() {
    if (up_off_ == up_pending_.size()) return true;
    size_t want = std::min({up_pending_.size() - up_off_, session_.out_allowance(),
                            static_cast<size_t>(ssh_channel_window_size(channel_))});
    if (want > 0) up_off_ += write_channel(up_pending_.data() + up_off_, want);
    if (finished_) return false;
    if (up_off_ < up_pending_.size()) {
        session_.add_stalled(shared_from_this());
        return false;
    }
    up_pending_.clear();
    up_pending_.shrink_to_fit();
    up_off_ = 0;
    return true;
}

size_t ServerChannel::write_channel(const char* data, size_t len) {
    int w = ssh_channel_write(channel_, data, static_cast<uint32_t>(len));
    if (w < 0) {
        finish("channel write failed");
        return 0;
    }
    session_.consume_out(static_cast<size_t>(w));
    session_.count_bytes(0, static_cast<uint64_t>(w));
    return static_cast<size_t>(w);
}

// ---------------------------------------------------------------- teardown

void ServerChannel::maybe_done() {
    if (finished_) return;
    bool down_done = local_write_shut_ || (remote_closed_ && down_off_ == down_.size());
    bool up_done = (eof_sent_ && local_eof_) || remote_closed_;
    if (down_done && up_done) finish({});
}

void ServerChannel::finish(const std::string& why) {
    if (finished_) return;
    finished_ = true;
    if (!why.empty()) session_.logger().debug("channel ", label_, " ends: ", why);
    asio::error_code ec;
    socket_.close(ec);
    down_.clear();
    down_.shrink_to_fit();
    up_pending_.clear();
    up_pending_.shrink_to_fit();
    session_.release_channel(shared_from_this());
}

void ServerChannel::detach_for_teardown() {
    if (callbacks_installed_ && channel_) ssh_remove_channel_callbacks(channel_, &callbacks_);
    callbacks_installed_ = false;
    channel_ = nullptr;
    finished_ = true;
    asio::error_code ec;
    socket_.close(ec);
}

}  // namespace ghost::daemon::server
