#include "common/rpc/slot_pool.hpp"

#include <gtest/gtest.h>

#include "common/rpc/line_queue.hpp"

namespace ghost::rpc {
namespace {

using Verdict = SlotPool::Verdict;
constexpr uid_t kRoot = 0, kNobody = 65534, kAlice = 1000;

// The control socket's defaults: 64 in all, 16 kept for root and group ghost, 8 per uid.
SlotPool clients() {
    return SlotPool({.total = 64, .reserved = 16, .per_uid = 8});
}

TEST(SlotPool, OneUnprivilegedUidStopsAtItsCap) {
    SlotPool pool = clients();
    for (int i = 0; i < 8; ++i) ASSERT_EQ(pool.acquire(kNobody, false), Verdict::granted);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(pool.acquire(kNobody, false), Verdict::per_uid);
    EXPECT_EQ(pool.held_by(kNobody), 8u);
    EXPECT_EQ(pool.in_use(), 8u);
    // Others are not affected.
    EXPECT_EQ(pool.acquire(kAlice, false), Verdict::granted);
    EXPECT_EQ(pool.acquire(kRoot, true), Verdict::granted);
}

TEST(SlotPool, ReserveIsKeptForPrivilegedCallers) {
    SlotPool pool = clients();
    // Six unprivileged users fill the unprivileged share (48 = 64 - 16)...
    for (uid_t uid = 2000; uid < 2006; ++uid)
        for (int i = 0; i < 8; ++i) ASSERT_EQ(pool.acquire(uid, false), Verdict::granted);
    EXPECT_EQ(pool.unprivileged_in_use(), 48u);
    EXPECT_EQ(pool.acquire(2006, false), Verdict::unprivileged_share);
    // ...and root and the control group still get all 16 reserved slots.
    for (int i = 0; i < 10; ++i) ASSERT_EQ(pool.acquire(kRoot, true), Verdict::granted);
    for (int i = 0; i < 6; ++i) ASSERT_EQ(pool.acquire(kAlice, true), Verdict::granted);
    EXPECT_EQ(pool.acquire(kRoot, true), Verdict::total);
    EXPECT_EQ(pool.in_use(), 64u);
}

TEST(SlotPool, PrivilegedCallersHaveNoPerUidCap) {
    SlotPool pool = clients();
    for (int i = 0; i < 64; ++i) ASSERT_EQ(pool.acquire(kRoot, true), Verdict::granted);
    EXPECT_EQ(pool.acquire(kRoot, true), Verdict::total);
    EXPECT_EQ(pool.acquire(kNobody, false), Verdict::total);
}

TEST(SlotPool, ReleaseGivesSlotsBackAndForgetsIdleUids) {
    SlotPool pool = clients();
    for (int i = 0; i < 8; ++i) pool.acquire(kNobody, false);
    pool.acquire(kRoot, true);
    EXPECT_EQ(pool.check(kNobody, false), Verdict::per_uid);
    pool.release(kNobody, false);
    EXPECT_EQ(pool.check(kNobody, false), Verdict::granted);  // check takes nothing
    EXPECT_EQ(pool.check(kNobody, false), Verdict::granted);
    EXPECT_EQ(pool.acquire(kNobody, false), Verdict::granted);
    for (int i = 0; i < 8; ++i) pool.release(kNobody, false);
    pool.release(kRoot, true);
    EXPECT_EQ(pool.in_use(), 0u);
    EXPECT_EQ(pool.unprivileged_in_use(), 0u);
    EXPECT_EQ(pool.uids(), 0u);  // the per-uid table does not grow with uids seen
}

TEST(SlotPool, ChurnNeverLeaks) {
    SlotPool pool = clients();
    for (int round = 0; round < 10000; ++round) {
        const uid_t uid = 3000 + static_cast<uid_t>(round % 97);
        if (pool.acquire(uid, false) == Verdict::granted) pool.release(uid, false);
    }
    EXPECT_EQ(pool.in_use(), 0u);
    EXPECT_EQ(pool.uids(), 0u);
}

TEST(SlotPool, ReserveLargerThanTotalLocksOutOnlyTheUnprivileged) {
    SlotPool pool({.total = 4, .reserved = 10, .per_uid = 8});
    EXPECT_EQ(pool.unprivileged_share(), 0u);
    EXPECT_EQ(pool.acquire(kNobody, false), Verdict::unprivileged_share);
    EXPECT_EQ(pool.acquire(kRoot, true), Verdict::granted);
}

TEST(SlotPool, RefusalsNameTheLimit) {
    SlotPool pool = clients();
    EXPECT_EQ(pool.refusal(Verdict::per_uid, "control connections", kNobody),
              "too many control connections for uid 65534 (limit 8 per user); close some and "
              "try again");
    EXPECT_NE(pool.refusal(Verdict::unprivileged_share, "control connections", kNobody)
                  .find("limit 48; 16 more are kept for root and the control group"),
              std::string::npos);
    EXPECT_NE(
        pool.refusal(Verdict::total, "D-Bus calls in progress", kRoot).find("limit 64 in all"),
        std::string::npos);
    EXPECT_EQ(pool.refusal(Verdict::granted, "x", kRoot), "");
}

TEST(SlotPool, SubscriptionsAndRequestsAreCappedPerUidOnly) {
    SlotPool subs({.per_uid = 4});
    for (int i = 0; i < 4; ++i) ASSERT_EQ(subs.acquire(kNobody, false), Verdict::granted);
    EXPECT_EQ(subs.acquire(kNobody, false), Verdict::per_uid);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(subs.acquire(kRoot, true), Verdict::granted);
}

LineQueue::Line line(size_t n) {
    return std::make_shared<const std::string>(n, 'x');
}

TEST(LineQueue, BoundedInLines) {
    LineQueue q(3, 1 << 20);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.push(line(10)));
    EXPECT_FALSE(q.push(line(10)));
    EXPECT_EQ(q.size(), 3u);
    q.pop();
    EXPECT_TRUE(q.push(line(10)));
}

TEST(LineQueue, BoundedInBytes) {
    LineQueue q(100, 25);
    ASSERT_TRUE(q.push(line(10)));
    ASSERT_TRUE(q.push(line(10)));
    EXPECT_FALSE(q.push(line(10)));  // 30 > 25: refused, nothing queued
    EXPECT_EQ(q.bytes(), 20u);
    EXPECT_TRUE(q.push(line(5)));
    EXPECT_FALSE(q.push(line(1 << 20)));  // larger than the whole bound
    while (!q.empty()) q.pop();
    EXPECT_EQ(q.bytes(), 0u);
}

TEST(LineQueue, OneEventSharedByManySubscribers) {
    auto event = line(200);
    std::vector<LineQueue> subscribers(1000, LineQueue(4096, 4 << 20));
    for (auto& q : subscribers) ASSERT_TRUE(q.push(event));
    EXPECT_EQ(event.use_count(), 1001);  // stored once
    EXPECT_EQ(&subscribers[0].front(), &subscribers[999].front());
}

}  // namespace
}  // namespace ghost::rpc
