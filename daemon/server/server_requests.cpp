// ServerSession: what an authenticated client may ask for (direct-tcpip, tcpip-forward,
// session channels). libssh 0.10 delivers these only as messages, freed when the
// callback returns, so every reply is given inside the callback (libssh-0.10.md).

#include <libssh/ssh2.h>

#include <algorithm>
#include <cstring>

#include "common/net/endpoint.hpp"
#include "daemon/server/remote_forward.hpp"
#include "daemon/server/server_session.hpp"
#include "daemon/ssh/channel_bridge.hpp"
#include "daemon/ssh/ssh_log.hpp"

namespace ghost::daemon::server {
namespace {

constexpr const char* kTunnelsOnly =
    "this server provides tunnels only; use ssh -N with -D, -L or -R (e.g. ssh -N -D 1080 ...)\r\n";

std::string str_or_empty(const char* s) { return s ? s : ""; }

std::string hp(const std::string& host, int port) {
    return net::Endpoint{host, static_cast<uint16_t>(port)}.str();
}

}  // namespace

int ServerSession::on_message(ssh_session, ssh_message msg, void* user) {
    auto* self = static_cast<ServerSession*>(user);
    // Requests may arrive in the same read as the auth success; become_up makes no libssh
    // calls, so it is safe here.
    if (self->just_authed_ && self->phase_ == Phase::auth) self->become_up();
    if (self->phase_ != Phase::up) return 1;  // default reply: refuse
    int type = ssh_message_type(msg);
    int sub = ssh_message_subtype(msg);
    if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_DIRECT_TCPIP)
        return self->handle_direct_tcpip(msg);
    if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_SESSION)
        return self->handle_session_open(msg);
    if (type == SSH_REQUEST_CHANNEL) return self->handle_channel_request(msg);
    if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD)
        return self->handle_tcpip_forward(msg);
    if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD)
        return self->handle_cancel_forward(msg);
    if (type == SSH_REQUEST_CHANNEL_OPEN)
        self->log_.notice("refused channel type ", sub, " (only direct-tcpip and session)");
    return 1;
}

// ---------------------------------------------------------------- direct-tcpip

int ServerSession::handle_direct_tcpip(ssh_message msg) {
    std::string host = str_or_empty(ssh_message_channel_request_open_destination(msg));
    int port = ssh_message_channel_request_open_destination_port(msg);
    std::string target = hp(host, port);
    auto refuse = [&](const std::string& why) {
        log_.notice("direct-tcpip to ", target, " refused: ", why);
        return 1;
    };
    if (host.empty() || port <= 0 || port > 65535) return refuse("bad destination");
    if (!entry_->permits_open(host, static_cast<uint16_t>(port)))
        return refuse("not permitted for key '" + entry_->name +
                      "' (permitopen / no-port-forwarding / restrict)");
    if (channel_count() >= shared_->profile.limits.max_channels)
        return refuse("too many channels (limits.max_channels " +
                      std::to_string(shared_->profile.limits.max_channels) + ")");
    // IP literals are judged now (a clean OPEN_FAILURE); names after resolution.
    if (auto ip = net::IpAddress::parse(host)) {
        auto d = shared_->outbound->acl.check(*ip, static_cast<uint16_t>(port));
        if (!d.allowed) return refuse("denied by ACL: " + d.reason);
    }
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (!ch) return 0;
    auto c = std::make_shared<ssh::ChannelBridge>(*this, ch, target);
    c->install_callbacks();
    channels_.emplace(c.get(), c);
    ++info_->channels;
    start_outbound(c, host, static_cast<uint16_t>(port));
    return 0;
}

void ServerSession::start_outbound(const std::shared_ptr<ssh::ChannelBridge>& c,
                                   std::string host, uint16_t port) {
    std::weak_ptr<ssh::ChannelBridge> wc = c;
    connect_outbound(io_, shared_->outbound, std::move(host), port,
                     [wc, w = weak_from_this()](OutboundResult r, asio::ip::tcp::socket s) {
                         auto self = w.lock();
                         auto ch = wc.lock();
                         if (!self || !ch || ch->finished()) return;
                         if (!r.error.empty()) {
                             if (r.denied) self->log_.notice("direct-tcpip to ", ch->label(), " refused: ", r.error);
                             else self->log_.info("direct-tcpip to ", ch->label(), " failed: ", r.error);
                             return ch->finish(r.error);
                         }
                         self->log_.debug("direct-tcpip to ", ch->label(), " connected (", r.address, ")");
                         ch->attach(std::move(s), {});
                     });
}

// ---------------------------------------------------------------- session channels

int ServerSession::handle_session_open(ssh_message msg) {
    if (channel_count() >= shared_->profile.limits.max_channels) return 1;
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (ch) session_channels_.push_back(ch);
    return 0;
}

int ServerSession::handle_channel_request(ssh_message msg) {
    ssh_channel ch = ssh_message_channel_request_channel(msg);
    if (std::find(session_channels_.begin(), session_channels_.end(), ch) ==
        session_channels_.end())
        return 1;
    int sub = ssh_message_subtype(msg);
    if (sub == SSH_CHANNEL_REQUEST_PTY) {
        ssh_message_channel_request_reply_success(msg);
        return 0;
    }
    if (sub == SSH_CHANNEL_REQUEST_SHELL) {
        ssh_message_channel_request_reply_success(msg);
        if (std::find(to_explain_.begin(), to_explain_.end(), ch) == to_explain_.end())
            to_explain_.push_back(ch);
        return 0;
    }
    if (sub == SSH_CHANNEL_REQUEST_EXEC || sub == SSH_CHANNEL_REQUEST_SUBSYSTEM)
        log_.notice("refused ", sub == SSH_CHANNEL_REQUEST_EXEC ? "exec" : "subsystem",
                    " request: this server provides tunnels only");
    return 1;
}

void ServerSession::service_session_channels() {
    if (to_explain_.empty()) return;
    ssh::LogScope scope(log_);
    auto list = std::move(to_explain_);
    to_explain_.clear();
    for (ssh_channel ch : list) {
        ssh_channel_write(ch, kTunnelsOnly, static_cast<uint32_t>(std::strlen(kTunnelsOnly)));
        ssh_channel_request_send_exit_status(ch, 1);
        ssh_channel_send_eof(ch);
        ssh_channel_close(ch);
        // No callbacks were installed on it, so freeing now is safe; libssh keeps the
        // struct until the client's CLOSE arrives.
        session_channels_.erase(std::find(session_channels_.begin(), session_channels_.end(), ch));
        ssh_channel_free(ch);
        if (phase_ != Phase::up) return;
    }
}

// ---------------------------------------------------------------- remote forwards

int ServerSession::handle_tcpip_forward(ssh_message msg) {
    std::string requested = str_or_empty(ssh_message_global_request_address(msg));
    int port = ssh_message_global_request_port(msg);
    std::string what = hp(requested.empty() ? "*" : requested, port);
    auto refuse = [&](const std::string& why) {
        log_.notice("remote forward ", what, " refused: ", why);
        return 1;
    };
    if (port < 0 || port > 65535) return refuse("bad port");
    auto p = static_cast<uint16_t>(port);
    if (!entry_->permits_listen(requested.empty() ? "*" : requested, p))
        return refuse("not permitted for key '" + entry_->name +
                      "' (permitlisten / no-port-forwarding / restrict)");
    bool explicit_port = std::any_of(entry_->permit_listen.begin(), entry_->permit_listen.end(),
                                     [&](const auth::PermitListen& l) { return l.port == p; });
    if (p != 0 && p < 1024 && !explicit_port)
        return refuse("privileged port (name it in permitlisten to allow)");
    if (forwards_.size() >= shared_->profile.limits.max_forwards)
        return refuse("too many remote forwards (limits.max_forwards)");
    if (p != 0 && forwards_.count({requested, p})) return refuse("already forwarded");
    // GatewayPorts: loopback unless allowed; then the client's address ("" / "*" = all).
    std::string bind_host = "127.0.0.1";
    if (shared_->profile.gateway_ports && requested != "localhost") {
        if (requested.empty() || requested == "*") bind_host = "0.0.0.0";
        else if (net::IpAddress::parse(requested)) bind_host = requested;
        else return refuse("listen address must be an IP address, '*' or 'localhost'");
    }
    auto fwd = std::make_shared<RemoteForward>(*this, requested, bind_host);
    std::string why;
    if (!fwd->bind(p, &why)) return refuse(why);
    fwd->start();
    forwards_[{requested, fwd->bound_port()}] = fwd;
    info_->forwards = forwards_.size();
    log_.info("remote forward listening on ", hp(bind_host, fwd->bound_port()), " (requested ",
              what, ")");
    ssh_message_global_request_reply_success(msg, fwd->bound_port());
    return 0;
}

int ServerSession::handle_cancel_forward(ssh_message msg) {
    std::string requested = str_or_empty(ssh_message_global_request_address(msg));
    int port = ssh_message_global_request_port(msg);
    auto it = forwards_.find({requested, static_cast<uint16_t>(port)});
    if (port < 0 || port > 65535 || it == forwards_.end()) return 1;
    it->second->close();
    forwards_.erase(it);
    info_->forwards = forwards_.size();
    ssh_message_global_request_reply_success(msg, 0);
    return 0;
}

void ServerSession::open_forwarded(RemoteForward& fwd, asio::ip::tcp::socket socket) {
    if (phase_ != Phase::up) return;
    asio::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    if (ec) return;
    if (channel_count() >= shared_->profile.limits.max_channels) {
        log_.notice("forwarded connection from ", remote.address().to_string(),
                    " dropped: too many channels");
        return;
    }
    ssh::LogScope scope(log_);
    ssh_channel ch = ssh_channel_new(session_);
    if (!ch) return;
    auto label = "R " + hp(fwd.requested(), fwd.bound_port());
    auto pending = std::make_unique<PendingReverse>(PendingReverse{
        std::make_shared<ssh::ChannelBridge>(*this, ch, std::move(label)),
        std::move(socket), fwd.requested(), fwd.bound_port(), remote.address().to_string(),
        remote.port()});
    pending->channel->install_callbacks();
    reverse_.push_back(std::move(pending));
    service_reverse();
    after_io();
}

void ServerSession::service_reverse() {
    ssh::LogScope scope(log_);
    for (size_t i = 0; i < reverse_.size() && phase_ == Phase::up;) {
        PendingReverse& r = *reverse_[i];
        ssh_channel ch = r.channel->channel();
        int rc = ssh_channel_is_open(ch)
                     ? SSH_OK
                     : ssh_channel_open_reverse_forward(ch, r.requested.c_str(), r.port,
                                                        r.origin.c_str(), r.origin_port);
        if (rc == SSH_AGAIN) {
            ++i;
            continue;
        }
        auto owned = std::move(reverse_[i]);
        reverse_.erase(reverse_.begin() + static_cast<ptrdiff_t>(i));
        if (rc != SSH_OK) {
            log_.info("client refused forwarded connection to ", owned->channel->label(), ": ",
                      ssh_get_error(session_));
            owned->channel->detach_for_teardown();
            ssh_channel_free(ch);
            continue;
        }
        channels_.emplace(owned->channel.get(), owned->channel);
        ++info_->channels;
        owned->channel->attach(std::move(owned->socket), {});
    }
}

}  // namespace ghost::daemon::server
