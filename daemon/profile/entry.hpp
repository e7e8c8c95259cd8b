#pragma once
/// One profile as ProfileManager tracks it (private to the manager's files): its file,
/// its published state, its runner and the runner's phase.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/profile/manager.hpp"
#include "daemon/profile/stats.hpp"
#include "daemon/profile/waiters.hpp"

namespace ghost::daemon {

/// Where a profile's runner is in its life; the stopping phases also say what follows.
enum class RunnerPhase {
    idle,        // no runner
    running,     // started; reports count
    stopping,    // runner->stop() in progress, then idle
    restarting,  // stopping, then started again (file changed, or up during a stop)
    removing,    // stopping, then the profile goes away (its file is gone)
};

std::string_view to_string(RunnerPhase p);

struct ProfileManager::Entry {
    std::string name;
    std::string file;
    std::string text;
    std::optional<config::Profile> profile;
    std::vector<config::Error> errors;
    ProfileState state = ProfileState::down;  // as published (DESIGN.md §5)
    std::string reason;
    std::string last_error;
    int64_t since = unix_now();
    std::unique_ptr<Runner> runner;     // set in every phase but idle
    nlohmann::json last_runner_status;  // what the runner reported before it was destroyed
    uint64_t generation = 0;            // reports of other generations are stale
    bool persistent = false;            // started by autostart: retry even the first connection
    Waiters up_waiters;
    Waiters down_waiters;
    ByteCounters counters;  // as last published in a stats event

    RunnerPhase phase() const { return phase_; }
    /// The one place the phase changes; only the moves listed in entry.cpp are valid.
    void set_phase(RunnerPhase next);
    /// A stop is in progress (stopping, restarting or removing).
    bool stopping() const { return phase_ != RunnerPhase::idle && phase_ != RunnerPhase::running; }

  private:
    RunnerPhase phase_ = RunnerPhase::idle;
};

}  // namespace ghost::daemon
