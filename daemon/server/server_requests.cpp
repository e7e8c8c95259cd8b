// ServerSession: what an authenticated client may ask for (direct-tcpip, tcpip-forward,
// session channels). Each handler answers its message, or returns Answer::refuse for
// libssh's default refusal, or holds it (a direct-tcpip open until its connect ends).

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

std::string str_or_empty(const char* s) {
    return s ? s : "";
}

std::string hp(const std::string& host, int port) {
    return net::Endpoint{host, static_cast<uint16_t>(port)}.str();
}

}  // namespace

// ---------------------------------------------------------------- direct-tcpip

ServerSession::Answer ServerSession::handle_direct_tcpip(ssh_message msg) {
    std::string host = str_or_empty(ssh_message_channel_request_open_destination(msg));
    int port = ssh_message_channel_request_open_destination_port(msg);
    std::string target = hp(host, port);
    auto refuse = [&](const std::string& why) {
        log_.notice("direct-tcpip to ", target, " refused: ", why);
        return Answer::refuse;
    };
    if (host.empty() || port <= 0 || port > 65535) return refuse("bad destination");
    if (!entry_->permits_open(host, static_cast<uint16_t>(port)))
        return refuse("not permitted for key '" + entry_->name +
                      "' (permitopen / no-port-forwarding / restrict)");
    if (channel_count() >= shared_->profile.limits.max_channels)
        return refuse("too many channels (limits.max_channels " +
                      std::to_string(shared_->profile.limits.max_channels) + ")");
    // IP literals are judged now; names after resolution.
    if (auto ip = net::IpAddress::parse(host)) {
        auto d = shared_->outbound->acl.check(*ip, static_cast<uint16_t>(port));
        if (!d.allowed) return refuse("denied by ACL: " + d.reason);
    }
    // Confirmed only once connected (as sshd does): a failed connect is an open failure,
    // never a confirmed channel that ends at once.
    uint64_t id = ++next_open_;
    opens_.emplace(id, PendingOpen{msg, target});
    ++opening_;
    publish();
    start_outbound(id, host, static_cast<uint16_t>(port));
    return Answer::held;
}

void ServerSession::start_outbound(uint64_t id, std::string host, uint16_t port) {
    connect_outbound(io_, shared_->outbound, std::move(host), port,
                     [id, w = weak_self()](OutboundResult r, asio::ip::tcp::socket s) {
                         // Gone: teardown freed the message; the socket just closes.
                         if (auto self = w.lock())
                             self->finish_open(id, std::move(r), std::move(s));
                     });
}

void ServerSession::finish_open(uint64_t id, OutboundResult r, asio::ip::tcp::socket s) {
    auto it = opens_.find(id);
    if (it == opens_.end()) return;  // teardown answered nothing and freed it
    PendingOpen open = std::move(it->second);
    opens_.erase(it);
    --opening_;
    publish();
    ssh::LogScope scope(log_);
    ssh_channel ch = nullptr;
    if (!r.error.empty()) {
        // libssh 0.10 can only send "administratively prohibited" with no text: the cause
        // is told here, in the log.
        if (r.denied)
            log_.notice("direct-tcpip to ", open.target, " refused: ", r.error);
        else
            log_.info("direct-tcpip to ", open.target, " failed: ", r.error);
        ssh_message_reply_default(open.msg);
    } else {
        ch = ssh_message_channel_request_open_reply_accept(open.msg);
    }
    ssh_message_free(open.msg);
    if (!ch) return after_io();
    auto c = std::make_shared<ssh::ChannelBridge>(*this, ch, open.target,
                                                  ssh::WindowTuner::kAcceptedWindow);
    c->install_callbacks();
    reaper_.watch(ch);
    adopt(c);
    log_.debug("direct-tcpip to ", open.target, " connected (", r.address, ")");
    c->attach(std::move(s), {});
    after_io();
}

// ---------------------------------------------------------------- session channels

ServerSession::Answer ServerSession::handle_session_open(ssh_message msg) {
    if (channel_count() >= shared_->profile.limits.max_channels) return Answer::refuse;
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (ch) {
        reaper_.watch(ch);
        session_channels_.push_back(ch);
    }
    return Answer::answered;
}

ServerSession::Answer ServerSession::handle_channel_request(ssh_message msg) {
    ssh_channel ch = ssh_message_channel_request_channel(msg);
    if (std::find(session_channels_.begin(), session_channels_.end(), ch) ==
        session_channels_.end())
        return Answer::refuse;
    if (is_datagram_request(msg)) return handle_datagram_request(msg, ch);
    int sub = ssh_message_subtype(msg);
    if (sub == SSH_CHANNEL_REQUEST_PTY) {
        ssh_message_channel_request_reply_success(msg);
        return Answer::answered;
    }
    if (sub == SSH_CHANNEL_REQUEST_SHELL) {
        ssh_message_channel_request_reply_success(msg);
        if (std::find(to_explain_.begin(), to_explain_.end(), ch) == to_explain_.end())
            to_explain_.push_back(ch);
        return Answer::answered;
    }
    if (sub == SSH_CHANNEL_REQUEST_EXEC || sub == SSH_CHANNEL_REQUEST_SUBSYSTEM)
        log_.notice("refused ", sub == SSH_CHANNEL_REQUEST_EXEC ? "exec" : "subsystem",
                    " request: this server provides tunnels only");
    return Answer::refuse;
}

void ServerSession::service_session_channels() {
    if (to_explain_.empty()) return;
    ssh::LogScope scope(log_);
    auto list = std::move(to_explain_);
    to_explain_.clear();
    for (ssh_channel ch : list) {
        ssh_channel_write(ch, kTunnelsOnly, static_cast<uint32_t>(std::strlen(kTunnelsOnly)));
        ssh_channel_request_send_exit_status(ch, 1);
        session_channels_.erase(std::find(session_channels_.begin(), session_channels_.end(), ch));
        reaper_.retire(ch);  // EOF and CLOSE; freed once the client's CLOSE is in
        if (phase_ != Phase::up) return;
    }
}

// ---------------------------------------------------------------- remote forwards

ServerSession::Answer ServerSession::handle_tcpip_forward(ssh_message msg) {
    std::string requested = str_or_empty(ssh_message_global_request_address(msg));
    int port = ssh_message_global_request_port(msg);
    std::string what = hp(requested.empty() ? "*" : requested, port);
    auto refuse = [&](const std::string& why) {
        log_.notice("remote forward ", what, " refused: ", why);
        return Answer::refuse;
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
        if (requested.empty() || requested == "*")
            bind_host = "0.0.0.0";
        else if (net::IpAddress::parse(requested))
            bind_host = requested;
        else
            return refuse("listen address must be an IP address, '*' or 'localhost'");
    }
    auto fwd = std::make_shared<RemoteForward>(*this, requested, bind_host);
    std::string why;
    if (!fwd->bind(p, &why)) return refuse(why);
    fwd->start();
    forwards_[{requested, fwd->bound_port()}] = fwd;
    publish();
    log_.info("remote forward listening on ", hp(bind_host, fwd->bound_port()), " (requested ",
              what, ")");
    ssh_message_global_request_reply_success(msg, fwd->bound_port());
    return Answer::answered;
}

ServerSession::Answer ServerSession::handle_cancel_forward(ssh_message msg) {
    std::string requested = str_or_empty(ssh_message_global_request_address(msg));
    int port = ssh_message_global_request_port(msg);
    auto it = forwards_.find({requested, static_cast<uint16_t>(port)});
    if (port < 0 || port > 65535 || it == forwards_.end()) return Answer::refuse;
    it->second->close();
    forwards_.erase(it);
    publish();
    ssh_message_global_request_reply_success(msg, 0);
    return Answer::answered;
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
    reaper_.watch(ch);
    auto label = "R " + hp(fwd.requested(), fwd.bound_port());
    auto pending = std::make_unique<PendingReverse>(
        PendingReverse{std::make_shared<ssh::ChannelBridge>(*this, ch, std::move(label),
                                                            ssh::WindowTuner::kOpenedWindow),
                       std::move(socket), fwd.requested(), fwd.bound_port(),
                       remote.address().to_string(), remote.port()});
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
            reaper_.retire(ch, false);  // refused: nothing to close; freed at the next reap
            continue;
        }
        adopt(owned->channel);
        owned->channel->attach(std::move(owned->socket), {});
    }
}

}  // namespace ghost::daemon::server
