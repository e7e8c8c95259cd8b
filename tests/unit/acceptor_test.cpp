#include "daemon/core/acceptor.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/unit/descriptor_exhaustion.hpp"

namespace ghost::daemon::core {
namespace {

using asio::ip::tcp;
using stream = asio::local::stream_protocol;
using namespace std::chrono_literals;

class AcceptorTest : public ::testing::Test {
  protected:
    /// Runs the io_context until `done` holds or `limit` has passed; returns `done()`.
    template <class Done>
    bool run_until(Done done, std::chrono::milliseconds limit = 5s) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            if (io_.stopped()) io_.restart();
            io_.run_for(10ms);
        }
        return done();
    }

    /// Runs the io_context for `d` whatever happens.
    void run_for(std::chrono::milliseconds d) {
        run_until([] { return false; }, d);
    }

    /// Opens `a` on 127.0.0.1 at a free port and starts it; accepted sockets go to got_.
    tcp::endpoint start_v4(TcpAcceptor& a, AcceptOptions options = {}) {
        EXPECT_FALSE(a.open({asio::ip::address_v4::loopback(), 0}));
        a.start([this](tcp::socket s) { got_.push_back(std::move(s)); }, std::move(options));
        return a.local_endpoint();
    }

    /// A client connected to `ep`: the kernel completes the handshake from the listen queue
    /// whether or not the acceptor takes the connection.
    std::unique_ptr<tcp::socket> connect(const tcp::endpoint& ep) {
        auto s = std::make_unique<tcp::socket>(io_);
        std::error_code ec;
        s->connect(ep, ec);
        EXPECT_FALSE(ec) << ec.message();
        return s;
    }

    asio::io_context io_;
    std::vector<tcp::socket> got_;
};

TEST_F(AcceptorTest, AcceptsTcp) {
    TcpAcceptor a(io_);
    auto ep = start_v4(a);
    ASSERT_NE(ep.port(), 0);
    EXPECT_TRUE(a.is_open());
    auto c1 = connect(ep);
    auto c2 = connect(ep);
    ASSERT_TRUE(run_until([&] { return got_.size() == 2; }));
    EXPECT_EQ(got_[0].remote_endpoint().port(), c1->local_endpoint().port());
    EXPECT_EQ(got_[1].remote_endpoint().port(), c2->local_endpoint().port());
    EXPECT_EQ(a.counters().errors, 0u);
}

TEST_F(AcceptorTest, AcceptsTcpOnIpv6) {
    TcpAcceptor a(io_);
    if (a.open({asio::ip::address_v6::loopback(), 0}, {.v6_only = true}))
        GTEST_SKIP() << "no IPv6 loopback here";
    int only = 0;
    socklen_t len = sizeof only;
    ASSERT_EQ(::getsockopt(a.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &only, &len), 0);
    EXPECT_EQ(only, 1);
    a.start([this](tcp::socket s) { got_.push_back(std::move(s)); });
    auto c = connect(a.local_endpoint());
    EXPECT_TRUE(run_until([&] { return got_.size() == 1; }));
}

TEST_F(AcceptorTest, AcceptsUnix) {
    char dir[] = "/tmp/ghost-acceptor-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/sock";
    UnixAcceptor a(io_);
    ASSERT_FALSE(a.open(stream::endpoint(path)));
    EXPECT_EQ(a.local_endpoint().path(), path);
    std::vector<stream::socket> got;
    a.start([&](stream::socket s) { got.push_back(std::move(s)); });
    stream::socket c(io_);
    c.connect(stream::endpoint(path));
    EXPECT_TRUE(run_until([&] { return got.size() == 1; }));
    a.close();
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST_F(AcceptorTest, OpenFailsOnABusyPort) {
    TcpAcceptor first(io_);
    auto ep = start_v4(first);
    TcpAcceptor second(io_);
    EXPECT_EQ(second.open(ep), asio::error::address_in_use);
    EXPECT_FALSE(second.is_open());

    std::string why;
    EXPECT_FALSE(listen_tcp(second, {"127.0.0.1", ep.port()}, {}, "socks5 proxy", &why));
    EXPECT_EQ(why, "cannot listen on 127.0.0.1:" + std::to_string(ep.port()) + " (socks5 proxy): " +
                       asio::error_code(asio::error::address_in_use).message());
    EXPECT_FALSE(listen_tcp(second, {"localhost", 0}, {}, "", &why));
    EXPECT_EQ(why, "cannot listen on localhost:0: not an IP address");
    EXPECT_TRUE(listen_tcp(second, {"127.0.0.1", 0}, {}, "", &why));
}

TEST_F(AcceptorTest, AtTheCapTheRestWaitInTheQueue) {
    TcpAcceptor a(io_);
    auto ep = start_v4(a, {.max_live = 2});
    std::vector<std::unique_ptr<tcp::socket>> clients;
    for (int i = 0; i < 4; ++i) clients.push_back(connect(ep));
    ASSERT_TRUE(run_until([&] { return got_.size() == 2; }));
    run_for(100ms);
    EXPECT_EQ(got_.size(), 2u);  // the others completed their handshake and wait

    a.release();
    EXPECT_TRUE(run_until([&] { return got_.size() == 3; }));
    run_for(50ms);
    EXPECT_EQ(got_.size(), 3u);
    a.release();
    a.release();
    EXPECT_TRUE(run_until([&] { return got_.size() == 4; }));
    for (int i = 0; i < 5; ++i) a.release();  // more than held: no harm
    auto late = connect(ep);
    EXPECT_TRUE(run_until([&] { return got_.size() == 5; }));
}

TEST_F(AcceptorTest, WithoutACapReleaseDoesNothing) {
    TcpAcceptor a(io_);
    auto ep = start_v4(a);
    a.release();
    auto c = connect(ep);
    EXPECT_TRUE(run_until([&] { return got_.size() == 1; }));
}

TEST_F(AcceptorTest, CloseIsIdempotentAndSafeInsideTheHandler) {
    TcpAcceptor a(io_);
    ASSERT_FALSE(a.open({asio::ip::address_v4::loopback(), 0}));
    auto ep = a.local_endpoint();
    int calls = 0;
    a.start([&](tcp::socket) {
        ++calls;
        a.close();
        a.close();
    });
    auto c1 = connect(ep);
    ASSERT_TRUE(run_until([&] { return calls == 1; }));
    EXPECT_FALSE(a.is_open());
    a.close();
    run_for(50ms);
    EXPECT_EQ(calls, 1);
    tcp::socket c2(io_);
    std::error_code ec;
    c2.connect(ep, ec);
    EXPECT_EQ(ec, asio::error::connection_refused);
    a.start([&](tcp::socket) { ++calls; });  // closed for good
    run_for(20ms);
    EXPECT_EQ(calls, 1);
}

TEST_F(AcceptorTest, CloseDropsTheHandlerAndWhatItHolds) {
    auto owner = std::make_shared<int>(0);
    TcpAcceptor a(io_);
    start_v4(a);
    a.start([owner](tcp::socket) {});  // started already: ignored, not kept
    EXPECT_EQ(owner.use_count(), 1);
    TcpAcceptor b(io_);
    ASSERT_FALSE(b.open({asio::ip::address_v4::loopback(), 0}));
    b.start([owner](tcp::socket) {});
    EXPECT_EQ(owner.use_count(), 2);
    b.close();
    EXPECT_EQ(owner.use_count(), 1);  // an owner captured in its handler is not kept alive
    run_for(20ms);
}

TEST_F(AcceptorTest, DestroyedWithAnAcceptPending) {
    int calls = 0;
    auto a = std::make_unique<TcpAcceptor>(io_);
    ASSERT_FALSE(a->open({asio::ip::address_v4::loopback(), 0}));
    a->start([&](tcp::socket) { ++calls; });
    run_for(20ms);
    a.reset();  // the accept in flight completes later, without us
    run_for(50ms);
    EXPECT_EQ(calls, 0);
}

TEST_F(AcceptorTest, PausesWhileOutOfDescriptors) {
#if defined(__SANITIZE_ADDRESS__)
    // The sanitizers' own checks open descriptors: with none left they report false errors.
    GTEST_SKIP() << "the sanitizer runtime needs free descriptors";
#endif
    TcpAcceptor a(io_);
    auto ep = start_v4(a, {.what = "accept on test failed", .pause = 50ms});
    tcp::socket app(io_);
    app.open(tcp::v4());  // before the descriptors run out
    ::testing::internal::CaptureStderr();

    // Use up every descriptor under a lowered limit, so accept() fails with EMFILE.
    test::DescriptorExhaustion exhausted;
    ASSERT_TRUE(exhausted.ok());

    std::error_code ec;
    app.connect(ep, ec);  // the kernel completes the handshake; accepting it fails
    bool paused = run_until([&] { return a.counters().pauses >= 4; }, 2s);
    auto errors = a.counters().errors;
    exhausted.release();
    std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(paused);
    EXPECT_LE(errors, 5u);  // one failure a pause, no spinning
    EXPECT_EQ(errors, a.counters().pauses);
    EXPECT_TRUE(got_.empty());
    const std::string line = "accept on test failed: Too many open files";
    EXPECT_NE(log.find(line), std::string::npos) << log;
    EXPECT_EQ(log.find(line), log.rfind(line)) << "logged more than once:\n" << log;

    // With descriptors back the waiting connection is accepted.
    EXPECT_TRUE(run_until([&] { return got_.size() == 1; }, 2s));
    EXPECT_EQ(got_[0].remote_endpoint().port(), app.local_endpoint().port());
}

}  // namespace
}  // namespace ghost::daemon::core
