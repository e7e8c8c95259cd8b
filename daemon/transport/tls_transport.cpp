#include "daemon/transport/tls_transport.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/stealth/knock.hpp"

namespace ghost::daemon::transport {

using transport::NetStream;

namespace {
/// Largest knock answer head the client reads.
constexpr size_t kMaxAnswerHead = 16 * 1024;
}  // namespace

bool stream_pair(core::UniqueFd* a, core::UniqueFd* b, std::string* why) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0) {
        *why = std::string("socketpair: ") + std::strerror(errno);
        return false;
    }
    // Room for a few TLS records' worth of SSH data in flight each way.
    int size = 1 << 20;
    for (int fd : sv) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    a->reset(sv[0]);
    b->reset(sv[1]);
    return true;
}

struct TlsTransport::Attempt : std::enable_shared_from_this<TlsTransport::Attempt> {
    Attempt(asio::io_context& ctx_io, config::TransportConfig c, net::Endpoint s, StreamOptions o,
            transport::SslCtxPtr x, std::string sec, StreamCallback done)
        : io(ctx_io),
          timer(ctx_io),
          cfg(std::move(c)),
          server(std::move(s)),
          opts(o),
          ctx(std::move(x)),
          secret(std::move(sec)),
          cb(std::move(done)) {
        verify_name = cfg.sni.empty() ? server.host : cfg.sni;
    }

    asio::io_context& io;
    asio::steady_timer timer;
    config::TransportConfig cfg;
    net::Endpoint server;
    StreamOptions opts;
    transport::SslCtxPtr ctx;
    std::string secret;
    StreamCallback cb;
    std::string verify_name;
    std::shared_ptr<NetStream> net;
    std::string peer;
    std::string head;
    std::string ws_key;
    nlohmann::json info = nlohmann::json::object();
    bool timed_out = false;

    void on_tcp(ConnectResult r) {
        if (!r.fd) return finish(std::move(r));
        peer = r.peer;
        std::string why;
        auto ssl = transport::make_client_ssl(ctx.get(), cfg, verify_name, &why);
        if (!ssl) return fail(why, true);
        net = std::make_shared<NetStream>(io, std::move(r.fd), std::move(ssl));
        auto self = shared_from_this();
        timer.expires_after(opts.connect_timeout);
        timer.async_wait([self](asio::error_code ec) {
            if (ec || !self->cb) return;
            self->timed_out = true;
            if (self->net) self->net->close();
        });
        transport::drive(
            net, [n = net] { return n->handshake(); },
            [self](NetStream::Result res) { self->on_handshake(std::move(res)); });
    }

    void on_handshake(NetStream::Result r) {
        if (!cb) return;
        SSL* ssl = net->ssl();
        if (r.io != NetStream::Io::ok) {
            if (timed_out) return fail("TLS handshake with " + server.str() + " timed out", false);
            return fail(
                "TLS handshake with " + server.str() + " failed: " +
                    (r.io == NetStream::Io::eof ? "connection closed by the server" : r.error),
                false);
        }
        if (std::string bad = transport::check_server_cert(ssl, cfg, verify_name); !bad.empty())
            return fail(bad, true);
        const unsigned char* alpn = nullptr;
        unsigned alpn_len = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        X509* cert = SSL_get0_peer_certificate(ssl);
        info = {
            {"version", SSL_get_version(ssl)},
            {"cipher", SSL_get_cipher_name(ssl)},
            {"alpn", std::string(reinterpret_cast<const char*>(alpn), alpn_len)},
            {"sni", cfg.sni},
            {"peer_subject", transport::subject_line(cert)},
            {"peer_pin_sha256", transport::spki_pin(cert)},
            {"verified_by",
             cfg.pin_sha256.empty() ? (cfg.ca_file.empty() ? "system CAs" : cfg.ca_file) : "pin"},
            {"knock", !cfg.knock_path.empty()}};
        if (cfg.knock_path.empty()) return succeed({}, false);
        ws_key = ghost::stealth::websocket_key();
        ghost::stealth::KnockRequest kr;
        kr.path = cfg.knock_path;
        kr.host = cfg.sni.empty() ? server.host : cfg.sni;
        kr.key = ws_key;
        kr.token =
            ghost::stealth::make_token(secret, cfg.knock_path, std::chrono::system_clock::now());
        auto self = shared_from_this();
        transport::write_all(net, ghost::stealth::build_knock_request(kr), [self](std::string err) {
            if (!self->cb) return;
            if (!err.empty())
                return self->fail("sending the knock to " + self->server.str() + " failed: " + err,
                                  false);
            self->read_answer();
        });
    }

    void read_answer() {
        auto self = shared_from_this();
        transport::read_some(net, &head, [self](std::string err) {
            if (!self->cb) return;
            if (!err.empty()) {
                if (self->timed_out)
                    return self->fail("knock answer from " + self->server.str() + " timed out",
                                      false);
                return self->fail("server " + self->server.str() +
                                      " closed the connection after the knock" +
                                      (err == "eof" ? "" : ": " + err),
                                  false);
            }
            self->on_answer_bytes();
        });
    }

    void on_answer_bytes() {
        size_t len = ghost::stealth::head_length(head);
        if (len == 0) {
            if (head.size() > kMaxAnswerHead)
                return fail("knock answer from " + server.str() + " is larger than 16 KiB", false);
            return read_answer();
        }
        auto h = ghost::stealth::parse_head(std::string_view(head).substr(0, len));
        if (!h) return fail("knock answer from " + server.str() + " is not HTTP", false);
        if (h->start_line.rfind("HTTP/1.1 101", 0) != 0) {
            return fail(
                "server " + server.str() + " refused the knock: \"" + h->start_line +
                    "\" (check transport.knock path and secret, and that both clocks are right)",
                false);
        }
        if (h->get("Sec-WebSocket-Accept") != ghost::stealth::websocket_accept(ws_key))
            return fail(
                "server " + server.str() + " answered the knock with a wrong Sec-WebSocket-Accept",
                false);
        succeed(head.substr(len), true);
    }

    void succeed(std::string leftover, bool websocket) {
        timer.cancel();
        auto c = std::move(cb);
        cb = nullptr;
        ConnectResult r;
        r.peer = peer;
        r.info = info;
        c(std::move(r), Stream{std::move(net), std::move(leftover), websocket});
    }

    void fail(std::string msg, bool fatal) {
        ConnectResult r;
        r.error = std::move(msg);
        r.fatal = fatal;
        finish(std::move(r));
    }

    void finish(ConnectResult r) {
        timer.cancel();
        if (net) net->close();
        if (auto c = std::move(cb)) {
            cb = nullptr;
            c(std::move(r), Stream{});
        }
    }

    void cancel() {
        cb = nullptr;
        timer.cancel();
        if (net) net->close();
    }
};

TlsTransport::TlsTransport(asio::io_context& io, const config::Profile& profile, StreamOptions opts)
    : io_(io),
      cfg_(profile.transport),
      server_(*profile.server),
      opts_(opts),
      tcp_(io, *profile.server, opts) {}

TlsTransport::~TlsTransport() {
    cancel();
}

void TlsTransport::open_stream(StreamCallback cb) {
    cancel();
    std::string why;
    // Built per attempt: a CA file or pin edited between reconnects takes effect.
    auto ctx = transport::make_client_ctx(cfg_, &why);
    std::string secret;
    if (ctx && !cfg_.knock_path.empty()) {
        auto s = transport::load_knock_secret(cfg_.knock_secret_file, &why);
        if (s)
            secret = std::move(*s);
        else
            ctx = nullptr;
    }
    if (!ctx) {
        ConnectResult r;
        r.error = why;
        r.fatal = true;
        asio::post(
            io_, [cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r), Stream{}); });
        return;
    }
    attempt_ = std::make_shared<Attempt>(io_, cfg_, server_, opts_, std::move(ctx),
                                         std::move(secret), std::move(cb));
    tcp_.connect([w = std::weak_ptr<Attempt>(attempt_)](ConnectResult r) {
        if (auto a = w.lock()) a->on_tcp(std::move(r));
    });
}

void TlsTransport::connect(Callback cb) {
    open_stream([cb = std::move(cb)](ConnectResult r, Stream s) {
        if (!s.net) return cb(std::move(r));
        core::UniqueFd ssh_end, pump_end;
        std::string why;
        if (!stream_pair(&ssh_end, &pump_end, &why)) {
            r.error = why;
            return cb(std::move(r));
        }
        // The session reads the path RTT from the TCP socket under TLS (TCP_INFO).
        r.path_fd = core::UniqueFd(::fcntl(s.net->fd(), F_DUPFD_CLOEXEC, 0));
        transport::Pump::start(
            std::move(s.net), std::move(pump_end),
            s.websocket ? transport::Pump::Framing::ws_client : transport::Pump::Framing::raw,
            std::move(s.leftover));
        r.fd = std::move(ssh_end);
        cb(std::move(r));
    });
}

void TlsTransport::cancel() {
    tcp_.cancel();
    if (attempt_) attempt_->cancel();
    attempt_.reset();
}

}  // namespace ghost::daemon::transport
