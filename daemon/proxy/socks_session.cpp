#include "daemon/proxy/socks_session.hpp"

#include "common/net/endpoint.hpp"
#include "common/proxy/detect.hpp"
#include "daemon/proxy/http_handshake.hpp"

namespace ghost::daemon::proxy {

using ghost::proxy::ParseStatus;

std::string_view to_string(FrontDoorKind kind) {
    switch (kind) {
        case FrontDoorKind::socks5_http:
            return "socks5+http";
        case FrontDoorKind::socks5:
            return "socks5";
        case FrontDoorKind::http:
            return "http";
    }
    return "socks5+http";
}

FrontDoorSession::FrontDoorSession(ssh::ChannelOpener& opener, asio::ip::tcp::socket socket,
                                   std::shared_ptr<const FrontDoorSettings> settings,
                                   log::Logger logger, DoneCallback done)
    : opener_(opener),
      socket_(std::move(socket)),
      timer_(opener.io()),
      settings_(std::move(settings)),
      log_(std::move(logger)),
      done_(std::move(done)) {}

void FrontDoorSession::start() {
    arm_timer(settings_->handshake_timeout, SessionResult::timed_out);
    read_next();
}

void FrontDoorSession::close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    ++timer_generation_;
    timer_.cancel();
    asio::error_code ignored;
    socket_.close(ignored);
    channel_.reset();
    if (auto done = std::move(done_)) done(this, result_);
}

void FrontDoorSession::finish(SessionResult result) {
    result_ = result;
    close();
}

// Handshake deadline while reading, linger deadline after an error reply.
void FrontDoorSession::arm_timer(std::chrono::milliseconds after, SessionResult result) {
    auto generation = ++timer_generation_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), generation, result](asio::error_code ec) {
        if (ec || generation != self->timer_generation_ || self->phase_ == Phase::closed) return;
        if (self->phase_ == Phase::reading) {
            self->log_.notice("front door: no complete request within ",
                              self->settings_->handshake_timeout.count(), " ms; dropped");
            return self->finish(result);
        }
        self->close();  // lingering: the reply had its chance
    });
}

// ---------------------------------------------------------------- handshake

void FrontDoorSession::read_next() {
    socket_.async_read_some(
        asio::buffer(buf_),
        [self = shared_from_this()](asio::error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void FrontDoorSession::on_read(asio::error_code ec, std::size_t n) {
    if (phase_ != Phase::reading) return;
    if (ec) {
        if (ec != asio::error::operation_aborted) {
            log_.debug("front door: client left during the handshake: ", ec.message());
        }
        return finish(SessionResult::aborted);
    }
    if (!handshake_ && !choose_handshake(buf_[0])) return;
    handle_step(handshake_->feed(std::span<const uint8_t>(buf_.data(), n)), n);
}

bool FrontDoorSession::choose_handshake(uint8_t first_byte) {
    const auto& creds = settings_->credentials;
    if (settings_->kind == FrontDoorKind::http) {
        handshake_ = std::make_unique<HttpHandshake>(creds);
        return true;
    }
    auto detection = ghost::proxy::detect_front_door(first_byte);
    using P = ghost::proxy::FrontDoorProtocol;
    if (detection.protocol == P::socks5) {
        handshake_ = std::make_unique<Socks5Handshake>(creds);
        return true;
    }
    if (detection.protocol == P::http && settings_->kind == FrontDoorKind::socks5_http) {
        handshake_ = std::make_unique<HttpHandshake>(creds);
        return true;
    }
    if (detection.protocol == P::http) detection.reason = "HTTP is not served on this SOCKS5 port";
    log_.notice("front door: ", detection.reason);
    refuse(std::string(detection.reply.begin(), detection.reply.end()),
           SessionResult::handshake_failed);
    return false;
}

void FrontDoorSession::handle_step(HandshakeStep step, std::size_t n) {
    out_ += step.reply;
    switch (step.status) {
        case ParseStatus::need_more:
            if (out_.empty()) return read_next();
            return write_then_read(std::exchange(out_, {}));
        case ParseStatus::error:
            log_.notice("front door: ", handshake_->protocol(), " request refused: ", step.error);
            return refuse(std::exchange(out_, {}), SessionResult::handshake_failed);
        case ParseStatus::done:
            early_.assign(reinterpret_cast<const char*>(buf_.data()) + step.consumed,
                          n - step.consumed);
            // Replies produced along the way (method choice, auth status) go out in front
            // of the final reply, in order.
            return open_channel(std::move(step.host), step.port);
    }
}

void FrontDoorSession::write_then_read(std::string bytes) {
    out_ = std::move(bytes);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](asio::error_code ec, std::size_t) {
                          if (self->phase_ != Phase::reading) return;
                          self->out_.clear();
                          if (ec) return self->finish(SessionResult::aborted);
                          self->read_next();
                      });
}

// ---------------------------------------------------------------- channel

void FrontDoorSession::open_channel(std::string host, uint16_t port) {
    phase_ = Phase::opening;
    ++timer_generation_;
    timer_.cancel();  // the engine bounds the open (open timeout, pending wait)
    target_ = net::Endpoint{host, port}.str();
    ssh::OpenRequest req{std::move(host), port};
    asio::error_code ec;
    auto peer = socket_.remote_endpoint(ec);
    if (!ec) {
        req.origin_host = peer.address().to_string();
        req.origin_port = peer.port();
    }
    log_.debug("front door: ", handshake_->protocol(), " CONNECT ", target_);
    opener_.open(std::move(req),
                 [self = shared_from_this()](ssh::OpenOutcome o, ssh::ChannelHandle ch) {
                     self->on_open(std::move(o), std::move(ch));
                 });
}

void FrontDoorSession::on_open(ssh::OpenOutcome outcome, ssh::ChannelHandle channel) {
    if (phase_ != Phase::opening) return;  // closed meanwhile: dropping channel closes it
    if (!outcome.ok()) {
        const auto failure = *outcome.failure;
        log_.notice("front door: ", handshake_->protocol(), " CONNECT ", target_, " failed (",
                    ghost::proxy::open_failure_name(failure), "): ", outcome.message);
        return refuse(out_ + handshake_->failure_reply(failure, outcome.message),
                      SessionResult::open_failed);
    }
    phase_ = Phase::replying;
    channel_ = std::move(channel);
    out_ += handshake_->success_reply();
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](asio::error_code ec, std::size_t) {
                          self->on_success_written(ec);
                      });
}

void FrontDoorSession::on_success_written(asio::error_code ec) {
    if (phase_ != Phase::replying) return;
    if (ec) {
        log_.debug("front door: client left before the tunnel to ", target_, " started");
        return finish(SessionResult::aborted);
    }
    phase_ = Phase::bridged;
    result_ = SessionResult::bridged;
    channel_.attach(std::move(socket_), std::move(early_));
    if (auto done = std::move(done_)) done(this, result_);
}

// ---------------------------------------------------------------- refusing

// Writes the error reply, then half-closes and reads until the client hangs up (or the
// linger deadline), so unread request bytes do not turn the close into a reset that
// destroys the reply in flight.
void FrontDoorSession::refuse(std::string reply, SessionResult result) {
    phase_ = Phase::lingering;
    result_ = result;
    out_ = std::move(reply);
    arm_timer(settings_->linger_timeout, result);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](asio::error_code ec, std::size_t) {
                          if (self->phase_ != Phase::lingering) return;
                          if (ec) return self->close();
                          asio::error_code ignored;
                          self->socket_.shutdown(asio::socket_base::shutdown_send, ignored);
                          self->drain_then_close();
                      });
}

void FrontDoorSession::drain_then_close() {
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](asio::error_code ec, std::size_t n) {
                                if (self->phase_ != Phase::lingering) return;
                                self->discarded_ += n;
                                if (ec || self->discarded_ > kMaxLingerDiscard) {
                                    return self->close();
                                }
                                self->drain_then_close();
                            });
}

}  // namespace ghost::daemon::proxy
