// D-Bus object path escaping and error-name mapping (docs/dbus.md).

#include "daemon/control/dbus_names.hpp"

#include <gtest/gtest.h>

#include "daemon/control/core_api.hpp"

namespace {

using namespace ghost::daemon;

TEST(DbusNames, ProfilePathsEscapeLikeSdBus) {
    EXPECT_EQ(dbus::profile_object_path("work"), "/org/ghost/Ghost1/profile/work");
    EXPECT_EQ(dbus::profile_object_path("work-vpn"), "/org/ghost/Ghost1/profile/work_2dvpn");
    EXPECT_EQ(dbus::profile_object_path("a_b"), "/org/ghost/Ghost1/profile/a_5fb");
    EXPECT_EQ(dbus::profile_object_path("0day"), "/org/ghost/Ghost1/profile/_30day");
    EXPECT_EQ(dbus::profile_object_path(""), "/org/ghost/Ghost1/profile/_");
}

TEST(DbusNames, PathsRoundTrip) {
    for (const char* name : {"work", "work-vpn", "a_b", "0day", "x9-_-z"}) {
        auto back = dbus::profile_name_from_path(dbus::profile_object_path(name));
        ASSERT_TRUE(back.has_value()) << name;
        EXPECT_EQ(*back, name);
    }
    EXPECT_FALSE(dbus::profile_name_from_path("/org/ghost/Ghost1").has_value());
    EXPECT_FALSE(dbus::profile_name_from_path("/org/other/profile/x").has_value());
}

TEST(DbusNames, CoreErrorsMapToDocumentedNames) {
    EXPECT_STREQ(dbus::error_name(errc::not_found), "org.ghost.Ghost1.Error.NotFound");
    EXPECT_STREQ(dbus::error_name(errc::permission_denied),
                 "org.ghost.Ghost1.Error.PermissionDenied");
    EXPECT_STREQ(dbus::error_name(errc::invalid_state), "org.ghost.Ghost1.Error.InvalidState");
    EXPECT_STREQ(dbus::error_name(errc::config_error), "org.ghost.Ghost1.Error.ConfigError");
    EXPECT_STREQ(dbus::error_name(errc::up_failed), "org.ghost.Ghost1.Error.Failed");
    EXPECT_STREQ(dbus::error_name(errc::internal_error), "org.ghost.Ghost1.Error.Failed");
    EXPECT_STREQ(dbus::error_name(errc::invalid_params), "org.freedesktop.DBus.Error.InvalidArgs");
}

}  // namespace
