#include "common/rpc/authz.hpp"

#include <gtest/gtest.h>

namespace ghost::rpc {
namespace {

Caller user(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
    Caller c;
    c.uid = uid;
    c.gid = gid;
    c.groups = std::move(groups);
    return c;
}

TEST(Authz, ReadOnlyForEveryone) {
    EXPECT_EQ(authorize(user(65534, 65534), false, 990), Decision::allow);
    EXPECT_EQ(authorize(user(65534, 65534), false, std::nullopt), Decision::allow);
}

TEST(Authz, MutatingForRoot) {
    EXPECT_EQ(authorize(user(0, 0), true, std::nullopt), Decision::allow);
}

TEST(Authz, MutatingForControlGroupMembers) {
    EXPECT_EQ(authorize(user(1000, 1000, {1000, 990}), true, 990), Decision::allow);
    EXPECT_EQ(authorize(user(1000, 990), true, 990), Decision::allow);
}

TEST(Authz, MutatingDeniedOtherwise) {
    EXPECT_EQ(authorize(user(1000, 1000, {1000, 27}), true, 990), Decision::deny);
    EXPECT_EQ(authorize(user(1000, 1000, {990}), true, std::nullopt), Decision::deny);
}

TEST(Authz, PrivilegedIsRootOrTheControlGroup) {
    EXPECT_TRUE(privileged(user(0, 0), std::nullopt));
    EXPECT_TRUE(privileged(user(1000, 990), 990));
    EXPECT_TRUE(privileged(user(1000, 1000, {27, 990}), 990));
    EXPECT_FALSE(privileged(user(65534, 65534), 990));
    EXPECT_FALSE(privileged(user(1000, 1000, {990}), std::nullopt));
    EXPECT_FALSE(privileged(Caller{}, 990));  // unknown caller (SO_PEERCRED failed)
    // authorize() and the reserved slots use the same notion.
    for (const Caller& c : {user(0, 0), user(1000, 990), user(65534, 65534)})
        EXPECT_EQ(authorize(c, true, 990) == Decision::allow, privileged(c, 990));
}

TEST(Authz, DenialMessageSaysWhatToDo) {
    auto m = denial_message("profile.up", "ghost", "alice");
    EXPECT_NE(m.find("permission denied"), std::string::npos);
    EXPECT_NE(m.find("usermod -aG ghost alice"), std::string::npos);
}

}  // namespace
}  // namespace ghost::rpc
