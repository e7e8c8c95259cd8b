#pragma once
/// Decides which hook a profile's state change calls for and runs the hooks (hooks.hpp)
/// of each profile one at a time, in order, each on its own thread. Every result is
/// logged and published; the last one is kept for status. Control thread only.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "daemon/core/profile_state.hpp"
#include "daemon/profile/event_bus.hpp"
#include "daemon/profile/hooks.hpp"

namespace ghost::daemon {

class HookQueue {
  public:
    HookQueue(asio::io_context& control, EventBus& events);
    /// Joins hooks still running (e.g. down hooks at shutdown); they end within hooks.timeout.
    ~HookQueue();

    /// Queues the up hook when `profile` becomes up, the down hook when it leaves up.
    void on_state_change(const config::Profile& profile, ProfileState prev, ProfileState now);
    /// The last hook result of profile `name` (null when none ran yet), for status.
    nlohmann::json last_result(const std::string& name) const;
    /// Drops a removed profile's queue; a hook already running finishes.
    void forget(const std::string& name);

  private:
    /// One profile's hooks: waiting to run, in order (bounded).
    struct Queue {
        std::deque<HookRun> waiting;
        bool running = false;
        nlohmann::json last;
    };

    void push(const std::string& name, HookRun run);
    void run_next(const std::string& name);
    void finished(uint64_t id, const HookRun& run, const HookResult& r);

    asio::io_context& control_;
    EventBus& events_;
    std::map<std::string, Queue> queues_;
    std::map<uint64_t, std::thread> threads_;  // joined when their result arrives
    uint64_t next_id_ = 1;
};

}  // namespace ghost::daemon
