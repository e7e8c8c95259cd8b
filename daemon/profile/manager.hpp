#pragma once
/// Owns every profile: loads and reloads them from the config dir, drives each one's state
/// machine (DESIGN.md §5) through its Runner, and publishes events. Control thread only.
/// Its code: manager.cpp (state machine), manager_reload.cpp (loading), manager_status.cpp
/// (queries); the pieces it uses: loader, event_bus, hook_queue, waiters, stats.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/schema.hpp"
#include "daemon/core/runner.hpp"
#include "daemon/profile/event_bus.hpp"
#include "daemon/profile/hook_queue.hpp"
#include "daemon/profile/loader.hpp"
#include "daemon/profile/profile_result.hpp"
#include "daemon/profile/runner_factory.hpp"
#include "daemon/profile/stats.hpp"

namespace ghost::daemon {

enum class RunnerPhase;  // entry.hpp

class ProfileManager {
  public:
    /// What a (re)load did; also the result of daemon.reload.
    struct LoadReport {
        std::vector<std::string> added, removed, changed;
        std::vector<config::Error> errors;
        nlohmann::json to_json() const;
    };

    ProfileManager(asio::io_context& control, WorkerPool& workers, Paths paths);
    ~ProfileManager();

    /// Reads profiles/ and applies differences: new profiles appear, removed ones go down
    /// and disappear, changed ones that are active restart, unchanged active ones reload().
    LoadReport load();
    /// Brings up every valid profile marked autostart.
    void autostart();

    /// Profile names in order.
    std::vector<std::string> names() const;
    bool exists(const std::string& name) const;
    /// {name, role, state, last_error, autostart}
    nlohmann::json list_entry(const std::string& name) const;
    /// Full status including the runner's details.
    nlohmann::json status(const std::string& name) const;

    /// Starts a profile. With wait, replies when it is up or failed; else at once.
    /// `persistent` (autostart, and restarts of such a profile) keeps retrying when the
    /// very first connection fails for a passing reason (network not ready at boot);
    /// an interactive up reports that first failure as `failed` instead.
    void up(const std::string& name, bool wait, ProfileReply reply, bool persistent = false);
    /// Stops a profile; replies when it is down.
    void down(const std::string& name, ProfileReply reply);
    /// Server sessions / kick, delegated to the runner.
    ProfileResult sessions(const std::string& name) const;
    /// A valid profile's configuration (a copy); nullopt when absent or invalid.
    std::optional<config::Profile> profile(const std::string& name) const;
    WorkerPool& workers() { return workers_; }
    asio::io_context& control() { return control_; }
    ProfileResult kick(const std::string& name, const std::string& id);
    /// Stops every profile; `done` runs when all are down.
    void stop_all(std::function<void()> done);

    /// Event subscription (state changes, profile added/removed, stats).
    uint64_t subscribe(EventSink sink);
    void unsubscribe(uint64_t id);
    /// Publishes an event to every subscriber (adds "time").
    void publish(nlohmann::json event);

    const Paths& paths() const { return paths_; }
    size_t active_count() const;

  private:
    struct Entry;  // entry.hpp
    Entry* find(const std::string& name) const;

    // State machine (manager.cpp).
    /// Why `e` (a TUN profile) cannot come up beside the running ones, or "".
    std::string tun_conflict(const Entry& e) const;
    /// Starts the runner, or sets `failed` (false) when this build lacks a feature.
    bool start(Entry& e);
    void start_runner(Entry& e);
    /// Stops the runner; `how` (stopping, restarting, removing) says what follows.
    void stop_runner(Entry& e, RunnerPhase how, std::function<void()> then);
    void runner_stopped(const std::string& name, const std::function<void()>& then);
    void on_report(const std::string& name, uint64_t generation, ProfileState s, std::string why);
    void set_state(Entry& e, ProfileState s, std::string reason);
    void finish_waiters(Entry& e);
    void publish_stats();

    // Loading (manager_reload.cpp).
    void apply_file(const std::string& name, LoadedProfile file, LoadReport& report);
    void add_entry(const std::string& name, LoadedProfile file, LoadReport& report);
    void remove_entry(const std::string& name);

    asio::io_context& control_;
    WorkerPool& workers_;
    Paths paths_;
    std::map<std::string, std::unique_ptr<Entry>> entries_;
    EventBus events_;
    uint64_t next_generation_ = 1;
    HookQueue hooks_;
    StatsTimer stats_timer_;
    bool stopping_all_ = false;
};

}  // namespace ghost::daemon
