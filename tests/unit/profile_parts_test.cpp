// The profile manager's parts that need no runner: the directory loader, the bounded
// reply list, the stats counters and the event bus.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/profile/event_bus.hpp"
#include "daemon/profile/loader.hpp"
#include "daemon/profile/stats.hpp"
#include "daemon/profile/waiters.hpp"

namespace ghost::daemon {
namespace {

namespace fs = std::filesystem;

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/ghost-profile-parts-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path_); }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name) << text;
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

TEST(ProfileLoader, ReadsValidInvalidAndConflictingProfiles) {
    TempDir dir;
    dir.write("a.json", R"({"server": "192.0.2.1:22", "socks5": {"listen": "127.0.0.1:1080"}})");
    dir.write("b.json", R"({"server": "192.0.2.2:22", "socks5": {"listen": "127.0.0.1:1080"}})");
    dir.write("broken.json", "{");
    dir.write("Bad Name.json", "{}");
    dir.write("notes.txt", "not a profile");

    LoadedProfiles loaded = load_profiles(dir.path());
    ASSERT_EQ(loaded.profiles.size(), 3u);
    ASSERT_EQ(loaded.errors.size(), 1u);  // the bad name
    EXPECT_NE(loaded.errors[0].str().find("invalid profile name"), std::string::npos);

    const LoadedProfile& a = loaded.profiles.at("a");
    ASSERT_TRUE(a.profile);
    EXPECT_TRUE(a.errors.empty());
    EXPECT_NE(a.text.find("192.0.2.1"), std::string::npos);
    // b binds what a binds: the later one by name is invalid.
    EXPECT_FALSE(loaded.profiles.at("b").profile);
    EXPECT_FALSE(loaded.profiles.at("b").errors.empty());
    EXPECT_FALSE(loaded.profiles.at("broken").profile);
    EXPECT_FALSE(loaded.profiles.at("broken").errors.empty());
}

TEST(ProfileLoader, MissingDirectoryIsEmpty) {
    LoadedProfiles loaded = load_profiles("/nonexistent/ghost/profiles");
    EXPECT_TRUE(loaded.profiles.empty());
    EXPECT_TRUE(loaded.errors.empty());
}

TEST(ProfileLoader, ErrorsJsonAndSameErrors) {
    std::vector<config::Error> a = {{"f", "k", "1", "bad"}};
    std::vector<config::Error> b = a;
    EXPECT_TRUE(same_errors(a, b));
    b[0].message = "worse";
    EXPECT_FALSE(same_errors(a, b));
    EXPECT_EQ(errors_json(a), nlohmann::json::array({a[0].str()}));
}

TEST(Waiters, AnswersEveryReplyOnceAndRefusesBeyondTheBound) {
    Waiters w;
    int answered = 0;
    for (size_t i = 0; i < Waiters::kMax; ++i)
        w.add("p", [&](ProfileResult r) { answered += r.ok ? 1 : 100; });
    std::optional<ProfileResult> refused;
    w.add("p", [&](ProfileResult r) { refused = std::move(r); });
    ASSERT_TRUE(refused);
    EXPECT_FALSE(refused->ok);
    EXPECT_EQ(refused->failure, ProfileFailure::invalid_state);
    EXPECT_EQ(refused->message, "too many clients waiting for 'p'");

    w.answer_all(ProfileResult::success({{"state", "up"}}));
    EXPECT_EQ(answered, static_cast<int>(Waiters::kMax));
    EXPECT_TRUE(w.empty());
    w.answer_all(ProfileResult::success(nullptr));
    EXPECT_EQ(answered, static_cast<int>(Waiters::kMax));
}

TEST(ByteCounters, EventOnlyWhenTheCountersMove) {
    ByteCounters c;
    EXPECT_FALSE(c.event_if_moved("p", {{"bytes_in", 0}, {"bytes_out", 0}}));
    auto ev = c.event_if_moved("p", {{"bytes_in", 10}, {"bytes_out", 3}});
    ASSERT_TRUE(ev);
    EXPECT_EQ((*ev)["type"], "stats");
    EXPECT_EQ((*ev)["profile"], "p");
    EXPECT_EQ((*ev)["bytes_in"], 10);
    EXPECT_EQ((*ev)["bytes_out"], 3);
    EXPECT_FALSE(c.event_if_moved("p", {{"bytes_in", 10}, {"bytes_out", 3}}));
}

TEST(EventBus, SinkMayUnsubscribeWhilePublishing) {
    EventBus bus;
    int first = 0, second = 0;
    uint64_t id2 = 0;
    bus.subscribe([&](const nlohmann::json& ev) {
        ++first;
        EXPECT_TRUE(ev.contains("time"));
        bus.unsubscribe(id2);
    });
    id2 = bus.subscribe([&](const nlohmann::json&) { ++second; });
    bus.publish({{"type", "x"}});
    bus.publish({{"type", "y"}});
    EXPECT_EQ(first, 2);
    EXPECT_EQ(second, 0);
}

}  // namespace
}  // namespace ghost::daemon
