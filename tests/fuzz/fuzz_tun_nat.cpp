// libFuzzer target for the TUN NAT (common/tun/nat, flow_table): one translator sees a
// sequence of packets in both directions, accepts and time passing, as the NAT engine
// drives it. Input: byte 0 = configuration (bit 0: IPv6 on, bit 1: intercept DNS, bit 2:
// all DNS, bits 3-5: table size 1..128, bit 6: only 8 ports, bit 7: UDP and ICMP echo
// handed over for the datagram channel), then operations:
//   0 LEN(2) BYTES   a raw packet from an application (any bytes)
//   1 S D F P        a TCP segment from application S to destination D, flags F, P bytes
//   2 S D P          a UDP datagram from application S to destination D; with op bit 0x40
//                    an ICMP echo instead (bit 0x20: a request, else a reply)
//   3 K F            the listener answers flow K (one of the flows seen) with flags F
//   4 K              the engine accepts flow K (or a port nobody has)
//   5 T              T seconds pass, then expired flows are dropped
// Whatever is forwarded must parse, carry the flow's addresses and keep right checksums;
// what is handed over must be unicast UDP or an echo request, untouched, and only when
// enabled; every packet lands in exactly one counter; the table never exceeds its size.

#include <algorithm>
#include <cstdint>
#include <set>
#include <span>
#include <vector>

#include "common/tun/nat.hpp"
#include "common/tun/reply.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "tests/fuzz/tun_checks.hpp"

namespace {

using ghost::fuzz::check;
using ghost::fuzz::checksums_ok;
namespace tun = ghost::tun;
namespace net = ghost::net;

constexpr uint16_t kListenerPort = 41641;

net::IpAddress ip(const char* text) {
    return *net::IpAddress::parse(text);
}

tun::SocketAddr app(uint8_t s) {
    static const net::IpAddress kApps[] = {ip("10.0.0.2"), ip("192.168.1.7"), ip("fd00::2"),
                                           ip("198.18.0.2")};
    return {kApps[s % 4], static_cast<uint16_t>(40000 + (s >> 2) % 8)};
}

tun::SocketAddr destination(uint8_t d) {
    static const net::IpAddress kDsts[] = {ip("93.184.216.34"),
                                           ip("198.18.0.1"),
                                           ip("198.18.0.2"),
                                           ip("2001:db8::1"),
                                           ip("224.0.0.251"),
                                           ip("10.0.0.53"),
                                           ip("fdc7:6768:6f73:7400::2"),
                                           ip("255.255.255.255")};
    static const uint16_t kPorts[] = {80, 443, 53, kListenerPort, 22, 0, 5353, 65535};
    return {kDsts[d % 8], kPorts[(d >> 3) % 8]};
}

class Run {
  public:
    explicit Run(uint8_t cfg) : nat_(config(cfg)) {
        nat_.on_accepted_end([this](const tun::Flow& f) {
            check(f.accepted && accepted_.erase(f.port) == 1, "end of a flow never accepted");
        });
    }

    // Byte reader over the operations; 0 when the input is used up.
    uint8_t byte() { return at_ < ops_.size() ? ops_[at_++] : 0; }

    void run(std::span<const uint8_t> ops) {
        ops_ = ops;
        while (at_ < ops_.size()) step(byte());
        now_ += std::chrono::hours{3};
        nat_.expire(now_);
        check(nat_.flows().size() == 0, "flows left after every timeout passed");
        check(accepted_.empty(), "accepted flows left without an end");
    }

  private:
    static tun::NatConfig config(uint8_t cfg) {
        tun::NatConfig c;
        c.addresses = tun::NatAddresses::defaults(kListenerPort);
        c.ipv6 = cfg & 1;
        c.intercept_dns = cfg & 2;
        c.intercept_all_dns = cfg & 4;
        c.flows.max_flows = size_t{1} << ((cfg >> 3) & 7);
        if (cfg & 0x40) c.flows.port_max = static_cast<uint16_t>(c.flows.port_min + 7);
        c.udp = cfg & 0x80;
        c.icmp_echo = cfg & 0x80;
        return c;
    }

    void step(uint8_t op) {
        switch (op % 6) {
            case 0: {
                const size_t len =
                    std::min<size_t>(byte() | size_t{byte()} << 8, ops_.size() - at_);
                std::vector<uint8_t> p(ops_.begin() + at_, ops_.begin() + at_ + len);
                at_ += len;
                std::optional<tun::PartialChecksum> partial;
                if (op & 0x80) partial = tun::PartialChecksum{byte(), byte()};
                return process(std::move(p), partial);
            }
            case 1: {
                const auto s = app(byte()), d = destination(byte());
                const uint8_t flags = byte();
                const std::vector<uint8_t> payload(byte() % 64, 'x');
                if (s.ip.v6 != d.ip.v6) return;
                return process(tun::build_tcp_segment(s, d, flags, 1000, 2000, payload));
            }
            case 2: {
                const auto s = app(byte()), d = destination(byte());
                const std::vector<uint8_t> payload(byte() % 64, 'q');
                if (s.ip.v6 != d.ip.v6) return;
                if (op & 0x40)
                    return process(
                        tun::build_echo(s.ip, d.ip, (op & 0x20) != 0, s.port, d.port, payload));
                return process(tun::build_udp_datagram(s, d, payload));
            }
            case 3:
                return listener_answers(byte(), byte());
            case 4: {
                const uint8_t k = byte();
                const uint16_t port = ports_.empty() ? k : ports_[k % ports_.size()];
                const bool v6 = k & 0x80;
                if (nat_.lookup_accepted(ip(v6 ? "fdc7:6768:6f73:7400::2" : "198.18.0.2"), port))
                    check(accepted_.insert(port).second, "a flow accepted twice");
                return;
            }
            default:
                now_ += std::chrono::seconds{byte()} * 8;
                nat_.expire(now_);
                return;
        }
    }

    void listener_answers(uint8_t k, uint8_t flags) {
        if (ports_.empty()) return;
        const uint16_t n = ports_[k % ports_.size()];
        const tun::Flow* flow = nat_.flows().find_port(n);
        const bool v6 = flow ? flow->tuple.src.ip.v6 : (k & 0x80);
        const auto& a = nat_.config().addresses;
        const tun::SocketAddr from{v6 ? a.listener_v6 : a.listener_v4, kListenerPort};
        const tun::SocketAddr to{v6 ? a.peer_v6 : a.peer_v4, n};
        process(tun::build_tcp_segment(from, to, flags, 5000, 1001));
    }

    // The listener's own packets come from its address and port; anything else is an app's.
    bool from_listener(const tun::PacketView& v) const {
        const auto& a = nat_.config().addresses;
        return v.sport == kListenerPort && v.src == (v.v6 ? a.listener_v6 : a.listener_v4);
    }

    void process(std::vector<uint8_t> p, std::optional<tun::PartialChecksum> partial = {}) {
        tun::PacketView in;
        bool parsed = tun::parse_packet(p, &in) == tun::ParseError::none;
        std::vector<uint8_t> seen = p;  // the packet as the NAT goes on with it
        bool still_partial = partial.has_value();
        if (parsed && partial && !tun::is_own_l4_checksum(in, *partial)) {
            // Another checksum is finished first, wherever it lies: expect what follows
            // for the finished packet.
            parsed = tun::finish_partial_checksum(std::span(seen).first(in.total_len), *partial) &&
                     tun::parse_packet(seen, &in) == tun::ParseError::none;
            still_partial = false;
        }
        const bool sums_ok = parsed && checksums_ok(seen, in);
        const bool from_app = parsed && !from_listener(in);
        std::optional<tun::FlowTuple> tuple_before;
        if (parsed && !from_app) {
            if (const tun::Flow* f = nat_.flows().find_port(in.dport)) tuple_before = f->tuple;
        }
        std::vector<uint8_t> reply;
        const tun::NatResult r = nat_.process(p, now_, &reply, partial);
        ++packets_;
        check(counted() == packets_, "a packet in no counter or in two");
        check(nat_.flows().size() <= nat_.flows().config().max_flows, "flow table over its size");
        if (r.verdict == tun::Verdict::reply) return check_reply(reply, in, r);
        if (r.verdict == tun::Verdict::dns)
            return check(in.is_udp() && in.dport == 53, "DNS that is not");
        if (r.verdict == tun::Verdict::udp || r.verdict == tun::Verdict::icmp_echo)
            return check_handed_over(p, seen, in, r);
        if (r.verdict != tun::Verdict::forward) return;
        check(parsed && in.is_tcp() && r.length == in.total_len, "forwarded what did not parse");
        tun::PacketView out;
        check(tun::parse_packet(std::span(p).first(r.length), &out) == tun::ParseError::none,
              "forwarded packet does not parse");
        if (sums_ok && !still_partial) check(checksums_ok(p, out), "NAT broke a right checksum");
        if (from_app) return check_to_listener(in, out);
        check(tuple_before && out.source() == tuple_before->dst &&
                  out.destination() == tuple_before->src,
              "listener packet sent to the wrong application");
    }

    void check_to_listener(const tun::PacketView& in, const tun::PacketView& out) {
        const auto& a = nat_.config().addresses;
        check(out.dst == (out.v6 ? a.listener_v6 : a.listener_v4) && out.dport == kListenerPort,
              "app packet not sent to the listener");
        check(out.src == (out.v6 ? a.peer_v6 : a.peer_v4), "app packet not from the peer address");
        const tun::Flow* f = nat_.flows().find_port(out.sport);
        check(f && f->tuple.src == in.source() && f->tuple.dst == in.destination(),
              "app packet on a port of another flow");
        if (ports_.size() < 64) ports_.push_back(out.sport);
    }

    void check_handed_over(const std::vector<uint8_t>& p, const std::vector<uint8_t>& seen,
                           const tun::PacketView& in, const tun::NatResult& r) {
        const auto& c = nat_.config();
        const auto& a = c.addresses;
        check(p == seen && r.length == in.total_len, "handed-over packet changed or cut");
        check(!tun::is_multicast_or_broadcast(in.dst) && !tun::is_multicast_or_broadcast(in.src),
              "multicast handed over");
        check(in.dst != a.peer_v4 && in.dst != a.peer_v6 && in.dst != a.listener_v4 &&
                  in.dst != a.listener_v6,
              "traffic to the NAT's own addresses handed over");
        check(!in.v6 || c.ipv6, "IPv6 handed over while blocked");
        if (r.verdict == tun::Verdict::udp)
            return check(c.udp && in.is_udp() && in.dport != 0, "UDP handed over that is not");
        tun::EchoView e;
        check(c.icmp_echo && tun::parse_echo(seen, in, &e) && e.request,
              "echo request handed over that is not");
    }

    void check_reply(const std::vector<uint8_t>& reply, const tun::PacketView& in,
                     const tun::NatResult& r) {
        check(r.length == reply.size() && !reply.empty(), "reply length");
        tun::PacketView v;
        check(tun::parse_packet(reply, &v) == tun::ParseError::none, "reply does not parse");
        check(checksums_ok(reply, v), "reply with a wrong checksum");
        check(v.dst == in.src, "reply to someone else");
    }

    uint64_t counted() const {
        const tun::NatCounters& c = nat_.counters();
        return c.malformed_total() + c.to_listener + c.from_listener + c.table_full + c.no_flow +
               c.stray_listener + c.reserved_dst + c.udp_refused + c.dns_intercepted +
               c.udp_datagrams + c.icmp_echo + c.ipv6_blocked + c.other_dropped;
    }

    tun::NatTranslator nat_;
    tun::Clock::time_point now_{std::chrono::hours{1000}};
    std::span<const uint8_t> ops_;
    size_t at_ = 0;
    uint64_t packets_ = 0;
    std::vector<uint16_t> ports_;  // ports n handed out, in order seen
    std::set<uint16_t> accepted_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    Run run(data[0]);
    run.run(std::span(data + 1, size - 1));
    return 0;
}
