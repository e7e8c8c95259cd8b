// ProfileManager: (re)loading the profiles directory and applying what changed.

#include <filesystem>

#include "daemon/profile/entry.hpp"
#include "daemon/profile/loader.hpp"

namespace ghost::daemon {

namespace fs = std::filesystem;

nlohmann::json ProfileManager::LoadReport::to_json() const {
    return {{"added", added},
            {"removed", removed},
            {"changed", changed},
            {"errors", errors_json(errors)}};
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
        if (!loaded.profiles.count(name) && e->phase() != RunnerPhase::removing)
            gone.push_back(name);
    for (auto& name : gone) {
        report.removed.push_back(name);
        remove_entry(name);
    }
    return report;
}

void ProfileManager::apply_file(const std::string& name, LoadedProfile file, LoadReport& report) {
    Entry* e = find(name);
    if (!e) return add_entry(name, std::move(file), report);
    bool changed = e->text != file.text || !same_errors(e->errors, file.errors);
    if (e->phase() == RunnerPhase::removing) e->set_phase(RunnerPhase::stopping);  // it is back
    if (!changed) {
        if (e->phase() == RunnerPhase::running) e->runner->reload();
        return;
    }
    report.changed.push_back(name);
    e->text = std::move(file.text);
    e->profile = std::move(file.profile);
    e->errors = std::move(file.errors);
    publish({{"type", "profile.changed"}, {"profile", name}});
    if (e->phase() == RunnerPhase::running && is_active(e->state)) {
        // Restart with the new file: down, then up again (or failed if now invalid).
        set_state(*e, ProfileState::stopping, "profile file changed; restarting");
        stop_runner(*e, RunnerPhase::restarting, [this, name] {
            if (Entry* en = find(name)) set_state(*en, ProfileState::down, "restarting");
        });
    }
}

void ProfileManager::add_entry(const std::string& name, LoadedProfile file, LoadReport& report) {
    auto e = std::make_unique<Entry>();
    e->name = name;
    e->file = (fs::path(paths_.config_dir) / "profiles" / (name + ".json")).string();
    e->text = std::move(file.text);
    e->profile = std::move(file.profile);
    e->errors = std::move(file.errors);
    entries_[name] = std::move(e);
    report.added.push_back(name);
    publish({{"type", "profile.added"}, {"profile", name}});
}

void ProfileManager::remove_entry(const std::string& name) {
    Entry* e = find(name);
    if (!e) return;
    if (e->phase() == RunnerPhase::running) {
        set_state(*e, ProfileState::stopping, "profile file removed");
        return stop_runner(*e, RunnerPhase::removing, [] {});
    }
    if (e->stopping()) return e->set_phase(RunnerPhase::removing);
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

}  // namespace ghost::daemon
