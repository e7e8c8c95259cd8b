#include "daemon/client/client_core.hpp"

#include <cstdio>

namespace ghost::daemon::client {

ClientCore::ClientCore(RunnerContext ctx)
    : ctx_(std::move(ctx)),
      io_(ctx_.workers.next()),
      reconnect_(ctx_.profile.reconnect, ctx_.retry_first_attempt),
      stats_(std::make_shared<ssh::SessionStats>()),
      remote_forwards_(ctx_.profile.remote_forward),
      retry_timer_(io_),
      server_lookup_(std::make_shared<ServerLookup>(io_)),
      pending_(std::make_shared<PendingOpens>(
          io_, std::chrono::seconds(ctx_.profile.reconnect.pending_wait_s),
          "SSH session to " + (ctx_.profile.server ? ctx_.profile.server->str() : "") +
              " not up within " + std::to_string(ctx_.profile.reconnect.pending_wait_s) + " s")) {
    user_ = ctx_.profile.ssh.user;
    publish();  // nothing runs on the worker yet
}

ClientCore::~ClientCore() = default;

void ClientCore::report(ProfileState s, const std::string& reason) {
    if (phase_ == Phase::stopped) return;
    publish();  // what status shows is current when the manager hears of the change
    ctx_.report(s, reason);
}

// ---------------------------------------------------------------- start, fail, stop

void ClientCore::start() {
    if (phase_ != Phase::idle) return;
    std::string why;
    if (!ctx_.profile.server) return fail("profile has no server");
    if (!bind_listeners(&why)) return fail(why);
    publish();
    if (std::string loop = tun_route_loop(ctx_.profile, ctx_.profile.server->host); !loop.empty())
        return fail(loop);
    // A full tunnel to a server name starts once the name is resolved (connect_attempt).
    if (ctx_.profile.tun && !needs_server_address() && !start_tun(&why)) return fail(why);
    route_watch_ = std::make_shared<RouteWatch>(io_, [w = weak_from_this()] {
        if (auto self = w.lock()) self->on_route_change();
    });
    if (!route_watch_->start(&why)) ctx_.log.warning("no default-route watch: ", why);
    connect_attempt();
}

bool ClientCore::start_tun(std::string* why) {
    auto tun = std::make_shared<TunMode>(*this, *ctx_.profile.tun, ctx_.log);
    tun->set_failure_handler([w = weak_from_this()](const std::string& error) {
        if (auto self = w.lock()) self->fail(error);
    });
    tun_ = tun;
    publish();
    return tun->start(why);
}

bool ClientCore::bind_listeners(std::string* why) {
    for (const auto& f : ctx_.profile.forward) {
        auto l = std::make_shared<proxy::ForwardListener>(*this, f, ctx_.log);
        if (!l->bind(why)) return false;
        forwards_.push_back(std::move(l));
    }
    std::vector<std::shared_ptr<proxy::ProxyListener>> proxies;
    if (!proxy::bind_proxy_listeners(*this, ctx_.profile, ctx_.log, &proxies, why)) return false;
    proxies_ = std::move(proxies);
    for (auto& l : forwards_) l->start();
    for (auto& l : proxies_) l->start();
    return true;
}

void ClientCore::stop() {
    phase_ = Phase::stopped;
    teardown("profile is stopping");
    publish();
}

void ClientCore::fail(const std::string& reason) {
    phase_ = Phase::failed;
    last_error_ = reason;
    snapshot_retry_pending_ = false;
    ctx_.log.error(reason);
    publish();
    ctx_.report(ProfileState::failed, reason);
    teardown(reason);
}

void ClientCore::teardown(const std::string& why) {
    retry_timer_.cancel();
    server_lookup_->cancel();
    if (transport_) transport_->cancel();
    if (session_) session_->close();
    session_.reset();
    for (auto& l : forwards_) l->close();
    for (auto& l : proxies_) l->close();
    if (route_watch_) route_watch_->stop();
    if (tun_) tun_->stop();
    pending_->fail_all(why);
}

// ---------------------------------------------------------------- connecting

void ClientCore::connect_attempt() {
    if (phase_ == Phase::stopped || phase_ == Phase::failed) return;
    phase_ = Phase::connecting;
    snapshot_retry_pending_ = false;
    report(ProfileState::connecting, "connecting to " + ctx_.profile.server->str());
    if (needs_server_address()) return resolve_server();
    open_transport();
}

bool ClientCore::needs_server_address() const {
    return ctx_.profile.tun && ctx_.profile.tun->full && server_addresses_.empty() &&
           !net::IpAddress::parse(ctx_.profile.server->host);
}

void ClientCore::resolve_server() {
    const auto& server = *ctx_.profile.server;
    server_lookup_->start(
        server.host, server.port, std::chrono::seconds(ctx_.profile.ssh.connect_timeout_s),
        [w = weak_from_this()](std::string error, std::vector<asio::ip::address> addresses) {
            auto self = w.lock();
            if (!self || self->phase_ != Phase::connecting) return;
            self->on_server_resolved(error, std::move(addresses));
        });
}

void ClientCore::on_server_resolved(const std::string& error,
                                    std::vector<asio::ip::address> addresses) {
    const auto& host = ctx_.profile.server->host;
    if (!error.empty()) {
        return on_session_end(
            {"cannot resolve " + host +
                 " (needed before the full tunnel takes the default route): " + error,
             false});
    }
    server_addresses_ = std::move(addresses);
    ctx_.log.info("full tunnel: ", host, " resolved once, to ",
                  server_addresses_.front().to_string(),
                  server_addresses_.size() > 1 ? " and others" : "");
    std::string why;
    if (!tun_ && !start_tun(&why)) return fail(why);
    open_transport();
}

// ---------------------------------------------------------------- session up, lost, retry

void ClientCore::on_session_up() {
    phase_ = Phase::up;
    reconnect_.connected();
    host_key_fp_ = session_->host_key_fingerprint();
    snapshot_attempt_ = 0;
    report(ProfileState::up,
           "connected to " + ctx_.profile.server->str() + " as " + ctx_.profile.ssh.user);
    ctx_.event({{"type", "session.connected"},
                {"profile", ctx_.profile.name},
                {"server", ctx_.profile.server->str()}});
    if (tun_) tun_->session_up();
    pending_->flush(session_);
    request_remote_forwards();
}

void ClientCore::on_session_end(ssh::SessionEnd end) {
    if (phase_ == Phase::stopped || phase_ == Phase::failed) return;
    if (session_) session_->close();
    session_.reset();
    last_error_ = end.reason;
    remote_forwards_.reset();
    datagrams_gone("no SSH session (" + end.reason + ")");
    if (!reconnect_.should_retry(end)) return fail(end.reason);
    ctx_.event({{"type", "session.lost"}, {"profile", ctx_.profile.name}, {"reason", end.reason}});
    if (tun_) tun_->session_down();
    schedule_retry(end.reason);
}

void ClientCore::schedule_retry(const std::string& reason) {
    phase_ = Phase::waiting_retry;
    auto delay = reconnect_.next_delay();
    next_retry_at_ = std::chrono::steady_clock::now() + delay;
    snapshot_attempt_ = reconnect_.attempt();
    snapshot_retry_pending_ = true;
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", delay.count() / 1000.0);
    report(ProfileState::reconnecting, reason + "; retrying in " + secs + " s");
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([w = weak_from_this()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->connect_attempt();
    });
}

void ClientCore::on_route_change() {
    if (phase_ == Phase::waiting_retry) {
        ctx_.log.info("default route changed: reconnecting now");
        retry_timer_.cancel();
        connect_attempt();
    }
}

// ---------------------------------------------------------------- remote forwards

void ClientCore::request_remote_forwards() {
    for (size_t i = 0; i < remote_forwards_.size(); ++i) {
        const auto cfg = remote_forwards_.requesting(i);
        session_->listen_forward(cfg.listen.host, cfg.listen.port,
                                 [w = weak_from_this(), i](bool ok, int bound, std::string msg) {
                                     auto self = w.lock();
                                     if (!self || self->phase_ != Phase::up) return;
                                     self->on_remote_forward(i, ok, bound, msg);
                                 });
    }
    publish();
}

void ClientCore::on_remote_forward(size_t i, bool ok, int bound, const std::string& message) {
    const auto cfg = remote_forwards_.answered(i, ok, bound, message);
    publish();
    if (ok) {
        ctx_.log.info("remote forward ", cfg.listen.str(), " (port ", bound, ") -> ",
                      cfg.target.str());
        return;
    }
    ctx_.log.warning(message);
    ctx_.event({{"type", "remote_forward.refused"},
                {"profile", ctx_.profile.name},
                {"listen", cfg.listen.str()},
                {"message", message}});
}

// ---------------------------------------------------------------- ChannelOpener

void ClientCore::open(ssh::OpenRequest req, OpenCallback cb) {
    if (phase_ == Phase::up && session_ && session_->is_up()) {
        return session_->open_direct(std::move(req), std::move(cb));
    }
    auto fail_later = [this](OpenCallback c, ghost::proxy::OpenFailure f, std::string msg) {
        asio::post(io_, [c = std::move(c), f, msg = std::move(msg)] {
            c(ssh::OpenOutcome::fail(f, msg), {});
        });
    };
    if (phase_ != Phase::connecting && phase_ != Phase::waiting_retry && phase_ != Phase::idle) {
        return fail_later(std::move(cb), ghost::proxy::OpenFailure::no_session,
                          "profile " + ctx_.profile.name + " is not connected");
    }
    if (pending_->full()) {
        return fail_later(std::move(cb), ghost::proxy::OpenFailure::resource_shortage,
                          "too many connections waiting for the SSH session");
    }
    pending_->add(std::move(req), std::move(cb));
}

}  // namespace ghost::daemon::client
