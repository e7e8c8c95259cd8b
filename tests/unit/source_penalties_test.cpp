// Per-source penalties (limits.penalties): growth, activation threshold, the max, expiry,
// exemptions, and the bounded table with both overflow modes. Time is passed in.
#include "daemon/server/source_penalties.hpp"

#include <gtest/gtest.h>

using namespace ghost;
using namespace std::chrono_literals;
using daemon::server::PreauthOutcome;
using daemon::server::SourcePenalties;

namespace {

net::IpAddress ip(const char* s) {
    return *net::IpAddress::parse(s);
}
net::Cidr host(const char* s) {
    return net::Cidr::of(ip(s), 128);
}

config::PenaltyConfig defaults() {
    return config::PenaltyConfig{};
}

struct Box {
    explicit Box(config::PenaltyConfig c = defaults()) : p(std::move(c)) {}
    SourcePenalties p;
    SourcePenalties::Clock::time_point t0 = SourcePenalties::Clock::now();

    bool allows(const char* a, std::chrono::seconds at, std::string* why = nullptr) {
        std::string w;
        return p.allows(ip(a), host(a), t0 + at, why ? why : &w);
    }
    std::optional<SourcePenalties::Started> charge(const char* a, PreauthOutcome o,
                                                   std::chrono::seconds at) {
        return p.charge(ip(a), host(a), o, t0 + at);
    }
    int64_t seconds_left(size_t i, std::chrono::seconds at) const {
        return p.status(t0 + at, 16)["sources"][i]["seconds_left"].get<int64_t>();
    }
};

}  // namespace

TEST(SourcePenalties, DeferredUntilMoreThanMinThenRefused) {
    Box b;  // grace_exceeded 10 s, min 15 s
    EXPECT_FALSE(b.charge("192.0.2.1", PreauthOutcome::grace_expired, 0s));
    EXPECT_TRUE(b.allows("192.0.2.1", 1s)) << "10 s outstanding is below min 15 s";
    auto started = b.charge("192.0.2.1", PreauthOutcome::grace_expired, 1s);
    ASSERT_TRUE(started);
    EXPECT_EQ(started->source.str(), "192.0.2.1/32");
    EXPECT_EQ(started->duration, 19s);  // 0 + 10 + 10, seen at t = 1 s
    std::string why;
    EXPECT_FALSE(b.allows("192.0.2.1", 2s, &why));
    EXPECT_EQ(why,
              "192.0.2.1/32 penalised for 18 s more: stalled through login_grace_time "
              "(limits.penalties)");
    EXPECT_TRUE(b.allows("192.0.2.2", 2s)) << "another source is not affected";
    auto st = b.p.status(b.t0 + 2s, 16);
    EXPECT_EQ(st["active"], 1);
    EXPECT_EQ(st["started"], 1);
    EXPECT_EQ(st["sources"][0]["refused"], 1);
}

TEST(SourcePenalties, GrowsWithEachChargeUpToMax) {
    config::PenaltyConfig c;
    c.max_s = 60;
    Box b(c);
    for (int i = 0; i < 3; ++i) b.charge("198.51.100.7", PreauthOutcome::auth_failed, 0s);
    EXPECT_TRUE(b.allows("198.51.100.7", 0s)) << "3 x 5 s is not more than min 15 s";
    b.charge("198.51.100.7", PreauthOutcome::auth_failed, 0s);
    EXPECT_FALSE(b.allows("198.51.100.7", 0s));
    EXPECT_EQ(b.seconds_left(0, 0s), 20);
    for (int i = 0; i < 100; ++i) b.charge("198.51.100.7", PreauthOutcome::auth_failed, 0s);
    EXPECT_EQ(b.seconds_left(0, 0s), 60) << "charges add up to limits.penalties.max";
    EXPECT_FALSE(b.allows("198.51.100.7", 59s));
    EXPECT_TRUE(b.allows("198.51.100.7", 60s)) << "expired at max";
    EXPECT_EQ(b.p.tracked(), 0u) << "an expired entry leaves the table";
}

TEST(SourcePenalties, ExpiresAndStartsAfresh) {
    Box b;
    b.charge("192.0.2.9", PreauthOutcome::grace_expired, 0s);
    b.charge("192.0.2.9", PreauthOutcome::grace_expired, 0s);
    EXPECT_FALSE(b.allows("192.0.2.9", 19s));
    EXPECT_TRUE(b.allows("192.0.2.9", 20s));
    // After expiry one stall is again only deferred.
    EXPECT_FALSE(b.charge("192.0.2.9", PreauthOutcome::grace_expired, 21s));
    EXPECT_TRUE(b.allows("192.0.2.9", 22s));
}

TEST(SourcePenalties, ChargesPerOutcome) {
    config::PenaltyConfig c;
    c.min_s = 0;
    c.no_auth_s = 0;  // switched off
    Box b(c);
    EXPECT_FALSE(b.charge("192.0.2.1", PreauthOutcome::authenticated, 0s));
    EXPECT_FALSE(b.charge("192.0.2.1", PreauthOutcome::aborted, 0s));
    EXPECT_FALSE(b.charge("192.0.2.1", PreauthOutcome::closed, 0s));
    EXPECT_EQ(b.p.tracked(), 0u);
    auto s = b.charge("192.0.2.2", PreauthOutcome::protocol_error, 0s);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->duration, 5s);
    s = b.charge("192.0.2.3", PreauthOutcome::evicted, 0s);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->duration, 10s) << "an eviction costs what a stall does";
    s = b.charge("192.0.2.4", PreauthOutcome::auth_failed, 0s);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->duration, 5s);
}

TEST(SourcePenalties, ExemptSourcesAreNeverCharged) {
    config::PenaltyConfig c;
    c.min_s = 0;
    c.exempt = {*net::Cidr::parse("192.0.2.0/28"), *net::Cidr::parse("2001:db8::/32")};
    Box b(c);
    EXPECT_FALSE(b.charge("192.0.2.15", PreauthOutcome::grace_expired, 0s));
    EXPECT_FALSE(b.charge("2001:db8::1", PreauthOutcome::grace_expired, 0s));
    EXPECT_TRUE(b.allows("192.0.2.15", 1s));
    EXPECT_TRUE(b.charge("192.0.2.16", PreauthOutcome::grace_expired, 0s));
    EXPECT_FALSE(b.allows("192.0.2.16", 1s));
    EXPECT_EQ(b.p.tracked(), 1u);
}

TEST(SourcePenalties, DisabledChargesNothing) {
    config::PenaltyConfig c;
    c.enabled = false;
    c.min_s = 0;
    Box b(c);
    EXPECT_FALSE(b.charge("192.0.2.1", PreauthOutcome::grace_expired, 0s));
    EXPECT_TRUE(b.allows("192.0.2.1", 1s));
}

TEST(SourcePenalties, FullTablePermissiveForgetsSoonestExpiring) {
    config::PenaltyConfig c;
    c.min_s = 0;
    c.max_sources = 3;
    Box b(c);
    b.charge("192.0.2.1", PreauthOutcome::closed, 0s);         // expires at 1 s
    b.charge("192.0.2.2", PreauthOutcome::grace_expired, 0s);  // 10 s
    b.charge("192.0.2.3", PreauthOutcome::grace_expired, 0s);
    b.charge("2001:db8::1", PreauthOutcome::grace_expired, 0s);  // IPv6 has its own table
    EXPECT_TRUE(b.charge("192.0.2.4", PreauthOutcome::grace_expired, 0s));
    auto st = b.p.status(b.t0, 16);
    EXPECT_EQ(st["tracked"], 4);  // 3 IPv4 + 1 IPv6
    EXPECT_EQ(st["forgotten_early"], 1);
    EXPECT_TRUE(b.allows("192.0.2.1", 0s)) << "the soonest-expiring entry made room";
    EXPECT_FALSE(b.allows("192.0.2.4", 0s));
    EXPECT_FALSE(b.allows("2001:db8::1", 0s));
}

TEST(SourcePenalties, FullTableDenyAllRefusesEveryoneButExempt) {
    config::PenaltyConfig c;
    c.min_s = 0;
    c.max_sources = 2;
    c.deny_all_on_overflow = true;
    c.exempt = {*net::Cidr::parse("203.0.113.0/24")};
    Box b(c);
    b.charge("192.0.2.1", PreauthOutcome::grace_expired, 0s);
    b.charge("192.0.2.2", PreauthOutcome::grace_expired, 0s);
    EXPECT_FALSE(b.charge("192.0.2.3", PreauthOutcome::grace_expired, 0s));
    std::string why;
    EXPECT_FALSE(b.allows("198.51.100.1", 1s, &why)) << "a new source while the table is full";
    EXPECT_EQ(why, "penalty table full (2 IPv4 netblocks; limits.penalties.overflow deny-all)");
    EXPECT_TRUE(b.allows("203.0.113.5", 1s)) << "exempt";
    EXPECT_TRUE(b.allows("2001:db8::5", 1s)) << "the IPv6 table is not full";
    EXPECT_EQ(b.p.status(b.t0, 16)["untracked"], 1);
    EXPECT_TRUE(b.allows("198.51.100.1", 10s)) << "room again once penalties expire";
}

TEST(SourcePenalties, StatusListsLongestFirstAndBounded) {
    config::PenaltyConfig c;
    c.min_s = 0;
    Box b(c);
    b.charge("192.0.2.1", PreauthOutcome::auth_failed, 0s);
    b.charge("192.0.2.2", PreauthOutcome::grace_expired, 0s);
    b.charge("192.0.2.3", PreauthOutcome::protocol_error, 0s);
    auto st = b.p.status(b.t0, 2);
    ASSERT_EQ(st["sources"].size(), 2u);
    EXPECT_EQ(st["active"], 3);
    EXPECT_EQ(st["sources"][0]["source"], "192.0.2.2/32");
    EXPECT_EQ(st["sources"][0]["reason"], "stalled through login_grace_time");
    EXPECT_EQ(st["sources"][0]["seconds_left"], 10);
}
