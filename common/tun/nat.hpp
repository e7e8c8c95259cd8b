#pragma once
/// The TUN NAT's per-packet logic (pure; the I/O lives in daemon/tun/nat_engine).
///
///   app  S:sp -> D:dp          (read from TUN)  ==>  peer:n -> listener:P  (written back)
///   listener:P -> peer:n       (read from TUN)  ==>  D:dp -> S:sp          (written back)
///
/// The kernel terminates the rewritten flow at ghostd's listener on listener:P; accept()
/// yields peer port n, and lookup_accepted(n) names the real destination D:dp.
///
/// UDP and ICMP echo requests are not rewritten: with NatConfig::udp / icmp_echo they are
/// handed over whole (Verdict::udp / icmp_echo) for the datagram channel; without, UDP is
/// refused with ICMP port unreachable and ICMP dropped.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/net/endpoint.hpp"
#include "common/tun/flow_table.hpp"
#include "common/tun/packet.hpp"

namespace ghost::tun {

/// The private subnet on the TUN: the listener's address and the NAT's "peer" address.
struct NatAddresses {
    net::IpAddress listener_v4;  // e.g. 198.18.0.1 (on the device)
    net::IpAddress peer_v4;      // e.g. 198.18.0.2 (rewritten flows come "from" here)
    net::IpAddress listener_v6;  // e.g. fdc7:6768:6f73:7400::1
    net::IpAddress peer_v6;      // e.g. fdc7:6768:6f73:7400::2
    uint16_t listener_port = 0;  // P

    /// 198.18.0.1/.2 and fdc7:6768:6f73:7400::1/::2 with port `port`.
    static NatAddresses defaults(uint16_t port);
    /// The addresses of TUN device number `slot` (< kSlots) of one ghostd: slot k has
    /// 198.18.0.(4k+1)/.(4k+2) and fdc7:6768:6f73:7400::(4k+1)/::(4k+2), so that devices
    /// up at the same time never share a subnet. Slot 0 is defaults().
    static NatAddresses for_slot(unsigned slot, uint16_t port);
    static constexpr unsigned kSlots = 16;
};

/// NAT configuration.
struct NatConfig {
    NatAddresses addresses;
    FlowTableConfig flows;
    bool ipv6 = true;  // false: IPv6 is blocked (RST / ICMPv6 unreachable), never forwarded
    bool intercept_dns = false;      // UDP to port 53 of the peer address -> Verdict::dns
    bool intercept_all_dns = false;  // with intercept_dns: UDP to port 53 of any address
    bool udp = false;        // unicast UDP (but intercepted DNS) -> Verdict::udp, not refused
    bool icmp_echo = false;  // unicast ICMP / ICMPv6 echo requests -> Verdict::icmp_echo
};

/// What to do with a packet after process().
enum class Verdict : uint8_t {
    forward,    // the packet was rewritten in place: write its first `length` bytes to the TUN
    reply,      // write `reply` to the TUN instead (a RST or an ICMP error)
    drop,       // nothing to write
    dns,        // a UDP query to port 53: hand the payload to the DNS forwarder
    udp,        // a UDP datagram for the datagram channel (packet unchanged, `length` bytes)
    icmp_echo,  // an ICMP / ICMPv6 echo request for the datagram channel (unchanged)
};

/// Result of NatTranslator::process.
struct NatResult {
    Verdict verdict = Verdict::drop;
    size_t length = 0;
    /// Verdict::forward: the packet's checksum is still partial, as it came (write it
    /// with the same offload header); nullopt when complete.
    std::optional<PartialChecksum> partial;
};

/// Per-reason packet counters.
struct NatCounters {
    std::array<uint64_t, kParseErrorCount> malformed{};  // by ParseError
    uint64_t to_listener = 0;    // app packets rewritten toward the listener
    uint64_t from_listener = 0;  // listener packets rewritten back to the app
    uint64_t flows_created = 0;
    uint64_t flows_expired = 0;
    uint64_t table_full = 0;       // SYNs refused with RST because the table was full
    uint64_t no_flow = 0;          // non-SYN app segment without a flow: RST
    uint64_t stray_listener = 0;   // listener segment for an unknown port: dropped
    uint64_t reserved_dst = 0;     // app traffic to the NAT's own peer address: refused
    uint64_t udp_refused = 0;      // UDP answered with port unreachable
    uint64_t dns_intercepted = 0;  // UDP/53 queries handed to the DNS forwarder
    uint64_t udp_datagrams = 0;    // UDP handed over for the datagram channel (Verdict::udp)
    uint64_t icmp_echo = 0;        // echo requests handed over (Verdict::icmp_echo)
    uint64_t ipv6_blocked = 0;     // IPv6 refused because IPv6 is disabled
    uint64_t other_dropped = 0;    // ICMP (but echo requests taken), multicast, other
                                   // protocols, bad offload header

    uint64_t malformed_total() const;
};

/// Rewrites TUN packets between applications and the listener. Single-threaded.
class NatTranslator {
  public:
    explicit NatTranslator(NatConfig config);

    /// Handles one packet read from the TUN. May rewrite `packet` in place; on
    /// Verdict::reply, *reply holds the packet to write. `partial`: the device left this
    /// checksum for us to finish (checksum offload); a TCP/UDP packet's own checksum stays
    /// partial through the rewrite, any other is finished first.
    NatResult process(std::span<uint8_t> packet, Clock::time_point now, std::vector<uint8_t>* reply,
                      std::optional<PartialChecksum> partial = std::nullopt);

    /// The flow the listener accepted from `peer`:n (marks it accepted), or nullopt when
    /// `peer` is not the NAT's peer address, n names no flow, or it was accepted already.
    std::optional<FlowTuple> lookup_accepted(const net::IpAddress& peer, uint16_t peer_port);

    /// Drops expired flows; returns how many.
    size_t expire(Clock::time_point now);

    /// Tells `h` of each accepted flow as it leaves the table (see FlowTable::EndHandler).
    void on_accepted_end(FlowTable::EndHandler h) { flows_.on_accepted_end(std::move(h)); }

    const NatCounters& counters() const { return counters_; }
    const FlowTable& flows() const { return flows_; }
    const NatConfig& config() const { return config_; }

  private:
    NatResult handle_tcp(std::span<uint8_t> packet, const PacketView& v, Clock::time_point now,
                         std::vector<uint8_t>* reply, bool partial);
    NatResult from_listener(std::span<uint8_t> packet, const PacketView& v, Clock::time_point now,
                            bool partial);
    NatResult handle_udp(std::span<const uint8_t> packet, const PacketView& v,
                         std::vector<uint8_t>* reply);
    NatResult handle_echo(const PacketView& v);
    NatResult refuse(std::span<const uint8_t> packet, const PacketView& v,
                     std::vector<uint8_t>* reply);
    bool is_reserved(const PacketView& v) const;
    bool is_from_listener(const PacketView& v) const;
    const net::IpAddress& listener_ip(bool v6) const;
    const net::IpAddress& peer_ip(bool v6) const;

    NatConfig config_;
    FlowTable flows_;
    NatCounters counters_;
};

}  // namespace ghost::tun
