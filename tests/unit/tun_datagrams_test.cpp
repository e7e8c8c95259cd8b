#include "daemon/client/tun_datagrams.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <vector>

#include "common/tun/checksum.hpp"
#include "common/tun/reply.hpp"

namespace ghost::daemon::client {
namespace {

namespace gt = ghost::tun;
using std::chrono::seconds;

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

const gt::SocketAddr kApp{ip("10.0.0.2"), 40000};
const gt::SocketAddr kDst{ip("192.0.2.53"), 5353};
const gt::SocketAddr kApp6{ip("fd00::2"), 40001};
const gt::SocketAddr kDst6{ip("2001:db8::53"), 443};

/// Records what would be written into the TUN, as the packets NatEngine would build.
class FakeTun : public tun::TunWriter {
  public:
    bool send_udp(const gt::SocketAddr& from, const gt::SocketAddr& to,
                  std::span<const uint8_t> payload) override {
        return keep(gt::build_udp_datagram(from, to, payload));
    }
    bool send_icmp_echo_reply(const net::IpAddress& from, const net::IpAddress& to, uint16_t ident,
                              uint16_t sequence, std::span<const uint8_t> data) override {
        return keep(gt::build_echo(from, to, false, ident, sequence, data));
    }
    bool send_icmp_error(const gt::SocketAddr& client, const gt::SocketAddr& remote, uint8_t type,
                         uint8_t code, uint32_t mtu, std::span<const uint8_t> payload) override {
        return keep(gt::build_udp_icmp_error(client, remote, type, code, mtu, payload));
    }

    std::deque<std::vector<uint8_t>> packets;
    bool full = false;

  private:
    bool keep(std::vector<uint8_t> p) {
        if (full || p.empty()) return false;
        packets.push_back(std::move(p));
        return true;
    }
};

class TunDatagramsTest : public ::testing::Test {
  protected:
    TunDatagramsTest() : dg_(tun_, {}) {}

    /// Opens the channel; frames sent land in sent_ unless refuse_ is set.
    void up(uint8_t features = udp::kFeatureIcmpEcho4 | udp::kFeatureIcmpEcho6,
            uint16_t max_payload = 65507) {
        dg_.channel_up(
            [this](udp::Datagram d) {
                if (refuse_) return false;
                sent_.push_back(std::move(d));
                return true;
            },
            udp::Hello{udp::kVersion, features, max_payload, 1000});
    }

    /// The one packet written into the TUN since the last call, parsed with its checksums
    /// checked.
    gt::PacketView written(std::vector<uint8_t>* out = nullptr) {
        EXPECT_EQ(tun_->packets.size(), 1u);
        gt::PacketView v;
        if (tun_->packets.empty()) return v;
        std::vector<uint8_t> p = std::move(tun_->packets.front());
        tun_->packets.clear();
        EXPECT_EQ(gt::parse_packet(p, &v), gt::ParseError::none);
        if (!v.v6) {
            EXPECT_EQ(gt::internet_checksum(std::span(p.data(), v.ip_header_len)), 0);
        }
        EXPECT_EQ(gt::compute_l4_checksum(p, v),
                  gt::load_be16(&p[v.l4_offset + gt::l4_checksum_offset(v)]));
        if (out != nullptr) *out = std::move(p);
        return v;
    }

    static udp::Datagram frame(udp::FrameType type, gt::SocketAddr client, gt::SocketAddr remote,
                               std::vector<uint8_t> payload = {}) {
        udp::Datagram d;
        d.type = type;
        d.client = client;
        d.remote = remote;
        d.payload = std::move(payload);
        return d;
    }

    std::shared_ptr<FakeTun> tun_ = std::make_shared<FakeTun>();
    TunDatagrams dg_;
    std::vector<udp::Datagram> sent_;
    bool refuse_ = false;
    TunDatagrams::Clock::time_point now_ = TunDatagrams::Clock::time_point{} + seconds(1000);
};

TEST_F(TunDatagramsTest, WithoutAChannelUdpIsRefusedAndEchoDropped) {
    std::vector<uint8_t> payload(40, 1);
    dg_.on_udp(kApp, kDst, payload, now_);
    std::vector<uint8_t> pkt;
    gt::PacketView v = written(&pkt);
    EXPECT_EQ(v.protocol, gt::kProtoIcmp);
    EXPECT_EQ(v.src, kDst.ip);
    EXPECT_EQ(v.dst, kApp.ip);
    EXPECT_EQ(pkt[20], 3);  // port unreachable
    EXPECT_EQ(pkt[21], 3);
    dg_.on_udp(kApp6, kDst6, payload, now_);
    v = written(&pkt);
    EXPECT_EQ(v.protocol, gt::kProtoIcmpv6);
    EXPECT_EQ(pkt[40], 1);
    EXPECT_EQ(pkt[41], 4);

    dg_.on_echo_request(kApp.ip, kDst.ip, 7, 1, payload, now_);
    EXPECT_TRUE(tun_->packets.empty());
    EXPECT_TRUE(sent_.empty());
    const auto& d = dg_.counters().dropped;
    EXPECT_EQ(d.udp_no_channel, 2u);
    EXPECT_EQ(d.echo_no_channel, 1u);
    EXPECT_EQ(dg_.flow_count(), 0u);
    auto s = dg_.status();
    EXPECT_EQ(s["channel"], "down");
    EXPECT_EQ(s["why"], "no session");
    EXPECT_EQ(s["dropped"]["udp_no_channel"], 2);

    up();
    dg_.channel_down("the server does not offer datagram@ghost (a stock sshd?)");
    EXPECT_EQ(dg_.status()["why"], "the server does not offer datagram@ghost (a stock sshd?)");
    dg_.on_udp(kApp, kDst, payload, now_);
    written();
    EXPECT_EQ(d.udp_no_channel, 3u);
}

TEST_F(TunDatagramsTest, UdpGoesOutAsFramesAndRepliesComeBack) {
    up();
    std::vector<uint8_t> payload{1, 2, 3};
    dg_.on_udp(kApp, kDst, payload, now_);
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0], frame(udp::FrameType::udp, kApp, kDst, payload));
    EXPECT_TRUE(tun_->packets.empty());

    // The server's answer, from the destination or from another host (endpoint-independent
    // filtering on the server lets it through: so does the client).
    for (const auto& from : {kDst, gt::SocketAddr{ip("198.51.100.9"), 9}}) {
        dg_.on_frame(frame(udp::FrameType::udp, kApp, from, {9, 8}), now_);
        std::vector<uint8_t> pkt;
        gt::PacketView v = written(&pkt);
        EXPECT_TRUE(v.is_udp());
        EXPECT_EQ(v.source(), from);
        EXPECT_EQ(v.destination(), kApp);
        ASSERT_EQ(v.payload_len, 2u);
        EXPECT_EQ(pkt[v.l4_offset + 8], 9);
    }
    // IPv6 the same way.
    dg_.on_udp(kApp6, kDst6, payload, now_);
    dg_.on_frame(frame(udp::FrameType::udp, kApp6, kDst6, {}), now_);
    gt::PacketView v = written();
    EXPECT_TRUE(v.v6);
    EXPECT_EQ(v.destination(), kApp6);
    const auto& c = dg_.counters();
    EXPECT_EQ(c.udp_out, 2u);
    EXPECT_EQ(c.udp_bytes_out, 6u);
    EXPECT_EQ(c.udp_in, 3u);
    EXPECT_EQ(c.udp_bytes_in, 4u);
    EXPECT_EQ(dg_.flow_count(), 2u);
    auto s = dg_.status();
    EXPECT_EQ(s["channel"], "up");
    EXPECT_FALSE(s.contains("why"));
    EXPECT_EQ(s["server"]["max_payload"], 65507);
    ASSERT_EQ(s["recent_flows"].size(), 2u);
    EXPECT_EQ(s["recent_flows"][0]["client"], "[fd00::2]:40001");
    EXPECT_EQ(s["recent_flows"][1]["client"], "10.0.0.2:40000");
    EXPECT_EQ(s["recent_flows"][1]["remote"], "198.51.100.9:9");
    EXPECT_EQ(s["recent_flows"][1]["bytes_in"], 4);
}

TEST_F(TunDatagramsTest, FramesForNoFlowAreDropped) {
    up();
    dg_.on_frame(frame(udp::FrameType::udp, kApp, kDst, {1}), now_);
    dg_.on_frame(frame(udp::FrameType::icmp_echo, {kApp.ip, 7}, {kDst.ip, 1}, {1}), now_);
    udp::Datagram err = frame(udp::FrameType::icmp_error, kApp, kDst);
    err.icmp_type = 3;
    err.icmp_code = 3;
    dg_.on_frame(err, now_);
    EXPECT_EQ(dg_.counters().dropped.unknown_flow, 3u);
    // A UDP flow is no echo flow with the same number.
    dg_.on_udp(kApp, kDst, std::vector<uint8_t>{1}, now_);
    dg_.on_frame(frame(udp::FrameType::icmp_echo, kApp, {kDst.ip, 1}, {1}), now_);
    EXPECT_EQ(dg_.counters().dropped.unknown_flow, 4u);
    EXPECT_TRUE(tun_->packets.empty());
}

TEST_F(TunDatagramsTest, MalformedFramesAreDropped) {
    up();
    dg_.on_udp(kApp, kDst, std::vector<uint8_t>{1}, now_);
    dg_.on_frame(frame(udp::FrameType::udp, kApp, kDst6), now_);
    dg_.on_frame(frame(udp::FrameType::udp, kApp, {ip("224.0.0.1"), 5}), now_);
    dg_.on_frame(frame(udp::FrameType::hello, kApp, kDst), now_);
    EXPECT_EQ(dg_.counters().dropped.bad_frame, 3u);
    EXPECT_TRUE(tun_->packets.empty());
}

TEST_F(TunDatagramsTest, EchoGoesOutAndTheReplyComesBack) {
    up();
    std::vector<uint8_t> data(56, 0x61);
    dg_.on_echo_request(kApp.ip, kDst.ip, 0x4242, 3, data, now_);
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0], frame(udp::FrameType::icmp_echo, {kApp.ip, 0x4242}, {kDst.ip, 3}, data));
    dg_.on_frame(frame(udp::FrameType::icmp_echo, {kApp.ip, 0x4242}, {kDst.ip, 3}, data), now_);
    std::vector<uint8_t> pkt;
    gt::PacketView v = written(&pkt);
    gt::EchoView e;
    ASSERT_TRUE(gt::parse_echo(pkt, v, &e));
    EXPECT_FALSE(e.request);
    EXPECT_EQ(v.src, kDst.ip);
    EXPECT_EQ(v.dst, kApp.ip);
    EXPECT_EQ(e.ident, 0x4242);
    EXPECT_EQ(e.sequence, 3);
    EXPECT_EQ(e.data_len, 56u);

    dg_.on_echo_request(kApp6.ip, kDst6.ip, 1, 1, data, now_);
    dg_.on_frame(frame(udp::FrameType::icmp_echo, {kApp6.ip, 1}, {kDst6.ip, 1}, data), now_);
    v = written(&pkt);
    ASSERT_TRUE(gt::parse_echo(pkt, v, &e));
    EXPECT_EQ(pkt[40], gt::kIcmpv6EchoReply);
    EXPECT_EQ(dg_.counters().echo_requests, 2u);
    EXPECT_EQ(dg_.counters().echo_replies, 2u);
    auto s = dg_.status();
    EXPECT_EQ(s["recent_flows"][1]["protocol"], "icmp_echo");
    EXPECT_EQ(s["recent_flows"][1]["client"], "10.0.0.2");
    EXPECT_EQ(s["recent_flows"][1]["ident"], 0x4242);
}

TEST_F(TunDatagramsTest, EchoNeedsTheServersFeatureForItsFamily) {
    up(udp::kFeatureIcmpEcho4);
    dg_.on_echo_request(kApp6.ip, kDst6.ip, 1, 1, {}, now_);
    EXPECT_EQ(dg_.counters().dropped.echo_unsupported, 1u);
    dg_.on_echo_request(kApp.ip, kDst.ip, 1, 1, {}, now_);
    EXPECT_EQ(sent_.size(), 1u);
    up(0);
    dg_.on_echo_request(kApp.ip, kDst.ip, 1, 2, {}, now_);
    EXPECT_EQ(dg_.counters().dropped.echo_unsupported, 2u);
    EXPECT_EQ(dg_.status()["server"]["icmp_echo_v4"], false);
}

TEST_F(TunDatagramsTest, IcmpErrorsReachTheFlowAndRedirectsDoNot) {
    up();
    std::vector<uint8_t> payload(2000, 1);
    dg_.on_udp(kApp, kDst, payload, now_);
    udp::Datagram err = frame(udp::FrameType::icmp_error, kApp, kDst);
    err.icmp_type = 3;
    err.icmp_code = 4;
    err.mtu = 1400;
    dg_.on_frame(err, now_);
    std::vector<uint8_t> pkt;
    gt::PacketView v = written(&pkt);
    EXPECT_EQ(v.protocol, gt::kProtoIcmp);
    EXPECT_EQ(v.src, kDst.ip);
    EXPECT_EQ(v.dst, kApp.ip);
    EXPECT_EQ(pkt[20], 3);
    EXPECT_EQ(pkt[21], 4);
    EXPECT_EQ(gt::load_be16(&pkt[26]), 1400u);
    EXPECT_EQ(gt::load_be16(&pkt[28 + 20]), kApp.port);  // the quoted flow
    EXPECT_EQ(gt::load_be16(&pkt[28 + 22]), kDst.port);

    dg_.on_udp(kApp6, kDst6, payload, now_);
    err = frame(udp::FrameType::icmp_error, kApp6, kDst6);
    err.icmp_type = 2;
    err.mtu = 1280;
    dg_.on_frame(err, now_);
    v = written(&pkt);
    EXPECT_EQ(pkt[40], 2);
    EXPECT_EQ(gt::load_be32(&pkt[44]), 1280u);
    EXPECT_EQ(dg_.counters().icmp_errors, 2u);

    err = frame(udp::FrameType::icmp_error, kApp, kDst);
    err.icmp_type = 5;  // a redirect would move the application's routes
    dg_.on_frame(err, now_);
    err = frame(udp::FrameType::icmp_error, kApp6, kDst6);
    err.icmp_type = 137;
    dg_.on_frame(err, now_);
    err.icmp_type = 3;  // ICMPv4's unreachable is ICMPv6's time exceeded: fine
    dg_.on_frame(err, now_);
    written();
    EXPECT_EQ(dg_.counters().dropped.bad_icmp_error, 2u);
}

TEST_F(TunDatagramsTest, OversizeAndFullQueuesAreCounted) {
    up(udp::kFeatureIcmpEcho4, 1000);
    dg_.on_udp(kApp, kDst, std::vector<uint8_t>(1001), now_);
    dg_.on_echo_request(kApp.ip, kDst.ip, 1, 1, std::vector<uint8_t>(1001), now_);
    EXPECT_EQ(dg_.counters().dropped.oversize, 2u);
    dg_.on_udp(kApp, kDst, std::vector<uint8_t>(1000), now_);
    EXPECT_EQ(sent_.size(), 1u);
    up(0, 0);  // no limit given: the frame's
    dg_.on_udp(kApp, kDst, std::vector<uint8_t>(udp::kMaxPayload), now_);
    EXPECT_EQ(sent_.size(), 2u);
    dg_.on_udp(kApp6, kDst6, std::vector<uint8_t>(udp::kMaxPayload + 1), now_);
    EXPECT_EQ(dg_.counters().dropped.oversize, 3u);

    refuse_ = true;
    dg_.on_udp(kApp, kDst, std::vector<uint8_t>(10), now_);
    EXPECT_EQ(dg_.counters().dropped.channel_full, 1u);
    tun_->full = true;
    dg_.on_frame(frame(udp::FrameType::udp, kApp, kDst, {1}), now_);
    EXPECT_EQ(dg_.counters().dropped.tun_queue_full, 1u);
    EXPECT_EQ(dg_.counters().udp_in, 0u);
}

TEST_F(TunDatagramsTest, DisabledKindsAreRefused) {
    TunDatagramsConfig cfg;
    cfg.udp = false;
    cfg.icmp = false;
    TunDatagrams off(tun_, cfg);
    off.channel_up(
        [this](udp::Datagram d) {
            sent_.push_back(std::move(d));
            return true;
        },
        udp::Hello{udp::kVersion, udp::kFeatureIcmpEcho4, 65507, 10});
    off.on_udp(kApp, kDst, std::vector<uint8_t>{1}, now_);
    written();  // port unreachable
    off.on_echo_request(kApp.ip, kDst.ip, 1, 1, {}, now_);
    EXPECT_EQ(off.counters().dropped.disabled, 2u);
    EXPECT_TRUE(sent_.empty());
    EXPECT_EQ(off.status()["udp"], "refuse");
}

TEST_F(TunDatagramsTest, FlowTableIsBoundedAndForgetsIdleFlows) {
    TunDatagramsConfig cfg;
    cfg.max_flows = 100;
    cfg.idle_timeout = seconds(60);
    TunDatagrams dg(tun_, cfg);
    dg.channel_up([](udp::Datagram) { return true; }, udp::Hello{udp::kVersion, 3, 65507, 10});
    for (uint16_t p = 1; p <= 100; ++p) dg.on_udp({kApp.ip, p}, kDst, {}, now_);
    EXPECT_EQ(dg.flow_count(), 100u);
    // Flow 1 stays active; the next new flow makes room by dropping flow 2, the oldest.
    now_ += seconds(1);
    dg.on_frame(frame(udp::FrameType::udp, {kApp.ip, 1}, kDst), now_);
    written();
    dg.on_udp({kApp.ip, 101}, kDst, {}, now_);
    EXPECT_EQ(dg.flow_count(), 100u);
    EXPECT_EQ(dg.counters().flows_evicted, 1u);
    dg.on_frame(frame(udp::FrameType::udp, {kApp.ip, 2}, kDst), now_);
    EXPECT_EQ(dg.counters().dropped.unknown_flow, 1u);
    dg.on_frame(frame(udp::FrameType::udp, {kApp.ip, 1}, kDst), now_);
    written();
    // 100,000 distinct flows later the table is still at its bound.
    for (uint32_t i = 0; i < 100000; ++i)
        dg.on_udp({kApp.ip, static_cast<uint16_t>(i % 60000 + 1000)}, kDst, {}, now_);
    EXPECT_EQ(dg.flow_count(), 100u);
    // A minute of silence: every flow is forgotten, and so are replies to them.
    now_ += seconds(61);
    dg.on_frame(frame(udp::FrameType::udp, {kApp.ip, 1000}, kDst), now_);
    EXPECT_EQ(dg.flow_count(), 0u);
    EXPECT_EQ(dg.counters().flows_expired, 100u);
    EXPECT_EQ(dg.counters().dropped.unknown_flow, 2u);
    EXPECT_LE(dg.status()["recent_flows"].size(), 16u);
}

}  // namespace
}  // namespace ghost::daemon::client
