#include "common/net/endpoint.hpp"

#include <gtest/gtest.h>

namespace ghost::net {
namespace {

std::string why_of_endpoint(std::string_view text) {
    std::string why;
    EXPECT_FALSE(parse_endpoint(text, &why)) << text;
    return why;
}

TEST(Endpoint, ParsesIpv4HostAndPort) {
    auto ep = parse_endpoint("192.0.2.1:22");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->host, "192.0.2.1");
    EXPECT_EQ(ep->port, 22);
    EXPECT_EQ(ep->str(), "192.0.2.1:22");
}

TEST(Endpoint, ParsesBracketedIpv6) {
    auto ep = parse_endpoint("[2001:db8::1]:443");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->host, "2001:db8::1");
    EXPECT_EQ(ep->port, 443);
    EXPECT_EQ(ep->str(), "[2001:db8::1]:443");
}

TEST(Endpoint, ParsesHostName) {
    auto ep = parse_endpoint("ssh.example.com:65535");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->host, "ssh.example.com");
    EXPECT_EQ(ep->port, 65535);
}

TEST(Endpoint, RejectsBadPorts) {
    EXPECT_NE(why_of_endpoint("192.0.2.1:0").find("invalid port '0'"), std::string::npos);
    EXPECT_NE(why_of_endpoint("192.0.2.1:65536").find("1..65535"), std::string::npos);
    EXPECT_NE(why_of_endpoint("192.0.2.1:-1").find("invalid port"), std::string::npos);
    EXPECT_NE(why_of_endpoint("192.0.2.1:+22").find("invalid port"), std::string::npos);
    EXPECT_NE(why_of_endpoint("192.0.2.1:99999999999").find("invalid port"), std::string::npos);
    EXPECT_EQ(why_of_endpoint("192.0.2.1:"), "missing port");
    EXPECT_NE(why_of_endpoint("192.0.2.1").find("missing port"), std::string::npos);
    EXPECT_EQ(why_of_endpoint("[2001:db8::1]"), "missing port");
}

TEST(Endpoint, AllowsPortZeroOnlyWhenAsked) {
    EXPECT_FALSE(parse_endpoint("127.0.0.1:0"));
    auto ep = parse_endpoint("127.0.0.1:0", nullptr, true);
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->port, 0);
}

TEST(Endpoint, RejectsBadHosts) {
    EXPECT_EQ(why_of_endpoint(":22"), "empty host");
    EXPECT_EQ(why_of_endpoint("[]:22"), "empty host");
    EXPECT_NE(why_of_endpoint("2001:db8::1:22").find("must be in brackets"), std::string::npos);
    EXPECT_NE(why_of_endpoint("[192.0.2.1]:22").find("invalid IPv6"), std::string::npos);
    EXPECT_NE(why_of_endpoint("[2001:db8::1:22").find("missing ']'"), std::string::npos);
    EXPECT_NE(why_of_endpoint("256.1.1.1:22").find("invalid IPv4"), std::string::npos);
    EXPECT_NE(why_of_endpoint("bad_host:22").find("invalid host name"), std::string::npos);
    EXPECT_NE(why_of_endpoint("-bad.example:22").find("invalid host name"), std::string::npos);
}

TEST(Endpoint, ParseListenDefaultsHost) {
    auto ep = parse_listen("1080", "127.0.0.1");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->str(), "127.0.0.1:1080");
    ep = parse_listen("[::1]:1080", "127.0.0.1");
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->host, "::1");
    std::string why;
    EXPECT_FALSE(parse_listen("0", "127.0.0.1", &why));
    EXPECT_NE(why.find("invalid port"), std::string::npos);
    EXPECT_FALSE(parse_listen("", "127.0.0.1", &why));
}

TEST(Hostname, Rules) {
    EXPECT_TRUE(is_valid_hostname("localhost"));
    EXPECT_TRUE(is_valid_hostname("a-b.example.com."));
    EXPECT_FALSE(is_valid_hostname(""));
    EXPECT_FALSE(is_valid_hostname("a..b"));
    EXPECT_FALSE(is_valid_hostname("a b"));
    EXPECT_FALSE(is_valid_hostname(std::string(64, 'a') + ".com"));
    EXPECT_FALSE(is_valid_hostname(std::string(254, 'a')));
}

TEST(IpAddress, ParseAndFormat) {
    auto v4 = IpAddress::parse("192.0.2.7");
    ASSERT_TRUE(v4);
    EXPECT_FALSE(v4->v6);
    EXPECT_EQ(v4->str(), "192.0.2.7");
    auto v6 = IpAddress::parse("2001:DB8:0:0::1");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->v6);
    EXPECT_EQ(v6->str(), "2001:db8::1");
    EXPECT_FALSE(IpAddress::parse("192.0.2"));
    EXPECT_FALSE(IpAddress::parse("example.com"));
    EXPECT_FALSE(IpAddress::parse(""));
}

TEST(IpAddress, Classes) {
    EXPECT_TRUE(IpAddress::parse("127.1.2.3")->is_loopback());
    EXPECT_TRUE(IpAddress::parse("::1")->is_loopback());
    EXPECT_TRUE(IpAddress::parse("::ffff:127.0.0.1")->is_loopback());
    EXPECT_FALSE(IpAddress::parse("192.0.2.1")->is_loopback());
    EXPECT_TRUE(IpAddress::parse("169.254.1.1")->is_link_local());
    EXPECT_TRUE(IpAddress::parse("fe80::1")->is_link_local());
    EXPECT_FALSE(IpAddress::parse("fec0::1")->is_link_local());
    EXPECT_TRUE(IpAddress::parse("0.0.0.0")->is_unspecified());
    EXPECT_TRUE(IpAddress::parse("::")->is_unspecified());
    EXPECT_FALSE(IpAddress::parse("::1")->is_unspecified());
}

TEST(Cidr, ParsesAndContains) {
    auto c = Cidr::parse("10.0.0.0/8");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->str(), "10.0.0.0/8");
    EXPECT_TRUE(c->contains(*IpAddress::parse("10.200.3.4")));
    EXPECT_FALSE(c->contains(*IpAddress::parse("11.0.0.1")));
    EXPECT_FALSE(c->contains(*IpAddress::parse("::ffff:10.0.0.1")));

    auto v6 = Cidr::parse("2001:db8::/32");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
    EXPECT_FALSE(v6->contains(*IpAddress::parse("2001:db9::1")));

    auto odd = Cidr::parse("192.0.2.128/25");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->contains(*IpAddress::parse("192.0.2.200")));
    EXPECT_FALSE(odd->contains(*IpAddress::parse("192.0.2.100")));

    auto all = Cidr::parse("0.0.0.0/0");
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->contains(*IpAddress::parse("203.0.113.9")));
}

TEST(Cidr, OfMasksToTheNetblock) {
    auto ip = [](const char* s) { return *IpAddress::parse(s); };
    EXPECT_EQ(Cidr::of(ip("192.0.2.77"), 24).str(), "192.0.2.0/24");
    EXPECT_EQ(Cidr::of(ip("192.0.2.77"), 64).str(), "192.0.2.77/32") << "clamped to the family";
    EXPECT_EQ(Cidr::of(ip("2001:db8:1:2:3:4:5:6"), 64).str(), "2001:db8:1:2::/64");
    EXPECT_EQ(Cidr::of(ip("2001:db8::1"), 0).str(), "::/0");
    EXPECT_TRUE(Cidr::of(ip("2001:db8::1"), 48).contains(ip("2001:db8:0:ffff::9")));
}

TEST(IpAddress, UnmappedAndOrdered) {
    auto ip = [](const char* s) { return *IpAddress::parse(s); };
    EXPECT_EQ(ip("::ffff:192.0.2.1").unmapped(), ip("192.0.2.1"));
    EXPECT_EQ(ip("2001:db8::1").unmapped(), ip("2001:db8::1"));
    EXPECT_EQ(ip("192.0.2.1").unmapped(), ip("192.0.2.1"));
    EXPECT_LT(ip("192.0.2.1"), ip("192.0.2.2"));
    EXPECT_LT(ip("192.0.2.1"), ip("::1")) << "IPv4 before IPv6";
}

TEST(Cidr, BareAddressIsHostPrefix) {
    EXPECT_EQ(Cidr::parse("192.0.2.1")->prefix_len, 32);
    EXPECT_EQ(Cidr::parse("2001:db8::1")->prefix_len, 128);
}

TEST(Cidr, RejectsHostBitsWithSuggestion) {
    std::string why;
    EXPECT_FALSE(Cidr::parse("10.1.2.3/8", &why));
    EXPECT_EQ(why, "host bits set, did you mean 10.0.0.0/8?");
    EXPECT_FALSE(Cidr::parse("2001:db8::1/32", &why));
    EXPECT_EQ(why, "host bits set, did you mean 2001:db8::/32?");
}

TEST(Cidr, RejectsBadInput) {
    std::string why;
    EXPECT_FALSE(Cidr::parse("10.0.0.0/33", &why));
    EXPECT_NE(why.find("invalid prefix length '33' (must be 0..32)"), std::string::npos);
    EXPECT_FALSE(Cidr::parse("2001:db8::/129", &why));
    EXPECT_FALSE(Cidr::parse("10.0.0.0/", &why));
    EXPECT_FALSE(Cidr::parse("10.0.0.0/-1", &why));
    EXPECT_FALSE(Cidr::parse("10.0.0/8", &why));
    EXPECT_NE(why.find("invalid IP address '10.0.0'"), std::string::npos);
    EXPECT_FALSE(Cidr::parse("/8", &why));
    EXPECT_FALSE(Cidr::parse("", &why));
}

}  // namespace
}  // namespace ghost::net
