// Admission of unauthenticated connections: per-netblock caps, oldest-first eviction at
// the total cap, and outcomes reported by the slot turning into penalties.
#include "daemon/server/startup_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace ghost;
using daemon::server::PreauthOutcome;
using daemon::server::SourcePenalties;
using daemon::server::StartupLimiter;
using daemon::server::StartupSlot;

namespace {

net::IpAddress ip(const char* s) {
    return *net::IpAddress::parse(s);
}

config::LimitsConfig limits(uint32_t per_source, uint32_t total) {
    config::LimitsConfig l;
    l.max_startups = per_source;
    l.max_startups_total = total;
    l.penalties.min_s = 0;  // every charge is refused at once: easier to observe
    return l;
}

struct Fixture {
    explicit Fixture(const config::LimitsConfig& l)
        : limiter(std::make_shared<StartupLimiter>(
              l, [this](const SourcePenalties::Started& s) { started.push_back(s); })) {}

    /// Admits from `a`; the slot records its eviction in `evicted[index]`.
    bool admit(const char* a, std::string* why = nullptr) {
        StartupSlot slot;
        std::string w;
        if (!limiter->admit(ip(a), &slot, why ? why : &w)) return false;
        size_t index = evicted.size();
        evicted.push_back(false);
        slot.on_evict(io, [this, index] { evicted[index] = true; });
        slots.push_back(std::move(slot));
        return true;
    }
    nlohmann::json status() const { return limiter->status(); }

    asio::io_context io;
    std::vector<SourcePenalties::Started> started;
    std::vector<bool> evicted;
    std::shared_ptr<StartupLimiter> limiter;
    std::vector<StartupSlot> slots;  // destroyed first (members in reverse order)
};

}  // namespace

TEST(StartupLimiter, PerSourceCapNamesTheLimit) {
    Fixture f(limits(2, 100));
    EXPECT_TRUE(f.admit("192.0.2.1"));
    EXPECT_TRUE(f.admit("192.0.2.1"));
    std::string why;
    EXPECT_FALSE(f.admit("192.0.2.1", &why));
    EXPECT_EQ(why,
              "too many unauthenticated connections from 192.0.2.1/32 (2, limits.max_startups)");
    EXPECT_TRUE(f.admit("192.0.2.2")) << "another /32 has its own count";
    f.slots[0].release(PreauthOutcome::authenticated);
    EXPECT_TRUE(f.admit("192.0.2.1")) << "a released slot frees the source's count";
    EXPECT_EQ(f.status()["refused_per_source"], 1);
}

TEST(StartupLimiter, SourcesGroupByNetblock) {
    auto l = limits(1, 100);
    l.source_netblock_v4 = 24;
    Fixture f(l);
    EXPECT_TRUE(f.admit("2001:db8:1:2::1"));
    EXPECT_FALSE(f.admit("2001:db8:1:2:ffff::9")) << "same /64 by default";
    EXPECT_TRUE(f.admit("2001:db8:1:3::1")) << "next /64";
    EXPECT_TRUE(f.admit("198.51.100.1"));
    std::string why;
    EXPECT_FALSE(f.admit("198.51.100.200", &why)) << "same /24";
    EXPECT_NE(why.find("198.51.100.0/24"), std::string::npos) << why;
    EXPECT_FALSE(f.admit("::ffff:198.51.100.7")) << "an IPv4-mapped address is its IPv4 address";
    EXPECT_TRUE(f.admit("198.51.101.1"));
}

TEST(StartupLimiter, AtTheTotalCapTheOldestIsEvicted) {
    Fixture f(limits(10, 3));
    ASSERT_TRUE(f.admit("192.0.2.1"));
    ASSERT_TRUE(f.admit("192.0.2.2"));
    ASSERT_TRUE(f.admit("192.0.2.3"));
    ASSERT_TRUE(f.admit("192.0.2.4")) << "admitted, not refused";
    f.io.run();
    f.io.restart();
    EXPECT_EQ(f.evicted, (std::vector<bool>{true, false, false, false}));
    EXPECT_EQ(f.limiter->total(), 3u);
    f.slots[2].release(PreauthOutcome::authenticated);  // frees a place: no eviction
    ASSERT_TRUE(f.admit("192.0.2.5"));
    ASSERT_TRUE(f.admit("192.0.2.6"));
    f.io.run();
    EXPECT_EQ(f.evicted, (std::vector<bool>{true, true, false, false, false, false}));
    auto st = f.status();
    EXPECT_EQ(st["evicted"], 2);
    EXPECT_EQ(st["outcomes"]["evicted"], 2);
    EXPECT_EQ(st["unauthenticated"], 3);
    EXPECT_EQ(st["peak"], 3);
}

TEST(StartupLimiter, EvictedBeforeRegisteringIsClosedOnRegistration) {
    Fixture f(limits(10, 1));
    StartupSlot first;
    std::string why;
    ASSERT_TRUE(f.limiter->admit(ip("192.0.2.1"), &first, &why));
    ASSERT_TRUE(f.admit("192.0.2.2"));  // evicts `first`, which has no callback yet
    bool closed = false;
    first.on_evict(f.io, [&] { closed = true; });
    f.io.run();
    EXPECT_TRUE(closed);
    first.release(PreauthOutcome::closed);  // already out of the books: no double count
    EXPECT_EQ(f.limiter->total(), 1u);
    EXPECT_EQ(f.status()["outcomes"]["closed"], 0);
}

TEST(StartupLimiter, EvictionChargesTheEvictedSource) {
    Fixture f(limits(10, 1));
    ASSERT_TRUE(f.admit("192.0.2.1"));
    ASSERT_TRUE(f.admit("192.0.2.2"));
    ASSERT_EQ(f.started.size(), 1u);
    EXPECT_EQ(f.started[0].source.str(), "192.0.2.1/32");
    EXPECT_EQ(f.started[0].reason, PreauthOutcome::evicted);
    std::string why;
    EXPECT_FALSE(f.admit("192.0.2.1", &why)) << "a penalised source cannot evict anyone";
    EXPECT_NE(why.find("stalled until evicted"), std::string::npos) << why;
    f.io.run();
    EXPECT_EQ(f.evicted, (std::vector<bool>{true, false}));
    EXPECT_EQ(f.status()["refused_penalised"], 1);
}

TEST(StartupLimiter, OutcomesBecomePenalties) {
    auto l = limits(10, 100);
    l.penalties.exempt = {*net::Cidr::parse("203.0.113.0/24")};
    Fixture f(l);
    ASSERT_TRUE(f.admit("192.0.2.1"));
    ASSERT_TRUE(f.admit("192.0.2.2"));
    ASSERT_TRUE(f.admit("192.0.2.3"));
    ASSERT_TRUE(f.admit("203.0.113.1"));
    f.slots[0].release(PreauthOutcome::authenticated);
    f.slots[1].note(PreauthOutcome::auth_failed);
    f.slots[1].release();  // ends with the noted outcome
    f.slots[2].release(PreauthOutcome::grace_expired);
    f.slots[2].release(PreauthOutcome::protocol_error);  // idempotent
    f.slots[3].release(PreauthOutcome::grace_expired);
    EXPECT_TRUE(f.admit("192.0.2.1")) << "authenticated: no penalty";
    std::string why;
    EXPECT_FALSE(f.admit("192.0.2.2", &why));
    EXPECT_NE(why.find("failed authentication"), std::string::npos) << why;
    EXPECT_FALSE(f.admit("192.0.2.3"));
    EXPECT_TRUE(f.admit("203.0.113.1")) << "exempt";
    ASSERT_EQ(f.started.size(), 2u);
    auto st = f.status();
    EXPECT_EQ(st["outcomes"]["authenticated"], 1);
    EXPECT_EQ(st["outcomes"]["auth_failed"], 1);
    EXPECT_EQ(st["outcomes"]["grace_expired"], 2);
    EXPECT_EQ(st["outcomes"]["protocol_error"], 0);
    EXPECT_EQ(st["penalties"]["active"], 2);
}

TEST(StartupLimiter, DestroyedSlotReleasesAsClosed) {
    auto l = limits(10, 100);
    l.penalties.no_auth_s = 20;
    Fixture f(l);
    {
        StartupSlot s;
        std::string why;
        ASSERT_TRUE(f.limiter->admit(ip("192.0.2.1"), &s, &why));
    }
    EXPECT_EQ(f.limiter->total(), 0u);
    EXPECT_EQ(f.status()["outcomes"]["closed"], 1);
    EXPECT_FALSE(f.admit("192.0.2.1"));
}

TEST(StartupLimiter, ClosedLimiterChargesNothing) {
    Fixture f(limits(10, 100));
    ASSERT_TRUE(f.admit("192.0.2.1"));
    f.limiter->close();
    f.slots[0].release(PreauthOutcome::grace_expired);
    EXPECT_TRUE(f.started.empty());
    EXPECT_EQ(f.status()["penalties"]["tracked"], 0);
}
