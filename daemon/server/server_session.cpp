#include "daemon/server/server_session.hpp"
#include "daemon/server/udp_relay.hpp"

#include <fcntl.h>
#include <poll.h>

#include <cstring>
#include <ctime>
#include <optional>

#include "daemon/server/remote_forward.hpp"
#include "daemon/ssh/channel_bridge.hpp"
#include "daemon/ssh/event_drain.hpp"
#include "daemon/ssh/ssh_key.hpp"
#include "daemon/ssh/ssh_log.hpp"

namespace ghost::daemon::server {
namespace {

ssh::WindowSettings window_settings(const config::WindowConfig& w) {
    return {w.initial, w.max, w.session_budget};
}

}  // namespace

ServerSession::ServerSession(asio::io_context& io, std::shared_ptr<ServerShared> shared,
                             Accepted conn, StartupSlot slot)
    : Connection(io, shared->log.with_peer(conn.peer), window_settings(shared->profile.window),
                 std::make_shared<ssh::ConnectionStats>()),
      shared_(std::move(shared)),
      conn_(std::move(conn)),
      slot_(std::move(slot)),
      info_(std::make_shared<SessionInfo>()),
      since_(static_cast<int64_t>(std::time(nullptr))),
      grace_(io),
      idle_(io) {
    info_->id = shared_->next_id();
}

ServerSession::~ServerSession() {
    teardown();
}

std::weak_ptr<ServerSession> ServerSession::weak_self() {
    return std::static_pointer_cast<ServerSession>(weak_from_this().lock());
}

// ---------------------------------------------------------------- handshake

void ServerSession::start() {
    ssh::LogScope scope(log_);
    self_ = std::static_pointer_cast<ServerSession>(shared_from_this());
    shared_->add({self_, &io_, info_});
    publish();
    std::string why;
    if (!setup(&why)) {
        slot_.release(PreauthOutcome::aborted);
        return close(why);
    }
    slot_.on_evict(io_, [w = weak_self()] {
        auto self = w.lock();
        if (!self || self->phase_ == Phase::up) return;  // logged in meanwhile: keep it
        self->close("evicted as the oldest unauthenticated connection (limits.max_startups_total)");
    });
    auto grace = std::chrono::seconds(shared_->profile.limits.login_grace_time_s);
    grace_.expires_after(grace);
    grace_.async_wait([w = weak_self(), grace](asio::error_code ec) {
        auto self = w.lock();
        if (ec || !self || self->phase_ == Phase::up) return;
        self->slot_.release(PreauthOutcome::grace_expired);
        self->close("no authentication within " + std::to_string(grace.count()) +
                    " s (limits.login_grace_time)");
    });
    step_handshake();
}

bool ServerSession::setup(std::string* why) {
    if (conn_.fd.get() > 65535) {
        *why = "connection fd too large for libssh";
        return false;
    }
    session_ = ssh_new();
    if (!session_) {
        *why = "out of memory creating SSH session";
        return false;
    }
    int rc;
    {
        std::lock_guard lock(shared_->bind_mu);
        rc = ssh_bind_accept_fd(shared_->bind, session_, conn_.fd.get());
    }
    if (rc != SSH_OK) {
        *why = std::string("cannot start SSH session: ") + ssh_get_error(shared_->bind);
        return false;
    }
    int fd = conn_.fd.release();  // libssh owns and closes it now
    if (!watch(fd, std::move(conn_.path_fd), why)) return false;
    // No server or message callbacks: libssh queues every request for drain_messages().
    ssh_set_auth_methods(session_, SSH_AUTH_METHOD_PUBLICKEY);
    ssh_set_blocking(session_, 0);
    return true;
}

void ServerSession::step_handshake() {
    if (phase_ != Phase::kex) return;
    ssh::LogScope scope(log_);
    int rc = ssh_handle_key_exchange(session_);
    if (rc == SSH_AGAIN) return wait_handshake_io();
    if (rc != SSH_OK) {
        // Still connected: the client broke the protocol; gone: it just left.
        bool left = ssh::fd_ready_now(watch_fd(), POLLRDHUP);
        slot_.release(left ? PreauthOutcome::closed : PreauthOutcome::protocol_error);
        return close(std::string("key exchange failed: ") + ssh_get_error(session_));
    }
    int flags = ::fcntl(fd(), F_GETFL);
    if (flags >= 0) ::fcntl(fd(), F_SETFL, flags | O_NONBLOCK);
    phase_ = Phase::auth;
    if (!start_running()) return close("cannot register SSH session for polling");
    pump();
}

void ServerSession::send_banner() {
    const std::string& banner = shared_->profile.banner;
    if (banner.empty()) return;
    ssh_string s = ssh_string_from_char(banner.c_str());
    if (!s) return;
    ssh_send_issue_banner(session_, s);
    ssh_string_free(s);
}

// libssh 0.10 marks the message accessors of authentication deprecated in favour of the
// server callbacks; those cannot be used here (they send every unhandled request the
// default reply at once, so no direct-tcpip open could wait for its connect).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
ServerSession::Answer ServerSession::handle_auth(ssh_message msg) {
    if (phase_ != Phase::auth) return Answer::answered;  // after success: ignored (RFC 4252 5.1)
    int method = ssh_message_subtype(msg);
    if (method == SSH_AUTH_METHOD_NONE) send_banner();
    if (method != SSH_AUTH_METHOD_PUBLICKEY) return Answer::refuse;
    int state = ssh_message_auth_publickey_state(msg);
    if (auth_pubkey(ssh_message_auth_pubkey(msg), static_cast<char>(state)) != SSH_AUTH_SUCCESS)
        return Answer::refuse;
    if (state == SSH_PUBLICKEY_STATE_NONE) {  // probe: the key would do
        ssh_message_auth_reply_pk_ok_simple(msg);
        return Answer::answered;
    }
    ssh_message_auth_reply_success(msg, 0);
    become_up();
    return Answer::answered;
}
#pragma GCC diagnostic pop

int ServerSession::auth_pubkey(ssh_key key, char state) {
    if (phase_ != Phase::auth) return SSH_AUTH_DENIED;
    std::string fp = ssh::sha256_fingerprint(key);
    char* b64 = nullptr;
    std::optional<std::vector<uint8_t>> blob;
    if (ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK) {
        blob = auth::decode_key_blob(b64);
        ssh_string_free_char(b64);
    }
    auto keys = shared_->keys();
    const auth::KeyEntry* e = blob && keys ? keys->find(*blob) : nullptr;
    if (!e) return deny_auth(fp, "key not in authorized_keys"), SSH_AUTH_DENIED;
    if (e->expired(static_cast<int64_t>(std::time(nullptr))))
        return deny_auth(fp, "key '" + e->name + "' expired (expiry-time)"), SSH_AUTH_DENIED;
    if (!e->from_allows(conn_.peer_ip))
        return deny_auth(fp, "key '" + e->name + "' not allowed from " + conn_.peer_ip.str() +
                                 " (from=)"),
               SSH_AUTH_DENIED;
    if (state == SSH_PUBLICKEY_STATE_NONE) return SSH_AUTH_SUCCESS;  // probe: key acceptable
    if (state != SSH_PUBLICKEY_STATE_VALID) return SSH_AUTH_DENIED;
    if (!shared_->reserve_session()) {
        deny_auth(fp, "too many sessions (limits.max_sessions)");
        slot_.note(PreauthOutcome::aborted);  // the server is full: not the client's failure
        return SSH_AUTH_DENIED;
    }
    reserved_ = true;
    keys_ = keys;
    entry_ = e;
    key_blob_ = *blob;
    key_name_ = e->name;
    key_fingerprint_ = fp;
    return SSH_AUTH_SUCCESS;
}

void ServerSession::deny_auth(const std::string& fp, const std::string& reason) {
    slot_.note(PreauthOutcome::auth_failed);
    if (fp == denied_fp_) return;  // the probe and the signature: report once
    denied_fp_ = fp;
    log_.notice("authentication refused for key ", fp, ": ", reason);
    if (shared_->event)
        shared_->event({{"type", "session.auth_failed"},
                        {"profile", shared_->profile.name},
                        {"peer", conn_.peer},
                        {"key_fingerprint", fp},
                        {"reason", reason}});
}

void ServerSession::become_up() {
    attach_read_ahead();
    phase_ = Phase::up;
    grace_.cancel();
    slot_.release(PreauthOutcome::authenticated);
    log_.info("session ", info_->id, " authenticated with key '", entry_->name, "' (",
              key_fingerprint_, ")");
    if (shared_->event)
        shared_->event({{"type", "session.connected"},
                        {"profile", shared_->profile.name},
                        {"session", info_->id},
                        {"peer", conn_.peer},
                        {"key_name", entry_->name},
                        {"key_fingerprint", key_fingerprint_}});
    publish();
    if (shared_->profile.limits.idle_timeout_s > 0) sweep_idle();
}

// ---------------------------------------------------------------- engine hooks

void ServerSession::lost(Loss how, const std::string& libssh_error) {
    if (how == Loss::poll_error) return close("connection lost: " + libssh_error);
    close(libssh_error.empty() ? "client disconnected" : "client disconnected: " + libssh_error);
}

void ServerSession::publish() {
    const ssh::ConnectionStats& st = connection_stats();
    info_->status.set({{"id", info_->id},
                       {"peer", conn_.peer},
                       {"since", since_},
                       {"authenticated", phase_ == Phase::up},
                       {"key_name", key_name_},
                       {"key_fingerprint", key_fingerprint_},
                       {"channels", st.channels_open.load() + opening_},
                       {"forwards", forwards_.size()},
                       {"bytes_in", st.bytes_in.load()},
                       {"bytes_out", st.bytes_out.load()},
                       {"path", st.windows.to_json()},
                       {"datagrams", datagrams() ? st.datagrams->to_json() : nlohmann::json()},
                       {"udp", udp_ ? udp_->status() : nlohmann::json()}});
}

void ServerSession::free_channel(ssh_channel ch) {
    reaper_.retire(ch);  // CLOSE now, freed once the client's CLOSE is in
}

size_t ServerSession::channel_count() const {
    return bridges().size() + opens_.size() + reverse_.size() + session_channels_.size() +
           reaper_.retired();
}

void ServerSession::sweep_idle() {
    if (phase_ != Phase::up) return;
    auto limit = std::chrono::seconds(shared_->profile.limits.idle_timeout_s);
    auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<ssh::ChannelBridge>> idle;
    for (auto& [_, c] : bridges())
        if (c->attached() && now - c->last_activity() >= limit) idle.push_back(c);
    for (auto& c : idle)
        c->finish("idle for " + std::to_string(limit.count()) + " s (limits.idle_timeout)");
    idle_.expires_after(std::min<std::chrono::seconds>(limit, std::chrono::seconds(5)));
    idle_.async_wait([w = weak_self()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->sweep_idle();
    });
}

// ---------------------------------------------------------------- teardown

void ServerSession::recheck_key() {
    if (phase_ != Phase::up) return;
    auto keys = shared_->keys();
    const auth::KeyEntry* e = keys ? keys->find(key_blob_) : nullptr;
    if (!e) return close("key '" + entry_->name + "' was removed from authorized_keys");
    keys_ = keys;  // same key: adopt its (possibly changed) options
    entry_ = e;
}

void ServerSession::close(const std::string& reason) {
    if (phase_ == Phase::closed) return;
    bool was_up = phase_ == Phase::up;
    if (was_up)
        log_.info("session ", info_->id, " closed: ", reason);
    else
        log_.notice("connection closed before authentication: ", reason);
    teardown();
    if (shared_->event && was_up)
        shared_->event({{"type", "session.disconnected"},
                        {"profile", shared_->profile.name},
                        {"session", info_->id},
                        {"peer", conn_.peer},
                        {"reason", reason},
                        {"bytes_in", connection_stats().bytes_in.load()},
                        {"bytes_out", connection_stats().bytes_out.load()}});
    // Drop our own reference from a fresh handler, not under our own member call.
    asio::post(io_, [s = std::move(self_)] {});
}

void ServerSession::teardown() {
    if (phase_ == Phase::closed && !session_) return;
    phase_ = Phase::closed;
    grace_.cancel();
    idle_.cancel();
    stop_watching();
    close_udp();
    for (auto& [_, f] : forwards_) f->close();
    forwards_.clear();
    for (auto& r : reverse_) r->channel->detach_for_teardown();
    reverse_.clear();
    session_channels_.clear();  // freed with the session
    to_explain_.clear();
    for (auto& [_, o] : opens_) ssh_message_free(o.msg);  // before the session they belong to
    opens_.clear();
    reaper_.clear();
    opening_ = 0;
    free_session();
    conn_.fd.reset();  // only set when libssh never took it
    slot_.release();
    if (reserved_) shared_->release_session();
    reserved_ = false;
    shared_->remove(info_->id);
}

}  // namespace ghost::daemon::server
