// The read-ahead ghostd puts under libssh's recv/poll: bytes come out exactly as the
// kernel delivered them, in fewer system calls, and only for the thread that attached.
#include "daemon/ssh/read_ahead.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ghost::daemon::ssh {
namespace {

struct Pair {
    int a = -1, b = -1;  // a: the "libssh" side, b: the peer
    Pair() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        a = sv[0];
        b = sv[1];
        int big = 1 << 20;
        ::setsockopt(b, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        ::setsockopt(a, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    ~Pair() {
        read_ahead_detach(a);
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
    }
};

struct Session {
    ssh_session s = ssh_new();
    ~Session() { ssh_free(s); }
};

std::vector<char> pattern(size_t n) {
    std::vector<char> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
    return v;
}

void write_all(int fd, const std::vector<char>& v) {
    size_t off = 0;
    while (off < v.size()) {
        ssize_t n = ::write(fd, v.data() + off, v.size() - off);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd w = {fd, POLLOUT, 0};
            ASSERT_EQ(::poll(&w, 1, 2000), 1);
            continue;
        }
        ASSERT_GT(n, 0);
        off += static_cast<size_t>(n);
    }
}

bool pollin_now(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(ReadAhead, UnattachedDescriptorsAreUntouched) {
    Pair p;
    char buf[16];
    EXPECT_EQ(::recv(p.a, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_FALSE(pollin_now(p.a));
    ASSERT_EQ(::write(p.b, "hello", 5), 5);
    EXPECT_TRUE(pollin_now(p.a));
    EXPECT_EQ(::recv(p.a, buf, 2, 0), 2);
    EXPECT_EQ(read_ahead_buffered(p.a), 0u);  // nothing buffered: the kernel still has 3
    EXPECT_EQ(::recv(p.a, buf, sizeof buf, 0), 3);
}

TEST(ReadAhead, SmallReadsGetTheExactStreamAndPollSeesTheBuffer) {
    Pair p;
    Session s;
    ASSERT_TRUE(read_ahead_attach(p.a, s.s));
    auto data = pattern(300000);
    std::thread writer([&] { write_all(p.b, data); });
    std::vector<char> got;
    size_t refills_seen = 0;
    while (got.size() < data.size()) {
        char buf[4096];
        ssize_t n = ::recv(p.a, buf, sizeof buf, 0);
        if (n < 0) {
            ASSERT_EQ(errno, EAGAIN);
            struct pollfd w = {p.a, POLLIN, 0};
            ASSERT_EQ(::poll(&w, 1, 2000), 1);
            continue;
        }
        ASSERT_GT(n, 0);
        got.insert(got.end(), buf, buf + n);
        if (read_ahead_buffered(p.a) > 0) {
            ++refills_seen;
            // Buffered bytes are readable even when the kernel holds none.
            EXPECT_TRUE(pollin_now(p.a));
        }
    }
    writer.join();
    EXPECT_EQ(got, data);
    EXPECT_GT(refills_seen, 0u) << "one recv never fetched more than was asked for";
    EXPECT_EQ(read_ahead_buffered(p.a), 0u);
    EXPECT_FALSE(pollin_now(p.a));
}

TEST(ReadAhead, PollOutWithNothingToWriteDoesNotHideInput) {
    Pair p;
    Session s;
    ASSERT_TRUE(read_ahead_attach(p.a, s.s));
    ASSERT_EQ(::write(p.b, "0123456789", 10), 10);
    char c;
    ASSERT_EQ(::recv(p.a, &c, 1, 0), 1);
    ASSERT_EQ(read_ahead_buffered(p.a), 9u);
    struct pollfd w = {p.a, POLLIN | POLLOUT, 0};
    ASSERT_EQ(::poll(&w, 1, -1), 1);  // would block forever if the buffer were ignored
    EXPECT_TRUE(w.revents & POLLIN);
    // With another descriptor in the set the kernel is asked too, without waiting.
    Pair q;
    struct pollfd two[2] = {{p.a, POLLIN, 0}, {q.a, POLLIN, 0}};
    ASSERT_EQ(::poll(two, 2, -1), 1);
    EXPECT_TRUE(two[0].revents & POLLIN);
    EXPECT_EQ(two[1].revents, 0);
}

TEST(ReadAhead, PeekDoesNotConsumeAndEofFollowsTheBufferedBytes) {
    Pair p;
    Session s;
    ASSERT_TRUE(read_ahead_attach(p.a, s.s));
    ASSERT_EQ(::write(p.b, "abcdef", 6), 6);
    ::shutdown(p.b, SHUT_WR);
    char buf[8] = {};
    ASSERT_EQ(::recv(p.a, buf, 2, 0), 2);
    EXPECT_EQ(std::string(buf, 2), "ab");
    ASSERT_EQ(::recv(p.a, buf, 3, MSG_PEEK), 3);
    EXPECT_EQ(std::string(buf, 3), "cde");
    ASSERT_EQ(::recv(p.a, buf, sizeof buf, 0), 4);
    EXPECT_EQ(std::string(buf, 4), "cdef");
    EXPECT_EQ(::recv(p.a, buf, sizeof buf, 0), 0);
}

TEST(ReadAhead, OtherThreadsAndDetachedDescriptorsBypassTheBuffer) {
    Pair p;
    Session s;
    ASSERT_TRUE(read_ahead_attach(p.a, s.s));
    EXPECT_FALSE(read_ahead_attach(p.a, s.s)) << "attached twice";
    EXPECT_FALSE(read_ahead_attach(-1, s.s));
    EXPECT_FALSE(read_ahead_attach(1 << 20, s.s));
    ASSERT_EQ(::write(p.b, "xyz", 3), 3);
    char c;
    ASSERT_EQ(::recv(p.a, &c, 1, 0), 1);  // buffers "yz"
    ASSERT_EQ(read_ahead_buffered(p.a), 2u);
    ASSERT_EQ(::write(p.b, "Q", 1), 1);
    std::thread other([&] {
        // Another thread must not see this thread's bytes (a reused descriptor number
        // belongs to someone else): it reads the kernel directly.
        char d = 0;
        EXPECT_EQ(::recv(p.a, &d, 1, 0), 1);
        EXPECT_EQ(d, 'Q');
        EXPECT_EQ(read_ahead_buffered(p.a), 0u);
    });
    other.join();
    EXPECT_EQ(read_ahead_buffered(p.a), 2u);
    // The owner of the descriptor may detach from any thread (a session freed elsewhere).
    std::thread([&] { read_ahead_detach(p.a); }).join();
    EXPECT_EQ(read_ahead_buffered(p.a), 0u);
    EXPECT_EQ(::recv(p.a, &c, 1, 0), -1);  // the dropped bytes are gone, the kernel is empty
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_TRUE(read_ahead_attach(p.a, s.s)) << "a detached descriptor can be attached again";
}

TEST(ReadAhead, LargeReadsGoStraightToTheKernel) {
    Pair p;
    Session s;
    ASSERT_TRUE(read_ahead_attach(p.a, s.s));
    auto data = pattern(100000);
    write_all(p.b, data);
    std::vector<char> buf(200000);
    ssize_t n = ::recv(p.a, buf.data(), buf.size(), 0);
    ASSERT_EQ(n, static_cast<ssize_t>(data.size()));
    EXPECT_EQ(read_ahead_buffered(p.a), 0u);
    buf.resize(data.size());
    EXPECT_EQ(buf, data);
}

}  // namespace
}  // namespace ghost::daemon::ssh
