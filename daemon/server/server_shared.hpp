#pragma once
/// State one server profile shares between its control-thread runner and its sessions on
/// every worker: policy (immutable or swapped under a lock), admission limits, the libssh
/// bind, and the registry behind server.sessions / server.kick.

#include <libssh/server.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/auth/authorized_keys.hpp"
#include "common/config/model.hpp"
#include "daemon/core/log.hpp"
#include "daemon/core/published.hpp"
#include "daemon/server/outbound.hpp"
#include "daemon/server/startup_limiter.hpp"

namespace ghost::daemon::server {

class ServerSession;

/// What server.sessions shows of one session: published by its worker (the session's
/// publish()), read by the control thread.
struct SessionInfo {
    std::string id;                          // set before the session is registered, then constant
    core::Published<nlohmann::json> status;  // {id, peer, since, authenticated, ...}; null at first
};

struct ServerShared {
    ServerShared() = default;
    ServerShared(const ServerShared&) = delete;
    ServerShared& operator=(const ServerShared&) = delete;
    ~ServerShared();

    config::Profile profile;
    log::Logger log;
    std::function<void(nlohmann::json)> event;  // thread-safe
    std::shared_ptr<const OutboundPolicy> outbound;
    std::shared_ptr<StartupLimiter> startups;
    /// UDP flows of all sessions together (udp.max_flows), shared by their relays.
    std::shared_ptr<std::atomic<uint32_t>> udp_flows = std::make_shared<std::atomic<uint32_t>>(0);

    std::mutex bind_mu;  // ssh_bind_accept_fd reads (and lazily loads) the bind's keys
    ssh_bind bind = nullptr;

    /// Current authorized_keys; swapped by reload.
    std::shared_ptr<const auth::AuthorizedKeys> keys() const;
    void set_keys(std::shared_ptr<const auth::AuthorizedKeys> k);

    /// Authenticated sessions; reserve() fails at limits.max_sessions.
    bool reserve_session();
    void release_session();
    size_t authenticated() const { return authenticated_; }

    struct Registered {
        std::weak_ptr<ServerSession> session;
        asio::io_context* io = nullptr;
        std::shared_ptr<SessionInfo> info;
    };
    void add(const Registered& r);
    void remove(const std::string& id);
    std::vector<Registered> snapshot() const;
    std::string next_id() { return std::to_string(next_id_++); }

  private:
    mutable std::mutex mu_;
    std::shared_ptr<const auth::AuthorizedKeys> keys_;
    std::map<std::string, Registered> sessions_;
    std::atomic<size_t> authenticated_{0};
    std::atomic<uint64_t> next_id_{1};
};

}  // namespace ghost::daemon::server
