#pragma once
/// The names ghost uses on D-Bus (docs/dbus.md): bus name, object paths, interfaces and
/// error names, plus the mapping from core error codes to D-Bus error names.

#include <optional>
#include <string>
#include <string_view>

namespace ghost::daemon::dbus {

inline constexpr const char* kBusName = "org.ghost.Ghost1";
inline constexpr const char* kManagerPath = "/org/ghost/Ghost1";
inline constexpr const char* kProfilePathPrefix = "/org/ghost/Ghost1/profile";
inline constexpr const char* kManagerInterface = "org.ghost.Ghost1.Manager";
inline constexpr const char* kProfileInterface = "org.ghost.Ghost1.Profile";

inline constexpr const char* kErrorNotFound = "org.ghost.Ghost1.Error.NotFound";
inline constexpr const char* kErrorPermissionDenied = "org.ghost.Ghost1.Error.PermissionDenied";
inline constexpr const char* kErrorInvalidState = "org.ghost.Ghost1.Error.InvalidState";
inline constexpr const char* kErrorConfigError = "org.ghost.Ghost1.Error.ConfigError";
inline constexpr const char* kErrorFailed = "org.ghost.Ghost1.Error.Failed";
inline constexpr const char* kErrorInvalidArgs = "org.freedesktop.DBus.Error.InvalidArgs";

/// The object path of a profile: the name escaped like sd_bus_path_encode ("work-vpn" →
/// "/org/ghost/Ghost1/profile/work_2dvpn").
std::string profile_object_path(std::string_view profile_name);
/// The profile name of an object path made by profile_object_path(); nullopt otherwise.
std::optional<std::string> profile_name_from_path(std::string_view object_path);
/// The D-Bus error name for a core error code (errc::*); unknown codes map to Failed.
const char* error_name(int core_error_code);

}  // namespace ghost::daemon::dbus
