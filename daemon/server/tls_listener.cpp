/// The `tls` listener (DESIGN.md §10): TLS on the listening port; SSH only for clients
/// whose WebSocket upgrade carries a valid knock token (or, when allowed, a bare SSH
/// banner); everything else goes to the fallback web server. Accepts happen on the
/// control thread; each connection's TLS, knock and fallback run on a worker, and the
/// SSH session gets one end of a socketpair whose other end a Pump bridges to TLS.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <unordered_map>

#include "common/stealth/knock.hpp"
#include "daemon/server/listener.hpp"
#include "daemon/ssh/ssh_key.hpp"
#include "daemon/stealth/fallback.hpp"
#include "daemon/transport/net_stream.hpp"
#include "daemon/transport/tls_context.hpp"
#include "daemon/transport/tls_transport.hpp"

namespace ghost::daemon::server {
namespace {

namespace st = ghost::daemon::stealth;
namespace tr = ghost::daemon::transport;
namespace ks = ghost::stealth;

/// nginx's client_header_timeout: how long a connection may take to finish the TLS
/// handshake and send its first request.
constexpr std::chrono::seconds kHeadTimeout{60};
/// Connections in TLS/knock/fallback at once per listener. At the cap a new connection
/// evicts the oldest one still in its TLS handshake or first request; when none is, the
/// new one is closed at accept.
constexpr size_t kMaxPending = 4096;
constexpr std::chrono::seconds kUpstreamConnectTimeout{10};
constexpr std::string_view kSshPrefix = "SSH-2.0-";

class Conn;

/// State every connection of one listener shares, across worker threads.
struct TlsShared {
    TlsShared(asio::io_context& c, config::ListenConfig l, log::Logger lg)
        : control(c), cfg(std::move(l)), log(std::move(lg)) {}

    asio::io_context& control;
    config::ListenConfig cfg;
    log::Logger log;
    Listener::AcceptFn deliver;  // control thread only
    std::atomic<bool> closed{false};

    mutable std::mutex mu;  // guards ctx, cert, secret, replay
    tr::SslCtxPtr ctx;
    tr::ServerCert cert;
    std::string secret;
    ks::ReplayCache replay;

    std::atomic<uint64_t> knocks_accepted{0}, knocks_rejected{0}, fallbacks{0}, bare_ssh{0},
        handshake_failures{0}, refused_busy{0}, evicted{0}, plain_ssh{0};
    std::atomic<size_t> pending{0};

    std::mutex reg_mu;
    uint64_t next_id = 0;
    std::unordered_map<uint64_t, std::pair<asio::io_context*, std::weak_ptr<Conn>>> conns;
    std::set<uint64_t> undecided;  // ids of conns not yet SSH or fallback, oldest first

    tr::SslCtxPtr context() const {
        std::lock_guard lock(mu);
        return ctx;
    }
};

/// One accepted connection until it is handed to SSH or its fallback ends.
class Conn : public std::enable_shared_from_this<Conn> {
  public:
    Conn(std::shared_ptr<TlsShared> sh, asio::io_context& io, Accepted a)
        : sh_(std::move(sh)),
          io_(io),
          timer_(io),
          peer_ip_(a.peer_ip),
          peer_(a.peer),
          log_(sh_->log.with_peer(a.peer)) {
        net_ = std::make_shared<tr::NetStream>(io, std::move(a.fd), nullptr);
    }

    void start(uint64_t id) {
        id_ = id;
        auto self = shared_from_this();
        timer_.expires_after(kHeadTimeout);
        timer_.async_wait([self](asio::error_code ec) {
            if (ec || self->decided_) return;
            self->timed_out_ = true;
            self->net_->cancel();
        });
        net_->wait(tr::NetStream::Io::want_read, [self](bool ok) { self->on_first_bytes(ok); });
    }

    /// Closes the connection (listener closing); on its worker.
    void stop() { net_->close(); }
    /// Closes the connection if it is still undecided (evicted to make room); on its worker.
    void evict() {
        if (!decided_) net_->close();
    }

  private:
    void on_first_bytes(bool ok) {
        if (!ok) return done();  // timed out or closed before sending anything
        unsigned char first = 0;
        ssize_t n = ::recv(net_->fd(), &first, 1, MSG_PEEK);
        if (n <= 0) return done();
        if (first != 0x16) {
            if (sh_->cfg.transport.sniff) return sniff_plain();
            // Not a TLS ClientHello: nginx answers plain HTTP on its TLS port with a 400.
            return fallback({}, /*plain_on_tls=*/true);
        }
        auto ctx = sh_->context();
        tr::SslPtr ssl(SSL_new(ctx.get()));
        SSL_set_accept_state(ssl.get());
        net_->attach_tls(std::move(ssl));
        auto self = shared_from_this();
        tr::drive(
            net_, [n2 = net_] { return n2->handshake(); },
            [self](tr::NetStream::Result r) { self->on_handshake(std::move(r)); });
    }

    /// `sniff`: not TLS. An SSH banner gets the SSH server on the TCP socket itself; anything
    /// else is plain HTTP (the knock works there too, e.g. behind a proxy_pass http://).
    void sniff_plain() {
        char head[4];
        ssize_t n = ::recv(net_->fd(), head, sizeof head, MSG_PEEK);
        if (n <= 0) return done();
        std::string_view got(head, static_cast<size_t>(n));
        if (got == std::string_view("SSH-").substr(0, got.size())) {
            if (n < 4) {  // wait for the rest of "SSH-"
                auto self = shared_from_this();
                return net_->wait(tr::NetStream::Io::want_read, [self](bool ok) {
                    if (!ok) return self->done();
                    self->sniff_plain();
                });
            }
            settle();
            ++sh_->plain_ssh;
            Accepted a;
            a.fd = net_->release();
            a.peer_ip = peer_ip_;
            a.peer = peer_;
            a.worker = &io_;
            deliver(std::move(a));
            return done();
        }
        plain_http_ = true;
        read_head();
    }

    void on_handshake(tr::NetStream::Result r) {
        if (r.io != tr::NetStream::Io::ok) {
            ++sh_->handshake_failures;
            log_.debug("TLS handshake failed: ", timed_out_ ? "timed out" : r.error);
            return done();
        }
        read_head();
    }

    void read_head() {
        auto self = shared_from_this();
        tr::read_some(net_, &buf_, [self](std::string err) {
            if (!err.empty()) {
                // Silence until nginx's header timeout: the responder closes the way nginx
                // does (its deadline has passed too).
                if (self->timed_out_) return self->fallback(std::move(self->buf_), false);
                return self->done();
            }
            self->decide();
        });
    }

    void decide() {
        const auto& t = sh_->cfg.transport;
        std::string_view b(buf_);
        if (t.allow_bare_ssh && kSshPrefix.substr(0, std::min(b.size(), kSshPrefix.size())) ==
                                    b.substr(0, kSshPrefix.size())) {
            if (b.size() < kSshPrefix.size()) return read_head();
            ++sh_->bare_ssh;
            log_.debug("bare SSH inside TLS");
            return to_ssh(tr::Pump::Framing::raw, std::move(buf_));
        }
        if (t.knock_path.empty() || !ks::could_be_knock(b, t.knock_path))
            return fallback(std::move(buf_), false);
        const size_t len = ks::head_length(b);
        if (len == 0) {
            if (b.size() > ks::kMaxKnockHead) return fallback(std::move(buf_), false);
            return read_head();
        }
        auto head = ks::parse_head(b.substr(0, len));
        std::string key;
        auto token = head ? ks::knock_token(*head, t.knock_path, &key) : std::nullopt;
        if (!token) return fallback(std::move(buf_), false);
        ks::TokenCheck check;
        {
            std::lock_guard lock(sh_->mu);
            check = sh_->replay.check(sh_->secret, t.knock_path, *token,
                                      std::chrono::system_clock::now());
        }
        if (check != ks::TokenCheck::ok) {
            ++sh_->knocks_rejected;
            log_.info("knock rejected (", ks::to_string(check), "): answered as a web server");
            return fallback(std::move(buf_), false);
        }
        ++sh_->knocks_accepted;
        settle();
        std::string leftover = buf_.substr(len);
        auto self = shared_from_this();
        tr::write_all(net_,
                      ks::build_switching_protocols(ks::websocket_accept(key),
                                                    ks::http_date(ks::NginxMimic::Clock::now())),
                      [self, leftover = std::move(leftover)](std::string err) mutable {
                          if (!err.empty()) return self->done();
                          self->to_ssh(tr::Pump::Framing::ws_server, std::move(leftover));
                      });
    }

    void to_ssh(tr::Pump::Framing framing, std::string leftover) {
        settle();
        core::UniqueFd ssh_end, pump_end;
        std::string why;
        if (!transport::stream_pair(&ssh_end, &pump_end, &why)) {
            log_.warning("cannot hand the connection to SSH: ", why);
            return done();
        }
        tr::Pump::start(net_, std::move(pump_end), framing, std::move(leftover));
        Accepted a;
        a.fd = std::move(ssh_end);
        // The session reads the path RTT from the TCP socket under TLS (TCP_INFO).
        a.path_fd = core::UniqueFd(::fcntl(net_->fd(), F_DUPFD_CLOEXEC, 0));
        a.peer_ip = peer_ip_;
        a.peer = peer_;
        a.worker = &io_;  // the pump runs here: the SSH session will too (one thread)
        deliver(std::move(a));
        done();
    }

    void deliver(Accepted a) {
        auto sh = sh_;
        asio::post(sh->control, [sh, a = std::make_shared<Accepted>(std::move(a))]() mutable {
            if (!sh->closed && sh->deliver) sh->deliver(std::move(*a));
        });
    }

    void fallback(std::string received, bool plain_on_tls) {
        settle();
        ++sh_->fallbacks;
        auto self = shared_from_this();
        auto on_end = [self] { self->done(); };
        const auto& t = sh_->cfg.transport;
        if (t.fallback && !plain_on_tls) {
            st::serve_upstream(net_, std::move(received), *t.fallback, kUpstreamConnectTimeout,
                               accepted_, on_end);
        } else {
            auto port = plain_http_ ? st::NginxMimic::Port::plain : st::NginxMimic::Port::tls;
            st::serve_builtin(net_, std::move(received), port, plain_on_tls, accepted_, on_end);
        }
    }

    /// Decided (SSH or fallback): no deadline any more, and no longer evictable.
    void settle() {
        decided_ = true;
        timer_.cancel();
        std::lock_guard lock(sh_->reg_mu);
        sh_->undecided.erase(id_);
    }

    /// Leaves the listener's books (the socket now belongs to SSH, or is closed).
    void done() {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        --sh_->pending;
        std::lock_guard lock(sh_->reg_mu);
        sh_->conns.erase(id_);
        sh_->undecided.erase(id_);
    }

    std::shared_ptr<TlsShared> sh_;
    asio::io_context& io_;
    asio::steady_timer timer_;
    net::IpAddress peer_ip_;
    std::string peer_;
    log::Logger log_;
    std::shared_ptr<tr::NetStream> net_;
    std::string buf_;
    uint64_t id_ = 0;
    st::NginxMimic::Clock::time_point accepted_ = st::NginxMimic::Clock::now();
    bool timed_out_ = false;
    bool plain_http_ = false;  // sniffed plain HTTP (no TLS)
    bool decided_ = false;
    bool finished_ = false;
};

/// Host names for a generated certificate: the listen address when specific, and the
/// machine's name.
std::vector<std::string> cert_names(const net::Endpoint& ep) {
    std::vector<std::string> names;
    char host[256] = {0};
    if (::gethostname(host, sizeof host - 1) == 0 && host[0]) names.emplace_back(host);
    if (ep.host != "0.0.0.0" && ep.host != "::") names.push_back(ep.host);
    return names;
}

class TlsListener : public Listener {
  public:
    TlsListener(const ListenerContext& ctx, const config::ListenConfig& cfg)
        : ctx_(ctx),
          sh_(std::make_shared<TlsShared>(ctx.control, cfg, ctx.log)),
          acceptor_(ctx.control),
          ep_(cfg.address) {}

    ~TlsListener() override { close(); }

    bool open(std::string* why) override {
        const auto& t = sh_->cfg.transport;
        if (t.knock_path.empty() && !t.allow_bare_ssh && !t.sniff) {
            *why = "listen " + ep_.str() +
                   ": a tls listener needs transport.knock (or allow_bare_ssh / sniff)";
            return false;
        }
        if (!load_material(why)) return false;
        if (!core::listen_tcp(acceptor_, ep_, {}, "", why)) return false;
        bound_port_ = acceptor_.local_endpoint().port();
        return true;
    }

    void start(AcceptFn fn) override {
        sh_->deliver = std::move(fn);
        acceptor_.start([this](asio::ip::tcp::socket s) { on_accept(std::move(s)); },
                        accept_options(ctx_.log, ep_));
    }

    void close() override {
        if (sh_->closed.exchange(true)) return;
        acceptor_.close();
        std::lock_guard lock(sh_->reg_mu);
        for (auto& [id, entry] : sh_->conns) {
            asio::post(*entry.first, [w = entry.second] {
                if (auto c = w.lock()) c->stop();
            });
        }
    }

    net::Endpoint bound() const override { return {ep_.host, bound_port_}; }
    std::string transport() const override { return "tls"; }

    void reload() override {
        std::string why;
        if (!load_material(&why)) {
            ctx_.log.error("listen ", ep_.str(), ": keeping the previous certificate: ", why);
            return;
        }
        std::lock_guard lock(sh_->mu);
        ctx_.log.info("listen ", ep_.str(), ": certificate reloaded (", sh_->cert.subject, ", pin ",
                      sh_->cert.pin_sha256, ")");
    }

    nlohmann::json status() const override {
        std::lock_guard lock(sh_->mu);
        return {{"certificate",
                 {{"file", sh_->cert.cert_file},
                  {"subject", sh_->cert.subject},
                  {"pin_sha256", sh_->cert.pin_sha256},
                  {"self_signed_by_ghostd", sh_->cert.generated}}},
                {"knock_path", sh_->cfg.transport.knock_path},
                {"allow_bare_ssh", sh_->cfg.transport.allow_bare_ssh},
                {"sniff", sh_->cfg.transport.sniff},
                {"plain_ssh_connections", sh_->plain_ssh.load()},
                {"fallback",
                 sh_->cfg.transport.fallback ? sh_->cfg.transport.fallback->str() : "built-in 404"},
                {"knocks_accepted", sh_->knocks_accepted.load()},
                {"knocks_rejected", sh_->knocks_rejected.load()},
                {"fallback_connections", sh_->fallbacks.load()},
                {"bare_ssh_connections", sh_->bare_ssh.load()},
                {"tls_handshake_failures", sh_->handshake_failures.load()},
                {"refused_busy", sh_->refused_busy.load()},
                {"evicted_pending", sh_->evicted.load()},
                {"pending", sh_->pending.load()}};
    }

    nlohmann::json client_transport() const override {
        std::lock_guard lock(sh_->mu);
        const auto& t = sh_->cfg.transport;
        nlohmann::json j = {{"type", "tls"}, {"pin_sha256", sh_->cert.pin_sha256}};
        if (t.min_version != "1.3") j["min_version"] = t.min_version;
        if (!t.knock_path.empty())
            j["knock"] = {{"path", t.knock_path}, {"secret_file", t.knock_secret_file}};
        return j;
    }

  private:
    bool load_material(std::string* why) {
        const auto& t = sh_->cfg.transport;
        std::string cert = t.cert_file, key = t.key_file;
        bool generated = false;
        if (cert.empty()) {
            std::string dir;
            if (!ssh::ensure_profile_dir(ctx_.state_dir, ctx_.profile, &dir, why)) return false;
            bool existed = ::access((dir + "/tls.crt").c_str(), F_OK) == 0;
            if (!tr::ensure_self_signed(dir, cert_names(ep_), &cert, &key, why)) return false;
            if (!existed)
                ctx_.log.warning("listen ", ep_.str(),
                                 ": no transport.cert_file; generated a self-signed certificate ",
                                 cert, " (clients must pin it; probes see a self-signed site)");
            generated = true;
        }
        tr::ServerCert info;
        auto ctx = tr::make_server_ctx(t, cert, key, &info, why);
        if (!ctx) return false;
        info.generated = generated;
        std::string secret;
        if (!t.knock_path.empty()) {
            if (::access(t.knock_secret_file.c_str(), F_OK) != 0) {
                if (!tr::create_knock_secret(t.knock_secret_file, why)) return false;
                ctx_.log.notice("listen ", ep_.str(), ": created knock secret ",
                                t.knock_secret_file, "; copy it to the clients");
            }
            auto s = tr::load_knock_secret(t.knock_secret_file, why);
            if (!s) return false;
            secret = std::move(*s);
        }
        std::lock_guard lock(sh_->mu);
        sh_->ctx = std::move(ctx);
        sh_->cert = std::move(info);
        if (secret != sh_->secret) sh_->replay = ks::ReplayCache();
        sh_->secret = std::move(secret);
        return true;
    }

    /// Makes room for a new connection: closes the oldest one still undecided, if any.
    bool evict_oldest() {
        std::lock_guard lock(sh_->reg_mu);
        if (sh_->undecided.empty()) return false;
        uint64_t id = *sh_->undecided.begin();
        sh_->undecided.erase(sh_->undecided.begin());
        auto it = sh_->conns.find(id);
        if (it != sh_->conns.end()) {
            asio::post(*it->second.first, [w = it->second.second] {
                if (auto c = w.lock()) c->evict();
            });
        }
        ++sh_->evicted;
        return true;
    }

    void on_accept(asio::ip::tcp::socket s) {
        asio::error_code ec;
        auto remote = s.remote_endpoint(ec);
        if (ec) return;
        if (sh_->pending.load() >= kMaxPending && !evict_oldest()) {
            ++sh_->refused_busy;
            return;  // closes
        }
        int fd = s.release(ec);
        if (ec) return;
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        Accepted a;
        a.fd = core::UniqueFd(fd);
        a.peer_ip = *net::IpAddress::parse(remote.address().to_string());
        a.peer = net::Endpoint{remote.address().to_string(), remote.port()}.str();
        ++sh_->pending;
        asio::io_context& io = ctx_.workers.next();
        auto conn = std::make_shared<Conn>(sh_, io, std::move(a));
        uint64_t id;
        {
            std::lock_guard lock(sh_->reg_mu);
            id = ++sh_->next_id;
            sh_->conns.emplace(id, std::make_pair(&io, std::weak_ptr<Conn>(conn)));
            sh_->undecided.insert(id);
        }
        asio::post(io, [conn, id] { conn->start(id); });
    }

    ListenerContext ctx_;
    std::shared_ptr<TlsShared> sh_;
    core::TcpAcceptor acceptor_;
    net::Endpoint ep_;
    uint16_t bound_port_ = 0;
};

}  // namespace

std::unique_ptr<Listener> make_tls_listener(const ListenerContext& ctx,
                                            const config::ListenConfig& cfg) {
    return std::make_unique<TlsListener>(ctx, cfg);
}

}  // namespace ghost::daemon::server
