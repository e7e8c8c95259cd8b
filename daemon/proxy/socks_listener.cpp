#include "daemon/proxy/socks_listener.hpp"

namespace ghost::daemon::proxy {
namespace {

// After a failed accept (EMFILE, ENOBUFS) wait before trying again instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetry{100};

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
      acceptor_(opener.io()),
      accept_retry_(opener.io()) {
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
    asio::error_code ec;
    auto addr = asio::ip::make_address(cfg_.listen.host, ec);
    if (ec) {
        *why = std::string(to_string(settings_->kind)) +
               " listen address is not an IP address: " + cfg_.listen.str();
        return false;
    }
    asio::ip::tcp::endpoint ep(addr, cfg_.listen.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *why = "cannot listen on " + cfg_.listen.str() + " (" +
               std::string(to_string(settings_->kind)) + " proxy): " + ec.message();
        acceptor_.close(ec);
        return false;
    }
    bound_port_ = acceptor_.local_endpoint(ec).port();
    return true;
}

void ProxyListener::start() {
    asio::error_code ec;
    auto addr = acceptor_.local_endpoint(ec).address();
    log_.info(label(), settings_->credentials ? " (password required)" : "", " is listening");
    if (!ec && !addr.is_loopback() && !settings_->credentials) {
        log_.warning(label(),
                     " listens on a non-loopback address without username/password: "
                     "anyone who can reach it can use this tunnel; set username and "
                     "password or listen on 127.0.0.1");
    }
    accept_next();
}

void ProxyListener::close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
    auto sessions = std::move(sessions_);  // close() calls back into on_session_done
    sessions_.clear();
    for (auto& [ptr, session] : sessions) session->close();
}

void ProxyListener::accept_next() {
    if (closed_) return;
    acceptor_.async_accept(
        [self = shared_from_this()](asio::error_code ec, asio::ip::tcp::socket socket) {
            if (self->closed_ || ec == asio::error::operation_aborted) return;
            if (ec) return self->on_accept_error(ec);
            self->on_accepted(std::move(socket));
            self->accept_next();
        });
}

void ProxyListener::on_accept_error(const asio::error_code& ec) {
    log_.warning("accept on ", label(), " failed: ", ec.message(), "; retrying in ",
                 kAcceptRetry.count(), " ms");
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([self = shared_from_this()](asio::error_code e) {
        if (!e) self->accept_next();
    });
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
