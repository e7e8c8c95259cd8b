#pragma once
/// The seam between the profile manager (control plane) and the data plane.
/// A Runner brings one profile's data plane up and down: the client runner (SSH session,
/// SOCKS/HTTP/forwards, later TUN) or the server runner (listeners, sessions).
/// It lives in core/ so that client/ and server/ (which implement it) and profile/
/// (which drives it) both depend on it downwards.
///
/// Threading: the manager calls start()/stop()/status() on the control thread. A runner
/// does its work on worker io_contexts and reports back through RunnerContext::report,
/// which may be called from any thread (it posts to the control thread).

#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "daemon/core/log.hpp"
#include "daemon/core/profile_state.hpp"
#include "daemon/core/worker_pool.hpp"

namespace ghost::daemon {

/// Directories the daemon was started with.
struct Paths {
    std::string config_dir;   // ghostd.json, profiles/
    std::string runtime_dir;  // ghostd.sock
    std::string state_dir;    // generated keys: <state_dir>/<profile>/...
};

/// What a runner gets from the manager.
struct RunnerContext {
    asio::io_context& control;  // control thread
    WorkerPool& workers;
    config::Profile profile;  // a copy: the runner owns its view of the config
    Paths paths;
    log::Logger log;
    /// Report a state change with a reason ("connection refused to 127.0.0.1:2222").
    /// Thread-safe; delivered on the control thread in call order.
    std::function<void(ProfileState, std::string reason)> report;
    /// Publish an event (e.g. {"type":"session.connected",...}). Thread-safe.
    std::function<void(nlohmann::json event)> event;
    /// Started by autostart: a passing failure of the first connection is retried like
    /// a lost session instead of ending in `failed`.
    bool retry_first_attempt = false;
};

class Runner {
  public:
    virtual ~Runner() = default;
    /// Begins bringing the profile up; progress arrives through RunnerContext::report
    /// (connecting, authenticating, up, reconnecting, failed).
    virtual void start() = 0;
    /// Tears everything down; `done` is called on the control thread when finished.
    /// Must be safe to call in any state, including before start() and twice.
    virtual void stop(std::function<void()> done) = 0;
    /// Runtime details merged into profile.status (listeners, stats, public key ...).
    /// Called on the control thread; must not block on workers.
    virtual nlohmann::json status() const = 0;
    /// Server role: list of live sessions; clients return an empty array.
    virtual nlohmann::json sessions() const { return nlohmann::json::array(); }
    /// Server role: closes one session; false when no such id.
    virtual bool kick(const std::string& /*id*/) { return false; }
    /// Reload of a running profile whose file did not change but whose referenced files
    /// may have (server: authorized_keys, TLS cert). Default: nothing.
    virtual void reload() {}
};

}  // namespace ghost::daemon
