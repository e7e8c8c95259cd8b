#include "daemon/profile/manager.hpp"

#include <algorithm>
#include <filesystem>

#include "daemon/profile/loader.hpp"
#include "daemon/profile/waiters.hpp"

namespace ghost::daemon {

namespace fs = std::filesystem;

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

struct ProfileManager::Entry {
    std::string name;
    std::string file;
    std::string text;
    std::optional<config::Profile> profile;
    std::vector<config::Error> errors;
    ProfileState state = ProfileState::down;
    std::string reason;
    std::string last_error;
    int64_t since = unix_now();
    std::unique_ptr<Runner> runner;
    nlohmann::json last_runner_status;  // what the runner reported before it was destroyed
    uint64_t generation = 0;
    bool stopping = false;  // runner->stop() in progress
    bool start_after_stop = false;
    bool persistent = false;  // started by autostart: retry even the first connection
    bool remove_after_stop = false;
    Waiters up_waiters;
    Waiters down_waiters;
    ByteCounters counters;  // as last published in a stats event
};

nlohmann::json ProfileManager::LoadReport::to_json() const {
    return {{"added", added},
            {"removed", removed},
            {"changed", changed},
            {"errors", errors_json(errors)}};
}

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

std::vector<std::string> ProfileManager::names() const {
    std::vector<std::string> out;
    for (auto& [n, e] : entries_) out.push_back(n);
    return out;
}

bool ProfileManager::exists(const std::string& name) const {
    return find(name) != nullptr;
}

size_t ProfileManager::active_count() const {
    return std::count_if(entries_.begin(), entries_.end(),
                         [](auto& kv) { return is_active(kv.second->state); });
}

ProfileManager::LoadReport ProfileManager::load() {
    LoadReport report;
    LoadedProfiles loaded = load_profiles(fs::path(paths_.config_dir) / "profiles");
    report.errors = std::move(loaded.errors);
    for (auto& [name, lp] : loaded.profiles) {
        report.errors.insert(report.errors.end(), lp.errors.begin(), lp.errors.end());
        apply_file(name, std::move(lp), report);
    }
    std::vector<std::string> gone;
    for (auto& [name, e] : entries_)
        if (!loaded.profiles.count(name) && !e->remove_after_stop) gone.push_back(name);
    for (auto& name : gone) {
        report.removed.push_back(name);
        remove_entry(name);
    }
    return report;
}

void ProfileManager::apply_file(const std::string& name, LoadedProfile file, LoadReport& report) {
    Entry* e = find(name);
    if (!e) {
        auto ne = std::make_unique<Entry>();
        ne->name = name;
        ne->file = (fs::path(paths_.config_dir) / "profiles" / (name + ".json")).string();
        ne->text = std::move(file.text);
        ne->profile = std::move(file.profile);
        ne->errors = std::move(file.errors);
        entries_[name] = std::move(ne);
        report.added.push_back(name);
        publish({{"type", "profile.added"}, {"profile", name}});
        return;
    }
    bool changed = e->text != file.text || !same_errors(e->errors, file.errors);
    e->remove_after_stop = false;
    if (!changed) {
        if (e->runner && !e->stopping) e->runner->reload();
        return;
    }
    report.changed.push_back(name);
    e->text = std::move(file.text);
    e->profile = std::move(file.profile);
    e->errors = std::move(file.errors);
    publish({{"type", "profile.changed"}, {"profile", name}});
    if (e->runner && !e->stopping && is_active(e->state)) {
        // Restart with the new file: down, then up again (or failed if now invalid).
        e->start_after_stop = true;
        set_state(*e, ProfileState::stopping, "profile file changed; restarting");
        stop_runner(*e, [this, name] {
            if (Entry* en = find(name)) set_state(*en, ProfileState::down, "restarting");
        });
    }
}

void ProfileManager::remove_entry(const std::string& name) {
    Entry* e = find(name);
    if (!e) return;
    if (e->runner) {
        e->remove_after_stop = true;
        e->start_after_stop = false;
        if (!e->stopping) {
            set_state(*e, ProfileState::stopping, "profile file removed");
            stop_runner(*e, [] {});
        }
        return;
    }
    e->up_waiters.answer_all(
        ProfileResult::fail(ProfileFailure::not_found, "profile '" + name + "' was removed"));
    entries_.erase(name);
    hooks_.forget(name);
    publish({{"type", "profile.removed"}, {"profile", name}});
}

void ProfileManager::autostart() {
    for (auto& [name, e] : entries_) {
        if (e->profile && e->profile->autostart && !is_active(e->state))
            up(
                name, false, [](ProfileResult) {}, true);
    }
}

nlohmann::json ProfileManager::list_entry(const std::string& name) const {
    const Entry* e = find(name);
    if (!e) return nullptr;
    std::string role =
        e->profile ? (e->profile->role == config::Role::server ? "server" : "client") : "invalid";
    return {{"name", e->name},
            {"role", role},
            {"state", to_string(e->state)},
            {"last_error", e->last_error},
            {"autostart", e->profile && e->profile->autostart},
            {"valid", e->profile.has_value()}};
}

std::optional<config::Profile> ProfileManager::profile(const std::string& name) const {
    const Entry* e = find(name);
    if (!e || !e->profile) return std::nullopt;
    return e->profile;
}

nlohmann::json ProfileManager::status(const std::string& name) const {
    const Entry* e = find(name);
    if (!e) return nullptr;
    nlohmann::json s = list_entry(name);
    s["reason"] = e->reason;
    s["since"] = e->since;
    s["file"] = e->file;
    s["config_errors"] = errors_json(e->errors);
    s["bytes_in"] = 0;
    s["bytes_out"] = 0;
    if (auto hook = hooks_.last_result(name); !hook.is_null()) s["last_hook"] = std::move(hook);
    if (e->runner) {
        s.update(e->runner->status());
    } else if (e->state == ProfileState::failed && e->last_runner_status.is_object()) {
        // A failed profile still shows what it knew (public key, server, last error...).
        s.update(e->last_runner_status);
    }
    return s;
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
    if (e->stopping) e->start_after_stop = true;
    bool running = (e->runner && !e->stopping) || e->start_after_stop;
    if (!running && e->profile->tun) {
        for (const auto& [other_name, other] : entries_) {
            if (other.get() == e || !other->runner || other->stopping || !other->profile) continue;
            if (std::string why = config::tun_conflict(*e->profile, *other->profile);
                !why.empty()) {
                return reply(ProfileResult::fail(ProfileFailure::invalid_state,
                                                 "cannot bring '" + name + "' up: " + why));
            }
        }
    }
    if (!running) {
        e->persistent = persistent;
        if (std::string missing = unsupported_features(*e->profile); !missing.empty()) {
            e->last_error =
                "not yet supported by this ghostd: " + missing + " (in " + e->file + ")";
            set_state(*e, ProfileState::failed, e->last_error);
            return reply(
                wait ? ProfileResult::fail(ProfileFailure::up_failed, e->last_error, status(name))
                     : ProfileResult::success(status(name)));
        }
        start_runner(*e);
    }
    if (!wait || (e->state == ProfileState::up && !e->stopping))
        return reply(ProfileResult::success(status(name)));
    e->up_waiters.add(name, std::move(reply));
}

void ProfileManager::down(const std::string& name, ProfileReply reply) {
    Entry* e = find(name);
    if (!e) {
        return reply(ProfileResult::fail(ProfileFailure::not_found,
                                         "no profile named '" + name + "' (see: ghostctl list)"));
    }
    e->start_after_stop = false;
    if (!e->runner) {
        if (e->state == ProfileState::failed) set_state(*e, ProfileState::down, "brought down");
        return reply(ProfileResult::success(status(name)));
    }
    e->down_waiters.add(name, std::move(reply));
    if (e->stopping) return;
    e->up_waiters.answer_all(
        ProfileResult::fail(ProfileFailure::up_failed, "profile '" + name + "' was brought down"));
    set_state(*e, ProfileState::stopping, "brought down by request");
    stop_runner(*e, [this, name] {
        if (Entry* en = find(name)) set_state(*en, ProfileState::down, "brought down by request");
    });
}

ProfileResult ProfileManager::sessions(const std::string& name) const {
    const Entry* e = find(name);
    if (!e)
        return ProfileResult::fail(ProfileFailure::not_found, "no profile named '" + name + "'");
    if (!e->profile || e->profile->role != config::Role::server)
        return ProfileResult::fail(ProfileFailure::invalid_state,
                                   "profile '" + name + "' is not a server profile");
    return ProfileResult::success(e->runner ? e->runner->sessions() : nlohmann::json::array());
}

ProfileResult ProfileManager::kick(const std::string& name, const std::string& id) {
    Entry* e = find(name);
    if (!e)
        return ProfileResult::fail(ProfileFailure::not_found, "no profile named '" + name + "'");
    if (!e->profile || e->profile->role != config::Role::server)
        return ProfileResult::fail(ProfileFailure::invalid_state,
                                   "profile '" + name + "' is not a server profile");
    if (!e->runner || !e->runner->kick(id))
        return ProfileResult::fail(ProfileFailure::not_found,
                                   "no session '" + id + "' on profile '" + name + "'");
    return ProfileResult::success({{"kicked", id}});
}

void ProfileManager::stop_all(std::function<void()> done) {
    stopping_all_ = true;
    stats_timer_.stop();
    auto remaining = std::make_shared<size_t>(0);
    auto finish = std::make_shared<std::function<void()>>(std::move(done));
    for (auto& [name, e] : entries_) {
        e->start_after_stop = false;
        if (!e->runner) continue;
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
    e.last_runner_status = nullptr;
    e.last_error.clear();
    set_state(e, ProfileState::connecting, "starting");
    e.runner->start();
}

void ProfileManager::stop_runner(Entry& e, std::function<void()> then) {
    e.stopping = true;
    e.generation = next_generation_++;  // late reports of the old runner are ignored
    std::string name = e.name;
    e.runner->stop([this, name, then = std::move(then)] {
        // Destroy the runner outside its own stop() call chain.
        asio::post(control_, [this, name, then] {
            Entry* en = find(name);
            if (!en) return;
            en->last_runner_status = en->runner->status();
            en->runner.reset();
            en->stopping = false;
            then();
            en->down_waiters.answer_all(ProfileResult::success(status(name)));
            if (en->remove_after_stop) {
                remove_entry(name);
            } else if (en->start_after_stop && !stopping_all_) {
                en->start_after_stop = false;
                auto waiters = en->up_waiters.take();
                up(
                    name, false, [](ProfileResult) {}, en->persistent);
                en->up_waiters.restore(std::move(waiters));
            }
        });
    });
}

void ProfileManager::on_report(const std::string& name, uint64_t generation, ProfileState s,
                               std::string why) {
    Entry* e = find(name);
    if (!e || e->generation != generation || e->stopping) return;
    if (s == ProfileState::failed || s == ProfileState::reconnecting) e->last_error = why;
    if (s == ProfileState::down || s == ProfileState::stopping) s = ProfileState::failed;
    set_state(*e, s, std::move(why));
    if (s == ProfileState::failed) {
        // Release whatever the runner still holds; the state stays `failed`.
        stop_runner(*e, [] {});
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
        if (!e->runner || e->stopping) continue;
        if (auto ev = e->counters.event_if_moved(name, e->runner->status()))
            publish(std::move(*ev));
    }
}

}  // namespace ghost::daemon
