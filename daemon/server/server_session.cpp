#include "daemon/server/server_session.hpp"

#include <fcntl.h>
#include <poll.h>

#include <cstring>
#include <ctime>
#include <optional>

#include "daemon/server/remote_forward.hpp"
#include "daemon/ssh/channel_bridge.hpp"
#include "daemon/ssh/event_drain.hpp"
#include "daemon/ssh/read_ahead.hpp"
#include "daemon/ssh/ssh_key.hpp"
#include "daemon/ssh/ssh_log.hpp"

namespace ghost::daemon::server {
namespace {

constexpr int kMaxPollsPerPump = 64;            // ~256 KiB of input, then yield
constexpr size_t kMaxMessagesPerPump = 1024;    // requests handled per pump, then yield
constexpr size_t kOutBudget = 2 * 1024 * 1024;  // session output queued between drains

ssh::WindowSettings window_settings(const config::WindowConfig& w) {
    return {w.initial, w.max, w.session_budget};
}

}  // namespace

ServerSession::ServerSession(asio::io_context& io, std::shared_ptr<ServerShared> shared,
                             Accepted conn, StartupSlot slot)
    : io_(io),
      shared_(std::move(shared)),
      conn_(std::move(conn)),
      slot_(std::move(slot)),
      info_(std::make_shared<SessionInfo>()),
      watch_(io),
      grace_(io),
      idle_(io),
      out_budget_(kOutBudget),
      windows_(window_settings(shared_->profile.window),
               std::shared_ptr<ssh::WindowStats>(info_, &info_->windows)) {
    info_->id = shared_->next_id();
    info_->peer = conn_.peer;
    info_->since = static_cast<int64_t>(std::time(nullptr));
    log_ = shared_->log.with_peer(conn_.peer);
}

ServerSession::~ServerSession() {
    teardown();
}

// ---------------------------------------------------------------- handshake

void ServerSession::start() {
    ssh::LogScope scope(log_);
    self_ = shared_from_this();
    shared_->add({weak_from_this(), &io_, info_});
    std::string why;
    if (!setup(&why)) {
        slot_.release(PreauthOutcome::aborted);
        return close(why);
    }
    slot_.on_evict(io_, [w = weak_from_this()] {
        auto self = w.lock();
        if (!self || self->phase_ == Phase::up) return;  // logged in meanwhile: keep it
        self->close("evicted as the oldest unauthenticated connection (limits.max_startups_total)");
    });
    auto grace = std::chrono::seconds(shared_->profile.limits.login_grace_time_s);
    grace_.expires_after(grace);
    grace_.async_wait([w = weak_from_this(), grace](asio::error_code ec) {
        auto self = w.lock();
        if (ec || !self || self->phase_ == Phase::up) return;
        self->slot_.release(PreauthOutcome::grace_expired);
        self->close("no authentication within " + std::to_string(grace.count()) +
                    " s (limits.login_grace_time)");
    });
    step_kex();
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
    fd_ = conn_.fd.release();  // libssh owns and closes it now
    // Out of descriptors (EMFILE) fails this connection, never the daemon.
    int watch = ::dup(fd_);
    asio::error_code ec(watch < 0 ? errno : 0, asio::system_category());
    if (!ec) watch_.assign(watch, ec);
    if (!ec) windows_.set_path_fd(conn_.path_fd ? conn_.path_fd.get() : watch);
    if (ec) {
        if (watch >= 0) ::close(watch);
        *why = "cannot watch the connection: " + ec.message();
        return false;
    }
    // No server or message callbacks: libssh queues every request for drain_messages().
    ssh_set_auth_methods(session_, SSH_AUTH_METHOD_PUBLICKEY);
    ssh_set_blocking(session_, 0);
    return true;
}

void ServerSession::step_kex() {
    if (phase_ != Phase::kex) return;
    ssh::LogScope scope(log_);
    int rc = ssh_handle_key_exchange(session_);
    if (rc == SSH_AGAIN) return wait_io();
    if (rc != SSH_OK) {
        // Still connected: the client broke the protocol; gone: it just left.
        bool left = ssh::fd_ready_now(watch_.native_handle(), POLLRDHUP);
        slot_.release(left ? PreauthOutcome::closed : PreauthOutcome::protocol_error);
        return close(std::string("key exchange failed: ") + ssh_get_error(session_));
    }
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    phase_ = Phase::auth;
    event_ = ssh_event_new();
    if (!event_ || ssh_event_add_session(event_, session_) != SSH_OK)
        return close("cannot register SSH session for polling");
    ssh_set_counters(session_, &counter_out_, &counter_in_);
    pump();
}

void ServerSession::wait_io() {
    // libssh reads at most 4 KiB per call: step again while the kernel holds more.
    if (ssh::fd_ready_now(fd_, POLLIN)) {
        asio::post(io_, [w = weak_from_this()] {
            if (auto self = w.lock()) self->step_kex();
        });
        return;
    }
    arm_read();
    if (ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) arm_write();
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
        blob = auth::base64_decode(b64);
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
    {
        std::lock_guard lock(info_->mu);
        info_->key_name = e->name;
        info_->key_fingerprint = fp;
    }
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
    ssh::read_ahead_attach(fd_,
                           session_);  // every read from here on goes through pump()/after_io()
    phase_ = Phase::up;
    grace_.cancel();
    slot_.release(PreauthOutcome::authenticated);
    info_->authenticated = true;
    log_.info("session ", info_->id, " authenticated with key '", entry_->name, "' (",
              info_->key_fingerprint, ")");
    if (shared_->event)
        shared_->event({{"type", "session.connected"},
                        {"profile", shared_->profile.name},
                        {"session", info_->id},
                        {"peer", conn_.peer},
                        {"key_name", entry_->name},
                        {"key_fingerprint", info_->key_fingerprint}});
    if (shared_->profile.limits.idle_timeout_s > 0) sweep_idle();
}

// ---------------------------------------------------------------- readiness and pump

void ServerSession::arm_read() {
    if (read_armed_ || phase_ == Phase::closed) return;
    read_armed_ = true;
    watch_.async_wait(asio::posix::descriptor_base::wait_read,
                      [w = weak_from_this()](asio::error_code ec) {
                          auto self = w.lock();
                          if (!self) return;
                          self->read_armed_ = false;
                          if (ec) return;
                          if (self->phase_ == Phase::kex)
                              self->step_kex();
                          else
                              self->pump();
                      });
}

void ServerSession::arm_write() {
    if (write_armed_ || phase_ == Phase::closed) return;
    write_armed_ = true;
    watch_.async_wait(asio::posix::descriptor_base::wait_write,
                      [w = weak_from_this()](asio::error_code ec) {
                          auto self = w.lock();
                          if (!self) return;
                          self->write_armed_ = false;
                          if (ec) return;
                          if (self->phase_ == Phase::kex)
                              self->step_kex();
                          else
                              self->pump();
                      });
}

void ServerSession::pump() {
    if (phase_ != Phase::auth && phase_ != Phase::up) return;
    ssh::LogScope scope(log_);
    size_t budget = kMaxMessagesPerPump;
    auto r = ssh::drain_event(event_, kMaxPollsPerPump, [&] { return drain_messages(budget); });
    if (phase_ == Phase::closed) return;
    if (r == ssh::DrainResult::error) {
        // The session may be half gone (libssh-0.10.md): only teardown from here.
        return close(std::string("connection lost: ") + ssh_get_error(session_));
    }
    after_pump(r == ssh::DrainResult::more);
}

bool ServerSession::check_alive() {
    int st = ssh_get_status(session_);
    if (!(st & (SSH_CLOSED | SSH_CLOSED_ERROR)) && ssh_is_connected(session_)) return true;
    std::string err = ssh_get_error(session_);
    close(err.empty() ? "client disconnected" : "client disconnected: " + err);
    return false;
}

void ServerSession::after_pump(bool more) {
    corked_.flush();
    if (!check_alive()) return;
    windows_.refresh_path(std::chrono::steady_clock::now());  // status, even while idle
    if (counter_in_.in_packets != last_in_packets_) {
        last_in_packets_ = counter_in_.in_packets;
        service_reverse();
        if (phase_ == Phase::closed) return;
    }
    service_session_channels();
    refill_budget();
    service_stalled();
    corked_.flush();  // what servicing channels delivered
    if (phase_ == Phase::closed || !check_alive()) return;
    // Servicing channels may have made libssh read: what it left buffered needs a pump,
    // not a wait for the kernel.
    if (more || ssh::read_ahead_buffered(fd_) > 0) {
        pump_posted_ = true;
        asio::post(io_, [w = weak_from_this()] {
            if (auto self = w.lock()) {
                self->pump_posted_ = false;
                self->pump();
            }
        });
    } else {
        arm_read();
    }
    if (ssh_get_status(session_) & SSH_WRITE_PENDING) arm_write();
}

void ServerSession::after_io() {
    corked_.flush();
    if (phase_ != Phase::up && phase_ != Phase::auth) return;
    if (!check_alive()) return;
    refill_budget();
    if (ssh_get_status(session_) & SSH_WRITE_PENDING) arm_write();
    // A pump also reaps the retired channels (only safe right after the queue is emptied).
    if (!pump_posted_ && (counter_in_.in_packets != last_in_packets_ || reaper_.reap_due() ||
                          ssh::fd_ready_now(fd_, POLLIN))) {
        pump_posted_ = true;
        asio::post(io_, [w = weak_from_this()] {
            if (auto self = w.lock()) {
                self->pump_posted_ = false;
                self->pump();
            }
        });
    }
}

void ServerSession::refill_budget() {
    if (out_budget_ < kOutBudget && !(ssh_get_status(session_) & SSH_WRITE_PENDING))
        out_budget_ = kOutBudget;
}

void ServerSession::count_bytes(uint64_t in, uint64_t out) {
    info_->bytes_in += in;
    info_->bytes_out += out;
}

void ServerSession::add_stalled(const std::shared_ptr<ssh::ChannelBridge>& c) {
    if (c->on_stalled_list()) return;
    c->on_stalled_list() = true;
    stalled_.push_back(c);
}

void ServerSession::service_stalled() {
    if (stalled_.empty() || out_budget_ == 0) return;
    std::vector<std::weak_ptr<ssh::ChannelBridge>> list;
    list.swap(stalled_);
    for (auto& w : list) {
        auto c = w.lock();
        if (!c) continue;
        c->on_stalled_list() = false;
        if (phase_ != Phase::up) return;
        c->resume_up();
    }
}

void ServerSession::release_bridge(const std::shared_ptr<ssh::ChannelBridge>& c) {
    // Never free inside a libssh callback or call: defer to a fresh handler.
    asio::post(io_, [w = weak_from_this(), c] {
        auto self = w.lock();
        if (!self || self->phase_ == Phase::closed || !c->channel()) return;
        if (self->channels_.erase(c.get()) > 0) --self->info_->channels;
        ssh_channel ch = c->channel();
        c->detach_for_teardown();  // removes callbacks first (0.10 use-after-free)
        ssh::LogScope scope(self->log_);
        self->reaper_.retire(ch);  // CLOSE now, freed once the client's CLOSE is in
        self->after_io();
    });
}

size_t ServerSession::channel_count() const {
    return channels_.size() + opens_.size() + reverse_.size() + session_channels_.size() +
           reaper_.retired();
}

void ServerSession::sweep_idle() {
    if (phase_ != Phase::up) return;
    auto limit = std::chrono::seconds(shared_->profile.limits.idle_timeout_s);
    auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<ssh::ChannelBridge>> idle;
    for (auto& [_, c] : channels_)
        if (c->attached() && now - c->last_activity() >= limit) idle.push_back(c);
    for (auto& c : idle)
        c->finish("idle for " + std::to_string(limit.count()) + " s (limits.idle_timeout)");
    idle_.expires_after(std::min<std::chrono::seconds>(limit, std::chrono::seconds(5)));
    idle_.async_wait([w = weak_from_this()](asio::error_code ec) {
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
                        {"bytes_in", info_->bytes_in.load()},
                        {"bytes_out", info_->bytes_out.load()}});
    // Drop our own reference from a fresh handler, not under our own member call.
    asio::post(io_, [s = std::move(self_)] {});
}

void ServerSession::teardown() {
    if (phase_ == Phase::closed && !session_) return;
    phase_ = Phase::closed;
    grace_.cancel();
    idle_.cancel();
    asio::error_code ec;
    windows_.set_path_fd(-1);
    watch_.close(ec);
    conn_.path_fd.reset();
    for (auto& [_, f] : forwards_) f->close();
    forwards_.clear();
    for (auto& [_, c] : channels_) c->detach_for_teardown();
    channels_.clear();
    for (auto& r : reverse_) r->channel->detach_for_teardown();
    reverse_.clear();
    session_channels_.clear();  // freed with the session
    to_explain_.clear();
    for (auto& [_, o] : opens_) ssh_message_free(o.msg);  // before the session they belong to
    opens_.clear();
    reaper_.clear();
    info_->channels = 0;
    if (session_) {
        if (event_) ssh_event_free(event_);
        event_ = nullptr;
        ssh::read_ahead_detach(fd_);
        ssh_disconnect(session_);
        ssh_free(session_);
        session_ = nullptr;
    }
    conn_.fd.reset();  // only set when libssh never took it
    slot_.release();
    if (reserved_) shared_->release_session();
    reserved_ = false;
    shared_->remove(info_->id);
}

}  // namespace ghost::daemon::server
