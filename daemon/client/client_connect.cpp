// ClientCore: opening the transport and setting up the SSH session on it.

#include <algorithm>

#include "daemon/client/client_core.hpp"

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
}  // namespace

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
    transport_info_ = r.info;
    if (auto peer = net::parse_endpoint(r.peer)) {  // a server name resolved into the routes
        if (std::string loop = tun_route_loop(ctx_.profile, peer->host); !loop.empty())
            return fail(loop);
    }
    ssh::ClientSessionConfig cfg;
    std::string why;
    if (!prepare_session(&cfg, &why)) return fail(why);
    session_ = std::make_shared<ssh::ClientSession>(io_, std::move(cfg), ctx_.log.with_peer(r.peer),
                                                    stats_, session_events());
    session_->start(std::move(r.fd), std::move(r.path_fd));
}

bool ClientCore::prepare_session(ssh::ClientSessionConfig* cfg, std::string* why) {
    const auto& ssh_cfg = ctx_.profile.ssh;
    ssh::Identity id;
    if (!ssh_cfg.agent || !ssh_cfg.identity_file.empty()) {
        if (!ssh::load_identity(ssh_cfg.identity_file, ctx_.paths.state_dir, ctx_.profile.name, &id,
                                why)) {
            return false;
        }
        public_key_ = id.public_line;
    }
    *cfg = session_config(id);
    if (cfg->host_key.pinned.empty() && ssh_cfg.known_hosts.empty()) {
        std::string dir;  // known_hosts of the profile's state directory
        return ssh::ensure_profile_dir(ctx_.paths.state_dir, ctx_.profile.name, &dir, why);
    }
    return true;
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
    c.datagrams = p.tun && (p.tun->udp == "tunnel" || p.tun->icmp == "tunnel");
    return c;
}

ssh::SessionEvents ClientCore::session_events() {
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
        if (auto self = w.lock()) return self->remote_forwards_.target(addr, port);
        return std::nullopt;
    };
    ev.datagram = [w](udp::Datagram d) {
        if (auto self = w.lock(); self && self->tun_) self->tun_->on_datagram(d);
    };
    ev.datagram_hello = [w](const udp::Hello& h) {
        if (auto self = w.lock()) {
            self->datagram_hello_ = h;
            self->datagrams_ready();
        }
    };
    ev.datagram_channel = [w](std::shared_ptr<ssh::DatagramChannel> ch, const std::string& why) {
        auto self = w.lock();
        if (!self) return;
        if (ch) {
            self->datagram_channel_ = ch;
            return self->datagrams_ready();
        }
        self->datagrams_gone(why);
    };
    return ev;
}

// ---------------------------------------------------------------- datagram channel

void ClientCore::datagrams_ready() {
    auto ch = datagram_channel_.lock();
    if (!ch || !datagram_hello_ || !tun_) return;
    tun_->datagram_channel_up(
        [w = datagram_channel_](udp::Datagram d) {
            auto c = w.lock();
            return c && c->send(d);
        },
        *datagram_hello_);
    datagram_why_.clear();
    publish();
}

void ClientCore::datagrams_gone(const std::string& why) {
    datagram_channel_.reset();
    datagram_hello_.reset();
    datagram_why_ = why;
    if (tun_) tun_->datagram_channel_down(why);
    publish();
}

}  // namespace ghost::daemon::client
