// ProfileManager: the state machine of each profile (DESIGN.md §5) and its runner's life.

#include "daemon/profile/manager.hpp"

#include <algorithm>

#include "daemon/profile/entry.hpp"
#include "daemon/profile/loader.hpp"

namespace ghost::daemon {

namespace {
/// Features of `p` this build lacks, comma-separated; "" when it has them all.
std::string unsupported_features(const config::Profile& p) {
    const auto& have = supported_features();
    std::string missing;
    for (auto& f : p.features) {
        if (std::find(have.begin(), have.end(), f) != have.end()) continue;
        if (!missing.empty()) missing += ", ";
        missing += f;
    }
    return missing;
}
}  // namespace

ProfileManager::ProfileManager(asio::io_context& control, WorkerPool& workers, Paths paths)
    : control_(control),
      workers_(workers),
      paths_(std::move(paths)),
      hooks_(control, events_),
      stats_timer_(control, [this] { publish_stats(); }) {
    stats_timer_.start();
}

ProfileManager::~ProfileManager() = default;

ProfileManager::Entry* ProfileManager::find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : it->second.get();
}

void ProfileManager::up(const std::string& name, bool wait, ProfileReply reply, bool persistent) {
    Entry* e = find(name);
    if (!e) {
        return reply(ProfileResult::fail(ProfileFailure::not_found,
                                         "no profile named '" + name + "' in " + paths_.config_dir +
                                             "/profiles (see: ghostctl list)"));
    }
    if (!e->profile) {
        std::string first = e->errors.empty() ? "invalid profile" : e->errors.front().str();
        return reply(ProfileResult::fail(
            ProfileFailure::config_error,
            "profile '" + name + "' has configuration errors: " + first, errors_json(e->errors)));
    }
    if (e->phase() == RunnerPhase::stopping) e->set_phase(RunnerPhase::restarting);
    if (e->phase() == RunnerPhase::idle) {
        if (std::string why = tun_conflict(*e); !why.empty()) {
            return reply(ProfileResult::fail(ProfileFailure::invalid_state,
                                             "cannot bring '" + name + "' up: " + why));
        }
        e->persistent = persistent;
        if (!start(*e)) {
            return reply(
                wait ? ProfileResult::fail(ProfileFailure::up_failed, e->last_error, status(name))
                     : ProfileResult::success(status(name)));
        }
    }
    if (!wait || (e->state == ProfileState::up && e->phase() == RunnerPhase::running))
        return reply(ProfileResult::success(status(name)));
    e->up_waiters.add(name, std::move(reply));
}

std::string ProfileManager::tun_conflict(const Entry& e) const {
    if (!e.profile->tun) return {};
    for (const auto& [other_name, other] : entries_) {
        if (other.get() == &e || other->phase() != RunnerPhase::running || !other->profile)
            continue;
        if (std::string why = config::tun_conflict(*e.profile, *other->profile); !why.empty())
            return why;
    }
    return {};
}

bool ProfileManager::start(Entry& e) {
    if (std::string missing = unsupported_features(*e.profile); !missing.empty()) {
        e.last_error = "not yet supported by this ghostd: " + missing + " (in " + e.file + ")";
        set_state(e, ProfileState::failed, e.last_error);
        return false;
    }
    start_runner(e);
    return true;
}

void ProfileManager::down(const std::string& name, ProfileReply reply) {
    Entry* e = find(name);
    if (!e) {
        return reply(ProfileResult::fail(ProfileFailure::not_found,
                                         "no profile named '" + name + "' (see: ghostctl list)"));
    }
    if (e->phase() == RunnerPhase::restarting) e->set_phase(RunnerPhase::stopping);
    if (e->phase() == RunnerPhase::idle) {
        if (e->state == ProfileState::failed) set_state(*e, ProfileState::down, "brought down");
        return reply(ProfileResult::success(status(name)));
    }
    e->down_waiters.add(name, std::move(reply));
    if (e->stopping()) return;
    e->up_waiters.answer_all(
        ProfileResult::fail(ProfileFailure::up_failed, "profile '" + name + "' was brought down"));
    set_state(*e, ProfileState::stopping, "brought down by request");
    stop_runner(*e, RunnerPhase::stopping, [this, name] {
        if (Entry* en = find(name)) set_state(*en, ProfileState::down, "brought down by request");
    });
}

void ProfileManager::stop_all(std::function<void()> done) {
    stopping_all_ = true;
    stats_timer_.stop();
    auto remaining = std::make_shared<size_t>(0);
    auto finish = std::make_shared<std::function<void()>>(std::move(done));
    for (auto& [name, e] : entries_) {
        if (e->phase() == RunnerPhase::idle) continue;
        ++*remaining;
        down(name, [remaining, finish](ProfileResult) {
            if (--*remaining == 0) (*finish)();
        });
    }
    if (*remaining == 0) asio::post(control_, [finish] { (*finish)(); });
}

void ProfileManager::start_runner(Entry& e) {
    e.generation = next_generation_++;
    std::string name = e.name;
    uint64_t gen = e.generation;
    RunnerContext ctx{control_,          workers_, *e.profile, paths_,
                      log::Logger(name), {},       {},         e.persistent};
    ctx.report = [this, name, gen](ProfileState s, std::string why) {
        asio::post(control_, [this, name, gen, s, why = std::move(why)]() mutable {
            on_report(name, gen, s, std::move(why));
        });
    };
    ctx.event = [this, name](nlohmann::json ev) {
        asio::post(control_, [this, name, ev = std::move(ev)]() mutable {
            ev["profile"] = name;
            publish(std::move(ev));
        });
    };
    e.runner = make_runner(std::move(ctx));
    e.set_phase(RunnerPhase::running);
    e.last_runner_status = nullptr;
    e.last_error.clear();
    set_state(e, ProfileState::connecting, "starting");
    e.runner->start();
}

void ProfileManager::stop_runner(Entry& e, RunnerPhase how, std::function<void()> then) {
    e.set_phase(how);
    e.generation = next_generation_++;  // late reports of the old runner are ignored
    std::string name = e.name;
    e.runner->stop([this, name, then = std::move(then)] {
        // Destroy the runner outside its own stop() call chain.
        asio::post(control_, [this, name, then] { runner_stopped(name, then); });
    });
}

void ProfileManager::runner_stopped(const std::string& name, const std::function<void()>& then) {
    Entry* e = find(name);
    if (!e) return;
    e->last_runner_status = e->runner->status();
    e->runner.reset();
    RunnerPhase after = e->phase();
    e->set_phase(RunnerPhase::idle);
    then();
    // A down that arrived while a failed runner was being released still ends `down`.
    if (!e->down_waiters.empty() && e->state == ProfileState::failed)
        set_state(*e, ProfileState::down, "brought down by request");
    e->down_waiters.answer_all(ProfileResult::success(status(name)));
    if (after == RunnerPhase::removing) {
        remove_entry(name);
    } else if (after == RunnerPhase::restarting && !stopping_all_) {
        // The up that asked for the restart is still waiting: keep its reply for the new run.
        auto waiters = e->up_waiters.take();
        up(
            name, false, [](ProfileResult) {}, e->persistent);
        e->up_waiters.restore(std::move(waiters));
    }
}

void ProfileManager::on_report(const std::string& name, uint64_t generation, ProfileState s,
                               std::string why) {
    Entry* e = find(name);
    if (!e || e->generation != generation || e->phase() != RunnerPhase::running) return;
    if (s == ProfileState::failed || s == ProfileState::reconnecting) e->last_error = why;
    if (s == ProfileState::down || s == ProfileState::stopping) s = ProfileState::failed;
    set_state(*e, s, std::move(why));
    if (s == ProfileState::failed) {
        // Release whatever the runner still holds; the state stays `failed`.
        stop_runner(*e, RunnerPhase::stopping, [] {});
    }
}

void ProfileManager::set_state(Entry& e, ProfileState s, std::string reason) {
    ProfileState prev = e.state;
    e.state = s;
    e.reason = reason;
    e.since = unix_now();
    log::Logger(e.name).info("state ", to_string(prev), " -> ", to_string(s),
                             reason.empty() ? "" : ": ", reason);
    publish({{"type", "state"},
             {"profile", e.name},
             {"state", to_string(s)},
             {"previous", to_string(prev)},
             {"reason", reason}});
    finish_waiters(e);
    if (e.profile) hooks_.on_state_change(*e.profile, prev, s);
}

void ProfileManager::finish_waiters(Entry& e) {
    if (e.up_waiters.empty()) return;
    if (e.state == ProfileState::up) {
        e.up_waiters.answer_all(ProfileResult::success(status(e.name)));
    } else if (e.state == ProfileState::failed) {
        e.up_waiters.answer_all(ProfileResult::fail(ProfileFailure::up_failed,
                                                    e.last_error.empty() ? e.reason : e.last_error,
                                                    status(e.name)));
    }
}

uint64_t ProfileManager::subscribe(EventSink sink) {
    return events_.subscribe(std::move(sink));
}

void ProfileManager::unsubscribe(uint64_t id) {
    events_.unsubscribe(id);
}

void ProfileManager::publish(nlohmann::json event) {
    events_.publish(std::move(event));
}

void ProfileManager::publish_stats() {
    for (auto& [name, e] : entries_) {
        if (e->phase() != RunnerPhase::running) continue;
        if (auto ev = e->counters.event_if_moved(name, e->runner->status()))
            publish(std::move(*ev));
    }
}

}  // namespace ghost::daemon
