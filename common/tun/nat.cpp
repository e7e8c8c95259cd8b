#include "common/tun/nat.hpp"

#include "common/tun/reply.hpp"

#include <cstdio>
#include <string>

namespace ghost::tun {

NatAddresses NatAddresses::defaults(uint16_t port) {
    return for_slot(0, port);
}

NatAddresses NatAddresses::for_slot(unsigned slot, uint16_t port) {
    unsigned base = 4 * (slot % kSlots);
    auto v4 = [&](unsigned host) {
        return *net::IpAddress::parse("198.18.0." + std::to_string(base + host));
    };
    auto v6 = [&](unsigned host) {
        char text[48];
        std::snprintf(text, sizeof text, "fdc7:6768:6f73:7400::%x", base + host);
        return *net::IpAddress::parse(text);
    };
    NatAddresses a;
    a.listener_v4 = v4(1);
    a.peer_v4 = v4(2);
    a.listener_v6 = v6(1);
    a.peer_v6 = v6(2);
    a.listener_port = port;
    return a;
}

uint64_t NatCounters::malformed_total() const {
    uint64_t total = 0;
    for (uint64_t n : malformed) total += n;
    return total;
}

NatTranslator::NatTranslator(NatConfig config)
    : config_(std::move(config)), flows_([this] {
          FlowTableConfig f = config_.flows;
          f.reserved_port = config_.addresses.listener_port;
          return f;
      }()) {}

const net::IpAddress& NatTranslator::listener_ip(bool v6) const {
    return v6 ? config_.addresses.listener_v6 : config_.addresses.listener_v4;
}

const net::IpAddress& NatTranslator::peer_ip(bool v6) const {
    return v6 ? config_.addresses.peer_v6 : config_.addresses.peer_v4;
}

bool NatTranslator::is_from_listener(const PacketView& v) const {
    return v.sport == config_.addresses.listener_port && v.src == listener_ip(v.v6);
}

NatResult NatTranslator::refuse(std::span<const uint8_t> packet, const PacketView& v,
                                std::vector<uint8_t>* reply) {
    *reply = v.is_tcp() ? build_tcp_reset(v) : build_port_unreachable(packet, v);
    if (reply->empty()) return {};
    return {Verdict::reply, reply->size(), std::nullopt};
}

NatResult NatTranslator::process(std::span<uint8_t> packet, Clock::time_point now,
                                 std::vector<uint8_t>* reply,
                                 std::optional<PartialChecksum> partial) {
    PacketView v;
    ParseError err = parse_packet(packet, &v);
    if (err != ParseError::none) {
        ++counters_.malformed[static_cast<size_t>(err)];
        return {};
    }
    if (partial && !is_own_l4_checksum(v, *partial)) {
        if (!finish_partial_checksum(packet.first(v.total_len), *partial)) {
            ++counters_.other_dropped;
            return {};
        }
        // The field may lie anywhere, headers included: take the packet as the device
        // would have handed it over finished, parsed afresh.
        return process(packet, now, reply);
    }
    if (is_multicast_or_broadcast(v.dst) || is_multicast_or_broadcast(v.src)) {
        ++counters_.other_dropped;
        return {};
    }
    EchoView echo;
    if (config_.icmp_echo && parse_echo(packet, v, &echo) && echo.request) return handle_echo(v);
    if (!v.is_tcp() && !v.is_udp()) {
        ++counters_.other_dropped;
        return {};
    }
    if (v.v6 && !config_.ipv6) {
        ++counters_.ipv6_blocked;
        return refuse(packet, v, reply);
    }
    if (v.is_udp()) return handle_udp(packet, v, reply);
    NatResult r = handle_tcp(packet, v, now, reply, partial.has_value());
    if (r.verdict == Verdict::forward) r.partial = partial;
    return r;
}

NatResult NatTranslator::handle_udp(std::span<const uint8_t> packet, const PacketView& v,
                                    std::vector<uint8_t>* reply) {
    if (v.dport == 53 && config_.intercept_dns && v.payload_len > 0 &&
        (config_.intercept_all_dns || v.dst == peer_ip(v.v6))) {
        ++counters_.dns_intercepted;
        return {Verdict::dns, v.total_len, std::nullopt};
    }
    // Port 0 is no destination; the NAT's own addresses are not on the far side.
    if (!config_.udp || v.dport == 0 || is_reserved(v)) {
        ++counters_.udp_refused;
        return refuse(packet, v, reply);
    }
    ++counters_.udp_datagrams;
    return {Verdict::udp, v.total_len, std::nullopt};
}

NatResult NatTranslator::handle_echo(const PacketView& v) {
    if (v.v6 && !config_.ipv6) {
        ++counters_.ipv6_blocked;
        return {};
    }
    if (is_reserved(v)) {
        ++counters_.reserved_dst;
        return {};
    }
    ++counters_.icmp_echo;
    return {Verdict::icmp_echo, v.total_len, std::nullopt};
}

bool NatTranslator::is_reserved(const PacketView& v) const {
    return v.dst == peer_ip(v.v6) || v.dst == listener_ip(v.v6);
}

NatResult NatTranslator::handle_tcp(std::span<uint8_t> packet, const PacketView& v,
                                    Clock::time_point now, std::vector<uint8_t>* reply,
                                    bool partial) {
    if (is_from_listener(v)) return from_listener(packet, v, now, partial);
    if (is_reserved(v)) {
        ++counters_.reserved_dst;
        return refuse(packet, v, reply);
    }
    FlowTuple tuple{v.source(), v.destination()};
    Flow* flow = flows_.find(tuple);
    bool fresh_syn = v.has(kTcpSyn) && !v.has(kTcpAck) && !v.has(kTcpRst);
    if (flow != nullptr && fresh_syn && flow->state == FlowState::closed) {
        flows_.erase(flow->port);  // the app reused its port for a new connection
        flow = nullptr;
    }
    if (flow == nullptr) {
        if (!fresh_syn) {
            ++counters_.no_flow;
            return refuse(packet, v, reply);
        }
        flow = flows_.create(tuple, now);
        if (flow == nullptr) {
            ++counters_.table_full;
            return refuse(packet, v, reply);
        }
        ++counters_.flows_created;
    }
    flows_.observe(*flow, v.tcp_flags, true, now);
    rewrite_endpoints(packet, v, {peer_ip(v.v6), flow->port},
                      {listener_ip(v.v6), config_.addresses.listener_port}, partial);
    ++counters_.to_listener;
    return {Verdict::forward, v.total_len, std::nullopt};
}

NatResult NatTranslator::from_listener(std::span<uint8_t> packet, const PacketView& v,
                                       Clock::time_point now, bool partial) {
    Flow* flow = v.dst == peer_ip(v.v6) ? flows_.find_port(v.dport) : nullptr;
    if (flow == nullptr || flow->tuple.src.ip.v6 != v.v6) {
        ++counters_.stray_listener;
        return {};
    }
    flows_.observe(*flow, v.tcp_flags, false, now);
    rewrite_endpoints(packet, v, flow->tuple.dst, flow->tuple.src, partial);
    ++counters_.from_listener;
    return {Verdict::forward, v.total_len, std::nullopt};
}

std::optional<FlowTuple> NatTranslator::lookup_accepted(const net::IpAddress& peer,
                                                        uint16_t peer_port) {
    // Only a connection the NAT rewrote comes from the peer address; anything else that
    // reached the listener (a local process connecting to it) names no flow, and a flow is
    // handed out once.
    if (peer != peer_ip(peer.v6)) return std::nullopt;
    Flow* flow = flows_.find_port(peer_port);
    if (flow == nullptr || flow->tuple.src.ip.v6 != peer.v6 || flow->accepted) return std::nullopt;
    flows_.mark_accepted(*flow);
    return flow->tuple;
}

size_t NatTranslator::expire(Clock::time_point now) {
    size_t n = flows_.expire(now);
    counters_.flows_expired += n;
    return n;
}

}  // namespace ghost::tun
