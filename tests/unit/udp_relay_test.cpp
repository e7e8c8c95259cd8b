// UdpRelay on loopback: real UDP peers, frames in and out through plain functions (no SSH).

#include "daemon/server/udp_relay.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <optional>
#include <set>

#include "daemon/server/udp_socket.hpp"

namespace ghost::daemon::server {
namespace {

using namespace std::chrono_literals;

net::IpAddress ip(const char* s) {
    return *net::IpAddress::parse(s);
}

tun::SocketAddr sa(const char* s, uint16_t port) {
    return {ip(s), port};
}

std::shared_ptr<const OutboundPolicy> policy(bool deny_loopback = false,
                                             std::string type = "direct") {
    config::AclConfig acl;
    acl.deny_loopback = deny_loopback;
    acl.deny_self = false;
    auto p = std::make_shared<OutboundPolicy>(OutboundPolicy{{}, net::Acl(acl, {})});
    p->cfg.type = type;
    if (type != "direct") p->cfg.proxy = net::Endpoint{"127.0.0.1", 1080};
    return p;
}

bool have_ipv6() {
    std::ifstream in("/proc/net/if_inet6");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("00000000000000000000000000000001", 0) == 0) return true;
    return false;
}

/// A UDP socket on loopback the test drives by hand (blocking, short timeout).
class Peer {
  public:
    explicit Peer(const char* addr) {
        auto a = sa(addr, 0);
        fd_ = ::socket(a.ip.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
        sockaddr_storage ss;
        socklen_t len = udpio::to_sockaddr(a, &ss);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len), 0);
        len = sizeof ss;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
        self_ = *udpio::from_sockaddr(ss);
        timeval tv{0, 500 * 1000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~Peer() { ::close(fd_); }
    const tun::SocketAddr& addr() const { return self_; }

    /// The next datagram and its source, or nullopt after the timeout.
    std::optional<std::pair<tun::SocketAddr, std::string>> receive() {
        std::vector<uint8_t> buf(70000);
        tun::SocketAddr from;
        for (int i = 0; i < 10; ++i) {
            sockaddr_storage ss{};
            socklen_t len = sizeof ss;
            ssize_t n =
                ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
            if (n >= 0)
                return std::make_pair(*udpio::from_sockaddr(ss),
                                      std::string(buf.begin(), buf.begin() + n));
            if (errno != EINTR) break;  // EAGAIN: the timeout passed
        }
        return std::nullopt;
    }
    void send(const tun::SocketAddr& to, const std::string& text) {
        std::vector<uint8_t> data(text.begin(), text.end());
        EXPECT_EQ(udpio::send_datagram(fd_, to, data), 0);
    }

  private:
    int fd_ = -1;
    tun::SocketAddr self_;
};

udp::Datagram datagram(const tun::SocketAddr& client, const tun::SocketAddr& remote,
                       const std::string& text) {
    udp::Datagram d;
    d.type = udp::FrameType::udp;
    d.client = client;
    d.remote = remote;
    d.payload.assign(text.begin(), text.end());
    return d;
}

struct Harness {
    explicit Harness(UdpRelayConfig cfg = {}, std::shared_ptr<const OutboundPolicy> p = policy(),
                     UdpPermits permits = nullptr) {
        if (cfg.udp.idle_timeout_s == 0) cfg.udp.idle_timeout_s = 120;
        relay.emplace(
            io, std::move(cfg), std::move(p), std::move(permits),
            [this](udp::Datagram d) {
                if (busy) return false;
                frames.push_back(std::move(d));
                return true;
            },
            log::Logger("udp-test"));
    }

    /// Runs the relay until a frame arrives or `limit` passes.
    std::optional<udp::Datagram> next_frame(std::chrono::milliseconds limit = 2000ms) {
        auto end = std::chrono::steady_clock::now() + limit;
        while (frames.empty() && std::chrono::steady_clock::now() < end) {
            io.restart();
            io.run_one_for(20ms);
        }
        if (frames.empty()) return std::nullopt;
        auto d = std::move(frames.front());
        frames.pop_front();
        return d;
    }
    void run_for(std::chrono::milliseconds t) {
        io.restart();
        io.run_for(t);
    }
    nlohmann::json status() const { return relay->status(); }
    uint64_t drops(const char* why) const { return status()["drops"][why].get<uint64_t>(); }

    asio::io_context io;
    std::deque<udp::Datagram> frames;
    bool busy = false;
    std::optional<UdpRelay> relay;
};

UdpRelayConfig with_filtering(const char* mode) {
    UdpRelayConfig cfg;
    cfg.udp.filtering = mode;
    return cfg;
}

const tun::SocketAddr kClient = sa("10.77.0.2", 40000);

TEST(UdpRelay, MappingIsStableAcrossRemotes) {
    Harness h;
    Peer a("127.0.0.1"), b("127.0.0.1"), c("127.0.0.2");
    h.relay->on_frame(datagram(kClient, a.addr(), "to a"));
    h.relay->on_frame(datagram(kClient, b.addr(), "to b"));
    h.relay->on_frame(datagram(kClient, c.addr(), "to c"));
    auto ra = a.receive(), rb = b.receive(), rc = c.receive();
    ASSERT_TRUE(ra && rb && rc);
    EXPECT_EQ(ra->second, "to a");
    EXPECT_EQ(ra->first.port, rb->first.port);
    EXPECT_EQ(ra->first.port, rc->first.port);
    auto st = h.status();
    EXPECT_EQ(st["flows"], 1);
    EXPECT_EQ(st["recent_flows"][0]["local_port"], ra->first.port);
    EXPECT_EQ(st["to_remote"]["datagrams"], 3);

    // The reply comes back as a frame of the flow, from the remote.
    a.send(ra->first, "reply");
    auto f = h.next_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->type, udp::FrameType::udp);
    EXPECT_EQ(f->client, kClient);
    EXPECT_EQ(f->remote, a.addr());
    EXPECT_EQ(std::string(f->payload.begin(), f->payload.end()), "reply");
    EXPECT_EQ(h.status()["to_client"]["bytes"], 5);

    // Another client port is another flow with another socket.
    h.relay->on_frame(datagram(sa("10.77.0.2", 40001), a.addr(), "x"));
    auto r2 = a.receive();
    ASSERT_TRUE(r2);
    EXPECT_NE(r2->first.port, ra->first.port);
    EXPECT_EQ(h.status()["flows"], 2);
}

/// Sends from `a` (known) and then from `b` and `c` (unknown) to the flow; which arrive.
std::vector<bool> filtering_outcome(const char* mode) {
    Harness h(with_filtering(mode));
    Peer a("127.0.0.1"), b("127.0.0.1"), c("127.0.0.2");
    h.relay->on_frame(datagram(kClient, a.addr(), "hi"));
    auto mapped = a.receive();
    EXPECT_TRUE(mapped);
    if (!mapped) return {};
    std::vector<bool> out;
    for (Peer* p : {&a, &b, &c}) {
        p->send(mapped->first, "from peer");
        auto f = h.next_frame(300ms);
        out.push_back(f && f->remote == p->addr());
    }
    uint64_t filtered = h.drops("filtered");
    EXPECT_EQ(filtered, static_cast<uint64_t>(std::count(out.begin(), out.end(), false)));
    return out;
}

TEST(UdpRelay, FilteringModes) {
    EXPECT_EQ(filtering_outcome("address-and-port-dependent"),
              (std::vector<bool>{true, false, false}));
    EXPECT_EQ(filtering_outcome("address-dependent"), (std::vector<bool>{true, true, false}));
    EXPECT_EQ(filtering_outcome("endpoint-independent"), (std::vector<bool>{true, true, true}));
}

TEST(UdpRelay, AclDenialIsAnAdminProhibitedIcmpError) {
    Harness h({}, policy(/*deny_loopback=*/true));
    Peer a("127.0.0.1");
    h.relay->on_frame(datagram(kClient, a.addr(), "no"));
    h.relay->on_frame(datagram(kClient, a.addr(), "no again"));
    EXPECT_FALSE(a.receive());
    ASSERT_EQ(h.frames.size(), 2u);
    const auto& e = h.frames.front();
    EXPECT_EQ(e.type, udp::FrameType::icmp_error);
    EXPECT_EQ(e.client, kClient);
    EXPECT_EQ(e.remote, a.addr());
    EXPECT_EQ(e.icmp_type, 3);
    EXPECT_EQ(e.icmp_code, 13);
    EXPECT_EQ(h.drops("denied"), 2u);
    EXPECT_EQ(h.status()["flows"], 0);
}

TEST(UdpRelay, PermitopenApplies) {
    Peer a("127.0.0.1"), b("127.0.0.1");
    std::vector<std::pair<std::string, uint16_t>> asked;
    uint16_t allowed = a.addr().port;
    Harness h({}, policy(), [&](std::string_view host, uint16_t port) {
        asked.emplace_back(std::string(host), port);
        return port == allowed;
    });
    h.relay->on_frame(datagram(kClient, a.addr(), "ok"));
    h.relay->on_frame(datagram(kClient, a.addr(), "ok again"));  // remembered, not asked
    h.relay->on_frame(datagram(kClient, b.addr(), "no"));
    EXPECT_TRUE(a.receive());
    EXPECT_FALSE(b.receive());
    ASSERT_EQ(asked.size(), 2u);
    EXPECT_EQ(asked[0].first, "127.0.0.1");
    EXPECT_EQ(h.drops("denied"), 1u);
    ASSERT_EQ(h.frames.size(), 1u);
    EXPECT_EQ(h.frames[0].icmp_code, 13);
}

/// A loopback port nothing listens on.
uint16_t closed_port(const char* addr) {
    Peer p(addr);
    return p.addr().port;
}

TEST(UdpRelay, PortUnreachableIsReported) {
    Harness h;
    auto dead = sa("127.0.0.1", closed_port("127.0.0.1"));
    h.relay->on_frame(datagram(kClient, dead, "anyone?"));
    auto e = h.next_frame();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type, udp::FrameType::icmp_error);
    EXPECT_EQ(e->client, kClient);
    EXPECT_EQ(e->remote, dead);
    EXPECT_EQ(e->icmp_type, 3);
    EXPECT_EQ(e->icmp_code, 3);
    EXPECT_EQ(h.status()["icmp_errors"], 1);
    // The flow still works (the pending error did not break the next send).
    Peer a("127.0.0.1");
    h.relay->on_frame(datagram(kClient, a.addr(), "still here"));
    EXPECT_TRUE(a.receive());
}

TEST(UdpRelay, Ipv6PortUnreachableAndRelay) {
    if (!have_ipv6()) GTEST_SKIP() << "no IPv6 loopback";
    Harness h;
    auto client6 = sa("fd00:77::2", 40000);
    Peer a("::1");
    h.relay->on_frame(datagram(client6, a.addr(), "v6"));
    auto r = a.receive();
    ASSERT_TRUE(r);
    a.send(r->first, "back");
    auto f = h.next_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->remote, a.addr());
    auto dead = sa("::1", closed_port("::1"));
    h.relay->on_frame(datagram(client6, dead, "anyone?"));
    auto e = h.next_frame();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type, udp::FrameType::icmp_error);
    EXPECT_EQ(e->icmp_type, 1);  // destination unreachable
    EXPECT_EQ(e->icmp_code, 4);  // port unreachable
}

TEST(UdpRelay, SessionLimitEvictsTheLeastRecentlyUsed) {
    UdpRelayConfig cfg;
    cfg.udp.max_flows_per_session = 2;
    Harness h(cfg);
    Peer a("127.0.0.1");
    h.relay->on_frame(datagram(sa("10.77.0.2", 1), a.addr(), "1"));
    h.relay->on_frame(datagram(sa("10.77.0.2", 2), a.addr(), "2"));
    h.relay->on_frame(datagram(sa("10.77.0.2", 1), a.addr(), "1 again"));
    h.relay->on_frame(datagram(sa("10.77.0.2", 3), a.addr(), "3"));  // evicts port 2
    auto st = h.status();
    EXPECT_EQ(st["flows"], 2);
    EXPECT_EQ(st["flows_evicted"], 1);
    std::set<std::string> clients;
    for (const auto& f : st["recent_flows"]) clients.insert(f["client"].get<std::string>());
    EXPECT_EQ(clients, (std::set<std::string>{"10.77.0.2:1", "10.77.0.2:3"}));
}

TEST(UdpRelay, ProfileLimitIsShared) {
    UdpRelayConfig cfg;
    cfg.udp.max_flows_per_session = 2;
    cfg.udp.max_flows = 3;
    cfg.profile_flows = std::make_shared<std::atomic<uint32_t>>(0);
    Harness one(cfg), two(cfg);
    Peer a("127.0.0.1");
    one.relay->on_frame(datagram(sa("10.77.0.2", 1), a.addr(), "x"));
    one.relay->on_frame(datagram(sa("10.77.0.2", 2), a.addr(), "x"));
    two.relay->on_frame(datagram(sa("10.77.0.3", 1), a.addr(), "x"));
    EXPECT_EQ(cfg.profile_flows->load(), 3u);
    two.relay->on_frame(datagram(sa("10.77.0.3", 2), a.addr(), "x"));  // evicts its own
    EXPECT_EQ(two.status()["flows"], 1);
    EXPECT_EQ(two.status()["flows_evicted"], 1);
    Harness three(cfg);
    three.relay->on_frame(datagram(sa("10.77.0.4", 1), a.addr(), "x"));  // nothing to evict
    EXPECT_EQ(three.drops("flow_limit"), 1u);
    EXPECT_EQ(cfg.profile_flows->load(), 3u);
    one.relay->close();
    EXPECT_EQ(cfg.profile_flows->load(), 1u);
    three.relay->on_frame(datagram(sa("10.77.0.4", 1), a.addr(), "x"));
    EXPECT_EQ(three.status()["flows"], 1);
}

TEST(UdpRelay, HundredThousandFlowsStayBounded) {
    UdpRelayConfig cfg;
    cfg.udp.max_flows_per_session = 64;
    cfg.profile_flows = std::make_shared<std::atomic<uint32_t>>(0);
    Harness h(cfg);
    Peer a("127.0.0.1");
    for (uint32_t i = 0; i < 100000; ++i) {
        net::IpAddress c = ip("10.0.0.0");
        c.bytes[2] = uint8_t(i >> 16);
        c.bytes[3] = uint8_t(i >> 8);
        h.relay->on_frame(datagram({c, uint16_t(1024 + (i & 0xff))}, a.addr(), "x"));
        if (i % 4096 == 0) h.io.poll();
    }
    auto st = h.status();
    EXPECT_EQ(st["flows"], 64);
    EXPECT_EQ(st["flows_created"], 100000);
    EXPECT_EQ(st["flows_evicted"], 100000 - 64);
    EXPECT_EQ(cfg.profile_flows->load(), 64u);
    EXPECT_LE(st["recent_flows"].size(), 32u);
}

TEST(UdpRelay, OversizeIsDroppedBothWays) {
    UdpRelayConfig cfg;
    cfg.udp.max_payload = 1000;
    cfg.udp.filtering = "endpoint-independent";
    Harness h(cfg);
    Peer a("127.0.0.1");
    h.relay->on_frame(datagram(kClient, a.addr(), std::string(1001, 'x')));
    EXPECT_EQ(h.drops("oversize"), 1u);
    h.relay->on_frame(datagram(kClient, a.addr(), std::string(1000, 'x')));
    auto r = a.receive();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->second.size(), 1000u);
    a.send(r->first, std::string(1001, 'y'));
    a.send(r->first, "small");
    auto f = h.next_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload.size(), 5u);
    EXPECT_EQ(h.drops("inbound_oversize"), 1u);
    EXPECT_EQ(h.relay->hello().max_payload, 1000);
}

TEST(UdpRelay, IdleFlowsExpire) {
    UdpRelayConfig cfg;
    cfg.udp.idle_timeout_s = 1;
    Harness h(cfg);
    Peer a("127.0.0.1");
    h.relay->on_frame(datagram(kClient, a.addr(), "x"));
    EXPECT_EQ(h.status()["flows"], 1);
    auto end = std::chrono::steady_clock::now() + 5s;
    while (h.status()["flows"] != 0 && std::chrono::steady_clock::now() < end) h.run_for(100ms);
    EXPECT_EQ(h.status()["flows"], 0);
    EXPECT_EQ(h.status()["flows_expired"], 1);
}

TEST(UdpRelay, UpstreamProxyRefusesUdp) {
    Harness h({}, policy(false, "socks5"));
    Peer a("127.0.0.1");
    h.relay->on_frame(datagram(kClient, a.addr(), "x"));
    EXPECT_FALSE(a.receive());
    ASSERT_EQ(h.frames.size(), 1u);
    EXPECT_EQ(h.frames[0].icmp_code, 13);
    EXPECT_EQ(h.drops("proxy"), 1u);
    EXPECT_EQ(h.status()["enabled"], false);
    EXPECT_NE(h.status()["refused"].get<std::string>().find("socks5"), std::string::npos);
    EXPECT_EQ(h.relay->hello().max_flows, 0u);
}

TEST(UdpRelay, DisabledAndBadFrames) {
    UdpRelayConfig cfg;
    cfg.udp.enabled = false;
    Harness off(cfg);
    Peer a("127.0.0.1");
    off.relay->on_frame(datagram(kClient, a.addr(), "x"));
    EXPECT_EQ(off.drops("disabled"), 1u);

    Harness h;
    h.relay->on_frame(datagram(kClient, sa("127.0.0.1", 0), "port 0"));
    h.relay->on_frame(datagram(sa("fd00::2", 1), sa("::ffff:127.0.0.1", 53), "mapped"));
    EXPECT_EQ(h.drops("bad_address"), 2u);
    auto hello = datagram(kClient, a.addr(), "");
    hello.type = udp::FrameType::icmp_error;
    h.relay->on_frame(hello);
    EXPECT_EQ(h.drops("unexpected_frame"), 1u);
}

TEST(UdpRelay, BusyClientAndCloseAreCounted) {
    UdpRelayConfig cfg;
    cfg.profile_flows = std::make_shared<std::atomic<uint32_t>>(0);
    Harness h(cfg);
    Peer a("127.0.0.1");
    h.relay->on_frame(datagram(kClient, a.addr(), "x"));
    auto r = a.receive();
    ASSERT_TRUE(r);
    h.busy = true;
    a.send(r->first, "lost");
    auto end = std::chrono::steady_clock::now() + 2s;
    while (h.drops("client_busy") == 0 && std::chrono::steady_clock::now() < end) h.run_for(20ms);
    EXPECT_EQ(h.drops("client_busy"), 1u);
    h.busy = false;
    h.relay->close();
    h.relay->close();
    EXPECT_EQ(cfg.profile_flows->load(), 0u);
    h.relay->on_frame(datagram(kClient, a.addr(), "after"));
    EXPECT_EQ(h.drops("closed"), 1u);
    a.send(r->first, "after close");
    h.run_for(100ms);
    EXPECT_TRUE(h.frames.empty());
}

udp::Datagram echo(const tun::SocketAddr& client, const char* remote, uint16_t seq,
                   const std::string& text) {
    udp::Datagram d = datagram(client, {ip(remote), seq}, text);
    d.type = udp::FrameType::icmp_echo;
    return d;
}

void expect_echo(bool v6) {
    Harness h;
    auto mode = h.status()["icmp_echo"][v6 ? "ipv6" : "ipv4"].get<std::string>();
    if (mode == "unavailable") GTEST_SKIP() << "no ping or raw ICMP socket here";
    EXPECT_TRUE(h.relay->hello().features & (v6 ? udp::kFeatureIcmpEcho6 : udp::kFeatureIcmpEcho4));
    auto client = v6 ? sa("fd00:77::2", 0x1234) : sa("10.77.0.2", 0x1234);
    const char* target = v6 ? "::1" : "127.0.0.1";
    h.relay->on_frame(echo(client, target, 7, "ping payload"));
    auto r = h.next_frame();
    ASSERT_TRUE(r) << h.status().dump();
    EXPECT_EQ(r->type, udp::FrameType::icmp_echo);
    EXPECT_EQ(r->client, client);
    EXPECT_EQ(r->remote, (tun::SocketAddr{ip(target), 7}));
    EXPECT_EQ(std::string(r->payload.begin(), r->payload.end()), "ping payload");
    auto st = h.status()["icmp_echo"];
    EXPECT_EQ(st["requests"], 1);
    EXPECT_EQ(st["replies"], 1);
}

TEST(UdpRelay, IcmpEchoV4) {
    expect_echo(false);
}

TEST(UdpRelay, IcmpEchoV6) {
    if (!have_ipv6()) GTEST_SKIP() << "no IPv6 loopback";
    expect_echo(true);
}

TEST(UdpRelay, IcmpEchoPolicyAndRate) {
    UdpRelayConfig cfg;
    cfg.icmp.echo_rate = 2;
    Harness denied(cfg, policy(/*deny_loopback=*/true));
    denied.relay->on_frame(echo(kClient, "127.0.0.1", 1, "x"));
    EXPECT_EQ(denied.status()["icmp_echo"]["drops"]["denied"], 1);
    EXPECT_EQ(denied.status()["icmp_echo"]["requests"], 0);

    Harness h(cfg);
    if (h.status()["icmp_echo"]["ipv4"] == "unavailable") GTEST_SKIP() << "no ICMP socket";
    for (uint16_t seq = 0; seq < 5; ++seq) h.relay->on_frame(echo(kClient, "127.0.0.1", seq, "x"));
    EXPECT_EQ(h.status()["icmp_echo"]["requests"], 2);
    EXPECT_EQ(h.status()["icmp_echo"]["drops"]["rate"], 3);

    UdpRelayConfig off;
    off.icmp.echo = false;
    Harness none(off);
    EXPECT_EQ(none.status()["icmp_echo"]["ipv4"], "disabled");
    EXPECT_EQ(none.relay->hello().features, 0);
    none.relay->on_frame(echo(kClient, "127.0.0.1", 1, "x"));
    EXPECT_EQ(none.status()["icmp_echo"]["drops"]["unavailable"], 1);
}

}  // namespace
}  // namespace ghost::daemon::server
