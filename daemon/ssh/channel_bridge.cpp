#include "daemon/ssh/channel_bridge.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ghost::daemon::ssh {
namespace {
constexpr int kMaxReadsPerWake = 8;  // fairness between flows on one worker
}

ChannelBridge::ChannelBridge(BridgeHost& session, ssh_channel channel, std::string label,
                             uint32_t announced_window)
    : session_(session),
      channel_(channel),
      label_(std::move(label)),
      socket_(session.io()),
      last_activity_(std::chrono::steady_clock::now()),
      window_(announced_window) {}

ChannelBridge::~ChannelBridge() = default;

void ChannelBridge::install_callbacks() {
    callbacks_.userdata = this;
    callbacks_.channel_data_function = &ChannelBridge::on_data;
    callbacks_.channel_eof_function = &ChannelBridge::on_eof;
    callbacks_.channel_close_function = &ChannelBridge::on_close;
    ssh_callbacks_init(&callbacks_);
    ssh_set_channel_callbacks(channel_, &callbacks_);
    callbacks_installed_ = true;
}

void ChannelBridge::attach(asio::ip::tcp::socket socket, std::string early_data) {
    if (finished()) return;
    asio::error_code ec;
    socket_ = std::move(socket);
    socket_.non_blocking(true, ec);
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    set_phase(Phase::bridging);
    last_activity_ = std::chrono::steady_clock::now();
    // Whatever arrived from the server before attach goes out first.
    if (!down_.empty()) on_writable();
    if (!early_data.empty()) {
        up_pending_.assign(early_data.begin(), early_data.end());
        up_off_ = 0;
    }
    if (!finished()) resume_up();
    if (!finished() && remote_ != Remote::open) maybe_half_close_local();  // EOF came before attach
    if (!finished()) {
        window_.start_at(session_.windows().settings().initial);
        want_grant();
    }
    kick();
}

void ChannelBridge::kick() {
    // A finished bridge may outlive its session: never touch the session then.
    if (!finished()) session_.after_io();
}

void ChannelBridge::abandon() {
    if (!attached()) finish("abandoned before attach");
}

void ChannelBridge::terminate(const std::string& why) {
    if (finished()) return;
    asio::error_code ec;
    if (attached()) socket_.set_option(asio::socket_base::linger(true, 0), ec);  // RST on close
    finish(why);
}

// ---------------------------------------------------------------- ssh -> local

int ChannelBridge::on_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                           void* user) {
    auto* self = static_cast<ChannelBridge*>(user);
    if (self->finished()) return static_cast<int>(len);  // discard
    if (is_stderr) {
        // Discarded, all of it: update_window() relies on the stderr buffer staying
        // empty (its read copies what is buffered there into the scratch buffer).
        self->account(len, 0);
        return static_cast<int>(len);
    }
    uint64_t arrived = len > self->libssh_left_ ? len - self->libssh_left_ : 0;
    size_t took = self->deliver(static_cast<const char*>(data), len);
    self->libssh_left_ = len - took;
    self->account(arrived, self->libssh_left_);
    return static_cast<int>(took);
}

void ChannelBridge::account(uint64_t arrived, uint64_t left) {
    auto now = std::chrono::steady_clock::now();
    auto sample = window_.on_packet(arrived, left, now);
    if (sample.count() > 0) session_.windows().note_rtt_sample(sample, now);
    if (window_.overrun()) {
        return terminate("the peer sent " + std::to_string(window_.received()) +
                         " bytes, more than the window it was granted");
    }
    want_grant();
}

size_t ChannelBridge::deliver(const char* data, size_t len) {
    size_t sent = 0;
    if (attached() && down_.size() == down_off_ && !local_write_shut_) {
        // With the next SSH packet already read, this one may wait in the socket for it:
        // one TCP segment (and one TUN packet, one wake-up of the reader) instead of two.
        int more = session_.input_pending() ? MSG_MORE : 0;
        ssize_t n = ::send(socket_.native_handle(), data, len, MSG_NOSIGNAL | MSG_DONTWAIT | more);
        if (more && !corked_ && n > 0) {
            corked_ = true;
            session_.add_corked(shared_from_this());
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            session_.count_bytes(len, 0);
            finish(std::string("local write failed: ") + std::strerror(errno));
            return len;
        }
        sent = n > 0 ? static_cast<size_t>(n) : 0;
        delivered(sent);
    }
    if (down_off_ > 0 && down_off_ == down_.size()) {
        down_.clear();
        down_off_ = 0;
    }
    size_t room = kDownCap - (down_.size() - down_off_);
    size_t keep = std::min(len - sent, room);
    if (keep > 0) {
        if (down_off_ > 0 && down_.size() + keep > kDownCap) {  // compact
            down_.erase(down_.begin(), down_.begin() + static_cast<ptrdiff_t>(down_off_));
            down_off_ = 0;
        }
        down_.insert(down_.end(), data + sent, data + sent + keep);
        if (attached()) wait_writable();
    }
    if (sent + keep > 0) last_activity_ = std::chrono::steady_clock::now();
    session_.count_bytes(sent + keep, 0);
    return sent + keep;
}

void CorkList::flush() {
    auto list = std::move(bridges_);
    bridges_.clear();
    for (auto& b : list) b->uncork();
}

void ChannelBridge::uncork() {
    if (!corked_) return;
    corked_ = false;
    if (finished() || !socket_.is_open()) return;
    int one = 1;  // setting TCP_NODELAY again pushes what MSG_MORE held back
    ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void ChannelBridge::wait_writable() {
    if (writing_ || finished()) return;
    writing_ = true;
    socket_.async_wait(asio::socket_base::wait_write,
                       [self = shared_from_this()](asio::error_code ec) {
                           self->writing_ = false;
                           if (ec || self->finished()) return;
                           self->on_writable();
                           self->kick();
                       });
}

void ChannelBridge::on_writable() {
    while (down_off_ < down_.size()) {
        ssize_t n = ::send(socket_.native_handle(), down_.data() + down_off_,
                           down_.size() - down_off_, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_writable();
            return finish(std::string("local write failed: ") + std::strerror(errno));
        }
        down_off_ += static_cast<size_t>(n);
        delivered(static_cast<size_t>(n));
    }
    down_.clear();
    down_off_ = 0;
    pull_from_libssh();
    maybe_half_close_local();
    want_grant();
}

// Reads only while libssh holds data: a read of an empty buffer would run libssh's
// packet loop, whose data callback could fill down_ under the read.
void ChannelBridge::pull_from_libssh() {
    while (libssh_left_ > 0 && !finished() && down_.size() - down_off_ < kDownCap) {
        size_t room = std::min({kDownCap - (down_.size() - down_off_), session_.scratch_size(),
                                static_cast<size_t>(libssh_left_)});
        int r = ssh_channel_read_nonblocking(channel_, session_.scratch(),
                                             static_cast<uint32_t>(room), 0);
        if (r == SSH_EOF || r == 0) {
            libssh_left_ = 0;
            break;
        }
        if (r < 0) return finish("channel read failed");
        libssh_left_ -= std::min<uint64_t>(libssh_left_, static_cast<uint64_t>(r));
        window_.on_pulled(std::chrono::steady_clock::now());
        if (deliver(session_.scratch(), static_cast<size_t>(r)) < static_cast<size_t>(r)) {
            return finish("internal error: channel data did not fit the bridge buffer");
        }
    }
}

void ChannelBridge::delivered(size_t n) {
    if (n == 0 || finished()) return;
    auto now = std::chrono::steady_clock::now();
    SessionWindows& w = session_.windows();
    window_.on_delivered(n, now, w.rtt(now), w.settings(), w.budget());
}

void ChannelBridge::want_grant() {
    if (grant_posted_ || finished() || window_.grant_due(unconsumed()) == 0) return;
    grant_posted_ = true;
    asio::post(session_.io(), [self = shared_from_this()] {
        self->update_window();
        self->kick();
    });
}

void ChannelBridge::update_window() {
    grant_posted_ = false;
    if (finished() || remote_ != Remote::open || !channel_ || !ssh_channel_is_open(channel_))
        return;
    uint32_t count = window_.grant_due(unconsumed());
    if (count == 0) return;
    // Before the call: data it reads already uses the new window.
    window_.granted(count, std::chrono::steady_clock::now());
    session_.windows().note_target(window_.target());
    // Nothing is copied: the stderr buffer stays empty (on_data takes all of it).
    if (ssh_channel_read_timeout(channel_, session_.scratch(), count, 1, 0) < 0) {
        session_.logger().debug("flow ", label_, ": window grant failed");
    }
}

void ChannelBridge::service_later(bool done_check) {
    asio::post(session_.io(), [s = shared_from_this(), done_check] {
        if (s->finished()) return;
        s->pull_from_libssh();
        s->maybe_half_close_local();
        s->want_grant();
        if (done_check) s->maybe_done();
        s->kick();
    });
}

void ChannelBridge::on_eof(ssh_session, ssh_channel, void* user) {
    auto* self = static_cast<ChannelBridge*>(user);
    if (self->remote_ == Remote::open) self->remote_ = Remote::eof;
    self->service_later(false);  // data may still sit in libssh: half-close later
}

void ChannelBridge::on_close(ssh_session, ssh_channel, void* user) {
    auto* self = static_cast<ChannelBridge*>(user);
    self->remote_ = Remote::closed;
    self->service_later(true);
}

void ChannelBridge::maybe_half_close_local() {
    if (remote_ == Remote::open || local_write_shut_ || !attached()) return;
    if (down_off_ < down_.size() || libssh_left_ > 0) return;
    if (remote_ != Remote::closed) {
        int late = ssh_channel_poll(channel_, 0);  // may run the packet loop: on_data counts
        if (late > 0) {
            libssh_left_ = std::max<uint64_t>(libssh_left_, static_cast<uint64_t>(late));
            return pull_from_libssh();
        }
    }
    local_write_shut_ = true;
    asio::error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
    maybe_done();
}

// ---------------------------------------------------------------- local -> ssh

void ChannelBridge::wait_readable() {
    if (reading_ || finished() || up_ != Up::reading) return;
    reading_ = true;
    socket_.async_wait(asio::socket_base::wait_read,
                       [self = shared_from_this()](asio::error_code ec) {
                           self->reading_ = false;
                           if (ec || self->finished()) return;
                           self->on_readable();
                           self->kick();
                       });
}

void ChannelBridge::resume_up() {
    if (!attached() || reading_ || remote_ == Remote::closed) return;
    on_readable();
}

void ChannelBridge::on_readable() {
    if (!flush_up_pending()) return;
    for (int i = 0; i < kMaxReadsPerWake && up_ == Up::reading && !finished(); ++i) {
        size_t want = std::min({session_.scratch_size(), session_.out_allowance(),
                                static_cast<size_t>(ssh_channel_window_size(channel_))});
        if (want == 0) return stall();
        ssize_t n = ::recv(socket_.native_handle(), session_.scratch(), want, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_readable();
            return finish(std::string("local read failed: ") + std::strerror(errno));
        }
        if (n == 0) {
            up_ = Up::local_eof;
            break;
        }
        last_activity_ = std::chrono::steady_clock::now();
        size_t w = write_channel(session_.scratch(), static_cast<size_t>(n));
        if (finished()) return;
        if (w < static_cast<size_t>(n)) {  // rekey or window race: keep the rest
            up_pending_.assign(session_.scratch() + w, session_.scratch() + n);
            up_off_ = 0;
            return stall();
        }
    }
    if (up_ != Up::reading) {
        if (up_ == Up::local_eof && up_off_ == up_pending_.size()) {
            up_ = Up::eof_sent;
            ssh_channel_send_eof(channel_);
        }
        return maybe_done();
    }
    // Read cap reached with data possibly left: continue after other work.
    asio::post(session_.io(), [self = shared_from_this()] {
        self->resume_up();
        self->kick();
    });
}

bool ChannelBridge::flush_up_pending() {
    if (up_off_ == up_pending_.size()) return true;
    size_t want = std::min({up_pending_.size() - up_off_, session_.out_allowance(),
                            static_cast<size_t>(ssh_channel_window_size(channel_))});
    if (want > 0) up_off_ += write_channel(up_pending_.data() + up_off_, want);
    if (finished()) return false;
    if (up_off_ < up_pending_.size()) {
        stall();
        return false;
    }
    up_pending_.clear();
    up_pending_.shrink_to_fit();
    up_off_ = 0;
    return true;
}

size_t ChannelBridge::write_channel(const char* data, size_t len) {
    int w = ssh_channel_write(channel_, data, static_cast<uint32_t>(len));
    if (w < 0) {
        finish("channel write failed");
        return 0;
    }
    session_.consume_out(static_cast<size_t>(w));
    session_.count_bytes(0, static_cast<uint64_t>(w));
    return static_cast<size_t>(w);
}

void ChannelBridge::stall() {
    session_.add_stalled(shared_from_this());
}

// ---------------------------------------------------------------- teardown

void ChannelBridge::maybe_done() {
    if (finished()) return;
    bool down_done = local_write_shut_ || (remote_ == Remote::closed && down_off_ == down_.size());
    bool up_done = up_ == Up::eof_sent || remote_ == Remote::closed;
    if (down_done && up_done) finish({});
}

void ChannelBridge::finish(const std::string& why) {
    if (finished()) return;
    set_phase(Phase::finished);
    window_.release(session_.windows().budget());
    session_.windows().note_budget();
    if (!why.empty()) session_.logger().debug("flow ", label_, " ends: ", why);
    asio::error_code ec;
    socket_.close(ec);
    down_.clear();
    down_.shrink_to_fit();
    up_pending_.clear();
    up_pending_.shrink_to_fit();
    session_.release_bridge(shared_from_this());
}

void ChannelBridge::detach_for_teardown() {
    if (callbacks_installed_ && channel_) ssh_remove_channel_callbacks(channel_, &callbacks_);
    callbacks_installed_ = false;
    channel_ = nullptr;
    if (!finished()) {
        window_.release(session_.windows().budget());
        session_.windows().note_budget();
    }
    set_phase(Phase::finished);
    asio::error_code ec;
    socket_.close(ec);
}

}  // namespace ghost::daemon::ssh
