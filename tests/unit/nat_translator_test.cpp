#include "common/tun/nat.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "common/tun/checksum.hpp"
#include "common/tun/reply.hpp"

namespace ghost::tun {
namespace {

using std::chrono::seconds;

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

constexpr uint16_t kListenPort = 7000;
const SocketAddr kApp{ip("198.18.0.1"), 40000};
const SocketAddr kDst{ip("10.77.0.2"), 8080};
const SocketAddr kApp6{ip("fdc7:6768:6f73:7400::1"), 40001};
const SocketAddr kDst6{ip("2001:db8::7"), 443};
// Where the NAT's rewritten connections come from, as the listener sees them.
const net::IpAddress kPeer4 = NatAddresses::defaults(kListenPort).peer_v4;
const net::IpAddress kPeer6 = NatAddresses::defaults(kListenPort).peer_v6;

class NatTranslatorTest : public ::testing::Test {
  protected:
    NatConfig config(size_t max_flows = 100) {
        NatConfig c;
        c.addresses = NatAddresses::defaults(kListenPort);
        c.flows.max_flows = max_flows;
        return c;
    }

    /// Runs one packet through the translator and returns what it wrote (or empty).
    std::vector<uint8_t> run(NatTranslator& nat, std::vector<uint8_t> pkt, Verdict want) {
        std::vector<uint8_t> reply;
        NatResult r = nat.process(pkt, now_, &reply);
        EXPECT_EQ(r.verdict, want);
        if (r.verdict == Verdict::forward) return {pkt.begin(), pkt.begin() + r.length};
        if (r.verdict == Verdict::reply) return reply;
        return {};
    }

    PacketView view(const std::vector<uint8_t>& pkt) {
        PacketView v;
        EXPECT_EQ(parse_packet(pkt, &v), ParseError::none);
        if (v.is_tcp()) {
            EXPECT_EQ(compute_l4_checksum(pkt, v), load_be16(&pkt[v.l4_offset + 16]));
        }
        if (!v.v6) {
            EXPECT_EQ(internet_checksum(std::span(pkt.data(), v.ip_header_len)), 0);
        }
        return v;
    }

    SocketAddr listener(bool v6 = false) {
        auto a = NatAddresses::defaults(kListenPort);
        return {v6 ? a.listener_v6 : a.listener_v4, kListenPort};
    }
    net::IpAddress peer(bool v6 = false) {
        auto a = NatAddresses::defaults(kListenPort);
        return v6 ? a.peer_v6 : a.peer_v4;
    }

    Clock::time_point now_ = Clock::time_point{} + seconds(1000);
};

TEST_F(NatTranslatorTest, SynIsRewrittenTowardTheListenerAndRepliesBack) {
    NatTranslator nat(config());
    auto out = view(run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 100, 0), Verdict::forward));
    EXPECT_EQ(out.src, peer());
    EXPECT_EQ(out.destination(), listener());
    uint16_t n = out.sport;
    EXPECT_NE(n, kListenPort);
    EXPECT_EQ(out.seq, 100u);

    auto back =
        view(run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpSyn | kTcpAck, 900, 101),
                 Verdict::forward));
    EXPECT_EQ(back.source(), kDst);
    EXPECT_EQ(back.destination(), kApp);
    EXPECT_EQ(back.ack, 101u);

    auto data =
        view(run(nat, build_tcp_segment(kApp, kDst, kTcpAck, 101, 901, std::vector<uint8_t>(10, 7)),
                 Verdict::forward));
    EXPECT_EQ(data.sport, n);
    EXPECT_EQ(data.payload_len, 10u);

    // Another address (a local process connecting to the listener) names no flow.
    EXPECT_FALSE(nat.lookup_accepted(ip("198.18.0.1"), n));
    auto found = nat.lookup_accepted(kPeer4, n);
    ASSERT_TRUE(found);
    EXPECT_FALSE(nat.lookup_accepted(kPeer4, n));  // handed out once
    EXPECT_EQ(found->src, kApp);
    EXPECT_EQ(found->dst, kDst);
    EXPECT_TRUE(nat.flows().find_port(n)->accepted);
    EXPECT_EQ(nat.flows().find_port(n)->state, FlowState::established);
    EXPECT_EQ(nat.counters().flows_created, 1u);
    EXPECT_EQ(nat.counters().to_listener, 2u);
    EXPECT_EQ(nat.counters().from_listener, 1u);
}

TEST_F(NatTranslatorTest, Ipv6FlowsUseTheUlaPair) {
    NatTranslator nat(config());
    auto out = view(run(nat, build_tcp_segment(kApp6, kDst6, kTcpSyn, 1, 0), Verdict::forward));
    EXPECT_EQ(out.src, peer(true));
    EXPECT_EQ(out.destination(), listener(true));
    EXPECT_FALSE(nat.lookup_accepted(kPeer4, out.sport));
    auto found = nat.lookup_accepted(kPeer6, out.sport);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->dst, kDst6);
    auto back = view(run(
        nat, build_tcp_segment(listener(true), {peer(true), out.sport}, kTcpSyn | kTcpAck, 5, 2),
        Verdict::forward));
    EXPECT_EQ(back.source(), kDst6);
    EXPECT_EQ(back.destination(), kApp6);
}

TEST_F(NatTranslatorTest, RetransmittedSynKeepsItsPort) {
    NatTranslator nat(config());
    auto a = view(run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 1, 0), Verdict::forward));
    auto b = view(run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 1, 0), Verdict::forward));
    EXPECT_EQ(a.sport, b.sport);
    EXPECT_EQ(nat.flows().size(), 1u);
}

TEST_F(NatTranslatorTest, FullTableRefusesWithReset) {
    NatTranslator nat(config(2));
    for (uint16_t p = 1; p <= 2; ++p) {
        auto out =
            view(run(nat, build_tcp_segment({kApp.ip, p}, kDst, kTcpSyn, 1, 0), Verdict::forward));
        run(nat, build_tcp_segment(listener(), {peer(), out.sport}, kTcpSyn | kTcpAck, 1, 2),
            Verdict::forward);
        EXPECT_TRUE(nat.lookup_accepted(kPeer4, out.sport));
    }
    // However old, a flow ghostd accepted is never evicted for a newcomer.
    now_ += seconds(10);
    auto rst =
        view(run(nat, build_tcp_segment({kApp.ip, 3}, kDst, kTcpSyn, 77, 0), Verdict::reply));
    EXPECT_EQ(rst.tcp_flags, kTcpRst | kTcpAck);
    EXPECT_EQ(rst.source(), kDst);
    EXPECT_EQ(rst.destination(), (SocketAddr{kApp.ip, 3}));
    EXPECT_EQ(rst.ack, 78u);
    EXPECT_EQ(nat.counters().table_full, 1u);
    EXPECT_EQ(nat.flows().size(), 2u);
}

TEST_F(NatTranslatorTest, FullTableEvictsFlowsStuckAtTheirSyn) {
    NatTranslator nat(config(2));
    for (uint16_t p = 1; p <= 2; ++p)
        run(nat, build_tcp_segment({kApp.ip, p}, kDst, kTcpSyn, 1, 0), Verdict::forward);
    // A flow keeps its place for the accept grace, the time a real connection needs to get
    // through the handshake and accept().
    run(nat, build_tcp_segment({kApp.ip, 3}, kDst, kTcpSyn, 1, 0), Verdict::reply);
    EXPECT_EQ(nat.counters().table_full, 1u);
    // A SYN flood's flows never get further: after it a new connection takes one's place.
    now_ += nat.flows().config().accept_grace;
    run(nat, build_tcp_segment({kApp.ip, 4}, kDst, kTcpSyn, 1, 0), Verdict::forward);
    EXPECT_EQ(nat.counters().table_full, 1u);
    EXPECT_EQ(nat.flows().size(), 2u);
    EXPECT_EQ(nat.flows().evicted(), 1u);
}

TEST_F(NatTranslatorTest, SynFloodTheListenerAnswersMakesRoomButAcceptedFlowsStay) {
    // 700 real connections, then a flood of 300 SYNs from ports that never complete the
    // handshake. The kernel's listener answers every SYN (with syncookies if it must), so
    // each flood flow sees its SYN-ACK pass; ghostd accepts none of them.
    NatTranslator nat(config(1000));
    auto connect = [&](uint16_t sport, bool accept) {
        SocketAddr app{kApp.ip, sport};
        uint16_t n =
            view(run(nat, build_tcp_segment(app, kDst, kTcpSyn, 1, 0), Verdict::forward)).sport;
        run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpSyn | kTcpAck, 9, 2),
            Verdict::forward);
        if (accept) {
            run(nat, build_tcp_segment(app, kDst, kTcpAck, 2, 10), Verdict::forward);
            EXPECT_TRUE(nat.lookup_accepted(kPeer4, n));
        }
        return n;
    };
    std::vector<uint16_t> real;
    for (uint16_t p = 1; p <= 700; ++p) real.push_back(connect(p, true));
    for (uint16_t p = 701; p <= 1000; ++p) connect(p, false);
    ASSERT_EQ(nat.flows().size(), 1000u);
    for (uint16_t n : real) EXPECT_EQ(nat.flows().find_port(n)->state, FlowState::established);

    // Within the grace the flood's flows may still be connections on their way to accept().
    run(nat, build_tcp_segment({kApp.ip, 2000}, kDst, kTcpSyn, 1, 0), Verdict::reply);
    EXPECT_EQ(nat.counters().table_full, 1u);

    // After it every new connection takes a flood flow's place; the real ones (more than
    // 512 ports of them, ahead of the flood in the port range) are never the ones to go.
    now_ += seconds(1);
    for (uint16_t p = 2001; p <= 2300; ++p) connect(p, false);
    EXPECT_EQ(nat.flows().evicted(), 300u);
    EXPECT_EQ(nat.counters().table_full, 1u);
    EXPECT_EQ(nat.flows().size(), 1000u);
    for (uint16_t n : real) {
        ASSERT_NE(nat.flows().find_port(n), nullptr);
        EXPECT_TRUE(nat.flows().find_port(n)->accepted);
    }
    // Now the table holds accepted flows and newcomers within their grace: refused.
    run(nat, build_tcp_segment({kApp.ip, 2400}, kDst, kTcpSyn, 1, 0), Verdict::reply);
    EXPECT_EQ(nat.counters().table_full, 2u);
    EXPECT_EQ(nat.flows().evicted(), 300u);
}

TEST_F(NatTranslatorTest, CompletedHandshakeWaitingForASlowAcceptIsNotEvicted) {
    // A full table of flows whose handshakes completed while ghostd was slow to accept
    // (e.g. out of descriptors): the kernel holds each connection for accept(), so none
    // may make room, however long they wait; a flood flow (SYN-ACK never ACKed) may.
    NatTranslator nat(config(3));
    std::vector<uint16_t> waiting;
    for (uint16_t p = 1; p <= 2; ++p) {
        SocketAddr app{kApp.ip, p};
        uint16_t n =
            view(run(nat, build_tcp_segment(app, kDst, kTcpSyn, 1, 0), Verdict::forward)).sport;
        run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpSyn | kTcpAck, 9, 2),
            Verdict::forward);
        run(nat, build_tcp_segment(app, kDst, kTcpAck, 2, 10), Verdict::forward);
        waiting.push_back(n);
    }
    SocketAddr flood{kApp.ip, 3};
    uint16_t f =
        view(run(nat, build_tcp_segment(flood, kDst, kTcpSyn, 1, 0), Verdict::forward)).sport;
    run(nat, build_tcp_segment(listener(), {peer(), f}, kTcpSyn | kTcpAck, 9, 2), Verdict::forward);
    now_ += seconds(5);
    run(nat, build_tcp_segment({kApp.ip, 4}, kDst, kTcpSyn, 1, 0), Verdict::forward);
    EXPECT_EQ(nat.flows().evicted(), 1u);
    EXPECT_EQ(nat.flows().find_port(f), nullptr);
    run(nat, build_tcp_segment({kApp.ip, 5}, kDst, kTcpSyn, 1, 0), Verdict::reply);  // table_full
    for (uint16_t n : waiting) {
        ASSERT_NE(nat.flows().find_port(n), nullptr);
        EXPECT_TRUE(nat.lookup_accepted(kPeer4, n));  // the late accept still finds it
    }
}

TEST_F(NatTranslatorTest, SegmentWithoutFlowIsReset) {
    NatTranslator nat(config());
    auto rst = view(run(nat, build_tcp_segment(kApp, kDst, kTcpAck, 1, 555), Verdict::reply));
    EXPECT_EQ(rst.tcp_flags, kTcpRst);
    EXPECT_EQ(rst.seq, 555u);
    run(nat, build_tcp_segment(kApp, kDst, kTcpRst, 1, 0), Verdict::drop);
    EXPECT_EQ(nat.counters().no_flow, 2u);
    EXPECT_EQ(nat.flows().size(), 0u);
}

TEST_F(NatTranslatorTest, StrayListenerSegmentIsDropped) {
    NatTranslator nat(config());
    run(nat, build_tcp_segment(listener(), {peer(), 5555}, kTcpAck, 1, 1), Verdict::drop);
    EXPECT_EQ(nat.counters().stray_listener, 1u);
}

TEST_F(NatTranslatorTest, TrafficToTheNatAddressesIsRefused) {
    NatTranslator nat(config());
    run(nat, build_tcp_segment(kApp, {peer(), 22}, kTcpSyn, 1, 0), Verdict::reply);
    EXPECT_EQ(nat.counters().reserved_dst, 1u);
    EXPECT_EQ(nat.flows().size(), 0u);
}

TEST_F(NatTranslatorTest, UdpGetsPortUnreachableAndIcmpIsDropped) {
    NatTranslator nat(config());
    auto icmp = run(nat, build_udp_datagram(kApp, kDst, std::vector<uint8_t>{1}), Verdict::reply);
    PacketView v;
    ASSERT_EQ(parse_packet(icmp, &v), ParseError::none);
    EXPECT_EQ(v.protocol, kProtoIcmp);
    EXPECT_EQ(nat.counters().udp_refused, 1u);
    run(nat, build_udp_datagram(kApp, {ip("224.0.0.251"), 5353}, std::vector<uint8_t>{1}),
        Verdict::drop);
    auto ping = build_udp_datagram(kApp, kDst, std::vector<uint8_t>{1});
    ping[9] = kProtoIcmp;
    run(nat, ping, Verdict::drop);
    EXPECT_EQ(nat.counters().other_dropped, 2u);
}

TEST_F(NatTranslatorTest, DnsIsInterceptedOnlyWhenEnabled) {
    std::vector<uint8_t> query(20, 0x11);
    NatTranslator off(config());
    run(off, build_udp_datagram(kApp, {kDst.ip, 53}, query), Verdict::reply);  // port unreachable
    EXPECT_EQ(off.counters().dns_intercepted, 0u);

    // Split tunnel: only queries to the tunnel's DNS address (the NAT's peer address); one
    // to a routed address is refused like other UDP, not answered by another server.
    NatConfig c = config();
    c.intercept_dns = true;
    NatTranslator split(c);
    run(split, build_udp_datagram(kApp, {kDst.ip, 53}, query), Verdict::reply);
    EXPECT_EQ(split.counters().dns_intercepted, 0u);
    EXPECT_EQ(split.counters().udp_refused, 1u);
    std::vector<uint8_t> reply;
    auto pkt4 = build_udp_datagram(kApp, {c.addresses.peer_v4, 53}, query);
    auto r = split.process(pkt4, Clock::now(), &reply);
    EXPECT_EQ(r.verdict, Verdict::dns);
    auto pkt6 = build_udp_datagram(kApp6, {c.addresses.peer_v6, 53}, query);
    r = split.process(pkt6, Clock::now(), &reply);
    EXPECT_EQ(r.verdict, Verdict::dns);
    EXPECT_EQ(split.counters().dns_intercepted, 2u);

    // Full tunnel: port 53 of any address.
    c.intercept_all_dns = true;
    NatTranslator nat(c);
    auto pkt = build_udp_datagram(kApp, {kDst.ip, 53}, query);
    r = nat.process(pkt, Clock::now(), &reply);
    EXPECT_EQ(r.verdict, Verdict::dns);
    EXPECT_EQ(nat.counters().dns_intercepted, 1u);
    EXPECT_EQ(nat.counters().udp_refused, 0u);
    // Only port 53: other UDP is still refused, and an empty datagram is not a query.
    run(nat, build_udp_datagram(kApp, {kDst.ip, 5353}, query), Verdict::reply);
    run(nat, build_udp_datagram(kApp, {kDst.ip, 53}, std::vector<uint8_t>{}), Verdict::reply);
    EXPECT_EQ(nat.counters().udp_refused, 2u);
}

TEST_F(NatTranslatorTest, UdpIsHandedOverWhenEnabled) {
    NatConfig c = config();
    c.udp = true;
    c.intercept_dns = true;
    NatTranslator nat(c);
    std::vector<uint8_t> data(100, 7);
    for (const auto& [app, dst] : {std::pair{kApp, kDst}, std::pair{kApp6, kDst6}}) {
        auto pkt = build_udp_datagram(app, dst, data);
        auto before = pkt;
        std::vector<uint8_t> reply;
        NatResult r = nat.process(pkt, now_, &reply);
        EXPECT_EQ(r.verdict, Verdict::udp);
        EXPECT_EQ(r.length, pkt.size());
        EXPECT_EQ(pkt, before);  // handed over as it came
    }
    // Empty datagrams too; the tunnel's DNS is still answered here.
    run(nat, build_udp_datagram(kApp, kDst, std::vector<uint8_t>{}), Verdict::udp);
    run(nat, build_udp_datagram(kApp, {peer(), 53}, data), Verdict::dns);
    run(nat, build_udp_datagram(kApp, {kDst.ip, 53}, data), Verdict::udp);  // split: not ours
    EXPECT_EQ(nat.counters().udp_datagrams, 4u);
    EXPECT_EQ(nat.counters().dns_intercepted, 1u);
    EXPECT_EQ(nat.flows().size(), 0u);  // UDP takes no TCP flow
    // Never to port 0, the NAT's own addresses, multicast or broadcast.
    run(nat, build_udp_datagram(kApp, {kDst.ip, 0}, data), Verdict::reply);
    run(nat, build_udp_datagram(kApp, {peer(), 5000}, data), Verdict::reply);
    run(nat, build_udp_datagram(kApp6, {listener(true).ip, 5000}, data), Verdict::reply);
    EXPECT_EQ(nat.counters().udp_refused, 3u);
    run(nat, build_udp_datagram(kApp, {ip("224.0.0.251"), 5353}, data), Verdict::drop);
    run(nat, build_udp_datagram(kApp, {ip("255.255.255.255"), 67}, data), Verdict::drop);
    EXPECT_EQ(nat.counters().other_dropped, 2u);
    EXPECT_EQ(nat.counters().udp_datagrams, 4u);
}

TEST_F(NatTranslatorTest, UdpOfDisabledIpv6IsRefusedNotHandedOver) {
    NatConfig c = config();
    c.udp = true;
    c.ipv6 = false;
    NatTranslator nat(c);
    run(nat, build_udp_datagram(kApp6, kDst6, std::vector<uint8_t>{1}), Verdict::reply);
    EXPECT_EQ(nat.counters().ipv6_blocked, 1u);
    EXPECT_EQ(nat.counters().udp_datagrams, 0u);
}

TEST_F(NatTranslatorTest, UdpWithPartialChecksumIsHandedOverUnchanged) {
    NatConfig c = config();
    c.udp = true;
    NatTranslator nat(c);
    auto pkt = build_udp_datagram(kApp, kDst, std::vector<uint8_t>(30, 1));
    auto before = pkt;
    std::vector<uint8_t> reply;
    NatResult r = nat.process(pkt, now_, &reply, PartialChecksum{20, 6});
    EXPECT_EQ(r.verdict, Verdict::udp);
    EXPECT_EQ(pkt, before);
}

TEST_F(NatTranslatorTest, EchoRequestsAreHandedOverWhenEnabled) {
    std::vector<uint8_t> data(56, 1);
    NatTranslator off(config());
    run(off, build_echo(kApp.ip, kDst.ip, true, 9, 1, data), Verdict::drop);
    EXPECT_EQ(off.counters().other_dropped, 1u);
    EXPECT_EQ(off.counters().icmp_echo, 0u);

    NatConfig c = config();
    c.icmp_echo = true;
    NatTranslator nat(c);
    for (const auto& [app, dst] : {std::pair{kApp, kDst}, std::pair{kApp6, kDst6}}) {
        auto pkt = build_echo(app.ip, dst.ip, true, 9, 1, data);
        std::vector<uint8_t> reply;
        NatResult r = nat.process(pkt, now_, &reply);
        EXPECT_EQ(r.verdict, Verdict::icmp_echo);
        EXPECT_EQ(r.length, pkt.size());
    }
    EXPECT_EQ(nat.counters().icmp_echo, 2u);
    // Replies from the application, other ICMP, multicast pings: dropped.
    run(nat, build_echo(kApp.ip, kDst.ip, false, 9, 1, data), Verdict::drop);
    auto unreachable = build_udp_icmp_error({kDst.ip, 1}, {kApp.ip, 2}, 3, 3, 0);
    run(nat, unreachable, Verdict::drop);
    run(nat, build_echo(kApp.ip, ip("224.0.0.1"), true, 9, 1, data), Verdict::drop);
    run(nat, build_echo(kApp6.ip, ip("ff02::1"), true, 9, 1, data), Verdict::drop);
    EXPECT_EQ(nat.counters().other_dropped, 4u);
    // Pings of the NAT's own addresses.
    run(nat, build_echo(kApp.ip, peer(), true, 9, 1, data), Verdict::drop);
    run(nat, build_echo(kApp6.ip, peer(true), true, 9, 1, data), Verdict::drop);
    EXPECT_EQ(nat.counters().reserved_dst, 2u);
    EXPECT_EQ(nat.counters().icmp_echo, 2u);
    // UDP is still refused: the two switches are apart.
    run(nat, build_udp_datagram(kApp, kDst, data), Verdict::reply);
    EXPECT_EQ(nat.counters().udp_refused, 1u);

    c.ipv6 = false;
    NatTranslator v4only(c);
    run(v4only, build_echo(kApp6.ip, kDst6.ip, true, 9, 1, data), Verdict::drop);
    EXPECT_EQ(v4only.counters().ipv6_blocked, 1u);
}

TEST(NatAddresses, SlotsNeverShareASubnet) {
    auto a0 = NatAddresses::for_slot(0, 7);
    EXPECT_EQ(a0.listener_v4.str(), NatAddresses::defaults(7).listener_v4.str());
    EXPECT_EQ(a0.peer_v6.str(), "fdc7:6768:6f73:7400::2");
    auto a1 = NatAddresses::for_slot(1, 7);
    EXPECT_EQ(a1.listener_v4.str(), "198.18.0.5");
    EXPECT_EQ(a1.peer_v4.str(), "198.18.0.6");
    EXPECT_EQ(a1.listener_v6.str(), "fdc7:6768:6f73:7400::5");
    EXPECT_EQ(a1.peer_v6.str(), "fdc7:6768:6f73:7400::6");
    auto last = NatAddresses::for_slot(NatAddresses::kSlots - 1, 7);
    EXPECT_EQ(last.peer_v4.str(), "198.18.0.62");
    EXPECT_EQ(last.listener_port, 7);
}

TEST_F(NatTranslatorTest, DisabledIpv6IsBlockedNotForwarded) {
    NatConfig c = config();
    c.ipv6 = false;
    NatTranslator nat(c);
    auto rst = view(run(nat, build_tcp_segment(kApp6, kDst6, kTcpSyn, 1, 0), Verdict::reply));
    EXPECT_TRUE(rst.has(kTcpRst));
    run(nat, build_udp_datagram(kApp6, kDst6, std::vector<uint8_t>{1}), Verdict::reply);
    EXPECT_EQ(nat.counters().ipv6_blocked, 2u);
    EXPECT_EQ(nat.flows().size(), 0u);
}

TEST_F(NatTranslatorTest, MalformedPacketsAreCountedByReason) {
    NatTranslator nat(config());
    auto pkt = build_tcp_segment(kApp, kDst, kTcpSyn, 1, 0);
    pkt[0] = 0x44;
    run(nat, pkt, Verdict::drop);
    run(nat, {}, Verdict::drop);
    run(nat, {0x45, 0}, Verdict::drop);
    EXPECT_EQ(nat.counters().malformed[static_cast<size_t>(ParseError::bad_header_length)], 1u);
    EXPECT_EQ(nat.counters().malformed[static_cast<size_t>(ParseError::too_short)], 2u);
    EXPECT_EQ(nat.counters().malformed_total(), 3u);
}

TEST_F(NatTranslatorTest, FlowsExpireAfterFinBothWaysPlusGrace) {
    NatTranslator nat(config());
    uint16_t n =
        view(run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 1, 0), Verdict::forward)).sport;
    run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpSyn | kTcpAck, 1, 2), Verdict::forward);
    run(nat, build_tcp_segment(kApp, kDst, kTcpFin | kTcpAck, 2, 2), Verdict::forward);
    EXPECT_EQ(nat.flows().find_port(n)->state, FlowState::half_closed);
    run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpFin | kTcpAck, 2, 3), Verdict::forward);
    EXPECT_EQ(nat.flows().find_port(n)->state, FlowState::closed);
    // The last ACK still passes during the grace time.
    run(nat, build_tcp_segment(kApp, kDst, kTcpAck, 3, 3), Verdict::forward);
    now_ += seconds(29);
    EXPECT_EQ(nat.expire(now_), 0u);
    now_ += seconds(1);
    EXPECT_EQ(nat.expire(now_), 1u);
    EXPECT_EQ(nat.flows().size(), 0u);
    EXPECT_EQ(nat.counters().flows_expired, 1u);
}

TEST_F(NatTranslatorTest, ResetClosesAndNewSynGetsANewPort) {
    NatTranslator nat(config());
    uint16_t n =
        view(run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 1, 0), Verdict::forward)).sport;
    run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpRst | kTcpAck, 0, 2), Verdict::forward);
    EXPECT_EQ(nat.flows().find_port(n)->state, FlowState::closed);
    uint16_t m =
        view(run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 50, 0), Verdict::forward)).sport;
    EXPECT_NE(m, n);
    EXPECT_EQ(nat.flows().find_port(n), nullptr);
    EXPECT_EQ(nat.flows().size(), 1u);
}

TEST_F(NatTranslatorTest, AcceptedFlowsAreReportedAsTheyLeaveTheTable) {
    NatTranslator nat(config());
    std::vector<Flow> ended;
    nat.on_accepted_end([&](const Flow& f) { ended.push_back(f); });
    auto connect = [&](SocketAddr app, bool accept) {
        uint16_t n =
            view(run(nat, build_tcp_segment(app, kDst, kTcpSyn, 1, 0), Verdict::forward)).sport;
        run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpSyn | kTcpAck, 9, 2),
            Verdict::forward);
        if (accept) {
            EXPECT_TRUE(nat.lookup_accepted(kPeer4, n));
        }
        return n;
    };
    SocketAddr app_idle{kApp.ip, 1}, app_half{kApp.ip, 2}, app_done{kApp.ip, 3},
        app_reset{kApp.ip, 5};
    uint16_t idle = connect(app_idle, true);
    uint16_t half = connect(app_half, true);
    run(nat, build_tcp_segment(app_half, kDst, kTcpFin | kTcpAck, 2, 10), Verdict::forward);
    uint16_t done = connect(app_done, true);
    run(nat, build_tcp_segment(app_done, kDst, kTcpFin | kTcpAck, 2, 10), Verdict::forward);
    run(nat, build_tcp_segment(listener(), {peer(), done}, kTcpFin | kTcpAck, 10, 3),
        Verdict::forward);
    connect({kApp.ip, 4}, false);  // never accepted: nobody to tell
    uint16_t reset = connect(app_reset, true);
    run(nat, build_tcp_segment(app_reset, kDst, kTcpRst, 2, 0), Verdict::forward);

    // The application reuses its port: the closed flow makes way and is reported.
    run(nat, build_tcp_segment(app_reset, kDst, kTcpSyn, 100, 0), Verdict::forward);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].port, reset);
    EXPECT_EQ(ended[0].state, FlowState::closed);

    now_ += seconds(30);  // the closed grace
    EXPECT_EQ(nat.expire(now_), 1u);
    ASSERT_EQ(ended.size(), 2u);
    EXPECT_EQ(ended[1].port, done);
    EXPECT_EQ(ended[1].state, FlowState::closed);

    now_ += seconds(30);  // the SYN timeout: the unaccepted flow and the new SYN go unreported
    EXPECT_EQ(nat.expire(now_), 2u);
    EXPECT_EQ(ended.size(), 2u);

    now_ += seconds(600 - 60);  // half-closed for 10 min
    EXPECT_EQ(nat.expire(now_), 1u);
    ASSERT_EQ(ended.size(), 3u);
    EXPECT_EQ(ended[2].port, half);
    EXPECT_EQ(ended[2].state, FlowState::half_closed);
    EXPECT_EQ(ended[2].tuple.src, app_half);

    now_ += seconds(7200 - 600);  // idle for 2 h
    EXPECT_EQ(nat.expire(now_), 1u);
    ASSERT_EQ(ended.size(), 4u);
    EXPECT_EQ(ended[3].port, idle);
    EXPECT_EQ(ended[3].state, FlowState::established);
    EXPECT_EQ(nat.flows().size(), 0u);
}

/// The kernel's form of `pkt` under checksum offload: the TCP field holds the
/// pseudo-header sum only.
std::vector<uint8_t> with_partial_sum(std::vector<uint8_t> pkt, PartialChecksum* partial) {
    PacketView v;
    EXPECT_EQ(parse_packet(pkt, &v), ParseError::none);
    *partial = {static_cast<uint16_t>(v.l4_offset), static_cast<uint16_t>(l4_checksum_offset(v))};
    size_t alen = v.v6 ? 16 : 4;
    uint32_t sum = checksum_add(std::span(v.src.bytes.data(), alen));
    sum = checksum_add(std::span(v.dst.bytes.data(), alen), sum);
    sum += v.protocol + static_cast<uint32_t>(v.l4_len);
    store_be16(&pkt[v.l4_offset + partial->offset], static_cast<uint16_t>(~checksum_finish(sum)));
    return pkt;
}

TEST_F(NatTranslatorTest, OffloadedChecksumStaysPartialAndFinishesValid) {
    NatTranslator nat(config());
    for (bool v6 : {false, true}) {
        SocketAddr app = v6 ? kApp6 : kApp;
        SocketAddr dst = v6 ? kDst6 : kDst;
        PartialChecksum partial;
        auto pkt = with_partial_sum(
            build_tcp_segment(app, dst, kTcpSyn, 100, 0, std::vector<uint8_t>(33, 9)), &partial);
        std::vector<uint8_t> reply;
        NatResult r = nat.process(pkt, now_, &reply, partial);
        ASSERT_EQ(r.verdict, Verdict::forward);
        ASSERT_TRUE(r.partial);
        EXPECT_EQ(*r.partial, partial);
        pkt.resize(r.length);
        ASSERT_TRUE(finish_partial_checksum(pkt, *r.partial));
        auto out = view(pkt);  // checks the finished checksums
        EXPECT_EQ(out.destination(), listener(v6));
    }
}

TEST_F(NatTranslatorTest, OffloadHeaderPointingElsewhereIsFinishedFirstOrDropped) {
    NatTranslator nat(config());
    PartialChecksum partial;
    auto pkt = with_partial_sum(build_tcp_segment(kApp, kDst, kTcpSyn, 100, 0), &partial);
    // The same field, described from two bytes earlier: not the packet's own checksum.
    const PartialChecksum elsewhere{18, 18};
    auto odd = pkt;
    std::vector<uint8_t> reply;
    NatResult r = nat.process(odd, now_, &reply, elsewhere);
    EXPECT_EQ(r.verdict, Verdict::forward);
    EXPECT_FALSE(r.partial);
    // Exactly as if the device had finished it as described and handed it over complete.
    NatTranslator twin(config());
    auto finished = pkt;
    ASSERT_TRUE(finish_partial_checksum(finished, elsewhere));
    EXPECT_EQ(twin.process(finished, now_, &reply).verdict, Verdict::forward);
    EXPECT_EQ(odd, finished);

    auto bad = pkt;
    r = nat.process(bad, now_, &reply, PartialChecksum{20, 60000});
    EXPECT_EQ(r.verdict, Verdict::drop);
    EXPECT_EQ(nat.counters().other_dropped, 1u);
    // The flow the first packet made is still there and working.
    auto again = view(run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 100, 0), Verdict::forward));
    EXPECT_EQ(again.destination(), listener());
}

// An offload header whose field lies in the IP header (found by fuzzing): finishing it
// rewrites the header (here the total length), and the NAT must then treat the packet as
// the device would have handed it over finished, not by its header as it was before.
TEST_F(NatTranslatorTest, OffloadHeaderOverTheIpHeaderActsOnTheFinishedPacket) {
    const auto syn = build_tcp_segment(kApp, kDst, kTcpSyn, 100, 0, std::vector<uint8_t>(40, 7));
    for (const PartialChecksum over_ip : {PartialChecksum{2, 0}, PartialChecksum{3, 0},
                                          PartialChecksum{0, 10}, PartialChecksum{8, 4}}) {
        NatTranslator nat(config());
        auto pkt = syn;
        std::vector<uint8_t> reply;
        const NatResult r = nat.process(pkt, now_, &reply, over_ip);
        NatTranslator twin(config());
        auto finished = syn;
        ASSERT_TRUE(finish_partial_checksum(finished, over_ip));
        const NatResult want = twin.process(finished, now_, &reply);
        EXPECT_EQ(r.verdict, want.verdict) << over_ip.start << "+" << over_ip.offset;
        EXPECT_FALSE(r.partial);
        if (r.verdict != Verdict::forward) continue;
        EXPECT_EQ(pkt, finished);
        PacketView out;
        ASSERT_EQ(parse_packet(std::span(pkt).first(r.length), &out), ParseError::none);
        EXPECT_EQ(out.total_len, r.length);
    }
}

TEST_F(NatTranslatorTest, IdleAndUnansweredFlowsExpire) {
    NatTranslator nat(config());
    run(nat, build_tcp_segment(kApp, kDst, kTcpSyn, 1, 0), Verdict::forward);
    uint16_t answered[2];
    for (uint16_t p : {2, 3}) {
        uint16_t n =
            view(run(nat, build_tcp_segment({kApp.ip, p}, kDst, kTcpSyn, 1, 0), Verdict::forward))
                .sport;
        run(nat, build_tcp_segment(listener(), {peer(), n}, kTcpSyn | kTcpAck, 1, 2),
            Verdict::forward);
        answered[p - 2] = n;
    }
    ASSERT_TRUE(nat.lookup_accepted(kPeer4, answered[0]));
    now_ += seconds(60);
    // The unanswered SYN, and the answered flow ghostd never accepted.
    EXPECT_EQ(nat.expire(now_), 2u);
    EXPECT_EQ(nat.flows().find_port(answered[1]), nullptr);
    now_ += seconds(7200);
    EXPECT_EQ(nat.expire(now_), 1u);  // the idle established flow
}

TEST(FlowTable, ClosedFlowsMakeRoomFirstThenTheOldestUnaccepted) {
    FlowTableConfig c;
    c.max_flows = 3;
    FlowTable t(c);
    auto tuple = [](uint16_t p) {
        return FlowTuple{{*net::IpAddress::parse("10.0.0.1"), p},
                         {*net::IpAddress::parse("10.0.0.2"), 80}};
    };
    auto now = Clock::now();
    uint16_t stuck = t.create(tuple(1), now)->port;
    Flow* done = t.create(tuple(2), now);
    t.mark_accepted(*done);
    t.observe(*done, kTcpRst, true, now);
    Flow* open = t.create(tuple(3), now);
    t.mark_accepted(*open);
    uint16_t done_port = done->port, open_port = open->port;
    now += seconds(2);
    // The closed flow goes first, then the one never accepted, never the open accepted one.
    ASSERT_NE(t.create(tuple(4), now), nullptr);
    EXPECT_EQ(t.find_port(done_port), nullptr);
    EXPECT_NE(t.find_port(stuck), nullptr);
    ASSERT_NE(t.create(tuple(5), now), nullptr);
    EXPECT_EQ(t.find_port(stuck), nullptr);
    EXPECT_EQ(t.create(tuple(6), now), nullptr);  // tuples 4 and 5 are within their grace
    EXPECT_NE(t.find_port(open_port), nullptr);
    EXPECT_EQ(t.evicted(), 2u);
    now += seconds(1);
    ASSERT_NE(t.create(tuple(6), now), nullptr);
    EXPECT_EQ(t.find(tuple(4)), nullptr);
    EXPECT_NE(t.find_port(open_port), nullptr);
    EXPECT_EQ(t.size(), 3u);
}

TEST(FlowTable, PortsAreRoundRobinAndSkipTheReservedPort) {
    FlowTableConfig c;
    c.port_min = 100;
    c.port_max = 103;
    c.reserved_port = 101;
    FlowTable t(c);
    auto now = Clock::now();
    auto tuple = [](uint16_t p) {
        return FlowTuple{{*net::IpAddress::parse("10.0.0.1"), p},
                         {*net::IpAddress::parse("10.0.0.2"), 80}};
    };
    EXPECT_EQ(t.create(tuple(1), now)->port, 100);
    EXPECT_EQ(t.create(tuple(2), now)->port, 102);
    EXPECT_EQ(t.create(tuple(3), now)->port, 103);
    EXPECT_EQ(t.create(tuple(4), now), nullptr);  // range exhausted
    EXPECT_EQ(t.create(tuple(1), now), nullptr);  // duplicate tuple
    t.erase(102);
    EXPECT_EQ(t.create(tuple(5), now)->port, 102);
    t.erase(100);
    EXPECT_EQ(t.find(tuple(1)), nullptr);
    EXPECT_EQ(t.find(tuple(5))->port, 102);
    EXPECT_EQ(t.size(), 2u);
}

}  // namespace
}  // namespace ghost::tun
