// sd_notify wrapper and watchdog against a fake service manager socket in the test.

#include "daemon/systemd/notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace ghost::daemon;

/// A bound AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET.
class FakeManager {
  public:
    FakeManager() {
        char dir[] = "/tmp/ghost-notify-test.XXXXXX";
        dir_ = mkdtemp(dir);
        path_ = dir_ + "/notify";
        fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
        EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    }
    ~FakeManager() {
        unsetenv("NOTIFY_SOCKET");
        unsetenv("WATCHDOG_USEC");
        close(fd_);
        unlink(path_.c_str());
        rmdir(dir_.c_str());
    }
    /// Every datagram received so far.
    std::vector<std::string> drain() {
        std::vector<std::string> out;
        char buf[4096];
        ssize_t n = 0;
        while ((n = recv(fd_, buf, sizeof buf, 0)) > 0)
            out.emplace_back(buf, static_cast<size_t>(n));
        return out;
    }

  private:
    std::string dir_;
    std::string path_;
    int fd_ = -1;
};

size_t count(const std::vector<std::string>& messages, const std::string& what) {
    size_t n = 0;
    for (const auto& m : messages) n += m.find(what) != std::string::npos;
    return n;
}

TEST(Notify, DisabledWithoutNotifySocket) {
    unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(notify::enabled());
    notify::ready("no one listens");  // must not fail or crash
    asio::io_context io;
    notify::Watchdog watchdog(io);
    EXPECT_EQ(watchdog.start().count(), 0);
}

TEST(Notify, ReadyStatusReloadingStopping) {
    FakeManager manager;
    EXPECT_TRUE(notify::enabled());
    notify::ready("2 profiles up");
    notify::status("line one\nREADY=1");
    notify::reloading();
    notify::stopping();
    auto messages = manager.drain();
    ASSERT_EQ(messages.size(), 4u);
    EXPECT_EQ(messages[0], "READY=1\nSTATUS=2 profiles up");
    EXPECT_EQ(messages[1], "STATUS=line one READY=1");  // a newline cannot smuggle READY=1
    EXPECT_EQ(messages[2].rfind("RELOADING=1\n", 0), 0u);
    EXPECT_NE(messages[2].find("MONOTONIC_USEC="), std::string::npos);
    EXPECT_EQ(messages[3].rfind("STOPPING=1", 0), 0u);
}

TEST(Notify, WatchdogPingsAtHalfTheIntervalFromTheLoop) {
    FakeManager manager;
    setenv("WATCHDOG_USEC", "100000", 1);
    asio::io_context io;
    notify::Watchdog watchdog(io);
    EXPECT_EQ(watchdog.start().count(), 100000);
    EXPECT_EQ(count(manager.drain(), "WATCHDOG=1"), 1u);  // one at once
    io.run_for(std::chrono::milliseconds(290));
    const size_t pings = count(manager.drain(), "WATCHDOG=1");
    EXPECT_GE(pings, 3u);  // 5 expected; a loaded machine may fire timers late
    EXPECT_LE(pings, 7u);
    // A loop that does not run sends nothing.
    usleep(200000);
    EXPECT_EQ(count(manager.drain(), "WATCHDOG=1"), 0u);
    watchdog.stop();
    io.restart();
    io.run_for(std::chrono::milliseconds(150));
    EXPECT_EQ(count(manager.drain(), "WATCHDOG=1"), 0u);
}

TEST(Notify, WatchdogForAnotherPidIsIgnored) {
    FakeManager manager;
    setenv("WATCHDOG_USEC", "100000", 1);
    setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
    asio::io_context io;
    notify::Watchdog watchdog(io);
    EXPECT_EQ(watchdog.start().count(), 0);
    unsetenv("WATCHDOG_PID");
}

}  // namespace
