// ProfileManager: what it tells about its profiles (lists, status, server sessions).

#include <algorithm>

#include "daemon/profile/entry.hpp"
#include "daemon/profile/loader.hpp"

namespace ghost::daemon {

namespace {
ProfileResult no_such_profile(const std::string& name) {
    return ProfileResult::fail(ProfileFailure::not_found, "no profile named '" + name + "'");
}

ProfileResult not_a_server(const std::string& name) {
    return ProfileResult::fail(ProfileFailure::invalid_state,
                               "profile '" + name + "' is not a server profile");
}
}  // namespace

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

ProfileResult ProfileManager::sessions(const std::string& name) const {
    const Entry* e = find(name);
    if (!e) return no_such_profile(name);
    if (!e->profile || e->profile->role != config::Role::server) return not_a_server(name);
    return ProfileResult::success(e->runner ? e->runner->sessions() : nlohmann::json::array());
}

ProfileResult ProfileManager::kick(const std::string& name, const std::string& id) {
    Entry* e = find(name);
    if (!e) return no_such_profile(name);
    if (!e->profile || e->profile->role != config::Role::server) return not_a_server(name);
    if (!e->runner || !e->runner->kick(id))
        return ProfileResult::fail(ProfileFailure::not_found,
                                   "no session '" + id + "' on profile '" + name + "'");
    return ProfileResult::success({{"kicked", id}});
}

}  // namespace ghost::daemon
