// WindowTuner: the receive-window account of one channel (daemon/ssh/window_tuner.hpp).

#include "daemon/ssh/window_tuner.hpp"

#include <gtest/gtest.h>

namespace {

using ghost::daemon::ssh::WindowBudget;
using ghost::daemon::ssh::WindowSettings;
using ghost::daemon::ssh::WindowTuner;
using namespace std::chrono_literals;
using Clock = WindowTuner::Clock;

constexpr uint32_t kMiB = 1024 * 1024;

WindowSettings settings() {
    return {2 * kMiB, 16 * kMiB, 64ull * kMiB};
}

/// Feeds `bytes` through a channel whose local side drains everything at once.
void flow(WindowTuner& t, uint64_t bytes, Clock::time_point now, std::chrono::microseconds rtt,
          const WindowSettings& s, WindowBudget& b) {
    t.on_packet(bytes, 0, now);
    t.on_delivered(bytes, now, rtt, s, b);
}

TEST(WindowTuner, NoGrantBeforeStart) {
    WindowTuner t(WindowTuner::kAcceptedWindow);
    EXPECT_EQ(t.grant_due(0), 0u);
    EXPECT_EQ(t.window(), WindowTuner::kAcceptedWindow);
}

TEST(WindowTuner, StartGrantsTheInitialWindowAtOnce) {
    WindowTuner t(WindowTuner::kAcceptedWindow);
    t.start_at(2 * kMiB);
    EXPECT_EQ(t.grant_due(0), 2 * kMiB);
    t.granted(2 * kMiB, Clock::now());
    EXPECT_EQ(t.window(), 2 * kMiB);
    EXPECT_EQ(t.grant_due(0), 0u);
}

TEST(WindowTuner, SmallGrantsWaitForAnEighthOfTheTarget) {
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(2 * kMiB);
    t.granted(2 * kMiB, Clock::now());
    t.on_packet(100 * 1024, 0, Clock::now());  // delivered: the window may be topped up by 100 KiB
    EXPECT_EQ(t.grant_due(0), 0u);
    t.on_packet(200 * 1024, 0, Clock::now());  // 300 KiB used: more than 2 MiB / 8
    EXPECT_EQ(t.grant_due(0), 2 * kMiB);
}

TEST(WindowTuner, UndeliveredBytesAreNotGrantedAgain) {
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(2 * kMiB);
    t.granted(2 * kMiB, Clock::now());
    t.on_packet(kMiB, kMiB, Clock::now());  // all of it still buffered: the local reader is stuck
    EXPECT_EQ(t.grant_due(kMiB), 0u);
    EXPECT_EQ(t.grant_due(2 * kMiB), 0u);
}

TEST(WindowTuner, MirrorsLibsshTopUpAfterPacket) {
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.on_packet(60000, 0,
                Clock::now());  // 4,000 left + 0 buffered < 640,000: libssh grants its base
    EXPECT_EQ(t.window(), WindowTuner::kLibsshBase);
    t.on_packet(700000, 700000, Clock::now());  // 580,000 left but 700,000 buffered: no top-up
    EXPECT_EQ(t.window(), WindowTuner::kLibsshBase - 700000);
    t.on_pulled(Clock::now());  // a read with the window under half the base: libssh tops up
    EXPECT_EQ(t.window(), WindowTuner::kLibsshBase);
}

TEST(WindowTuner, GrantBelowLibsshBaseStillGivesTheBase) {
    WindowTuner t(WindowTuner::kAcceptedWindow);
    t.start_at(256 * 1024);
    ASSERT_EQ(t.grant_due(0), 256u * 1024);
    t.granted(256 * 1024, Clock::now());
    EXPECT_EQ(t.window(), WindowTuner::kLibsshBase);
}

TEST(WindowTuner, GrowsOncePerRoundTripWhileWindowLimited) {
    auto s = settings();
    WindowBudget budget(s.session_budget);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(s.initial);
    auto now = Clock::now();
    // A whole window per 100 ms round trip: window-limited.
    for (int i = 0; i <= 20; ++i) flow(t, s.initial / 20, now + i * 5ms, 100ms, s, budget);
    EXPECT_EQ(t.target(), 2 * s.initial);
    EXPECT_EQ(budget.used(), s.initial);
}

TEST(WindowTuner, DoesNotGrowWhenTheReaderIsSlow) {
    auto s = settings();
    WindowBudget budget(s.session_budget);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(s.initial);
    auto now = Clock::now();
    // 1 KB/s delivered for 60 s: never close to a window per round trip.
    for (int i = 0; i < 600; ++i) {
        t.on_packet(100, 0, Clock::now());
        t.on_delivered(100, now + i * 100ms, 100ms, s, budget);
    }
    EXPECT_EQ(t.target(), s.initial);
    EXPECT_EQ(budget.used(), 0u);
}

TEST(WindowTuner, DoesNotGrowOnAShortPath) {
    auto s = settings();
    WindowBudget budget(s.session_budget);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(s.initial);
    auto now = Clock::now();
    // 10 Gbit/s over a 50 us round trip: 62.5 KB per round trip, far below the window.
    for (int i = 0; i < 10000; ++i) flow(t, 6250, now + i * 5us, 50us, s, budget);
    EXPECT_EQ(t.target(), s.initial);
}

TEST(WindowTuner, NoGrowthWithoutAnRtt) {
    auto s = settings();
    WindowBudget budget(s.session_budget);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(s.initial);
    auto now = Clock::now();
    for (int i = 0; i < 100; ++i) flow(t, s.initial, now + i * 100ms, 0us, s, budget);
    EXPECT_EQ(t.target(), s.initial);
}

TEST(WindowTuner, StopsAtTheChannelMaximum) {
    auto s = settings();
    WindowBudget budget(s.session_budget);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(s.initial);
    auto now = Clock::now();
    for (int i = 0; i < 100; ++i) flow(t, s.max, now + i * 100ms, 100ms, s, budget);
    EXPECT_EQ(t.target(), s.max);
    EXPECT_EQ(budget.used(), s.max - s.initial);
}

TEST(WindowTuner, ChannelsShareTheSessionBudget) {
    auto s = settings();
    s.session_budget = 6 * kMiB;
    WindowBudget budget(s.session_budget);
    WindowTuner a(WindowTuner::kOpenedWindow), b(WindowTuner::kOpenedWindow);
    a.start_at(s.initial);
    b.start_at(s.initial);
    auto now = Clock::now();
    for (int i = 0; i < 50; ++i) {
        flow(a, s.max, now + i * 100ms, 100ms, s, budget);
        flow(b, s.max, now + i * 100ms, 100ms, s, budget);
    }
    EXPECT_EQ(budget.used(), 6 * kMiB);
    EXPECT_EQ(a.target() + b.target(), 2 * s.initial + 6 * kMiB);
    a.release(budget);
    EXPECT_EQ(budget.used(), b.target() - s.initial);
    b.release(budget);
    EXPECT_EQ(budget.used(), 0u);
}

TEST(WindowTuner, ZeroBudgetKeepsTheInitialWindow) {
    auto s = settings();
    s.session_budget = 0;
    WindowBudget budget(0);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(s.initial);
    auto now = Clock::now();
    for (int i = 0; i < 50; ++i) flow(t, s.max, now + i * 100ms, 100ms, s, budget);
    EXPECT_EQ(t.target(), s.initial);
}

TEST(WindowTuner, FirstByteBeyondAGrantTimesTheRoundTrip) {
    WindowTuner t(WindowTuner::kOpenedWindow);
    auto t0 = Clock::now();
    t.start_at(2 * kMiB);
    t.granted(2 * kMiB, t0);
    EXPECT_EQ(t.on_packet(WindowTuner::kOpenedWindow, 0, t0 + 30ms).count(), 0);  // old window
    EXPECT_EQ(t.on_packet(1000, 0, t0 + 100ms), std::chrono::microseconds(100ms));
    EXPECT_EQ(t.on_packet(1000, 0, t0 + 120ms).count(), 0);  // one sample per grant
}

TEST(WindowTuner, LibsshTopUpAlsoTimesTheRoundTrip) {
    WindowTuner t(WindowTuner::kOpenedWindow);
    auto t0 = Clock::now();
    t.on_packet(60000, 0, t0);  // libssh grants its base here
    EXPECT_EQ(t.on_packet(10000, 0, t0 + 80ms), std::chrono::microseconds(80ms));
}

TEST(WindowTuner, SendingBeyondTheWindowIsAnOverrun) {
    WindowTuner t(WindowTuner::kAcceptedWindow);
    t.start_at(2 * kMiB);
    t.granted(2 * kMiB, Clock::now());
    // The local reader is stuck: all of it stays buffered, so libssh grants nothing more.
    t.on_packet(2 * kMiB, 2 * kMiB, Clock::now());
    EXPECT_FALSE(t.overrun());
    t.on_packet(300000, 2 * kMiB + 300000, Clock::now());  // 300 KB beyond the window
    EXPECT_TRUE(t.overrun());
}

TEST(WindowTuner, QuietRoundTripsGiveTheGrowthBack) {
    auto s = settings();
    WindowBudget budget(s.session_budget);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(s.initial);
    auto now = Clock::now();
    for (int i = 0; i < 3; ++i) flow(t, s.max, now + i * 100ms, 100ms, s, budget);
    ASSERT_EQ(t.target(), 8 * kMiB);
    // Then a trickle: 10 KB per round trip for 3.7 s halves the window, twice.
    for (int i = 3; i < 40; ++i) flow(t, 10000, now + i * 100ms, 100ms, s, budget);
    EXPECT_EQ(t.target(), 2 * kMiB);
    EXPECT_EQ(budget.used(), 0u);
}

TEST(WindowTuner, GrantKeepsTargetMinusUnconsumed) {
    auto s = settings();
    WindowBudget budget(s.session_budget);
    WindowTuner t(WindowTuner::kOpenedWindow);
    t.start_at(8 * kMiB);
    t.granted(8 * kMiB, Clock::now());
    t.on_packet(4 * kMiB, kMiB, Clock::now());  // 3 MiB delivered, 1 MiB still buffered
    // The peer may send 8 MiB minus what we hold: 7 MiB, of which 4 MiB are open.
    EXPECT_EQ(t.grant_due(kMiB), 7 * kMiB);
    t.granted(7 * kMiB, Clock::now());
    EXPECT_EQ(t.window(), 7 * kMiB);
}

}  // namespace
