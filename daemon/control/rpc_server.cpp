#include "daemon/control/rpc_server.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/text/printable_json.hpp"
#include "daemon/control/rpc_connection.hpp"
#include "daemon/core/log.hpp"

namespace ghost::daemon {

namespace {
using stream = asio::local::stream_protocol;
using Verdict = rpc::SlotPool::Verdict;

// A refusal is logged at most this often (with the count since the last line), so a user
// hammering the socket cannot flood the journal.
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);

std::optional<gid_t> lookup_group(const std::string& name) {
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* res = nullptr;
    if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &res) != 0 || !res)
        return std::nullopt;
    return res->gr_gid;
}

/// SO_PEERCRED plus the peer process's supplementary groups (SO_PEERGROUPS), so the
/// decision follows the caller's actual credentials, like file permissions do.
rpc::Caller peer_caller(int fd) {
    rpc::Caller c;
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return c;
    c.uid = cred.uid;
    c.gid = cred.gid;
    c.pid = cred.pid;
    std::vector<gid_t> groups(64);
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0 && errno == ERANGE &&
        glen <= 65536 * sizeof(gid_t)) {
        groups.resize(glen / sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) != 0) glen = 0;
    }
    groups.resize(glen / sizeof(gid_t));
    c.groups = std::move(groups);
    return c;
}
}  // namespace

RpcServer::RpcServer(asio::io_context& control, CoreApi& api, std::string socket_path,
                     Limits limits, std::string control_group)
    : control_(control),
      api_(api),
      path_(std::move(socket_path)),
      limits_(limits),
      group_(std::move(control_group)),
      acceptor_(control),
      clients_({limits.max_clients, limits.reserved_clients, limits.max_clients_per_uid}),
      subscriptions_({rpc::SlotPool::kUnlimited, 0, limits.max_subscriptions_per_uid}),
      requests_({rpc::SlotPool::kUnlimited, 0, limits.max_requests_per_uid}) {}

RpcServer::~RpcServer() {
    stop();
}

bool RpcServer::start(std::string* error) {
    // A live daemon answering on the path wins; a stale socket file is replaced.
    {
        stream::socket probe(control_);
        asio::error_code ec;
        probe.connect(stream::endpoint(path_), ec);
        if (!ec) {
            *error = "another ghostd is already listening on " + path_;
            return false;
        }
        ::unlink(path_.c_str());
    }
    if (auto ec = acceptor_.open(stream::endpoint(path_))) {
        *error = "cannot listen on " + path_ + ": " + ec.message();
        return false;
    }
    ::chmod(path_.c_str(), 0666);  // world-connectable; authorisation is per request
    control_gid_ = lookup_group(group_);
    if (clients_.unprivileged_share() == 0)
        log::global().warning("control: rpc.reserved_clients (", limits_.reserved_clients,
                              ") leaves no connections for users outside group ", group_);
    events_ = api_.subscribe([this](const nlohmann::json& event) { broadcast(event); });
    acceptor_.start([this](stream::socket s) { admit(std::move(s)); },
                    {.what = "control: accept", .log = log::global()});
    return true;
}

void RpcServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (events_) api_.unsubscribe(*events_);
    events_.reset();
    acceptor_.close();
    ::unlink(path_.c_str());
    auto conns = connections_;
    for (auto& c : conns) c->close();
}

void RpcServer::set_control_group(std::string group) {
    group_ = std::move(group);
    control_gid_ = lookup_group(group_);
}

void RpcServer::admit(stream::socket socket) {
    RpcPeer peer;
    peer.caller = peer_caller(socket.native_handle());
    peer.privileged = rpc::privileged(peer.caller, control_gid_);
    Verdict v = clients_.acquire(peer.caller.uid, peer.privileged);
    if (v != Verdict::granted)
        return refuse(socket, clients_.refusal(v, "control connections", peer.caller.uid));
    auto c = std::make_shared<RpcConnection>(*this, std::move(socket), std::move(peer));
    connections_.insert(c);
    c->start();
}

void RpcServer::refuse(stream::socket& socket, const std::string& message) {
    const int fd = socket.native_handle();
    const auto line = answer_line(rpc::make_error(nullptr, errc::too_many_clients, message));
    // One try that never blocks, then the descriptor is given back at once. Reading what the
    // client already sent first lets it see our line and a clean end instead of a reset.
    char scratch[4096];
    [[maybe_unused]] ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    n = ::send(fd, line->data(), line->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    asio::error_code ec;
    socket.close(ec);
    note_refusal(message);
}

void RpcServer::note_refusal(const std::string& message) {
    ++refused_;
    const auto now = std::chrono::steady_clock::now();
    if (refusal_logged_ != std::chrono::steady_clock::time_point{} &&
        now - refusal_logged_ < kRefusalLogInterval)
        return;
    log::global().warning("control: refused ", refused_, " connection(s) since the last report; ",
                          "latest: ", message);
    refused_ = 0;
    refusal_logged_ = now;
}

void RpcServer::forget(const std::shared_ptr<RpcConnection>& c) {
    auto it = std::find(subscribers_.begin(), subscribers_.end(), c);
    if (it != subscribers_.end()) subscribers_.erase(it);
    connections_.erase(c);
}

void RpcServer::broadcast(const nlohmann::json& event) {
    if (subscribers_.empty()) return;
    // Serialised once; every subscriber queues the same line.
    const auto line = answer_line(rpc::make_notification("event", event));
    const auto targets = subscribers_;  // a send may drop a subscriber that does not read
    for (const auto& c : targets) c->send(line);
}

void RpcServer::request_done(uid_t uid, bool privileged) {
    const bool was_full = !privileged && requests_.held_by(uid) >= limits_.max_requests_per_uid;
    requests_.release(uid, privileged);
    if (!was_full) return;
    std::vector<std::shared_ptr<RpcConnection>> paused;
    for (const auto& c : connections_)
        if (c->uid() == uid && !c->privileged()) paused.push_back(c);
    for (const auto& c : paused) c->resume();
}

}  // namespace ghost::daemon
