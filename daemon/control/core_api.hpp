#pragma once
/// The one core API behind both front doors (JSON-RPC socket and D-Bus). Each method
/// takes JSON params and answers through a Reply exactly once, on the control thread.
/// Front doors only authorise (via `mutating`), translate, and call `call()`.

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/control/profile_stream.hpp"
#include "daemon/profile/event_bus.hpp"

namespace ghost::daemon {

class ProfileManager;

/// Error codes: JSON-RPC 2.0 standard codes plus ghost's application codes.
namespace errc {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
inline constexpr int not_found = -32001;          // no such profile / session
inline constexpr int permission_denied = -32002;  // caller not root and not in group ghost
inline constexpr int invalid_state = -32003;      // e.g. kick on a client profile
inline constexpr int config_error = -32004;       // profile file invalid
inline constexpr int up_failed = -32005;          // profile.up with wait ended in failed
inline constexpr int request_too_large = -32006;
inline constexpr int too_many_clients = -32007;
}  // namespace errc

/// An error answer: code, message, optional structured data.
struct ApiError {
    int code = errc::internal_error;
    std::string message;
    nlohmann::json data;  // null when absent
};

/// Result of a call: either result or error.
struct ApiResult {
    bool ok = true;
    nlohmann::json result;
    ApiError error;

    static ApiResult success(nlohmann::json r) { return {true, std::move(r), {}}; }
    static ApiResult failure(int code, std::string msg, nlohmann::json data = nullptr) {
        return {false, nullptr, {code, std::move(msg), std::move(data)}};
    }
};

using Reply = std::function<void(ApiResult)>;

class CoreApi {
  public:
    struct Method {
        bool mutating;  // needs root or group ghost
        std::function<void(const nlohmann::json& params, Reply)> handler;
        const char* help;
    };

    explicit CoreApi(ProfileManager& profiles);

    /// Looks up a method; nullptr when unknown.
    const Method* find(const std::string& name) const;
    /// Calls a method (already authorised by the front door). Unknown → method_not_found.
    void call(const std::string& name, const nlohmann::json& params, Reply reply) const;
    /// Every method name, for daemon.info and docs.
    std::vector<std::string> method_names() const;

    /// profile.connect: opens a client profile's transport as a raw stream (for
    /// `ghostctl proxy-command`); `done` runs on the control thread.
    void connect_stream(const nlohmann::json& params,
                        std::function<void(ApiResult, OpenedStream)> done);

    /// Event stream (state changes, errors, stats). Returns an id for unsubscribe.
    uint64_t subscribe(EventSink sink);
    void unsubscribe(uint64_t id);

  private:
    ProfileManager& profiles_;
    std::map<std::string, Method> methods_;
};

}  // namespace ghost::daemon
