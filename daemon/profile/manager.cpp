#include "daemon/profile/manager.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>

#include "daemon/profile/hooks.hpp"
#include "io/config_file.hpp"

namespace ghost::daemon {

namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxProfiles = 1024;
constexpr size_t kMaxWaiters = 64;
constexpr auto kStatsInterval = std::chrono::seconds(5);

/// One NAME.json found in the profiles directory: its text, or why it cannot be read.
struct ProfileFile {
    fs::path path;
    std::optional<std::string> text;
    std::vector<config::Error> errors;
};

/// Reads every NAME.json in `dir` with the one safe loader. A file that cannot be read (a
/// FIFO, a directory, a dangling link or loop, too large) is kept with its error, so it
/// shows up as an invalid profile instead of vanishing. Never throws.
std::map<std::string, ProfileFile> read_profile_dir(const fs::path& dir,
                                                    std::vector<config::Error>& errors) {
    std::map<std::string, ProfileFile> files;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() != ".json") continue;
        std::string name = p.stem().string();
        if (!config::is_valid_profile_name(name)) {
            errors.push_back({p.string(), "", "\"" + name + "\"",
                              "invalid profile name (use [a-z0-9][a-z0-9_-]{0,63})"});
            continue;
        }
        if (files.size() >= kMaxProfiles) {
            errors.push_back({p.string(), "", "", "too many profiles (limit 1024)"});
            break;
        }
        ProfileFile& f = files[name];
        f.path = p;
        f.text = io::read_config_file(p.string(), f.errors);
    }
    if (ec && ec != std::errc::no_such_file_or_directory)
        errors.push_back({dir.string(), "", "", "cannot list directory: " + ec.message()});
    return files;
}

bool same_errors(const std::vector<config::Error>& a, const std::vector<config::Error>& b) {
    return std::equal(
        a.begin(), a.end(), b.begin(), b.end(),
        [](const config::Error& x, const config::Error& y) { return x.str() == y.str(); });
}

nlohmann::json errors_json(const std::vector<config::Error>& errs) {
    nlohmann::json a = nlohmann::json::array();
    for (auto& e : errs) a.push_back(e.str());
    return a;
}

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
    std::vector<ProfileReply> up_waiters;
    std::vector<ProfileReply> down_waiters;
    uint64_t reported_in = 0, reported_out = 0;
    std::deque<HookRun> hooks;  // waiting to run, in order (bounded)
    bool hook_running = false;
    nlohmann::json last_hook;  // result of the last hook run, for status
};

nlohmann::json ProfileManager::LoadReport::to_json() const {
    return {{"added", added},
            {"removed", removed},
            {"changed", changed},
            {"errors", errors_json(errors)}};
}

ProfileManager::ProfileManager(asio::io_context& control, WorkerPool& workers, Paths paths)
    : control_(control), workers_(workers), paths_(std::move(paths)), stats_timer_(control) {
    start_stats_timer();
}

ProfileManager::~ProfileManager() {
    // Hooks still running (e.g. down hooks at shutdown) end within hooks.timeout.
    for (auto& [_, t] : hook_threads_) {
        if (t.joinable()) t.join();
    }
}

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
    auto files = read_profile_dir(fs::path(paths_.config_dir) / "profiles", report.errors);

    // Parse all, then check cross-profile conflicts among the valid ones.
    std::map<std::string, std::pair<std::optional<config::Profile>, std::vector<config::Error>>>
        parsed;
    std::vector<config::Profile> valid;
    for (auto& [name, f] : files) {
        std::optional<config::Profile> p;
        if (f.text) p = config::parse_profile(name, *f.text, f.path.string(), f.errors);
        if (p) valid.push_back(*p);
        parsed[name] = {std::move(p), std::move(f.errors)};
    }
    for (auto& err : config::check_conflicts(valid)) {
        std::string stem = fs::path(err.file).stem().string();
        if (auto it = parsed.find(stem); it != parsed.end()) {
            it->second.first.reset();
            it->second.second.push_back(err);
        }
    }
    for (auto& [name, pe] : parsed) {
        for (auto& e : pe.second) report.errors.push_back(e);
        apply_file(name, std::move(pe.first), std::move(pe.second), files[name].text.value_or(""),
                   report);
    }
    std::vector<std::string> gone;
    for (auto& [name, e] : entries_)
        if (!files.count(name) && !e->remove_after_stop) gone.push_back(name);
    for (auto& name : gone) {
        report.removed.push_back(name);
        remove_entry(name);
    }
    return report;
}

void ProfileManager::apply_file(const std::string& name, std::optional<config::Profile> p,
                                std::vector<config::Error> errs, std::string text,
                                LoadReport& report) {
    Entry* e = find(name);
    if (!e) {
        auto ne = std::make_unique<Entry>();
        ne->name = name;
        ne->file = (fs::path(paths_.config_dir) / "profiles" / (name + ".json")).string();
        ne->text = std::move(text);
        ne->profile = std::move(p);
        ne->errors = std::move(errs);
        entries_[name] = std::move(ne);
        report.added.push_back(name);
        publish({{"type", "profile.added"}, {"profile", name}});
        return;
    }
    bool changed = e->text != text || !same_errors(e->errors, errs);
    e->remove_after_stop = false;
    if (!changed) {
        if (e->runner && !e->stopping) e->runner->reload();
        return;
    }
    report.changed.push_back(name);
    e->text = std::move(text);
    e->profile = std::move(p);
    e->errors = std::move(errs);
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
    for (auto& w : e->up_waiters)
        w(ProfileResult::fail(ProfileFailure::not_found, "profile '" + name + "' was removed"));
    entries_.erase(name);
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
    if (!e->last_hook.is_null()) s["last_hook"] = e->last_hook;
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
    if (e->up_waiters.size() >= kMaxWaiters)
        return reply(ProfileResult::fail(ProfileFailure::invalid_state,
                                         "too many clients waiting for '" + name + "'"));
    e->up_waiters.push_back(std::move(reply));
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
    if (e->down_waiters.size() >= kMaxWaiters)
        return reply(ProfileResult::fail(ProfileFailure::invalid_state,
                                         "too many clients waiting for '" + name + "'"));
    e->down_waiters.push_back(std::move(reply));
    if (e->stopping) return;
    for (auto& w : std::exchange(e->up_waiters, {}))
        w(ProfileResult::fail(ProfileFailure::up_failed,
                              "profile '" + name + "' was brought down"));
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
    stats_timer_.cancel();
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
            for (auto& w : std::exchange(en->down_waiters, {}))
                w(ProfileResult::success(status(name)));
            if (en->remove_after_stop) {
                remove_entry(name);
            } else if (en->start_after_stop && !stopping_all_) {
                en->start_after_stop = false;
                auto waiters = std::exchange(en->up_waiters, {});
                up(
                    name, false, [](ProfileResult) {}, en->persistent);
                en->up_waiters = std::move(waiters);
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
    queue_hook(e, prev, s);
}

void ProfileManager::queue_hook(Entry& e, ProfileState prev, ProfileState now) {
    if (!e.profile) return;
    const auto& h = e.profile->hooks;
    bool became_up = now == ProfileState::up && prev != ProfileState::up;
    bool left_up = prev == ProfileState::up && now != ProfileState::up;
    if (!became_up && !left_up) return;
    const std::string& path = became_up ? h.up : h.down;
    if (path.empty()) return;
    HookRun run;
    run.profile = e.name;
    run.hook = became_up ? "up" : "down";
    run.path = path;
    run.state = now == ProfileState::stopping ? "down" : to_string(now);
    if (e.profile->tun) run.tun_dev = e.profile->tun->name;
    run.timeout = std::chrono::seconds(h.timeout_s);
    constexpr size_t kMaxQueuedHooks = 8;
    if (e.hooks.size() >= kMaxQueuedHooks) {
        log::Logger(e.name).warning("hook queue full: skipping the oldest (", e.hooks.front().hook,
                                    ")");
        e.hooks.pop_front();
    }
    e.hooks.push_back(std::move(run));
    if (!e.hook_running) run_next_hook(e.name);
}

void ProfileManager::run_next_hook(const std::string& name) {
    Entry* e = find(name);
    if (!e || e->hook_running || e->hooks.empty()) return;
    HookRun run = std::move(e->hooks.front());
    e->hooks.pop_front();
    e->hook_running = true;
    uint64_t id = next_hook_++;
    std::string hook = run.hook, path = run.path;
    hook_threads_[id] =
        run_hook(control_, std::move(run), [this, id, name, hook, path](HookResult r) {
            if (auto it = hook_threads_.find(id); it != hook_threads_.end()) {
                it->second.join();
                hook_threads_.erase(it);
            }
            log::Logger L(name);
            if (r.ok) {
                L.info(hook, " hook ", path, " ", r.message);
            } else {
                L.warning(hook, " hook ", path, " failed: ", r.message,
                          r.output.empty() ? "" : "; output: ", r.output.substr(0, 300));
            }
            publish({{"type", r.ok ? "hook.done" : "hook.failed"},
                     {"profile", name},
                     {"hook", hook},
                     {"path", path},
                     {"message", r.message},
                     {"exit_code", r.exit_code}});
            Entry* en = find(name);
            if (!en) return;
            en->hook_running = false;
            en->last_hook = r.to_json();
            en->last_hook["hook"] = hook;
            en->last_hook["path"] = path;
            en->last_hook["at"] = unix_now();
            run_next_hook(name);
        });
}

void ProfileManager::finish_waiters(Entry& e) {
    if (e.up_waiters.empty()) return;
    if (e.state == ProfileState::up) {
        for (auto& w : std::exchange(e.up_waiters, {})) w(ProfileResult::success(status(e.name)));
    } else if (e.state == ProfileState::failed) {
        for (auto& w : std::exchange(e.up_waiters, {}))
            w(ProfileResult::fail(ProfileFailure::up_failed,
                                  e.last_error.empty() ? e.reason : e.last_error, status(e.name)));
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

void ProfileManager::start_stats_timer() {
    stats_timer_.expires_after(kStatsInterval);
    stats_timer_.async_wait([this](asio::error_code ec) {
        if (ec || stopping_all_) return;
        for (auto& [name, e] : entries_) {
            if (!e->runner || e->stopping) continue;
            nlohmann::json s = e->runner->status();
            uint64_t in = s.value("bytes_in", uint64_t{0}), out = s.value("bytes_out", uint64_t{0});
            if (in == e->reported_in && out == e->reported_out) continue;
            e->reported_in = in;
            e->reported_out = out;
            publish({{"type", "stats"}, {"profile", name}, {"bytes_in", in}, {"bytes_out", out}});
        }
        start_stats_timer();
    });
}

}  // namespace ghost::daemon
