#include "daemon/client/client_core.hpp"

#include <algorithm>

namespace ghost::daemon::client {
namespace {

std::string join(const std::vector<std::string>& v, char sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

// A split tunnel whose routes cover the SSH server would send the session into itself.
// Returns the reason, or "" when `server_ip` stays outside the tunnel.
std::string tun_loop(const config::Profile& p, const std::string& server_ip) {
    if (!p.tun || p.tun->full) return {};  // full tunnel: the session's SO_MARK keeps it out
    auto ip = net::IpAddress::parse(server_ip);
    if (!ip) return {};
    for (const auto& x : p.tun->exclude) {
        if (x.contains(*ip)) return {};
    }
    for (const auto& r : p.tun->routes) {
        if (r.address.v6 == ip->v6 && r.contains(*ip)) {
            return "tun.routes " + r.str() + " contains the SSH server's address " + ip->str() +
                   ": the session would be routed into its own tunnel; add " + ip->str() +
                   (ip->v6 ? "/128" : "/32") + " to tun.exclude";
        }
    }
    return {};
}

}  // namespace

ClientCore::ClientCore(RunnerContext ctx)
    : ctx_(std::move(ctx)),
      io_(ctx_.workers.next()),
      stats_(std::make_shared<ssh::SessionStats>()),
      retry_timer_(io_),
      server_resolver_(io_),
      resolve_timer_(io_),
      waiter_timer_(io_) {
    user_ = ctx_.profile.ssh.user;
    for (const auto& rf : ctx_.profile.remote_forward)
        remote_forwards_.push_back({rf, 0, "pending", {}});
}

ClientCore::~ClientCore() = default;

void ClientCore::report(ProfileState s, const std::string& reason) {
    if (phase_ == Phase::stopped) return;
    ctx_.report(s, reason);
}

// ---------------------------------------------------------------- lifecycle

void ClientCore::start() {
    if (phase_ != Phase::idle) return;
    std::string why;
    if (!ctx_.profile.server) return fail("profile has no server");
    if (!bind_listeners(&why)) return fail(why);
    if (std::string loop = tun_loop(ctx_.profile, ctx_.profile.server->host); !loop.empty()) {
        return fail(loop);
    }
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
    {
        std::lock_guard lock(mutex_);
        tun_ = tun;
    }
    return tun->start(why);
}

bool ClientCore::bind_listeners(std::string* why) {
    for (const auto& f : ctx_.profile.forward) {
        auto l = std::make_shared<proxy::ForwardListener>(*this, f, ctx_.log);
        if (!l->bind(why)) return false;
        std::lock_guard lock(mutex_);
        forwards_.push_back(std::move(l));
    }
    std::vector<std::shared_ptr<proxy::ProxyListener>> proxies;
    if (!proxy::bind_proxy_listeners(*this, ctx_.profile, ctx_.log, &proxies, why)) return false;
    {
        std::lock_guard lock(mutex_);
        proxies_ = std::move(proxies);
    }
    for (auto& l : forwards_) l->start();
    for (auto& l : proxies_) l->start();
    return true;
}

void ClientCore::stop() {
    phase_ = Phase::stopped;
    retry_timer_.cancel();
    resolve_timer_.cancel();
    server_resolver_.cancel();
    waiter_timer_.cancel();
    if (transport_) transport_->cancel();
    if (session_) session_->close();
    session_.reset();
    for (auto& l : forwards_) l->close();
    for (auto& l : proxies_) l->close();
    if (route_watch_) route_watch_->stop();
    if (tun_) tun_->stop();
    fail_waiters("profile is stopping");
}

void ClientCore::fail(const std::string& reason) {
    phase_ = Phase::failed;
    {
        std::lock_guard lock(mutex_);
        last_error_ = reason;
        snapshot_retry_pending_ = false;
    }
    ctx_.log.error(reason);
    ctx_.report(ProfileState::failed, reason);
    retry_timer_.cancel();
    resolve_timer_.cancel();
    server_resolver_.cancel();
    if (session_) session_->close();
    session_.reset();
    for (auto& l : forwards_) l->close();
    for (auto& l : proxies_) l->close();
    if (route_watch_) route_watch_->stop();
    if (tun_) tun_->stop();
    fail_waiters(reason);
}

// ---------------------------------------------------------------- connecting

void ClientCore::connect_attempt() {
    if (phase_ == Phase::stopped || phase_ == Phase::failed) return;
    phase_ = Phase::connecting;
    {
        std::lock_guard lock(mutex_);
        snapshot_retry_pending_ = false;
    }
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
    auto w = weak_from_this();
    const uint64_t gen = ++resolve_gen_;  // a lookup that outlives its deadline is ignored
    auto failed = [w, gen](const std::string& what) {
        auto self = w.lock();
        if (!self || self->phase_ != Phase::connecting || self->resolve_gen_ != gen) return;
        ++self->resolve_gen_;
        self->resolve_timer_.cancel();
        self->on_session_end(
            {"cannot resolve " + self->ctx_.profile.server->host +
                 " (needed before the full tunnel takes the default route): " + what,
             false});
    };
    // The deadline ends the attempt itself: cancelling cannot interrupt a getaddrinfo
    // that has started, and a black-holed DNS server would hold it for its own timeouts.
    resolve_timer_.expires_after(std::chrono::seconds(ctx_.profile.ssh.connect_timeout_s));
    resolve_timer_.async_wait(
        [failed, s = ctx_.profile.ssh.connect_timeout_s](asio::error_code ec) {
            if (!ec) failed("no answer within ssh.connect_timeout (" + std::to_string(s) + " s)");
        });
    server_resolver_.async_resolve(
        server.host, std::to_string(server.port),
        [w, gen, failed](asio::error_code ec, asio::ip::tcp::resolver::results_type results) {
            auto self = w.lock();
            if (!self || self->phase_ != Phase::connecting || self->resolve_gen_ != gen) return;
            if (ec) return failed(ec.message());
            self->resolve_timer_.cancel();
            const auto& host = self->ctx_.profile.server->host;
            for (const auto& r : results) {
                auto a = r.endpoint().address();
                if (std::find(self->server_addresses_.begin(), self->server_addresses_.end(), a) ==
                    self->server_addresses_.end()) {
                    self->server_addresses_.push_back(a);
                }
            }
            if (self->server_addresses_.empty()) return failed("no addresses");
            self->ctx_.log.info("full tunnel: ", host, " resolved once, to ",
                                self->server_addresses_.front().to_string(),
                                self->server_addresses_.size() > 1 ? " and others" : "");
            std::string why;
            if (!self->tun_ && !self->start_tun(&why)) return self->fail(why);
            self->open_transport();
        });
}

void ClientCore::open_transport() {
    transport::StreamOptions opts;
    opts.connect_timeout = std::chrono::seconds(ctx_.profile.ssh.connect_timeout_s);
    opts.keepalive_interval_s = ctx_.profile.keepalive.interval_s;
    opts.keepalive_count = ctx_.profile.keepalive.count;
    // Full tunnel: the session's own socket must not be routed into the tunnel, and its
    // server's name is not looked up again (that lookup would go into the tunnel).
    if (ctx_.profile.tun && ctx_.profile.tun->full) {
        opts.fwmark = kTunFwmark;
        opts.addresses = server_addresses_;
    }
    std::string why;
    transport_ = transport::make_transport(io_, ctx_.profile, opts, &why);
    if (!transport_) return fail(why);
    transport_->connect([w = weak_from_this()](transport::ConnectResult r) {
        if (auto self = w.lock()) self->on_transport(std::move(r));
    });
}

void ClientCore::on_transport(transport::ConnectResult r) {
    if (phase_ != Phase::connecting) return;
    if (!r.fd) return on_session_end({r.error, r.fatal});
    {
        std::lock_guard lock(mutex_);
        transport_info_ = r.info;
    }
    if (auto peer = net::parse_endpoint(r.peer)) {  // a server name resolved into the routes
        if (std::string loop = tun_loop(ctx_.profile, peer->host); !loop.empty()) return fail(loop);
    }
    const auto& ssh_cfg = ctx_.profile.ssh;
    ssh::Identity id;
    std::string why;
    if (!ssh_cfg.agent || !ssh_cfg.identity_file.empty()) {
        if (!ssh::load_identity(ssh_cfg.identity_file, ctx_.paths.state_dir, ctx_.profile.name, &id,
                                &why)) {
            return fail(why);
        }
        std::lock_guard lock(mutex_);
        public_key_ = id.public_line;
    }
    auto cfg = session_config(id);
    if (cfg.host_key.pinned.empty() && ssh_cfg.known_hosts.empty()) {
        std::string dir;
        if (!ssh::ensure_profile_dir(ctx_.paths.state_dir, ctx_.profile.name, &dir, &why)) {
            return fail(why);
        }
    }
    ssh::SessionEvents ev;
    auto w = weak_from_this();
    ev.authenticating = [w] {
        if (auto self = w.lock()) {
            self->report(ProfileState::authenticating,
                         "authenticating as " + self->ctx_.profile.ssh.user);
        }
    };
    ev.up = [w] {
        if (auto self = w.lock()) self->on_session_up();
    };
    ev.ended = [w](ssh::SessionEnd e) {
        if (auto self = w.lock()) self->on_session_end(std::move(e));
    };
    ev.remote_target = [w](const std::string& addr, int port) -> std::optional<net::Endpoint> {
        if (auto self = w.lock()) return self->remote_target(addr, port);
        return std::nullopt;
    };
    session_ = std::make_shared<ssh::ClientSession>(io_, std::move(cfg), ctx_.log.with_peer(r.peer),
                                                    stats_, std::move(ev));
    session_->start(std::move(r.fd), std::move(r.path_fd));
}

ssh::ClientSessionConfig ClientCore::session_config(const ssh::Identity& id) const {
    const auto& p = ctx_.profile;
    ssh::ClientSessionConfig c;
    c.host = p.server->host;
    c.port = p.server->port;
    c.user = p.ssh.user;
    c.ciphers = join(p.ssh.ciphers, ',');
    c.host_key.pinned = p.ssh.host_key;
    c.host_key.trust_on_first_use = p.ssh.trust_on_first_use;
    c.host_key.known_hosts = !p.ssh.known_hosts.empty()
                                 ? p.ssh.known_hosts
                                 : ctx_.paths.state_dir + "/" + p.name + "/known_hosts";
    c.identity = id;
    c.agent = p.ssh.agent && p.ssh.identity_file.empty();
    c.handshake_timeout = std::chrono::seconds(p.ssh.connect_timeout_s);
    c.open_timeout = std::chrono::seconds(std::max<uint32_t>(p.ssh.connect_timeout_s, 10));
    c.keepalive_interval_s = p.keepalive.interval_s;
    c.keepalive_count = p.keepalive.count;
    c.window = {p.window.initial, p.window.max, p.window.session_budget};
    return c;
}

void ClientCore::on_session_up() {
    phase_ = Phase::up;
    attempt_ = 0;
    ever_up_ = true;
    {
        std::lock_guard lock(mutex_);
        host_key_fp_ = session_->host_key_fingerprint();
        snapshot_attempt_ = 0;
    }
    report(ProfileState::up,
           "connected to " + ctx_.profile.server->str() + " as " + ctx_.profile.ssh.user);
    ctx_.event({{"type", "session.connected"},
                {"profile", ctx_.profile.name},
                {"server", ctx_.profile.server->str()}});
    if (tun_) tun_->session_up();
    flush_waiters();
    request_remote_forwards();
}

void ClientCore::on_session_end(ssh::SessionEnd end) {
    if (phase_ == Phase::stopped || phase_ == Phase::failed) return;
    if (session_) session_->close();
    session_.reset();
    {
        std::lock_guard lock(mutex_);
        last_error_ = end.reason;
        for (auto& rf : remote_forwards_) {
            rf.state = "pending";
            rf.bound_port = 0;
        }
    }
    if (end.fatal || !ctx_.profile.reconnect.enabled || (!ever_up_ && !ctx_.retry_first_attempt)) {
        return fail(end.reason);
    }
    ctx_.event({{"type", "session.lost"}, {"profile", ctx_.profile.name}, {"reason", end.reason}});
    if (tun_) tun_->session_down();
    schedule_retry(end.reason);
}

std::chrono::milliseconds ClientCore::backoff_delay() {
    const auto& rc = ctx_.profile.reconnect;
    double base = std::max<uint32_t>(1, rc.initial_delay_s) * 1000.0;
    double cap = std::max<uint32_t>(rc.max_delay_s, 1) * 1000.0;
    double d = std::min(cap, base * static_cast<double>(1ull << std::min(attempt_, 20u)));
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return std::chrono::milliseconds(static_cast<int64_t>(std::min(cap, d * jitter(rng_))));
}

void ClientCore::schedule_retry(const std::string& reason) {
    phase_ = Phase::waiting_retry;
    auto delay = backoff_delay();
    ++attempt_;
    {
        std::lock_guard lock(mutex_);
        next_retry_at_ = std::chrono::steady_clock::now() + delay;
        snapshot_attempt_ = attempt_;
        snapshot_retry_pending_ = true;
    }
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
        const auto cfg = remote_forwards_[i].cfg;
        {
            std::lock_guard lock(mutex_);
            remote_forwards_[i].state = "requesting";
        }
        auto cb = [w = weak_from_this(), i, cfg](bool ok, int bound, std::string msg) {
            auto self = w.lock();
            if (!self || self->phase_ != Phase::up) return;
            {
                std::lock_guard lock(self->mutex_);
                auto& rf = self->remote_forwards_[i];
                rf.state = ok ? "listening" : "refused";
                rf.bound_port = ok ? bound : 0;
                rf.message = msg;
            }
            if (ok) {
                self->ctx_.log.info("remote forward ", cfg.listen.str(), " (port ", bound, ") -> ",
                                    cfg.target.str());
                return;
            }
            self->ctx_.log.warning(msg);
            self->ctx_.event({{"type", "remote_forward.refused"},
                              {"profile", self->ctx_.profile.name},
                              {"listen", cfg.listen.str()},
                              {"message", msg}});
        };
        session_->listen_forward(cfg.listen.host, cfg.listen.port, std::move(cb));
    }
}

std::optional<net::Endpoint> ClientCore::remote_target(const std::string& addr, int port) {
    std::lock_guard lock(mutex_);
    for (const auto& rf : remote_forwards_) {
        if (rf.state == "listening" && rf.bound_port == port) return rf.cfg.target;
    }
    for (const auto& rf : remote_forwards_) {  // answer raced ahead of the reply
        if (rf.cfg.listen.port == port &&
            (rf.cfg.listen.host.empty() || rf.cfg.listen.host == addr)) {
            return rf.cfg.target;
        }
    }
    return std::nullopt;
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
    if (waiters_.size() >= kMaxWaiters) {
        return fail_later(std::move(cb), ghost::proxy::OpenFailure::resource_shortage,
                          "too many connections waiting for the SSH session");
    }
    auto wait = std::chrono::seconds(ctx_.profile.reconnect.pending_wait_s);
    waiters_.push_back({std::move(req), std::move(cb), std::chrono::steady_clock::now() + wait});
    if (waiters_.size() == 1) expire_waiters();
}

void ClientCore::flush_waiters() {
    auto list = std::move(waiters_);
    waiters_.clear();
    waiter_timer_.cancel();
    for (auto& w : list) {
        if (!session_ || !session_->is_up()) {
            waiters_.push_back(std::move(w));
            continue;
        }
        session_->open_direct(std::move(w.req), std::move(w.cb));
    }
}

void ClientCore::expire_waiters() {
    auto now = std::chrono::steady_clock::now();
    while (!waiters_.empty() && waiters_.front().deadline <= now) {
        auto w = std::move(waiters_.front());
        waiters_.pop_front();
        w.cb(ssh::OpenOutcome::fail(
                 ghost::proxy::OpenFailure::no_session,
                 "SSH session to " + ctx_.profile.server->str() + " not up within " +
                     std::to_string(ctx_.profile.reconnect.pending_wait_s) + " s"),
             {});
    }
    if (waiters_.empty()) return;
    waiter_timer_.expires_at(waiters_.front().deadline);
    waiter_timer_.async_wait([w = weak_from_this()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->expire_waiters();
    });
}

void ClientCore::fail_waiters(const std::string& why) {
    auto list = std::move(waiters_);
    waiters_.clear();
    waiter_timer_.cancel();
    for (auto& w : list) {
        asio::post(io_, [cb = std::move(w.cb), why] {
            cb(ssh::OpenOutcome::fail(ghost::proxy::OpenFailure::no_session, why), {});
        });
    }
}

// ---------------------------------------------------------------- status

nlohmann::json ClientCore::status_json() const {
    std::lock_guard lock(mutex_);
    nlohmann::json fw = nlohmann::json::array();
    for (const auto& l : forwards_) fw.push_back(l->status());
    nlohmann::json listeners = nlohmann::json::array();
    for (const auto& l : proxies_) listeners.push_back(l->status());
    nlohmann::json rfw = nlohmann::json::array();
    for (const auto& rf : remote_forwards_) {
        rfw.push_back({{"listen", rf.cfg.listen.str()},
                       {"bound_port", rf.bound_port},
                       {"target", rf.cfg.target.str()},
                       {"state", rf.state},
                       {"message", rf.message}});
    }
    nlohmann::json reconnect = {{"attempt", snapshot_attempt_}, {"next_retry_in_s", nullptr}};
    if (snapshot_retry_pending_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            next_retry_at_ - std::chrono::steady_clock::now());
        reconnect["next_retry_in_s"] = std::max<int64_t>(0, left.count()) / 1000.0;
    }
    nlohmann::json out = {{"server", ctx_.profile.server ? ctx_.profile.server->str() : ""},
                          {"transport", ctx_.profile.transport.type},
                          {"user", user_},
                          {"public_key", public_key_},
                          {"host_key_fingerprint", host_key_fp_},
                          {"bytes_in", stats_->bytes_in.load()},
                          {"bytes_out", stats_->bytes_out.load()},
                          {"channels_open", stats_->channels_open.load()},
                          {"channels_total", stats_->channels_total.load()},
                          {"keepalive",
                           {{"sent", stats_->keepalives_sent.load()},
                            {"answered", stats_->keepalives_answered.load()}}},
                          {"path", stats_->windows.to_json()},
                          {"forwards", std::move(fw)},
                          {"listeners", std::move(listeners)},
                          {"remote_forwards", std::move(rfw)},
                          {"reconnect", std::move(reconnect)},
                          {"last_error", last_error_}};
    if (tun_) out["tun"] = tun_->status();
    if (!transport_info_.empty()) out["tls"] = transport_info_;
    return out;
}

}  // namespace ghost::daemon::client
