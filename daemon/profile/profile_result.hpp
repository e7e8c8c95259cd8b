#pragma once
/// What a profile operation answers: a JSON value, or why it failed. The profile layer
/// speaks only in these terms; control/ maps each failure kind to its wire error code.

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace ghost::daemon {

/// Why a profile operation failed.
enum class ProfileFailure {
    not_found,      // no such profile or session
    invalid_state,  // not possible in the profile's role or state (e.g. kick on a client)
    config_error,   // the profile's file is invalid
    up_failed,      // an up (with wait) ended in failed, or was cancelled by a down
};

/// The outcome of a profile operation: `value` on success, else `failure` with a message
/// and optional structured `data` (null when absent).
struct ProfileResult {
    bool ok = true;
    nlohmann::json value;
    ProfileFailure failure = ProfileFailure::invalid_state;
    std::string message;
    nlohmann::json data;

    static ProfileResult success(nlohmann::json v) {
        return {true, std::move(v), ProfileFailure::invalid_state, {}, nullptr};
    }
    static ProfileResult fail(ProfileFailure why, std::string msg, nlohmann::json data = nullptr) {
        return {false, nullptr, why, std::move(msg), std::move(data)};
    }
};

/// Receives the answer to an asynchronous profile operation, once, on the control thread.
using ProfileReply = std::function<void(ProfileResult)>;

}  // namespace ghost::daemon
