#include "daemon/core/profile_state.hpp"

#include <array>
#include <utility>

namespace ghost::daemon {
namespace {
constexpr std::array<std::pair<ProfileState, std::string_view>, 7> kNames{{
    {ProfileState::down, "down"},
    {ProfileState::connecting, "connecting"},
    {ProfileState::authenticating, "authenticating"},
    {ProfileState::up, "up"},
    {ProfileState::reconnecting, "reconnecting"},
    {ProfileState::failed, "failed"},
    {ProfileState::stopping, "stopping"},
}};
}  // namespace

std::string_view to_string(ProfileState s) {
    for (auto& [st, name] : kNames)
        if (st == s) return name;
    return "unknown";
}

std::optional<ProfileState> parse_state(std::string_view text) {
    for (auto& [st, name] : kNames)
        if (name == text) return st;
    return std::nullopt;
}

}  // namespace ghost::daemon
