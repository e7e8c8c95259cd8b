#include "daemon/proxy/socks_listener.hpp"

namespace ghost::daemon::proxy {
namespace {

std::optional<ghost::proxy::Credentials> credentials_of(const config::ProxyListenerConfig& c) {
    if (c.username.empty() && c.password.empty()) return std::nullopt;
    return ghost::proxy::Credentials{c.username, c.password};
}

}  // namespace

ProxyListener::ProxyListener(ssh::ChannelOpener& opener, config::ProxyListenerConfig cfg,
                             FrontDoorKind kind, log::Logger logger, ProxyListenerLimits limits)
    : opener_(opener),
      cfg_(std::move(cfg)),
      settings_(std::make_shared<FrontDoorSettings>()),
      log_(std::move(logger)),
      limits_(limits),
      acceptor_(opener.io()) {
    settings_->kind = kind;
    settings_->credentials = credentials_of(cfg_);
    settings_->handshake_timeout = limits_.handshake_timeout;
    if (cfg_.listen.host.empty()) cfg_.listen.host = "127.0.0.1";
}

std::string ProxyListener::label() const {
    return std::string(to_string(settings_->kind)) + " proxy " +
           net::Endpoint{cfg_.listen.host, bound_port_.load()}.str();
}

bool ProxyListener::bind(std::string* why) {
    if (!core::listen_tcp(acceptor_, cfg_.listen, {.v6_only = true},
                          std::string(to_string(settings_->kind)) + " proxy", why))
        return false;
    bound_port_ = acceptor_.local_endpoint().port();
    return true;
}

void ProxyListener::start() {
    auto addr = acceptor_.local_endpoint().address();
    log_.info(label(), settings_->credentials ? " (password required)" : "", " is listening");
    if (!addr.is_loopback() && !settings_->credentials) {
        log_.warning(label(),
                     " listens on a non-loopback address without username/password: "
                     "anyone who can reach it can use this tunnel; set username and "
                     "password or listen on 127.0.0.1");
    }
    acceptor_.start(
        [self = shared_from_this()](asio::ip::tcp::socket s) { self->on_accepted(std::move(s)); },
        {.what = "accept on " + label() + " failed", .log = log_});
}

void ProxyListener::close() {
    if (closed_) return;
    closed_ = true;
    acceptor_.close();
    auto sessions = std::move(sessions_);  // close() calls back into on_session_done
    sessions_.clear();
    for (auto& [ptr, session] : sessions) session->close();
}

void ProxyListener::on_accepted(asio::ip::tcp::socket socket) {
    ++total_;
    if (sessions_.size() >= limits_.max_connections) {
        ++rejected_;
        ++failures_;
        if (rejected_ == 1 || rejected_ % 1000 == 0) {
            log_.warning(label(), ": ", limits_.max_connections,
                         " connections already in handshake; closing new ones (", rejected_.load(),
                         " so far)");
        }
        asio::error_code ignored;
        socket.close(ignored);
        return;
    }
    asio::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    auto logger =
        ec ? log_ : log_.with_peer(net::Endpoint{peer.address().to_string(), peer.port()}.str());
    auto session = std::make_shared<FrontDoorSession>(
        opener_, std::move(socket), settings_, std::move(logger),
        [w = weak_from_this()](FrontDoorSession* s, SessionResult r) {
            if (auto self = w.lock()) self->on_session_done(s, r);
        });
    sessions_.emplace(session.get(), session);
    active_ = sessions_.size();
    session->start();
}

void ProxyListener::on_session_done(FrontDoorSession* session, SessionResult result) {
    sessions_.erase(session);
    active_ = sessions_.size();
    if (result == SessionResult::bridged) ++tunnels_;
    // A client that hangs up mid-handshake (or a listener shutdown) is not a failure.
    else if (result != SessionResult::aborted)
        ++failures_;
}

nlohmann::json ProxyListener::status() const {
    return {{"listen", net::Endpoint{cfg_.listen.host, bound_port_.load()}.str()},
            {"kind", to_string(settings_->kind)},
            {"auth", settings_->credentials.has_value()},
            {"connections_total", total_.load()},
            {"connections_active", active_.load()},
            {"tunnels", tunnels_.load()},
            {"failures", failures_.load()},
            {"rejected", rejected_.load()}};
}

}  // namespace ghost::daemon::proxy

namespace ghost::daemon::proxy {

bool bind_proxy_listeners(ssh::ChannelOpener& opener, const config::Profile& profile,
                          const log::Logger& logger,
                          std::vector<std::shared_ptr<ProxyListener>>* out, std::string* why) {
    std::vector<std::pair<config::ProxyListenerConfig, FrontDoorKind>> wanted;
    if (profile.socks5) {
        wanted.emplace_back(*profile.socks5, profile.socks5->http_connect
                                                 ? FrontDoorKind::socks5_http
                                                 : FrontDoorKind::socks5);
    }
    if (profile.http_connect) wanted.emplace_back(*profile.http_connect, FrontDoorKind::http);
    std::vector<std::shared_ptr<ProxyListener>> bound;
    for (auto& [cfg, kind] : wanted) {
        auto listener = std::make_shared<ProxyListener>(opener, cfg, kind, logger);
        if (!listener->bind(why)) {
            for (auto& l : bound) l->close();
            return false;
        }
        bound.push_back(std::move(listener));
    }
    *out = std::move(bound);
    return true;
}

}  // namespace ghost::daemon::proxy
