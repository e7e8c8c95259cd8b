#include "daemon/stealth/fallback.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace ghost::daemon::stealth {
namespace {

/// The built-in responder on one connection: moves bytes and time into the NginxMimic and
/// carries out its replies (docs/stealth-fallback.md).
class Responder : public std::enable_shared_from_this<Responder> {
  public:
    Responder(std::shared_ptr<transport::NetStream> net, NginxMimic::Port port,
              NginxMimic::Clock::time_point accepted, std::function<void()> on_end)
        : net_(std::move(net)),
          mimic_(port, accepted),
          timer_(net_->io()),
          on_end_(std::move(on_end)) {}

    void start(std::string received, bool plain_on_tls) {
        if (plain_on_tls) mimic_.plain_on_tls();
        if (received.empty()) return read_more();
        apply(mimic_.feed(received, NginxMimic::Clock::now()));
    }

  private:
    void apply(NginxMimic::Reply r) {
        if (r.bytes.empty()) return after_write(r);
        auto self = shared_from_this();
        std::string bytes = std::move(r.bytes);
        transport::write_all(net_, std::move(bytes), [self, r = std::move(r)](std::string err) {
            if (!err.empty()) return self->finish();
            self->after_write(r);
        });
    }

    void after_write(const NginxMimic::Reply& r) {
        if (!r.close) {
            if (mimic_.closed()) return finish();
            return read_more();
        }
        if (!r.quiet) net_->shutdown();  // TLS close_notify
        if (!r.lingering || mimic_.closed()) return finish();
        // Lingering close: nginx shuts its write side and keeps reading raw TCP (no more
        // TLS) until quiet or lingering_time is up.
        net_->drop_tls();
        ::shutdown(net_->fd(), SHUT_WR);
        read_more();
    }

    void read_more() {
        auto self = shared_from_this();
        timer_.expires_at(mimic_.deadline());
        timer_.async_wait([self](asio::error_code ec) {
            if (ec || self->done_) return;
            self->timed_out_ = true;
            self->net_->cancel();  // completes the pending read
        });
        buf_.clear();
        transport::read_some(net_, &buf_, [self](std::string err) {
            self->timer_.cancel();
            if (self->done_) return;
            const auto now = NginxMimic::Clock::now();
            if (self->timed_out_ ||
                (!err.empty() && err != "eof" && now >= self->mimic_.deadline())) {
                self->timed_out_ = false;
                return self->apply(self->mimic_.on_timeout(now));
            }
            if (err == "eof") return self->apply(self->mimic_.eof(now));
            if (!err.empty()) return self->finish();
            self->apply(self->mimic_.feed(self->buf_, now));
        });
    }

    void finish() {
        if (done_) return;
        done_ = true;
        timer_.cancel();
        net_->close();
        if (auto cb = std::move(on_end_)) cb();
    }

    std::shared_ptr<transport::NetStream> net_;
    NginxMimic mimic_;
    asio::system_timer timer_;
    std::function<void()> on_end_;
    std::string buf_;
    bool timed_out_ = false;
    bool done_ = false;
};

}  // namespace

void serve_builtin(std::shared_ptr<transport::NetStream> net, std::string received,
                   NginxMimic::Port port, bool plain_on_tls, NginxMimic::Clock::time_point accepted,
                   std::function<void()> on_end) {
    auto r = std::make_shared<Responder>(std::move(net), port, accepted, std::move(on_end));
    r->start(std::move(received), plain_on_tls);
}

void serve_upstream(std::shared_ptr<transport::NetStream> net, std::string received,
                    const net::Endpoint& upstream, std::chrono::milliseconds connect_timeout,
                    NginxMimic::Clock::time_point accepted, std::function<void()> on_end) {
    struct Connect {
        asio::ip::tcp::socket sock;
        asio::steady_timer timer;
        explicit Connect(asio::io_context& io) : sock(io), timer(io) {}
    };
    auto c = std::make_shared<Connect>(net->io());
    asio::error_code ec;
    auto addr = asio::ip::make_address(upstream.host, ec);
    auto to_builtin = [net, received, accepted, on_end]() mutable {
        serve_builtin(std::move(net), std::move(received), NginxMimic::Port::tls, false, accepted,
                      std::move(on_end));
    };
    if (ec) return to_builtin();  // config validation makes this unreachable
    c->timer.expires_after(connect_timeout);
    c->timer.async_wait([c](asio::error_code e) {
        if (!e) {
            asio::error_code ignored;
            c->sock.close(ignored);
        }
    });
    c->sock.async_connect(
        asio::ip::tcp::endpoint(addr, upstream.port),
        [c, net, received, on_end, to_builtin](asio::error_code e) mutable {
            c->timer.cancel();
            if (e || !c->sock.is_open()) return to_builtin();
            int one = 1;
            ::setsockopt(c->sock.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            asio::error_code ignored;
            core::UniqueFd fd(c->sock.release(ignored));
            transport::Pump::start(std::move(net), std::move(fd), transport::Pump::Framing::raw,
                                   std::move(received), [on_end](const std::string&) {
                                       if (on_end) on_end();
                                   });
        });
}

}  // namespace ghost::daemon::stealth
