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

TEST(Authz, DenialMessageSaysWhatToDo) {
    auto m = denial_message("profile.up", "ghost", "alice");
    EXPECT_NE(m.find("permission denied"), std::string::npos);
    EXPECT_NE(m.find("usermod -aG ghost alice"), std::string::npos);
}

}  // namespace
}  // namespace ghost::rpc
