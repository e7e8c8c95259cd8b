#include "daemon/client/dns_forwarder.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ghost::daemon::client {
namespace {

// A query for "a.example" type A, class IN, with id 0x1234, RD set, and an EDNS OPT record.
std::vector<uint8_t> query() {
    std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
    for (int b : {1, int('a'), 7, int('e'), int('x'), int('a'), int('m'), int('p'), int('l'), int('e'), 0})
        q.push_back(static_cast<uint8_t>(b));
    for (int b : {0, 1, 0, 1}) q.push_back(static_cast<uint8_t>(b));                        // QTYPE A, QCLASS IN
    for (int b : {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0}) q.push_back(static_cast<uint8_t>(b));  // OPT
    return q;
}

TEST(DnsServfail, KeepsIdAndQuestionDropsTheRest) {
    auto q = query();
    auto r = dns_servfail(q);
    ASSERT_EQ(r.size(), 12u + 11u + 4u);  // header + QNAME + QTYPE/QCLASS; OPT gone
    EXPECT_EQ(r[0], 0x12);
    EXPECT_EQ(r[1], 0x34);
    EXPECT_EQ(r[2] & 0x80, 0x80);  // QR
    EXPECT_EQ(r[2] & 0x01, 0x01);  // RD copied
    EXPECT_EQ(r[3] & 0x0f, 2);     // SERVFAIL
    EXPECT_EQ(r[3] & 0x80, 0x80);  // RA
    EXPECT_EQ(r[5], 1);            // one question
    EXPECT_EQ(r[11], 0);           // no additional records
    EXPECT_TRUE(std::equal(r.begin() + 12, r.end(), q.begin() + 12));
}

TEST(DnsServfail, MalformedQuestionGivesBareHeader) {
    auto q = query();
    q[12] = 0xc0;  // a compression pointer where a label must be
    auto r = dns_servfail(q);
    ASSERT_EQ(r.size(), 12u);
    EXPECT_EQ(r[5], 0);  // no question
    EXPECT_TRUE(dns_servfail({1, 2, 3}).empty());  // not even a header
    q.resize(20);                                   // label runs off the end
    EXPECT_EQ(dns_servfail(q).size(), 12u);
}

TEST(DnsTruncated, KeepsHeaderAndQuestionWithTc) {
    auto a = query();
    a[2] |= 0x80;                                       // a response
    a.insert(a.end(), 70000 - a.size(), 0);             // far too big for UDP
    auto t = dns_truncated(a);
    ASSERT_EQ(t.size(), 12u + 11u + 4u);
    EXPECT_EQ(t[2] & 0x02, 0x02);  // TC
    EXPECT_EQ(t[2] & 0x80, 0x80);  // still a response
    EXPECT_LE(t.size(), kMaxUdpDnsAnswer);
    EXPECT_TRUE(dns_truncated({1, 2}).empty());
}

}  // namespace
}  // namespace ghost::daemon::client
