#include "common/tun/cidr_set.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ghost::tun {
namespace {

std::vector<net::Cidr> cidrs(std::initializer_list<const char*> list) {
    std::vector<net::Cidr> out;
    for (const char* c : list) out.push_back(*net::Cidr::parse(c));
    return out;
}

std::vector<std::string> strs(const std::vector<net::Cidr>& list) {
    std::vector<std::string> out;
    for (const auto& c : list) out.push_back(c.str());
    std::sort(out.begin(), out.end());
    return out;
}

TEST(NatCidrSet, NoExcludeKeepsRoutesWithoutCoveredDuplicates) {
    auto r = subtract_cidrs(cidrs({"10.0.0.0/8", "10.1.0.0/16", "10.0.0.0/8", "fd00::/8"}), {});
    ASSERT_TRUE(r);
    EXPECT_EQ(strs(*r), (std::vector<std::string>{"10.0.0.0/8", "fd00::/8"}));
}

TEST(NatCidrSet, ExcludeCarvesAHole) {
    auto r = subtract_cidrs(cidrs({"10.0.0.0/8"}), cidrs({"10.1.0.0/16"}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size(), 8u);  // one sibling per level from /9 to /16
    for (const auto& c : *r) EXPECT_FALSE(c.contains(*net::IpAddress::parse("10.1.2.3")));
    for (const char* ip : {"10.0.0.1", "10.2.0.1", "10.128.0.1", "10.255.255.255"}) {
        bool covered = std::any_of(r->begin(), r->end(), [&](const net::Cidr& c) {
            return c.contains(*net::IpAddress::parse(ip));
        });
        EXPECT_TRUE(covered) << ip;
    }
}

TEST(NatCidrSet, ExcludeCoveringARouteRemovesIt) {
    auto r = subtract_cidrs(cidrs({"10.1.2.0/24", "192.168.0.0/16"}), cidrs({"10.0.0.0/8"}));
    ASSERT_TRUE(r);
    EXPECT_EQ(strs(*r), (std::vector<std::string>{"192.168.0.0/16"}));
}

TEST(NatCidrSet, FamiliesDoNotMix) {
    auto r = subtract_cidrs(cidrs({"0.0.0.0/0", "::/0"}), cidrs({"2001:db8::/32"}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size(), 1u + 32u);
    EXPECT_EQ(std::count_if(r->begin(), r->end(), [](const net::Cidr& c) { return !c.address.v6; }),
              1);
}

TEST(NatCidrSet, TooManyPrefixesIsAnError) {
    std::vector<net::Cidr> ex;
    for (int i = 0; i < 200; ++i)
        ex.push_back(*net::Cidr::parse("2001:db8:" + std::to_string(i) + "::1/128"));
    std::string why;
    EXPECT_FALSE(subtract_cidrs(cidrs({"::/0"}), ex, &why));
    EXPECT_NE(why.find("more than 4096"), std::string::npos) << why;
}

}  // namespace
}  // namespace ghost::tun
