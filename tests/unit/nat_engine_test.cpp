#include "daemon/tun/nat_engine.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "daemon/tun/routing.hpp"
#include "tests/unit/descriptor_exhaustion.hpp"

namespace ghost::daemon::tun {
namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;

void reset(tcp::socket& s) {
    std::error_code ignored;
    s.set_option(asio::socket_base::linger(true, 0), ignored);
    s.close(ignored);
}

/// The engine on a real TUN device, in a network namespace of the test process's own:
/// nothing outside it sees the device or its routes. Needs root and /dev/net/tun.
class NatEngineTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0 || ::access("/dev/net/tun", R_OK | W_OK) != 0) {
            GTEST_SKIP() << "needs root and /dev/net/tun";
        }
        if (::unshare(CLONE_NEWNET) != 0) GTEST_SKIP() << "cannot enter a new network namespace";
        ASSERT_FALSE(nl_.connect());
    }

    /// Starts an engine with 10.77.0.0/24 routed into its device. Accepted connections are
    /// kept in accepted_; the closer of each counts in closed_ and resets it.
    void start(NatEngineConfig cfg) {
        cfg.device = "gtest0";
        engine_ = std::make_shared<NatEngine>(io_, cfg, [this](tcp::socket s, AcceptedFlow) {
            auto sock = std::make_shared<tcp::socket>(std::move(s));
            accepted_.push_back(sock);
            return FlowCloser([this, sock] {
                ++closed_;
                reset(*sock);
            });
        });
        std::string why;
        ASSERT_FALSE(engine_->start(nl_, &why)) << why;
        routing_ = std::make_unique<Routing>(nl_);
        RoutingConfig r;
        r.ifindex = engine_->ifindex();
        r.routes = {*net::Cidr::parse("10.77.0.0/24", &why)};
        ASSERT_FALSE(routing_->apply(r, &why)) << why;
    }

    /// Runs the engine until `done` holds or `limit` has passed; returns `done()`.
    template <class Done>
    bool run_until(Done done, std::chrono::milliseconds limit) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            if (io_.stopped()) io_.restart();
            io_.run_for(10ms);
        }
        return done();
    }

    /// An application's connection through the tunnel, once the engine accepted it.
    std::unique_ptr<tcp::socket> connect(uint16_t dport) {
        auto app = std::make_unique<tcp::socket>(io_);
        size_t before = accepted_.size();
        bool connected = false;
        app->async_connect({asio::ip::make_address("10.77.0.2"), dport},
                           [&](std::error_code ec) { connected = !ec; });
        EXPECT_TRUE(run_until([&] { return connected && accepted_.size() > before; }, 5s));
        return app;
    }

    asio::io_context io_;
    Netlink nl_;
    std::shared_ptr<NatEngine> engine_;
    std::unique_ptr<Routing> routing_;
    std::vector<std::shared_ptr<tcp::socket>> accepted_;
    int closed_ = 0;
};

TEST_F(NatEngineTest, ConnectionWhoseFlowRecordExpiresIsEnded) {
    NatEngineConfig cfg;
    // The closed flow's grace ends well before the idle one's timeout, even on a slow run.
    cfg.nat.flows.idle_timeout = 5s;
    cfg.nat.flows.closed_grace = 1s;
    cfg.sweep_interval = 100ms;
    start(cfg);

    auto idle = connect(8080);
    auto done = connect(8081);
    ASSERT_EQ(accepted_.size(), 2u);
    // The second one closes both ways: its record goes after the grace, and its socket is
    // its owner's business (it may still be handing received data on).
    done->shutdown(tcp::socket::shutdown_send);
    accepted_[1]->shutdown(tcp::socket::shutdown_send);
    EXPECT_TRUE(run_until([&] { return engine_->flow_count() == 1; }, 5s));
    EXPECT_EQ(closed_, 0);

    // The first stays idle past its timeout: the record goes and the engine ends it.
    EXPECT_TRUE(run_until([&] { return closed_ == 1; }, 10s));
    EXPECT_EQ(engine_->counters().expired_open, 1u);
    EXPECT_EQ(engine_->flow_count(), 0u);
    EXPECT_FALSE(accepted_[0]->is_open());

    // The application learns at its next segment.
    char byte = 'x';
    std::error_code ec;
    asio::write(*idle, asio::buffer(&byte, 1), ec);
    EXPECT_FALSE(ec);
    bool reset_seen = false;
    idle->async_read_some(asio::buffer(&byte, 1), [&](std::error_code rec, size_t) {
        reset_seen = rec == asio::error::connection_reset;
    });
    EXPECT_TRUE(run_until([&] { return reset_seen; }, 5s));
    EXPECT_EQ(closed_, 1);
}

TEST_F(NatEngineTest, AcceptPausesWhileOutOfDescriptors) {
#if defined(__SANITIZE_ADDRESS__)
    // The sanitizers' own checks open descriptors (a pipe to probe memory): with none
    // left they report false errors. The normal build runs this test.
    GTEST_SKIP() << "the sanitizer runtime needs free descriptors";
#endif
    start(NatEngineConfig{});
    tcp::socket app(io_);
    app.open(tcp::v4());  // before the descriptors run out

    // Use up every descriptor under a lowered limit, so accept() fails with EMFILE.
    test::DescriptorExhaustion exhausted;
    ASSERT_TRUE(exhausted.ok());

    bool connected = false;
    app.async_connect({asio::ip::make_address("10.77.0.2"), 8080},
                      [&](std::error_code ec) { connected = !ec; });
    // The kernel completes the handshake; accepting it fails and waits 100 ms each time
    // instead of spinning on the worker.
    bool paused = run_until([&] { return engine_->counters().accept_backoffs >= 3; }, 2s);
    auto errors = engine_->counters().accept_errors;
    exhausted.release();
    EXPECT_TRUE(connected);
    EXPECT_TRUE(paused);
    EXPECT_LE(errors, 4u);
    EXPECT_EQ(errors, engine_->counters().accept_backoffs);
    EXPECT_TRUE(accepted_.empty());

    // With descriptors back the waiting connection is accepted.
    EXPECT_TRUE(run_until([&] { return accepted_.size() == 1; }, 2s));
    EXPECT_EQ(engine_->counters().accepted, 1u);
}

}  // namespace
}  // namespace ghost::daemon::tun
