#include "daemon/transport/net_stream.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <openssl/err.h>

namespace ghost::daemon::transport {

using ghost::stealth::kWsMaxHeader;
using ghost::stealth::ws_control_frame;
using ghost::stealth::ws_header_size;
using ghost::stealth::ws_mask;
using ghost::stealth::ws_write_header;

namespace {

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL, 0);
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

// ---------------------------------------------------------------- NetStream

NetStream::NetStream(asio::io_context& io, core::UniqueFd fd, SslPtr ssl)
    : io_(io), desc_(io), ssl_(std::move(ssl)) {
    set_nonblocking(fd.get());
    if (ssl_) SSL_set_fd(ssl_.get(), fd.get());
    desc_.assign(fd.release());
}

NetStream::~NetStream() {
    close();
}

NetStream::Result NetStream::ssl_result(int r, const char* what) {
    int e = SSL_get_error(ssl_.get(), r);
    switch (e) {
        case SSL_ERROR_WANT_READ:
            return {Io::want_read, 0, {}};
        case SSL_ERROR_WANT_WRITE:
            return {Io::want_write, 0, {}};
        case SSL_ERROR_ZERO_RETURN:
            return {Io::eof, 0, {}};
        case SSL_ERROR_SYSCALL: {
            int err = errno;
            ERR_clear_error();
            if (err == 0 || err == ECONNRESET || err == EPIPE) return {Io::eof, 0, {}};
            return {Io::error, 0, std::string(what) + ": " + std::strerror(err)};
        }
        default: {
            unsigned long code = ERR_peek_error();
            // A peer that closes TCP without close_notify (most web clients) is an EOF.
            if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                ERR_clear_error();
                return {Io::eof, 0, {}};
            }
            std::string text = ssl_error_text();
            return {Io::error, 0, std::string(what) + ": " + (text.empty() ? "TLS error" : text)};
        }
    }
}

NetStream::Result NetStream::handshake() {
    if (!ssl_) return {};
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) return {};
    return ssl_result(r, "TLS handshake");
}

NetStream::Result NetStream::read(void* buf, size_t len) {
    if (closed()) return {Io::error, 0, "connection closed"};
    if (ssl_) {
        ERR_clear_error();
        size_t n = 0;
        int r = SSL_read_ex(ssl_.get(), buf, len, &n);
        if (r == 1) return {Io::ok, n, {}};
        return ssl_result(r, "TLS read");
    }
    for (;;) {
        ssize_t n = ::recv(fd(), buf, len, 0);
        if (n > 0) return {Io::ok, static_cast<size_t>(n), {}};
        if (n == 0) return {Io::eof, 0, {}};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::want_read, 0, {}};
        if (errno == ECONNRESET) return {Io::eof, 0, {}};
        return {Io::error, 0, std::string("read: ") + std::strerror(errno)};
    }
}

NetStream::Result NetStream::write(const void* buf, size_t len) {
    if (closed()) return {Io::error, 0, "connection closed"};
    if (ssl_) {
        ERR_clear_error();
        size_t n = 0;
        int r = SSL_write_ex(ssl_.get(), buf, len, &n);
        if (r == 1) return {Io::ok, n, {}};
        return ssl_result(r, "TLS write");
    }
    for (;;) {
        ssize_t n = ::send(fd(), buf, len, MSG_NOSIGNAL);
        if (n >= 0) return {Io::ok, static_cast<size_t>(n), {}};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {Io::want_write, 0, {}};
        if (errno == EPIPE || errno == ECONNRESET) return {Io::eof, 0, {}};
        return {Io::error, 0, std::string("write: ") + std::strerror(errno)};
    }
}

void NetStream::shutdown() {
    if (!ssl_ || closed()) return;
    ERR_clear_error();
    if (SSL_shutdown(ssl_.get()) < 0) ERR_clear_error();
}

void NetStream::wait(Io want, std::function<void(bool)> cb) {
    if (closed()) {
        asio::post(io_, [cb = std::move(cb)] { cb(false); });
        return;
    }
    auto w = want == Io::want_write ? asio::posix::descriptor_base::wait_write
                                    : asio::posix::descriptor_base::wait_read;
    desc_.async_wait(w, [cb = std::move(cb)](asio::error_code ec) { cb(!ec); });
}

void NetStream::cancel() {
    asio::error_code ignored;
    if (desc_.is_open()) desc_.cancel(ignored);
}

void NetStream::attach_tls(SslPtr ssl) {
    ssl_ = std::move(ssl);
    SSL_set_fd(ssl_.get(), desc_.native_handle());
}

core::UniqueFd NetStream::release() {
    ssl_.reset();
    return core::UniqueFd(desc_.is_open() ? desc_.release() : -1);
}

void NetStream::close() {
    asio::error_code ignored;
    if (desc_.is_open()) desc_.close(ignored);
}

void drive(const std::shared_ptr<NetStream>& net, std::function<NetStream::Result()> op,
           std::function<void(NetStream::Result)> done) {
    auto r = op();
    if (r.io != NetStream::Io::want_read && r.io != NetStream::Io::want_write)
        return done(std::move(r));
    net->wait(r.io, [net, op = std::move(op), done = std::move(done)](bool ok) mutable {
        if (!ok) return done({NetStream::Io::error, 0, "connection closed"});
        drive(net, std::move(op), std::move(done));
    });
}

namespace {
/// One write_all in progress; the pending operation keeps it alive.
struct Writer : std::enable_shared_from_this<Writer> {
    std::shared_ptr<NetStream> net;
    std::string buf;
    size_t off = 0;
    std::function<void(std::string)> done;

    void next() {
        if (off == buf.size()) return done({});
        auto self = shared_from_this();
        drive(
            net,
            [self] {
                return self->net->write(self->buf.data() + self->off, self->buf.size() - self->off);
            },
            [self](NetStream::Result r) {
                if (r.io != NetStream::Io::ok)
                    return self->done(r.error.empty() ? "connection closed" : r.error);
                self->off += r.n;
                self->next();
            });
    }
};
}  // namespace

void write_all(const std::shared_ptr<NetStream>& net, std::string data,
               std::function<void(std::string)> done) {
    auto w = std::make_shared<Writer>();
    w->net = net;
    w->buf = std::move(data);
    w->done = std::move(done);
    w->next();
}

void read_some(const std::shared_ptr<NetStream>& net, std::string* buf,
               std::function<void(std::string)> done) {
    auto chunk = std::make_shared<std::vector<char>>(16 * 1024);
    drive(
        net, [net, chunk] { return net->read(chunk->data(), chunk->size()); },
        [buf, chunk, done = std::move(done)](NetStream::Result r) {
            if (r.io == NetStream::Io::eof) return done("eof");
            if (r.io != NetStream::Io::ok) return done(r.error.empty() ? "read failed" : r.error);
            buf->append(chunk->data(), r.n);
            done({});
        });
}

// ---------------------------------------------------------------- Pump

Pump::Pump(std::shared_ptr<NetStream> net, core::UniqueFd local, Framing framing,
           std::function<void(const std::string&)> on_end)
    : net_(std::move(net)),
      local_(net_->io()),
      framing_(framing),
      on_end_(std::move(on_end)),
      decoder_(framing == Framing::ws_server),
      up_(kWsMaxHeader + kChunk),
      down_(kChunk) {
    set_nonblocking(local.get());
    local_.assign(local.release());
}

std::shared_ptr<Pump> Pump::start(std::shared_ptr<NetStream> net, core::UniqueFd local,
                                  Framing framing, std::string from_net,
                                  std::function<void(const std::string&)> on_end) {
    auto p = std::make_shared<Pump>(std::move(net), std::move(local), framing, std::move(on_end));
    p->seed(std::move(from_net));
    p->scheduled_ = true;
    asio::post(p->net_->io(), [p] { p->progress(); });
    return p;
}

void Pump::seed(std::string bytes) {
    if (bytes.empty()) return;
    if (bytes.size() > down_.size()) down_.resize(bytes.size());
    std::memcpy(down_.data(), bytes.data(), bytes.size());
    down_off_ = 0;
    down_len_ = 0;
    decode_down(bytes.size());
}

void Pump::stop(const std::string& reason) {
    end(reason);
}

void Pump::progress() {
    scheduled_ = false;
    for (int round = 0; round < 16; ++round) {
        if (ended_) return;
        bool moved = step_up();
        if (ended_) return;
        moved = step_down() || moved;
        if (!moved) return;
    }
    if (ended_ || scheduled_) return;
    // Still busy: let the other connections on this thread have a turn.
    scheduled_ = true;
    asio::post(net_->io(), [self = shared_from_this()] { self->progress(); });
}

bool Pump::step_up() {
    bool moved = false;
    if (up_len_ == 0 && ctrl_off_ >= ctrl_.size() && !local_eof_ && !closing_ &&
        !local_read_armed_) {
        uint8_t* payload = up_.data() + kWsMaxHeader;
        ssize_t n = ::recv(local_.native_handle(), payload, kChunk, 0);
        if (n > 0) {
            const auto len = static_cast<size_t>(n);
            up_total_ += len;
            if (framing_ == Framing::raw) {
                up_off_ = kWsMaxHeader;
                up_len_ = len;
            } else {
                const bool masked = framing_ == Framing::ws_client;
                uint8_t mask[4];
                if (masked) {
                    uint32_t m = mask_rng_();
                    std::memcpy(mask, &m, 4);
                    ws_mask(payload, len, mask, 0);
                }
                const size_t h = ws_header_size(len, masked);
                ws_write_header(payload - h, WsOpcode::binary, len, masked ? mask : nullptr);
                up_off_ = kWsMaxHeader - h;
                up_len_ = h + len;
            }
            moved = true;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            local_eof_ = true;
            closing_ = true;
            if (framing_ != Framing::raw)
                queue_control(WsOpcode::close, std::string("\x03\xe8", 2));
            moved = true;
        } else if (errno != EINTR) {
            arm_local(false);
        }
    }
    for (;;) {
        const uint8_t* p = nullptr;
        size_t len = 0;
        bool ctrl = false;
        if (up_len_ > 0) {
            p = up_.data() + up_off_;
            len = up_len_;
        } else if (ctrl_off_ < ctrl_.size()) {
            p = reinterpret_cast<const uint8_t*>(ctrl_.data()) + ctrl_off_;
            len = ctrl_.size() - ctrl_off_;
            ctrl = true;
        } else {
            break;
        }
        auto r = net_->write(p, len);
        if (r.io == NetStream::Io::ok) {
            if (ctrl) {
                ctrl_off_ += r.n;
                if (ctrl_off_ >= ctrl_.size()) {
                    ctrl_.clear();
                    ctrl_off_ = 0;
                }
            } else {
                up_off_ += r.n;
                up_len_ -= r.n;
            }
            moved = true;
            continue;
        }
        if (r.io == NetStream::Io::want_read || r.io == NetStream::Io::want_write) {
            arm_net(r.io);
            break;
        }
        end(r.error.empty() ? "peer closed the connection" : r.error);
        return false;
    }
    if (closing_ && up_len_ == 0 && ctrl_.empty() && down_len_ == 0) {
        net_->shutdown();
        end(local_eof_ ? "local side closed" : "peer closed the connection");
        return false;
    }
    return moved;
}

bool Pump::step_down() {
    bool moved = false;
    if (down_len_ == 0 && !net_eof_ && !net_read_armed_) {
        size_t got = 0;
        for (;;) {
            auto r = net_->read(down_.data() + got, down_.size() - got);
            if (r.io == NetStream::Io::ok) {
                got += r.n;
                const bool more =
                    net_->ssl() ? SSL_has_pending(net_->ssl()) == 1 : got == down_.size();
                if (got < down_.size() && more) continue;
                break;
            }
            if (r.io == NetStream::Io::eof) {
                net_eof_ = true;
                moved = true;
            } else if (r.io == NetStream::Io::want_read || r.io == NetStream::Io::want_write) {
                arm_net(r.io);
            } else {
                if (got == 0) {
                    end(r.error);
                    return false;
                }
                net_eof_ = true;
            }
            break;
        }
        if (got > 0) {
            down_total_ += got;
            moved = true;
            if (!decode_down(got)) return false;
        }
    }
    while (down_len_ > 0 && !local_write_armed_) {
        ssize_t n =
            ::send(local_.native_handle(), down_.data() + down_off_, down_len_, MSG_NOSIGNAL);
        if (n > 0) {
            down_off_ += static_cast<size_t>(n);
            down_len_ -= static_cast<size_t>(n);
            moved = true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            arm_local(true);
            break;
        }
        end("local side closed");
        return false;
    }
    if (net_eof_ && down_len_ == 0 && !closing_) {
        end("peer closed the connection");
        return false;
    }
    return moved;
}

bool Pump::decode_down(size_t n) {
    down_off_ = 0;
    if (framing_ == Framing::raw) {
        down_len_ = n;
        return true;
    }
    WsDecoder::Events ev;
    down_len_ = decoder_.decode(down_.data(), n, ev);
    if (!ev.error.empty()) {
        end(ev.error);
        return false;
    }
    if (ev.ping) queue_control(WsOpcode::pong, ev.ping_payload);
    if (ev.close) {
        // Answer the close (RFC 6455 §5.5.1), deliver what came before it, then end.
        net_eof_ = true;
        if (!closing_) {
            closing_ = true;
            queue_control(WsOpcode::close, std::string("\x03\xe8", 2));
        }
    }
    return true;
}

void Pump::queue_control(WsOpcode op, const std::string& payload) {
    // A peer flooding pings while we cannot write gets answers only while the queue is short.
    if (op == WsOpcode::pong && ctrl_.size() > 1024) return;
    uint8_t mask[4];
    const bool masked = framing_ == Framing::ws_client;
    if (masked) {
        uint32_t m = mask_rng_();
        std::memcpy(mask, &m, 4);
    }
    ctrl_ += ws_control_frame(op, payload.substr(0, 125), masked ? mask : nullptr);
}

void Pump::arm_net(NetStream::Io want) {
    bool& armed = want == NetStream::Io::want_write ? net_write_armed_ : net_read_armed_;
    if (armed) return;
    armed = true;
    net_->wait(want, [self = shared_from_this(), want](bool) {
        (want == NetStream::Io::want_write ? self->net_write_armed_ : self->net_read_armed_) =
            false;
        if (!self->ended_) self->progress();
    });
}

void Pump::arm_local(bool write) {
    bool& armed = write ? local_write_armed_ : local_read_armed_;
    if (armed) return;
    armed = true;
    auto w =
        write ? asio::posix::descriptor_base::wait_write : asio::posix::descriptor_base::wait_read;
    local_.async_wait(w, [self = shared_from_this(), write](asio::error_code) {
        (write ? self->local_write_armed_ : self->local_read_armed_) = false;
        if (!self->ended_) self->progress();
    });
}

void Pump::end(const std::string& reason) {
    if (ended_) return;
    ended_ = true;
    asio::error_code ignored;
    local_.close(ignored);
    net_->close();
    if (auto cb = std::move(on_end_)) cb(reason);
}

}  // namespace ghost::daemon::transport
