#pragma once
/// Profile states of DESIGN.md §5.

#include <optional>
#include <string_view>

namespace ghost::daemon {

enum class ProfileState { down, connecting, authenticating, up, reconnecting, failed, stopping };

/// "down", "connecting", ... as used on RPC, D-Bus and in ghostctl.
std::string_view to_string(ProfileState s);
std::optional<ProfileState> parse_state(std::string_view text);

/// True for states in which the profile holds resources (anything but down/failed).
inline bool is_active(ProfileState s) {
    return s != ProfileState::down && s != ProfileState::failed;
}

}  // namespace ghost::daemon
