#include "daemon/ssh/client_session.hpp"

#include <fcntl.h>

#include <cstring>

#include <libssh/server.h>

#include "daemon/ssh/channel_bridge.hpp"
#include "daemon/ssh/ssh_log.hpp"

namespace ghost::daemon::ssh {
namespace {

constexpr size_t kMaxQueuedOpens = 4096;
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
    : Connection(io, std::move(logger), cfg.window, stats),
      cfg_(std::move(cfg)),
      stats_(std::move(stats)),
      events_(std::move(events)),
      deadline_(io),
      keepalive_(io),
      sweep_(io) {
    server_label_ = join_host_port(cfg_.host, cfg_.port);
    quickack_small_reads_ = true;
}

ClientSession::~ClientSession() {
    teardown();
}

std::weak_ptr<ClientSession> ClientSession::weak_self() {
    return std::static_pointer_cast<ClientSession>(weak_from_this().lock());
}

// ---------------------------------------------------------------- handshake

void ClientSession::start(core::UniqueFd fd, core::UniqueFd path_fd) {
    LogScope scope(log_);
    fd_ = std::move(fd);
    std::string why;
    if (!configure(&why)) return end({why, true});
    if (!watch(fd_.get(), std::move(path_fd), &why)) return end({why, false});
    phase_ = Phase::connecting;
    deadline_.expires_after(cfg_.handshake_timeout);
    deadline_.async_wait([w = weak_self()](asio::error_code ec) {
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

void ClientSession::become_up() {
    deadline_.cancel();
    if (!start_running()) return end({"cannot register SSH session for polling", false});
    last_rx_ = std::chrono::steady_clock::now();
    rx_seen_packets_ = inbound_packets();
    ssh_set_message_callback(session_, &ClientSession::on_message, this);
    attach_read_ahead();
    phase_ = Phase::up;
    log_.info("SSH session to ", server_label_, " up (host key ", host_fp_, ")");
    on_keepalive_tick();
    sweep_open_deadlines();
    if (events_.up) events_.up();
    if (phase_ != Phase::up) return;
    if (cfg_.datagrams) open_datagrams();
    while (!queued_opens_.empty() && opening_.size() < cfg_.max_opening) {
        auto op = std::move(queued_opens_.front());
        queued_opens_.pop_front();
        open_direct(std::move(op->req), std::move(op->cb));
    }
    pump();
}

// ---------------------------------------------------------------- engine hooks

void ClientSession::on_packets() {
    note_inbound(std::chrono::steady_clock::now());
    service_opens();
    if (phase_ != Phase::up) return;
    service_datagram_open();
    if (phase_ != Phase::up) return;
    service_global_request();
}

void ClientSession::lost(Loss how, const std::string& libssh_error) {
    std::string why = "connection to " + server_label_ + " lost";
    if (how == Loss::poll_error || !libssh_error.empty()) why += ": " + libssh_error;
    end({why, false});
}

void ClientSession::free_channel(ssh_channel ch) {
    ssh_channel_free(ch);
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
    if (bridges().size() + opening_.size() >= cfg_.max_channels) {
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
        asio::post(io_, [w = weak_self()] {
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
        adopt(bridge);
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
    service_datagram_open();  // its deadline
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
    sweep_.async_wait([w = weak_self()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->sweep_open_deadlines();
    });
}

// ---------------------------------------------------------------- datagram channel

void ClientSession::open_datagrams() {
    LogScope scope(log_);
    ssh_channel ch = ssh_channel_new(session_);
    if (!ch) {
        if (events_.datagram_channel) events_.datagram_channel(nullptr, "cannot create channel");
        return;
    }
    auto d =
        std::make_shared<DatagramChannel>(*this, ch, WindowTuner::kOpenedWindow, stats_->datagrams);
    auto w = weak_self();
    d->start(
        [w](udp::Datagram dg) {
            if (auto self = w.lock(); self && self->events_.datagram)
                self->events_.datagram(std::move(dg));
        },
        [w](const udp::Hello& h) {
            if (auto self = w.lock(); self && self->events_.datagram_hello)
                self->events_.datagram_hello(h);
        });
    datagram_open_ = std::make_unique<DatagramOpen>(
        session_, std::move(d), std::chrono::steady_clock::now() + cfg_.open_timeout);
    service_datagram_open();
    after_io();
}

void ClientSession::service_datagram_open() {
    if (!datagram_open_) return;
    LogScope scope(log_);
    auto r = datagram_open_->step();
    if (r == DatagramOpen::Result::pending) return;
    auto open = std::move(datagram_open_);
    if (r == DatagramOpen::Result::refused) {
        log_.notice("no datagram channel: ", open->why());
        if (events_.datagram_channel) events_.datagram_channel(nullptr, open->why());
        return;
    }
    auto d = open->take();
    adopt_datagrams(d);
    log_.info("datagram channel up");
    if (events_.datagram_channel) events_.datagram_channel(std::move(d), {});
}

void ClientSession::datagrams_ended(const std::string& why) {
    if (events_.datagram_channel) events_.datagram_channel(nullptr, why);
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
    if (!target || bridges().size() >= cfg_.max_channels) {
        log_.notice("rejecting forwarded connection to ", addr, ":", port, " from ", origin);
        return 1;
    }
    ssh_channel ch = ssh_message_channel_request_open_reply_accept(msg);
    if (!ch) return 0;
    auto bridge = std::make_shared<ChannelBridge>(*this, ch, "R " + target->str(),
                                                  WindowTuner::kAcceptedWindow);
    bridge->install_callbacks();
    adopt(bridge);
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
    keepalive_.async_wait([w = weak_self()](asio::error_code ec) {
        if (auto self = w.lock(); self && !ec) self->on_keepalive_tick();
    });
}

void ClientSession::note_inbound(std::chrono::steady_clock::time_point now) {
    if (inbound_packets() == rx_seen_packets_) return;
    rx_seen_packets_ = inbound_packets();
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
    stop_watching();
    auto opening = std::move(opening_);
    auto queued = std::move(queued_opens_);
    auto forwards = requests_.take_forwards();
    for (auto& op : opening) op->bridge->detach_for_teardown();
    datagram_open_.reset();
    if (session_) {
        ssh_set_message_callback(session_, nullptr, nullptr);
        // We close the fd only if libssh did not (it does on fatal errors).
        bool fd_still_open = !fd_given_ || ssh_get_fd(session_) != SSH_INVALID_SOCKET;
        free_session();
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
