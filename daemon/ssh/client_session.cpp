#include "daemon/ssh/client_session.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>

#include <libssh/server.h>

#include "daemon/ssh/channel_bridge.hpp"
#include "daemon/ssh/event_drain.hpp"
#include "daemon/ssh/read_ahead.hpp"
#include "daemon/ssh/ssh_log.hpp"

namespace ghost::daemon::ssh {
namespace {

constexpr int kMaxPollsPerPump = 64;            // ~256 KiB of input, then yield
constexpr size_t kOutBudget = 2 * 1024 * 1024;  // session output queued between drains
constexpr size_t kMaxQueuedOpens = 4096;
constexpr uint64_t kQuickAckBelow = 32 * 1024;  // bytes read by one pump
constexpr const char* kDefaultCiphers =
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,"
    "aes128-ctr,aes256-ctr";

bool set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

std::string join_host_port(const std::string& host, uint16_t port) {
    return net::Endpoint{host, port}.str();
}

}  // namespace

/// A direct-tcpip open waiting for CHANNEL_OPEN_CONFIRMATION / FAILURE.
struct ClientSession::PendingOpen {
    OpenRequest req;
    ChannelOpener::OpenCallback cb;         // empty once answered (timeout)
    std::shared_ptr<ChannelBridge> bridge;  // null while only queued locally
    std::chrono::steady_clock::time_point deadline;
};

ClientSession::ClientSession(asio::io_context& io, ClientSessionConfig cfg, log::Logger logger,
                             std::shared_ptr<SessionStats> stats, SessionEvents events)
    : io_(io),
      cfg_(std::move(cfg)),
      log_(std::move(logger)),
      stats_(std::move(stats)),
      events_(std::move(events)),
      watch_(io),
      deadline_(io),
      keepalive_(io),
      out_budget_(kOutBudget),
      scratch_(64 * 1024),
      windows_(cfg_.window, std::shared_ptr<WindowStats>(stats_, &stats_->windows)),
      sweep_(io) {
    server_label_ = join_host_port(cfg_.host, cfg_.port);
}

ClientSession::~ClientSession() {
    teardown();
}

// ---------------------------------------------------------------- handshake

void ClientSession::start(core::UniqueFd fd, core::UniqueFd path_fd) {
    LogScope scope(log_);
    fd_ = std::move(fd);
    path_fd_ = std::move(path_fd);
    std::string why;
    if (!configure(&why)) return end({why, true});
    watch_.assign(::dup(fd_.get()));
    windows_.set_path_fd(path_fd_ ? path_fd_.get() : watch_.native_handle());
    phase_ = Phase::connecting;
    deadline_.expires_after(cfg_.handshake_timeout);
    deadline_.async_wait([w = weak_from_this()](asio::error_code ec) {
        auto self = w.lock();
        if (ec || !self || self->phase_ == Phase::up || self->phase_ == Phase::closed) return;
        const char* what = self->phase_ == Phase::connecting ? "SSH handshake" : "authentication";
        self->end({std::string(what) + " with " + self->server_label_ + " timed out after " +
                       std::to_string(self->cfg_.handshake_timeout.count() / 1000) + " s",
                   false});
    });
    step_handshake();
}

bool ClientSession::configure(std::string* why) {
    if (fd_.get() > 65535) {
        *why = "transport fd " + std::to_string(fd_.get()) + " too large for libssh";
        return false;
    }
    session_ = ssh_new();
    if (!session_) {
        *why = "out of memory creating SSH session";
        return false;
    }
    bool no = false;
    unsigned int port = cfg_.port;
    socket_t sfd = fd_.get();
    std::string ciphers = cfg_.ciphers.empty() ? kDefaultCiphers : cfg_.ciphers;
    ssh_options_set(session_, SSH_OPTIONS_PROCESS_CONFIG, &no);
    ssh_options_set(session_, SSH_OPTIONS_HOST, cfg_.host.c_str());
    ssh_options_set(session_, SSH_OPTIONS_PORT, &port);
    ssh_options_set(session_, SSH_OPTIONS_USER, cfg_.user.c_str());
    ssh_options_set(session_, SSH_OPTIONS_COMPRESSION, "no");
    if (ssh_options_set(session_, SSH_OPTIONS_CIPHERS_C_S, ciphers.c_str()) != SSH_OK ||
        ssh_options_set(session_, SSH_OPTIONS_CIPHERS_S_C, ciphers.c_str()) != SSH_OK) {
        *why = "ssh.ciphers not supported by libssh: " + ciphers;
        return false;
    }
    if (!prepare_host_key_options(session_, cfg_.host_key, why)) return false;
    ssh_options_set(session_, SSH_OPTIONS_FD, &sfd);
    fd_given_ = true;
    ssh_set_blocking(session_, 0);
    return true;
}

void ClientSession::step_handshake() {
    if (phase_ == Phase::connecting)
        step_connect();
    else if (phase_ == Phase::authenticating)
        step_auth();
}

void ClientSession::step_connect() {
    LogScope scope(log_);
    int rc = ssh_connect(session_);
    if (rc == SSH_AGAIN) return wait_handshake_io();
    if (rc != SSH_OK) {
        std::string err = ssh_get_error(session_);
        std::string hint;
        const char* banner = ssh_get_serverbanner(session_);
        if (!banner || std::strncmp(banner, "SSH-", 4) != 0 ||
            err.find("banner") != std::string::npos || err.find("rotocol") != std::string::npos) {
            hint = banner ? " (server banner \"" + std::string(banner).substr(0, 60) + "\""
                          : " (no SSH banner received";
            hint += "; is " + server_label_ + " an SSH server?)";
        }
        return end({"SSH handshake with " + server_label_ + " failed: " + err + hint, false});
    }
    // libssh cleared O_NONBLOCK on our fd during connect (libssh-0.10.md trap).
    set_nonblocking(fd_.get());
    std::string known_name =
        cfg_.port == 22 ? cfg_.host : "[" + cfg_.host + "]:" + std::to_string(cfg_.port);
    HostKeyVerdict v = verify_host_key(session_, cfg_.host_key, server_label_, known_name);
    host_fp_ = v.fingerprint;
    if (!v.ok) return end({v.message, true});
    phase_ = Phase::authenticating;
    if (events_.authenticating) events_.authenticating();
    if (phase_ == Phase::authenticating) step_auth();
}

void ClientSession::step_auth() {
    LogScope scope(log_);
    int rc = cfg_.agent ? ssh_userauth_agent(session_, nullptr)
                        : ssh_userauth_publickey(session_, nullptr, cfg_.identity.key.get());
    if (rc == SSH_AUTH_AGAIN) return wait_handshake_io();
    if (rc == SSH_AUTH_SUCCESS) return become_up();
    if (rc == SSH_AUTH_ERROR) {
        return end({"authentication with " + server_label_ + " failed: " + ssh_get_error(session_),
                    false});
    }
    std::string key = cfg_.agent ? "keys from ssh-agent" : "key " + cfg_.identity.fingerprint;
    end({"authentication rejected by server for user " + cfg_.user + " (" + key +
             "); add the public key to the server's authorized_keys",
         true});
}

void ClientSession::wait_handshake_io() {
    // libssh reads at most 4 KiB per call: if more is buffered in the kernel, no new
    // edge would wake us, so step again instead of waiting.
    if (fd_ready_now(fd_.get(), POLLIN)) {
        asio::post(io_, [w = weak_from_this()] {
            if (auto self = w.lock()) self->step_handshake();
        });
        return;
    }
    arm_read();
    if (ssh_get_poll_flags(session_) & SSH_WRITE_PENDING) arm_write();
}

void ClientSession::become_up() {
    deadline_.cancel();
    event_ = ssh_event_new();
    if (!event_ || ssh_event_add_session(event_, session_) != SSH_OK) {
        return end({"cannot register SSH session for polling", false});
    }
    ssh_set_counters(session_, &counter_out_, &counter_in_);
    last_rx_ = std::chrono::steady_clock::now();
    rx_seen_packets_ = counter_in_.in_packets;
    ssh_set_message_callback(session_, &ClientSession::on_message, this);
    // From here on every read goes through pump()/after_io(), which look at what is
    // buffered before waiting for the kernel.
    read_ahead_attach(fd_.get(), session_);
    phase_ = Phase::up;
    log_.info("SSH session to ", server_label_, " up (host key ", host_fp_, ")");
    on_keepalive_tick();
    sweep_open_deadlines();
    if (events_.up) events_.up();
    if (phase_ != Phase::up) return;
    while (!queued_opens_.empty() && opening_.size() < cfg_.max_opening) {
        auto op = std::move(queued_opens_.front());
        queued_opens_.pop_front();
        open_direct(std::move(op->req), std::move(op->cb));
    }
    pump();
}

// ---------------------------------------------------------------- readiness

void ClientSession::arm_read() {
    if (read_armed_ || phase_ == Phase::closed) return;
    read_armed_ = true;
    watch_.async_wait(asio::posix::descriptor_base::wait_read,
                      [w = weak_from_this()](asio::error_code ec) {
                          auto self = w.lock();
                          if (!self) return;
                          self->read_armed_ = false;
                          if (ec) return;
                          if (self->phase_ == Phase::up)
                              self->pump();
                          else
                              self->step_handshake();
                      });
}

void ClientSession::arm_write() {
    if (write_armed_ || phase_ == Phase::closed) return;
    write_armed_ = true;
    watch_.async_wait(asio::posix::descriptor_base::wait_write,
                      [w = weak_from_this()](asio::error_code ec) {
                          auto self = w.lock();
                          if (!self) return;
                          self->write_armed_ = false;
                          if (ec) return;
                          if (self->phase_ == Phase::up)
                              self->pump();
                          else
                              self->step_handshake();
                      });
}

void ClientSession::after_io() {
    corked_.flush();
    if (phase_ != Phase::up) return;
    if (!check_alive()) return;
    refill_budget();
    if (ssh_get_status(session_) & SSH_WRITE_PENDING) arm_write();
    // A libssh call may have consumed only part of the input, or handled packets
    // (open confirmations, window adjusts) outside pump(): let a pump deal with it.
    if (!pump_posted_ &&
        (counter_in_.in_packets != last_in_packets_ || fd_ready_now(fd_.get(), POLLIN))) {
        pump_posted_ = true;
        asio::post(io_, [w = weak_from_this()] {
            if (auto self = w.lock()) {
                self->pump_posted_ = false;
                self->pump();
            }
        });
    }
}

// ---------------------------------------------------------------- pump

void ClientSession::pump() {
    if (phase_ != Phase::up) return;
    LogScope scope(log_);
    auto r = drain_event(event_, kMaxPollsPerPump);
    if (r == DrainResult::error) {
        // The session may be half gone (libssh-0.10.md): touch nothing but teardown.
        return end({"connection to " + server_label_ + " lost: " + ssh_get_error(session_), false});
    }
    after_pump(r == DrainResult::more);
}

bool ClientSession::check_alive() {
    int st = ssh_get_status(session_);
    if (!(st & (SSH_CLOSED | SSH_CLOSED_ERROR)) && ssh_is_connected(session_)) return true;
    std::string err = ssh_get_error(session_);
    end({"connection to " + server_label_ + " lost" + (err.empty() ? "" : ": " + err), false});
    return false;
}

bool ClientSession::input_pending() const {
    return fd_ && read_ahead_buffered(fd_.get()) > 0;
}

void ClientSession::add_corked(const std::shared_ptr<ChannelBridge>& b) {
    corked_.add(b);
}

void ClientSession::after_pump(bool more) {
    corked_.flush();
    if (!check_alive()) return;
    windows_.refresh_path(std::chrono::steady_clock::now());  // status, even while idle
    // Small inbound messages (a channel-open confirmation, then the first data of the new
    // flow) are answered by servers that leave Nagle on (OpenSSH's sshd for non-tty
    // sessions): its second segment waits for our ACK, which delayed ACK holds ~40 ms.
    // Acknowledge at once while traffic is light; bulk transfers keep delayed ACKs.
    uint64_t in = counter_in_.in_bytes;
    if (in != quickack_in_bytes_) {
        if (in - quickack_in_bytes_ < kQuickAckBelow) {
            int one = 1;
            ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        quickack_in_bytes_ = in;
    }
    if (counter_in_.in_packets != last_in_packets_) {
        last_in_packets_ = counter_in_.in_packets;
        note_inbound(std::chrono::steady_clock::now());
        service_opens();
        if (phase_ != Phase::up) return;
        service_global_request();
        if (phase_ != Phase::up) return;
    }
    refill_budget();
    service_stalled();
    corked_.flush();  // what servicing channels delivered
    if (phase_ != Phase::up || !check_alive()) return;
    // Servicing channels may have made libssh read: what it left buffered needs a pump,
    // not a wait for the kernel.
    if (more || read_ahead_buffered(fd_.get()) > 0) {
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

void ClientSession::consume_out(size_t n) {
    out_budget_ = n >= out_budget_ ? 0 : out_budget_ - n;
}

void ClientSession::count_bytes(uint64_t in, uint64_t out) {
    stats_->bytes_in += in;
    stats_->bytes_out += out;
}

void ClientSession::refill_budget() {
    if (out_budget_ < kOutBudget && !(ssh_get_status(session_) & SSH_WRITE_PENDING)) {
        out_budget_ = kOutBudget;
    }
}

void ClientSession::add_stalled(const std::shared_ptr<ChannelBridge>& b) {
    if (b->on_stalled_list()) return;
    b->on_stalled_list() = true;
    stalled_.push_back(b);
}

void ClientSession::service_stalled() {
    if (stalled_.empty() || out_budget_ == 0) return;
    std::vector<std::weak_ptr<ChannelBridge>> list;
    list.swap(stalled_);
    for (auto& w : list) {
        auto b = w.lock();
        if (!b) continue;
        b->on_stalled_list() = false;
        if (phase_ != Phase::up) return;
        b->resume_up();
    }
}

void ClientSession::release_bridge(const std::shared_ptr<ChannelBridge>& b) {
    // Never free inside a libssh callback or call: defer to a fresh handler.
    asio::post(io_, [w = weak_from_this(), b] {
        auto self = w.lock();
        if (!self || self->phase_ == Phase::closed || !b->channel()) return;
        if (self->bridges_.erase(b.get()) > 0) --self->stats_->channels_open;
        ssh_channel ch = b->channel();
        b->detach_for_teardown();  // removes callbacks first (0.10 use-after-free)
        ssh_channel_free(ch);
        self->after_io();
    });
}

// ---------------------------------------------------------------- direct-tcpip

void ClientSession::open_direct(OpenRequest req, ChannelOpener::OpenCallback cb) {
    auto fail_later = [this, &cb](ghost::proxy::OpenFailure f, std::string msg) {
        asio::post(io_, [cb = std::move(cb), f, msg = std::move(msg)] {
            cb(OpenOutcome::fail(f, msg), {});
        });
    };
    if (phase_ == Phase::closed)
        return fail_later(ghost::proxy::OpenFailure::no_session, "SSH session closed");
    if (bridges_.size() + opening_.size() >= cfg_.max_channels) {
        return fail_later(ghost::proxy::OpenFailure::resource_shortage,
                          "too many channels (" + std::to_string(cfg_.max_channels) + ")");
    }
    auto op = std::make_unique<PendingOpen>();
    op->req = std::move(req);
    op->cb = std::move(cb);
    op->deadline = std::chrono::steady_clock::now() + cfg_.open_timeout;
    if (phase_ != Phase::up || opening_.size() >= cfg_.max_opening) {
        if (queued_opens_.size() >= kMaxQueuedOpens) {
            return asio::post(io_, [cb = std::move(op->cb)] {
                cb(OpenOutcome::fail(ghost::proxy::OpenFailure::resource_shortage,
                                     "too many pending channel opens"),
                   {});
            });
        }
        queued_opens_.push_back(std::move(op));
        return;
    }
    LogScope scope(log_);
    ssh_channel ch = ssh_channel_new(session_);
    if (!ch) return fail_later(ghost::proxy::OpenFailure::general, "cannot create channel");
    op->bridge = std::make_shared<ChannelBridge>(
        *this, ch, join_host_port(op->req.host, op->req.port), WindowTuner::kOpenedWindow);
    op->bridge->install_callbacks();
    int rc = ssh_channel_open_forward(ch, op->req.host.c_str(), op->req.port,
                                      op->req.origin_host.c_str(), op->req.origin_port);
    opening_.push_back(std::move(op));
    if (rc != SSH_AGAIN) {
        // Answered at once (or failed to send): resolve through the common path.
        asio::post(io_, [w = weak_from_this()] {
            if (auto self = w.lock()) self->service_opens();
        });
    }
    after_io();
}

void ClientSession::service_opens() {
    LogScope scope(log_);
    for (size_t i = 0; i < opening_.size() && phase_ == Phase::up;) {
        PendingOpen& op = *opening_[i];
        ssh_channel ch = op.bridge->channel();
        int rc = ssh_channel_is_open(ch)
                     ? SSH_OK
                     : ssh_channel_open_forward(ch, op.req.host.c_str(), op.req.port,
                                                op.req.origin_host.c_str(), op.req.origin_port);
        if (rc == SSH_AGAIN) {
            ++i;
            continue;
        }
        auto owned = std::move(opening_[i]);
        opening_.erase(opening_.begin() + static_cast<ptrdiff_t>(i));
        finish_open(*owned,
                    rc == SSH_OK ? OpenOutcome::success() : classify_open_error(owned->req));
    }
    while (phase_ == Phase::up && !queued_opens_.empty() && opening_.size() < cfg_.max_opening) {
        auto op = std::move(queued_opens_.front());
        queued_opens_.pop_front();
        open_direct(std::move(op->req), std::move(op->cb));
    }
}

void ClientSession::finish_open(PendingOpen& op, OpenOutcome outcome) {
    auto bridge = op.bridge;
    if (outcome.ok()) {
        bridges_.emplace(bridge.get(), bridge);
        ++stats_->channels_open;
        ++stats_->channels_total;
        if (!op.cb) return bridge->finish("requester gave up (open timeout)");
        auto cb = std::move(op.cb);
        cb(std::move(outcome), ChannelHandle(bridge));
        return;
    }
    // Denied channels are freed at once (libssh frees unbound channels immediately).
    ssh_channel ch = bridge->channel();
    bridge->detach_for_teardown();
    ssh_channel_free(ch);
    log_.debug("channel to ", bridge->label(), " failed: ", outcome.message);
    if (op.cb) op.cb(std::move(outcome), {});
}

OpenOutcome ClientSession::classify_open_error(const OpenRequest& req) {
    std::string err = ssh_get_error(session_);
    std::string target = join_host_port(req.host, req.port);
    auto refusal = ghost::proxy::parse_libssh_open_failure(err);
    if (!refusal) {
        return OpenOutcome::fail(ghost::proxy::OpenFailure::general,
                                 "channel to " + target + " failed: " + err);
    }
    return OpenOutcome::fail(
        ghost::proxy::open_failure_from_ssh(refusal->reason_code, refusal->description),
        "server could not open " + target + ": " + refusal->description);
}

void ClientSession::sweep_open_deadlines() {
    if (phase_ != Phase::up) return;
    auto now = std::chrono::steady_clock::now();
    for (auto& op : opening_) {
        if (op->cb && now >= op->deadline) {
            auto cb = std::move(op->cb);
            op->cb = nullptr;
            // The channel stays tracked until the server answers (freeing an opening
            // channel would orphan it on the server).
            cb(OpenOutcome::fail(ghost::proxy::OpenFailure::timeout,
                                 "no answer from server opening " + op->bridge->label()),
               {});
        }
    }
    sweep_.expires_after(std::chrono::seconds(1));
    sweep_.async_wait([w = weak_from_this()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->sweep_open_deadlines();
    });
}

// ---------------------------------------------------------------- remote forwards

void ClientSession::listen_forward(std::string host, uint16_t port, ForwardCallback cb) {
    requests_.add_forward(std::move(host), port, std::move(cb));
    if (phase_ == Phase::up) service_global_request();
    after_io();
}

void ClientSession::service_global_request() {
    LogScope scope(log_);
    const uint64_t answered = requests_.keepalives_answered();
    while (phase_ == Phase::up) {
        auto done = requests_.step(session_);
        if (!done) break;
        const auto& f = done->request;
        if (done->ok) {
            f.cb(true, f.port != 0 ? f.port : done->bound_port, {});
        } else {
            f.cb(false, 0,
                 "server refused to listen on " +
                     join_host_port(f.host.empty() ? "localhost" : f.host, f.port) + ": " +
                     done->error);
        }
    }
    stats_->keepalives_answered += requests_.keepalives_answered() - answered;
}

int ClientSession::on_message(ssh_session, ssh_message msg, void* user) {
    auto* self = static_cast<ClientSession*>(user);
    if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL_OPEN &&
        ssh_message_subtype(msg) == SSH_CHANNEL_FORWARDED_TCPIP) {
        return self->handle_forwarded_open(msg);
    }
    // Nothing may follow our CLOSE on a channel (RFC 4254 5.3): a request that crossed it
    // gets no reply. (Called from inside libssh's packet handling: the channel is alive.)
    if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL &&
        !ssh_channel_is_open(ssh_message_channel_request_channel(msg))) {
        return 0;
    }
    return 1;  // default reply (reject)
}

int ClientSession::handle_forwarded_open(ssh_message msg) {
    std::string addr = ssh_message_channel_request_open_destination(msg);
    int port = ssh_message_channel_request_open_destination_port(msg);
    std::string origin = ssh_message_channel_request_open_originator(msg);
    int origin_port = ssh_message_channel_request_open_originator_port(msg);
    std::optional<net::Endpoint> target;
    if (events_.remote_target) target = events_.remote_target(addr, port);
    if (!target || bridges_.size() >= cfg_.max_channels) {
        log_.notice("rejecting forwarded connection to ", addr, ":", port, " from ", origin);
        return 1;
    }
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (!ch) return 0;
    auto bridge = std::make_shared<ChannelBridge>(*this, ch, "R " + target->str(),
                                                  WindowTuner::kAcceptedWindow);
    bridge->install_callbacks();
    bridges_.emplace(bridge.get(), bridge);
    ++stats_->channels_open;
    ++stats_->channels_total;
    log_.debug("forwarded connection from ", origin, ":", origin_port, " to ", target->str());
    auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
    auto resolver = std::make_shared<asio::ip::tcp::resolver>(io_);
    resolver->async_resolve(
        target->host, std::to_string(target->port),
        [bridge, sock, resolver](asio::error_code ec, asio::ip::tcp::resolver::results_type r) {
            if (ec) return bridge->finish("cannot resolve local target: " + ec.message());
            asio::async_connect(*sock, r, [bridge, sock](asio::error_code ec2, auto&&) {
                if (ec2) return bridge->finish("local target: " + ec2.message());
                bridge->attach(std::move(*sock), {});
            });
        });
    return 0;
}

// ---------------------------------------------------------------- keepalive

// Liveness is any inbound packet: a busy link needs no probe. After `interval` of quiet
// (half of it when count is 1, so that the probe has time to be answered) a probe goes
// out if no global request is in flight (a pending tcpip-forward is a probe too); it is
// sent again each interval while the link stays quiet. The session ends when nothing has
// arrived for interval x count.
void ClientSession::on_keepalive_tick() {
    if (phase_ != Phase::up) return;
    using namespace std::chrono;
    const auto now = steady_clock::now();
    note_inbound(now);
    const nanoseconds interval = seconds(std::max<uint32_t>(1, cfg_.keepalive_interval_s));
    const nanoseconds limit = interval * std::max<uint32_t>(1, cfg_.keepalive_count);
    const nanoseconds probe_after = std::min(interval, limit / 2);
    if (now - last_rx_ >= limit) return end({keepalive_timeout_reason(), false});
    if (now - last_rx_ >= probe_after && requests_.idle()) {
        {
            LogScope scope(log_);
            requests_.start_keepalive(session_);
        }
        ++stats_->keepalives_sent;
        after_io();
        if (phase_ != Phase::up) return;
    }
    auto next = last_rx_ + probe_after;
    while (next <= now) next += interval;
    keepalive_.expires_at(std::min(next, last_rx_ + limit));
    keepalive_.async_wait([w = weak_from_this()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->on_keepalive_tick();
    });
}

void ClientSession::note_inbound(std::chrono::steady_clock::time_point now) {
    if (counter_in_.in_packets == rx_seen_packets_) return;
    rx_seen_packets_ = counter_in_.in_packets;
    last_rx_ = now;
}

std::string ClientSession::keepalive_timeout_reason() const {
    const uint32_t interval = std::max<uint32_t>(1, cfg_.keepalive_interval_s);
    const uint32_t count = std::max<uint32_t>(1, cfg_.keepalive_count);
    return "keepalive timeout: nothing received from server " + server_label_ + " for " +
           std::to_string(interval * count) + " s (keepalive.interval " + std::to_string(interval) +
           " s x keepalive.count " + std::to_string(count) + "; keepalives answered " +
           std::to_string(requests_.keepalives_answered()) + ")";
}

// ---------------------------------------------------------------- teardown

void ClientSession::end(SessionEnd why) {
    if (phase_ == Phase::closed) return;
    log_.info("SSH session to ", server_label_, " ended: ", why.reason);
    teardown();
    if (events_.ended) {
        auto cb = std::move(events_.ended);
        events_.ended = nullptr;
        asio::post(io_, [cb = std::move(cb), why = std::move(why)] { cb(why); });
    }
}

void ClientSession::close() {
    events_.ended = nullptr;
    teardown();
}

void ClientSession::teardown() {
    if (phase_ == Phase::closed && !session_) return;
    phase_ = Phase::closed;
    deadline_.cancel();
    keepalive_.cancel();
    sweep_.cancel();
    asio::error_code ec;
    windows_.set_path_fd(-1);
    watch_.close(ec);
    path_fd_.reset();
    for (auto& [_, b] : bridges_) b->detach_for_teardown();
    bridges_.clear();
    stats_->channels_open = 0;
    auto opening = std::move(opening_);
    auto queued = std::move(queued_opens_);
    auto forwards = requests_.take_forwards();
    for (auto& op : opening) op->bridge->detach_for_teardown();
    if (session_) {
        ssh_set_message_callback(session_, nullptr, nullptr);
        if (event_) ssh_event_free(event_);
        event_ = nullptr;
        read_ahead_detach(fd_.get());
        // Order of libssh-0.10.md: event_free -> disconnect -> free; we close the fd
        // only if libssh did not (it does on fatal errors).
        bool fd_still_open = !fd_given_ || ssh_get_fd(session_) != SSH_INVALID_SOCKET;
        ssh_disconnect(session_);
        ssh_free(session_);
        session_ = nullptr;
        if (!fd_still_open) fd_.release();
    }
    fd_.reset();
    for (auto& list : {&opening, &queued}) {
        for (auto& op : *list) {
            if (!op->cb) continue;
            asio::post(io_, [cb = std::move(op->cb)] {
                cb(OpenOutcome::fail(ghost::proxy::OpenFailure::no_session, "SSH session closed"),
                   {});
            });
        }
    }
    for (auto& f : forwards) {
        asio::post(io_, [cb = std::move(f.cb)] { cb(false, 0, "SSH session closed"); });
    }
}

}  // namespace ghost::daemon::ssh
