#include "daemon/control/core_api.hpp"

#include <unistd.h>

#include <chrono>

#include "common/config/schema.hpp"
#include "daemon/profile/manager.hpp"

namespace ghost::daemon {

namespace {
using nlohmann::json;

const auto kStart = std::chrono::steady_clock::now();
// config.check: the longest file name a caller may give (PATH_MAX), used only in messages.
constexpr size_t kMaxFileName = 4096;

/// Fetches a required string param or answers invalid_params.
bool string_param(const json& params, const char* key, std::string* out, const Reply& reply) {
    auto it = params.find(key);
    if (it == params.end() || !it->is_string() || it->get<std::string>().empty()) {
        reply(ApiResult::failure(errc::invalid_params, std::string("invalid params: \"") + key +
                                                           "\" (string) is required"));
        return false;
    }
    *out = it->get<std::string>();
    if (std::string(key) == "name" && !config::is_valid_profile_name(*out)) {
        reply(ApiResult::failure(
            errc::invalid_params,
            "invalid profile name '" + *out + "': names match [a-z0-9][a-z0-9_-]{0,63}"));
        return false;
    }
    return true;
}

/// Fetches a required string param that may be empty (content rather than a name).
bool text_param(const json& params, const char* key, std::string* out, const Reply& reply) {
    auto it = params.find(key);
    if (it == params.end() || !it->is_string()) {
        reply(ApiResult::failure(errc::invalid_params, std::string("invalid params: \"") + key +
                                                           "\" (string) is required"));
        return false;
    }
    *out = it->get<std::string>();
    return true;
}

bool bool_param(const json& params, const char* key, bool def, bool* out, const Reply& reply) {
    auto it = params.find(key);
    if (it == params.end()) {
        *out = def;
        return true;
    }
    if (!it->is_boolean()) {
        reply(ApiResult::failure(errc::invalid_params,
                                 std::string("invalid params: \"") + key + "\" must be a boolean"));
        return false;
    }
    *out = it->get<bool>();
    return true;
}

/// The one place a profile failure becomes a wire error code.
int error_code(ProfileFailure failure) {
    switch (failure) {
        case ProfileFailure::not_found:
            return errc::not_found;
        case ProfileFailure::invalid_state:
            return errc::invalid_state;
        case ProfileFailure::config_error:
            return errc::config_error;
        case ProfileFailure::up_failed:
            return errc::up_failed;
    }
    return errc::internal_error;
}

ApiResult to_api(ProfileResult r) {
    if (r.ok) return ApiResult::success(std::move(r.value));
    return ApiResult::failure(error_code(r.failure), std::move(r.message), std::move(r.data));
}

/// A profile operation's reply that answers the API caller.
ProfileReply answer_with(Reply reply) {
    return [reply = std::move(reply)](ProfileResult r) { reply(to_api(std::move(r))); };
}

/// Rejects params other than `allowed`, so typos are not silently ignored.
bool only_params(const json& params, std::initializer_list<const char*> allowed,
                 const Reply& reply) {
    for (auto& [k, v] : params.items()) {
        bool ok = false;
        for (auto* a : allowed) ok = ok || k == a;
        if (!ok) {
            reply(ApiResult::failure(errc::invalid_params,
                                     "invalid params: unknown parameter \"" + k + "\""));
            return false;
        }
    }
    return true;
}
}  // namespace

CoreApi::CoreApi(ProfileManager& profiles) : profiles_(profiles) {
    auto& pm = profiles_;
    methods_["daemon.info"] = {false,
                               [this, &pm](const json& p, Reply r) {
                                   if (!only_params(p, {}, r)) return;
                                   auto up = std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::steady_clock::now() - kStart);
                                   r(ApiResult::success({{"version", GHOST_VERSION},
                                                         {"pid", ::getpid()},
                                                         {"uptime_s", up.count()},
                                                         {"profiles", pm.names().size()},
                                                         {"active", pm.active_count()},
                                                         {"config_dir", pm.paths().config_dir},
                                                         {"runtime_dir", pm.paths().runtime_dir},
                                                         {"state_dir", pm.paths().state_dir},
                                                         {"methods", method_names()},
                                                         {"features", supported_features()}}));
                               },
                               "daemon version, directories, counts"};
    methods_["daemon.reload"] = {true,
                                 [&pm](const json& p, Reply r) {
                                     if (!only_params(p, {}, r)) return;
                                     r(ApiResult::success(pm.load().to_json()));
                                 },
                                 "re-read the configuration (like SIGHUP)"};
    methods_["profile.list"] = {false,
                                [&pm](const json& p, Reply r) {
                                    if (!only_params(p, {}, r)) return;
                                    json a = json::array();
                                    for (auto& n : pm.names()) a.push_back(pm.list_entry(n));
                                    r(ApiResult::success(std::move(a)));
                                },
                                "every profile with its state"};
    methods_["profile.status"] = {
        false,
        [&pm](const json& p, Reply r) {
            std::string name;
            if (!only_params(p, {"name"}, r) || !string_param(p, "name", &name, r)) return;
            if (!pm.exists(name))
                return r(ApiResult::failure(
                    errc::not_found, "no profile named '" + name + "' (see: ghostctl list)"));
            r(ApiResult::success(pm.status(name)));
        },
        "one profile's full status"};
    methods_["profile.up"] = {true,
                              [&pm](const json& p, Reply r) {
                                  std::string name;
                                  bool wait = true;
                                  if (!only_params(p, {"name", "wait"}, r) ||
                                      !string_param(p, "name", &name, r) ||
                                      !bool_param(p, "wait", true, &wait, r))
                                      return;
                                  pm.up(name, wait, answer_with(std::move(r)));
                              },
                              "bring a profile up (wait: until up or failed)"};
    methods_["profile.down"] = {
        true,
        [&pm](const json& p, Reply r) {
            std::string name;
            if (!only_params(p, {"name"}, r) || !string_param(p, "name", &name, r)) return;
            pm.down(name, answer_with(std::move(r)));
        },
        "bring a profile down"};
    methods_["config.check"] = {
        false,
        [](const json& p, Reply r) {
            // The caller sends the content: ghostd never opens a path a caller names.
            std::string file, text;
            if (!only_params(p, {"file", "text"}, r) || !string_param(p, "file", &file, r) ||
                !text_param(p, "text", &text, r))
                return;
            if (file.size() > kMaxFileName)
                return r(ApiResult::failure(errc::invalid_params,
                                            "invalid params: \"file\" is longer than " +
                                                std::to_string(kMaxFileName) + " bytes"));
            std::vector<config::Error> errs;
            config::check_profile_text(file, text, errs);
            json a = json::array();
            for (auto& e : errs) a.push_back(e.str());
            r(ApiResult::success({{"ok", errs.empty()}, {"errors", a}}));
        },
        "validate a profile's content (text) as the daemon would; file names it in errors"};
    methods_["server.sessions"] = {
        false,
        [&pm](const json& p, Reply r) {
            std::string name;
            if (!only_params(p, {"name"}, r) || !string_param(p, "name", &name, r)) return;
            r(to_api(pm.sessions(name)));
        },
        "live sessions of a server profile"};
    methods_["server.kick"] = {true,
                               [&pm](const json& p, Reply r) {
                                   std::string name, id;
                                   if (!only_params(p, {"name", "id"}, r) ||
                                       !string_param(p, "name", &name, r) ||
                                       !string_param(p, "id", &id, r))
                                       return;
                                   r(to_api(pm.kick(name, id)));
                               },
                               "close one session of a server profile"};
    methods_["events.subscribe"] = {false, nullptr, "stream events as notifications (socket only)"};
    methods_["profile.connect"] = {true, nullptr,
                                   "open a client profile's transport and carry it on this "
                                   "connection (socket only; ghostctl proxy-command)"};
}

const CoreApi::Method* CoreApi::find(const std::string& name) const {
    auto it = methods_.find(name);
    return it == methods_.end() ? nullptr : &it->second;
}

void CoreApi::call(const std::string& name, const nlohmann::json& params, Reply reply) const {
    const Method* m = find(name);
    if (!m || !m->handler)
        return reply(ApiResult::failure(errc::method_not_found, "method not found: " + name));
    m->handler(params, std::move(reply));
}

std::vector<std::string> CoreApi::method_names() const {
    std::vector<std::string> out;
    for (auto& [n, m] : methods_) out.push_back(n);
    return out;
}

void CoreApi::connect_stream(const json& params,
                             std::function<void(ApiResult, OpenedStream)> done) {
    auto reply = [&done](ApiResult r) { done(std::move(r), {}); };
    std::string name;
    if (!only_params(params, {"name"}, reply) || !string_param(params, "name", &name, reply))
        return;
    if (!profiles_.exists(name))
        return reply(ApiResult::failure(errc::not_found,
                                        "no profile named '" + name + "' (see: ghostctl list)"));
    auto profile = profiles_.profile(name);
    if (!profile)
        return reply(ApiResult::failure(
            errc::config_error,
            "profile '" + name + "' is not valid (see: ghostctl status " + name + ")"));
    if (profile->role != config::Role::client || !profile->server)
        return reply(ApiResult::failure(errc::invalid_state,
                                        "profile '" + name + "' is not a client profile"));
    asio::io_context& io = profiles_.workers().next();
    asio::io_context& control = profiles_.control();
    asio::post(io, [&io, &control, p = std::move(*profile), done = std::move(done)]() mutable {
        open_profile_stream(io, p,
                            [&control, server = p.server->str(), done = std::move(done)](
                                std::string err, OpenedStream s) mutable {
                                asio::post(control, [err = std::move(err), s = std::move(s), server,
                                                     done = std::move(done)]() mutable {
                                    if (!err.empty())
                                        return done(ApiResult::failure(errc::up_failed, err), {});
                                    json result = s.info;
                                    result["server"] = server;
                                    done(ApiResult::success(std::move(result)), std::move(s));
                                });
                            });
    });
}

uint64_t CoreApi::subscribe(EventSink sink) {
    return profiles_.subscribe(std::move(sink));
}
void CoreApi::unsubscribe(uint64_t id) {
    profiles_.unsubscribe(id);
}

}  // namespace ghost::daemon
