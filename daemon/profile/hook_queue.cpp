#include "daemon/profile/hook_queue.hpp"

#include <optional>

#include "daemon/core/log.hpp"

namespace ghost::daemon {

namespace {
constexpr size_t kMaxQueuedHooks = 8;

/// The hook run that a change from `prev` to `now` calls for, if any.
std::optional<HookRun> hook_for(const config::Profile& p, ProfileState prev, ProfileState now) {
    bool became_up = now == ProfileState::up && prev != ProfileState::up;
    bool left_up = prev == ProfileState::up && now != ProfileState::up;
    if (!became_up && !left_up) return std::nullopt;
    const std::string& path = became_up ? p.hooks.up : p.hooks.down;
    if (path.empty()) return std::nullopt;
    HookRun run;
    run.profile = p.name;
    run.hook = became_up ? "up" : "down";
    run.path = path;
    run.state = now == ProfileState::stopping ? "down" : std::string(to_string(now));
    if (p.tun) run.tun_dev = p.tun->name;
    run.timeout = std::chrono::seconds(p.hooks.timeout_s);
    return run;
}

void log_result(const HookRun& run, const HookResult& r) {
    log::Logger L(run.profile);
    if (r.ok) {
        L.info(run.hook, " hook ", run.path, " ", r.message);
    } else {
        L.warning(run.hook, " hook ", run.path, " failed: ", r.message,
                  r.output.empty() ? "" : "; output: ", r.output.substr(0, 300));
    }
}
}  // namespace

HookQueue::HookQueue(asio::io_context& control, EventBus& events)
    : control_(control), events_(events) {}

HookQueue::~HookQueue() {
    for (auto& [_, t] : threads_) {
        if (t.joinable()) t.join();
    }
}

void HookQueue::on_state_change(const config::Profile& profile, ProfileState prev,
                                ProfileState now) {
    if (auto run = hook_for(profile, prev, now)) push(profile.name, std::move(*run));
}

nlohmann::json HookQueue::last_result(const std::string& name) const {
    auto it = queues_.find(name);
    return it == queues_.end() ? nlohmann::json() : it->second.last;
}

void HookQueue::forget(const std::string& name) {
    queues_.erase(name);
}

void HookQueue::push(const std::string& name, HookRun run) {
    Queue& q = queues_[name];
    if (q.waiting.size() >= kMaxQueuedHooks) {
        log::Logger(name).warning("hook queue full: skipping the oldest (", q.waiting.front().hook,
                                  ")");
        q.waiting.pop_front();
    }
    q.waiting.push_back(std::move(run));
    if (!q.running) run_next(name);
}

void HookQueue::run_next(const std::string& name) {
    auto it = queues_.find(name);
    if (it == queues_.end() || it->second.running || it->second.waiting.empty()) return;
    Queue& q = it->second;
    HookRun run = std::move(q.waiting.front());
    q.waiting.pop_front();
    q.running = true;
    uint64_t id = next_id_++;
    HookRun copy = run;
    threads_[id] =
        run_hook(control_, std::move(run),
                 [this, id, run = std::move(copy)](HookResult r) { finished(id, run, r); });
}

void HookQueue::finished(uint64_t id, const HookRun& run, const HookResult& r) {
    if (auto it = threads_.find(id); it != threads_.end()) {
        it->second.join();
        threads_.erase(it);
    }
    log_result(run, r);
    events_.publish({{"type", r.ok ? "hook.done" : "hook.failed"},
                     {"profile", run.profile},
                     {"hook", run.hook},
                     {"path", run.path},
                     {"message", r.message},
                     {"exit_code", r.exit_code}});
    auto it = queues_.find(run.profile);
    if (it == queues_.end()) return;
    Queue& q = it->second;
    q.running = false;
    q.last = r.to_json();
    q.last["hook"] = run.hook;
    q.last["path"] = run.path;
    q.last["at"] = unix_now();
    run_next(run.profile);
}

}  // namespace ghost::daemon
