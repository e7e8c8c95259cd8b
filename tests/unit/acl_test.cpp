#include "common/net/acl.hpp"

#include <gtest/gtest.h>

using namespace ghost;
using net::Acl;

namespace {
net::IpAddress ip(const char* s) {
    return *net::IpAddress::parse(s);
}
net::Cidr cidr(const char* s) {
    return *net::Cidr::parse(s);
}
}  // namespace

TEST(Acl, DefaultsDenyLoopbackLinkLocalSelf) {
    Acl acl(config::AclConfig{}, {ip("192.0.2.10"), ip("2001:db8::10")});
    EXPECT_TRUE(acl.check(ip("198.51.100.7"), 80).allowed);
    auto d = acl.check(ip("127.0.0.1"), 22);
    EXPECT_FALSE(d.allowed);
    EXPECT_EQ(d.reason, "127.0.0.1 is a loopback address (acl.deny_loopback)");
    EXPECT_FALSE(acl.check(ip("127.8.9.10"), 22).allowed);
    EXPECT_FALSE(acl.check(ip("::1"), 22).allowed);
    EXPECT_FALSE(acl.check(ip("::ffff:127.0.0.1"), 22).allowed);  // mapped cannot sneak past
    EXPECT_NE(acl.check(ip("169.254.169.254"), 80).reason.find("link-local"), std::string::npos);
    EXPECT_FALSE(acl.check(ip("fe80::1"), 80).allowed);
    EXPECT_NE(acl.check(ip("192.0.2.10"), 80).reason.find("deny_self"), std::string::npos);
    EXPECT_FALSE(acl.check(ip("::ffff:192.0.2.10"), 80).allowed);
    EXPECT_FALSE(acl.check(ip("2001:db8::10"), 80).allowed);
}

TEST(Acl, UnspecifiedAndMulticastAlwaysDenied) {
    config::AclConfig cfg;
    cfg.deny_loopback = cfg.deny_link_local = cfg.deny_self = false;
    Acl acl(cfg, {});
    EXPECT_NE(acl.check(ip("0.0.0.0"), 80).reason.find("unspecified"), std::string::npos);
    EXPECT_FALSE(acl.check(ip("::"), 80).allowed);
    EXPECT_FALSE(acl.check(ip("224.0.0.1"), 80).allowed);
    EXPECT_FALSE(acl.check(ip("255.255.255.255"), 80).allowed);
    EXPECT_FALSE(acl.check(ip("ff02::1"), 80).allowed);
    EXPECT_TRUE(acl.check(ip("127.0.0.1"), 80).allowed);
    EXPECT_TRUE(acl.check(ip("169.254.1.1"), 80).allowed);
}

TEST(Acl, AllowDenyAndPorts) {
    config::AclConfig cfg;
    cfg.allow = {cidr("198.51.100.0/24"), cidr("2001:db8::/32")};
    cfg.deny = {cidr("198.51.100.1/32")};
    cfg.ports = {22, 443};
    Acl acl(cfg, {});
    EXPECT_TRUE(acl.check(ip("198.51.100.2"), 443).allowed);
    EXPECT_TRUE(acl.check(ip("2001:db8::1"), 22).allowed);
    EXPECT_EQ(acl.check(ip("198.51.100.1"), 443).reason,
              "198.51.100.1 is in acl.deny 198.51.100.1/32");
    EXPECT_EQ(acl.check(ip("203.0.113.1"), 443).reason, "203.0.113.1 is not in acl.allow");
    EXPECT_EQ(acl.check(ip("198.51.100.2"), 80).reason, "port 80 is not in acl.ports");
    EXPECT_TRUE(acl.check(ip("::ffff:198.51.100.2"), 22).allowed);
    // check_host: every rule but the ports (ICMP echo).
    EXPECT_TRUE(acl.check_host(ip("198.51.100.2")).allowed);
    EXPECT_FALSE(acl.check_host(ip("198.51.100.1")).allowed);
    EXPECT_FALSE(acl.check_host(ip("203.0.113.1")).allowed);
}

TEST(Acl, DenyListWithoutAllowList) {
    config::AclConfig cfg;
    cfg.deny = {cidr("10.0.0.0/8")};
    Acl acl(cfg, {});
    EXPECT_FALSE(acl.check(ip("10.2.3.4"), 1).allowed);
    EXPECT_TRUE(acl.check(ip("11.2.3.4"), 1).allowed);
}
