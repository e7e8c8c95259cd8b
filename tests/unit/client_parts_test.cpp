// Parts of a client profile that need no session: the reconnect backoff and the -R
// forward bookkeeping.

#include <gtest/gtest.h>

#include "daemon/client/reconnect_policy.hpp"
#include "daemon/client/remote_forwards.hpp"

namespace ghost::daemon::client {
namespace {

using std::chrono::milliseconds;

config::ReconnectConfig reconnect(uint32_t initial_s, uint32_t max_s) {
    config::ReconnectConfig c;
    c.initial_delay_s = initial_s;
    c.max_delay_s = max_s;
    return c;
}

TEST(ReconnectPolicy, BacksOffWithJitterUpToTheCap) {
    ReconnectPolicy p(reconnect(1, 8), false);
    const milliseconds bounds[][2] = {{milliseconds(800), milliseconds(1200)},
                                      {milliseconds(1600), milliseconds(2400)},
                                      {milliseconds(3200), milliseconds(4800)},
                                      {milliseconds(6400), milliseconds(8000)},
                                      {milliseconds(6400), milliseconds(8000)}};
    for (unsigned i = 0; i < 5; ++i) {
        milliseconds d = p.next_delay();
        EXPECT_GE(d, bounds[i][0]) << "attempt " << i;
        EXPECT_LE(d, bounds[i][1]) << "attempt " << i;
        EXPECT_EQ(p.attempt(), i + 1);
    }
    p.connected();
    EXPECT_EQ(p.attempt(), 0u);
    EXPECT_LE(p.next_delay(), milliseconds(1200));
}

TEST(ReconnectPolicy, RetriesOnlyWhatRetryingCanFix) {
    ssh::SessionEnd lost{"connection reset", false};
    ssh::SessionEnd fatal{"host key mismatch", true};

    ReconnectPolicy interactive(reconnect(1, 60), false);
    EXPECT_FALSE(interactive.should_retry(lost));  // the first connection fails at once
    interactive.connected();
    EXPECT_TRUE(interactive.should_retry(lost));
    EXPECT_FALSE(interactive.should_retry(fatal));

    ReconnectPolicy autostart(reconnect(1, 60), true);
    EXPECT_TRUE(autostart.should_retry(lost));
    EXPECT_FALSE(autostart.should_retry(fatal));

    config::ReconnectConfig off = reconnect(1, 60);
    off.enabled = false;
    ReconnectPolicy never(off, true);
    never.connected();
    EXPECT_FALSE(never.should_retry(lost));
}

config::RemoteForwardConfig forward(const std::string& listen, const std::string& target) {
    return {*net::parse_endpoint(listen, nullptr, true), *net::parse_endpoint(target)};
}

TEST(RemoteForwards, StatusShowsEachStateByName) {
    RemoteForwards rf({forward("127.0.0.1:8080", "127.0.0.1:3000"),
                       forward("127.0.0.1:8081", "127.0.0.1:3001"),
                       forward("127.0.0.1:8082", "127.0.0.1:3002")});
    ASSERT_EQ(rf.size(), 3u);
    EXPECT_EQ(rf.to_json()[0]["state"], "pending");
    EXPECT_EQ(rf.requesting(0).target.str(), "127.0.0.1:3000");
    rf.requesting(1);
    EXPECT_EQ(rf.to_json()[0]["state"], "requesting");
    rf.answered(0, true, 8080, "");
    rf.answered(1, false, 0, "port 8081 refused");
    nlohmann::json j = rf.to_json();
    EXPECT_EQ(j[0]["state"], "listening");
    EXPECT_EQ(j[0]["bound_port"], 8080);
    EXPECT_EQ(j[1]["state"], "refused");
    EXPECT_EQ(j[1]["message"], "port 8081 refused");
    EXPECT_EQ(j[2]["state"], "pending");

    rf.reset();
    j = rf.to_json();
    EXPECT_EQ(j[0]["state"], "pending");
    EXPECT_EQ(j[0]["bound_port"], 0);
}

TEST(RemoteForwards, TargetByBoundPortOrByListenAddress) {
    RemoteForwards rf(
        {forward("127.0.0.1:0", "127.0.0.1:3000"), forward("127.0.0.1:9000", "127.0.0.1:4000")});
    EXPECT_FALSE(rf.target("127.0.0.1", 40000));
    rf.answered(0, true, 40000, "");
    ASSERT_TRUE(rf.target("127.0.0.1", 40000));
    EXPECT_EQ(rf.target("127.0.0.1", 40000)->str(), "127.0.0.1:3000");
    // A channel may arrive before the server's reply to the request.
    ASSERT_TRUE(rf.target("127.0.0.1", 9000));
    EXPECT_EQ(rf.target("127.0.0.1", 9000)->str(), "127.0.0.1:4000");
    EXPECT_FALSE(rf.target("10.0.0.1", 9000));
}

}  // namespace
}  // namespace ghost::daemon::client
