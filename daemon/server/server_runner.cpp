#include "daemon/server/server_runner.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <libssh/server.h>

#include "common/auth/authorized_keys.hpp"
#include "daemon/server/host_key.hpp"
#include "daemon/server/listener.hpp"
#include "daemon/server/server_session.hpp"
#include "daemon/server/server_shared.hpp"
#include "io/authorized_keys_file.hpp"

namespace ghost::daemon {
namespace {

using server::ServerShared;

// AES-GCM first (AES-NI), then chacha20-poly1305 (DESIGN.md §6).
constexpr const char* kCiphers =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes128-ctr,aes256-ctr";

/// The machine's non-loopback interface addresses (acl.deny_self).
std::vector<net::IpAddress> own_addresses() {
    std::vector<net::IpAddress> out;
    struct ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (auto* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr) continue;
        net::IpAddress ip;
        if (i->ifa_addr->sa_family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
            std::memcpy(ip.bytes.data(), &a->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
            ip.v6 = true;
            std::memcpy(ip.bytes.data(), &a->sin6_addr, 16);
        } else {
            continue;
        }
        if (!ip.is_loopback()) out.push_back(ip);
    }
    ::freeifaddrs(list);
    return out;
}

/// Warns when the unauthenticated connections the profile admits could use up the
/// descriptors ghostd may open: each holds 2 (tcp: the socket and libssh's watch) or 4
/// (tls: the TCP socket, a socketpair, the watch), and sessions and channels need theirs;
/// likewise every UDP flow (udp.max_flows).
void check_fd_budget(const RunnerContext& ctx) {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
    bool tls = std::any_of(ctx.profile.listen.begin(), ctx.profile.listen.end(),
                           [](const config::ListenConfig& l) { return l.transport.type == "tls"; });
    const auto& udp = ctx.profile.udp;
    if (udp.enabled && udp.max_flows > rl.rlim_cur / 2)
        ctx.log.warning("udp.max_flows ", udp.max_flows, " UDP flows hold a descriptor each, ",
                        "more than half of the ", rl.rlim_cur,
                        " ghostd may open (RLIMIT_NOFILE; LimitNOFILE= in ghostd.service): ",
                        "lower it or raise the limit");
    uint64_t need = uint64_t{ctx.profile.limits.max_startups_total} * (tls ? 4 : 2);
    if (need <= rl.rlim_cur / 2) return;
    ctx.log.warning("limits.max_startups_total ", ctx.profile.limits.max_startups_total,
                    " unauthenticated connections may hold ", need,
                    " descriptors, more than half of the ", rl.rlim_cur,
                    " ghostd may open (RLIMIT_NOFILE; LimitNOFILE= in ",
                    "ghostd.service): lower it or raise the limit");
}

/// Logs and publishes (`source.penalised`) each penalty as it starts; any thread.
server::StartupLimiter::PenaltyFn penalty_reporter(const RunnerContext& ctx) {
    return [log = ctx.log, event = ctx.event,
            name = ctx.profile.name](const server::SourcePenalties::Started& p) {
        std::string reason(server::penalty_reason(p.reason));
        log.notice("refusing ", p.source.str(), " for ", p.duration.count(), " s: ", reason,
                   " (limits.penalties)");
        if (event)
            event({{"type", "source.penalised"},
                   {"profile", name},
                   {"source", p.source.str()},
                   {"seconds", p.duration.count()},
                   {"reason", reason}});
    };
}

class ServerRunner : public Runner {
  public:
    explicit ServerRunner(RunnerContext ctx) : ctx_(std::move(ctx)) {}
    ~ServerRunner() override { shutdown(nullptr); }

    void start() override;
    void stop(std::function<void()> done) override { shutdown(std::move(done)); }
    nlohmann::json status() const override;
    nlohmann::json sessions() const override;
    bool kick(const std::string& id) override;
    void reload() override;

  private:
    bool prepare(std::string* why);
    bool load_keys(std::string* why);
    void on_accepted(server::Accepted a);
    void shutdown(std::function<void()> done);

    RunnerContext ctx_;
    std::shared_ptr<ServerShared> shared_;
    std::vector<std::unique_ptr<server::Listener>> listeners_;
    server::HostKey host_key_;
    std::vector<std::string> key_errors_;
    uint64_t accepted_ = 0;
    uint64_t dropped_ = 0;
    bool started_ = false;
    bool stopped_ = false;
};

void ServerRunner::start() {
    if (started_ || stopped_) return;
    started_ = true;
    std::string why;
    if (!prepare(&why)) {
        ctx_.log.error(why);
        for (auto& l : listeners_) l->close();
        listeners_.clear();
        return ctx_.report(ProfileState::failed, why);
    }
    for (auto& l : listeners_) l->start([this](server::Accepted a) { on_accepted(std::move(a)); });
    std::string where;
    for (auto& l : listeners_) where += (where.empty() ? "" : ", ") + l->bound().str();
    ctx_.log.info("server listening on ", where, " (host key ", host_key_.fingerprint, ")");
    ctx_.report(ProfileState::up, "listening on " + where);
}

bool ServerRunner::prepare(std::string* why) {
    shared_ = std::make_shared<ServerShared>();
    shared_->profile = ctx_.profile;
    shared_->log = ctx_.log;
    shared_->event = ctx_.event;
    shared_->startups =
        std::make_shared<server::StartupLimiter>(ctx_.profile.limits, penalty_reporter(ctx_));
    check_fd_budget(ctx_);
    shared_->outbound = std::make_shared<server::OutboundPolicy>(
        server::OutboundPolicy{ctx_.profile.outbound, net::Acl(ctx_.profile.acl, own_addresses())});
    if (!load_keys(why)) return false;
    if (!server::load_host_key(ctx_.profile.host_key, ctx_.paths.state_dir, ctx_.profile.name,
                               &host_key_, why))
        return false;
    shared_->bind = ssh_bind_new();
    bool no = false;
    if (!shared_->bind ||
        ssh_bind_options_set(shared_->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK ||
        ssh_bind_options_set(shared_->bind, SSH_BIND_OPTIONS_HOSTKEY, host_key_.path.c_str()) !=
            SSH_OK ||
        ssh_bind_options_set(shared_->bind, SSH_BIND_OPTIONS_CIPHERS_C_S, kCiphers) != SSH_OK ||
        ssh_bind_options_set(shared_->bind, SSH_BIND_OPTIONS_CIPHERS_S_C, kCiphers) != SSH_OK) {
        *why = "cannot use host key " + host_key_.path;
        return false;
    }
    for (const auto& lc : ctx_.profile.listen) {
        server::ListenerContext lctx{ctx_.control, ctx_.workers, ctx_.paths.state_dir,
                                     ctx_.profile.name, ctx_.log};
        auto l = server::make_listener(lctx, lc, why);
        if (!l || !l->open(why)) return false;
        listeners_.push_back(std::move(l));
    }
    return true;
}

bool ServerRunner::load_keys(std::string* why) {
    auto keys = std::make_shared<auth::AuthorizedKeys>(
        io::load_authorized_keys(ctx_.profile.authorized_keys));
    key_errors_.clear();
    for (const auto& e : keys->errors) {
        ctx_.log.warning("authorized_keys ", e.str());
        key_errors_.push_back(e.str());
    }
    if (keys->entries.empty() && !keys->errors.empty() && why) {
        *why =
            "no usable key in " + ctx_.profile.authorized_keys + ": " + keys->errors.front().str();
        return false;
    }
    if (keys->entries.empty())
        ctx_.log.warning("authorized_keys ", ctx_.profile.authorized_keys,
                         " holds no key: nobody can log in");
    shared_->set_keys(std::move(keys));
    return true;
}

void ServerRunner::on_accepted(server::Accepted a) {
    if (stopped_) return;
    ++accepted_;
    server::StartupSlot slot;
    std::string why;
    if (!shared_->startups->admit(a.peer_ip, &slot, &why)) {
        ++dropped_;
        ctx_.log.with_peer(a.peer).debug("connection dropped: ", why);
        return;  // a.fd closes here
    }
    // A TLS connection stays on the worker that runs its TLS pump (DESIGN.md §2).
    asio::io_context& io = a.worker ? *a.worker : ctx_.workers.next();
    asio::post(io, [&io, shared = shared_, a = std::make_shared<server::Accepted>(std::move(a)),
                    s = std::make_shared<server::StartupSlot>(std::move(slot))]() mutable {
        auto session =
            std::make_shared<server::ServerSession>(io, shared, std::move(*a), std::move(*s));
        session->start();
    });
}

nlohmann::json ServerRunner::status() const {
    nlohmann::json listen = nlohmann::json::array(), known = nlohmann::json::array();
    for (const auto& l : listeners_) {
        auto ep = l->bound();
        nlohmann::json entry = {{"address", ep.str()}, {"transport", l->transport()}};
        entry.update(l->status());
        listen.push_back(std::move(entry));
        std::string host = ep.host;
        if (host == "0.0.0.0" || host == "::") {
            char name[256] = {0};
            host = ::gethostname(name, sizeof name - 1) == 0 ? name : "SERVER";
        }
        known.push_back(server::known_hosts_line(host, ep.port, host_key_.public_line));
    }
    nlohmann::json s = {{"listen", listen},
                        {"host_key",
                         {{"path", host_key_.path},
                          {"public_key", host_key_.public_line},
                          {"fingerprint", host_key_.fingerprint}}},
                        {"known_hosts", known},
                        {"authorized_keys_errors", key_errors_},
                        {"connections_accepted", accepted_},
                        {"connections_dropped", dropped_}};
    if (!shared_) return s;
    auto keys = shared_->keys();
    s["authorized_keys"] = keys ? keys->entries.size() : 0;
    s["sessions"] = shared_->authenticated();
    s["unauthenticated"] = shared_->startups->total();
    s["preauth"] = shared_->startups->status();
    uint64_t in = 0, out = 0;
    for (const auto& r : shared_->snapshot()) {
        auto j = r.info->status.get();
        if (!j.is_object()) continue;
        in += j.value("bytes_in", uint64_t{0});
        out += j.value("bytes_out", uint64_t{0});
    }
    s["bytes_in"] = in;
    s["bytes_out"] = out;
    if (!listeners_.empty()) {
        auto ep = listeners_.front()->bound();
        s["client_snippet"] = {{"role", "client"},
                               {"server", ep.str()},
                               {"ssh", {{"host_key", host_key_.public_line}}}};
        if (auto t = listeners_.front()->client_transport(); !t.empty())
            s["client_snippet"]["transport"] = t;
    }
    return s;
}

nlohmann::json ServerRunner::sessions() const {
    nlohmann::json out = nlohmann::json::array();
    if (!shared_) return out;
    for (const auto& r : shared_->snapshot()) {
        auto j = r.info->status.get();
        if (j.is_object() && j.value("authenticated", false)) out.push_back(std::move(j));
    }
    return out;
}

bool ServerRunner::kick(const std::string& id) {
    if (!shared_) return false;
    for (const auto& r : shared_->snapshot()) {
        if (r.info->id != id) continue;
        auto j = r.info->status.get();
        if (!j.is_object() || !j.value("authenticated", false)) continue;
        asio::post(*r.io, [w = r.session] {
            if (auto s = w.lock()) s->close("kicked by administrator");
        });
        return true;
    }
    return false;
}

void ServerRunner::reload() {
    if (!shared_ || stopped_) return;
    std::string why;
    load_keys(nullptr);
    ctx_.log.info("authorized_keys reloaded: ", shared_->keys()->entries.size(), " keys");
    for (auto& l : listeners_) l->reload();
    for (const auto& r : shared_->snapshot()) {
        asio::post(*r.io, [w = r.session] {
            if (auto s = w.lock()) s->recheck_key();
        });
    }
}

void ServerRunner::shutdown(std::function<void()> done) {
    bool first = !stopped_;
    stopped_ = true;
    if (shared_) shared_->startups->close();  // what ends now is not the clients' doing
    for (auto& l : listeners_) l->close();
    auto regs = shared_ && first ? shared_->snapshot() : std::vector<ServerShared::Registered>{};
    auto remaining = std::make_shared<std::atomic<size_t>>(regs.size() + 1);
    auto finish_one = [remaining, &control = ctx_.control, done] {
        if (--*remaining == 0 && done) asio::post(control, done);
    };
    for (const auto& r : regs) {
        asio::post(*r.io, [w = r.session, finish_one] {
            if (auto s = w.lock()) s->close("server profile stopping");
            finish_one();
        });
    }
    finish_one();
}

}  // namespace

std::unique_ptr<Runner> make_server_runner(RunnerContext ctx) {
    return std::make_unique<ServerRunner>(std::move(ctx));
}

}  // namespace ghost::daemon
