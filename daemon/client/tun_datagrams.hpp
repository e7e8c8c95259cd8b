#pragma once
/// TUN mode's UDP and ICMP echo: datagrams the NAT hands over (Verdict::udp / icmp_echo)
/// become udp::Datagram frames on the session's datagram channel, and the frames the
/// server sends back become packets written into the TUN.
///
///   app --UDP S:sp -> D:dp--> ghost0 --NAT--> on_udp() --udp frame--> send (channel)
///   channel --udp frame (S:sp, D:dp)--> on_frame() --UDP D:dp -> S:sp--> ghost0 --> app
///   echo requests / replies and icmp_error frames (-> ICMP errors) the same way
///
/// Without a channel (no session, or a stock sshd that refused the datagram subsystem) UDP
/// is answered with ICMP port unreachable, as when UDP is refused, and echo requests are
/// dropped; status() says why there is no channel. Only frames for a flow the application
/// started (its address and port, or address and echo identifier) are written into the
/// TUN. The table of flows is bounded: the least recently active flow makes room, and a
/// flow idle for longer than `idle_timeout` is forgotten.
///
/// Single-threaded: lives on the TUN engine's io_context with the channel's callbacks.

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/tun/packet.hpp"
#include "common/udp/frame.hpp"
#include "daemon/tun/nat_engine.hpp"

namespace ghost::daemon::client {

struct TunDatagramsConfig {
    bool udp = true;                         // tun.udp "tunnel"
    bool icmp = true;                        // tun.icmp "tunnel"
    size_t max_flows = 4096;                 // flows remembered (replies accepted for)
    std::chrono::seconds idle_timeout{600};  // a flow silent this long is forgotten
};

/// Counters of datagrams that did not pass, by reason.
struct TunDatagramsDrops {
    // application -> server
    uint64_t udp_no_channel = 0;    // answered with ICMP port unreachable
    uint64_t echo_no_channel = 0;   // echo request dropped: no datagram channel
    uint64_t echo_unsupported = 0;  // the server cannot ping this address family
    uint64_t disabled = 0;          // tun.udp / tun.icmp is "refuse" (the NAT refuses first)
    uint64_t oversize = 0;          // payload beyond what the server relays
    uint64_t channel_full = 0;      // send() refused: the channel's queue is full
    // server -> application
    uint64_t unknown_flow = 0;    // a frame for no flow the application started
    uint64_t bad_frame = 0;       // families differ, multicast source, hello as datagram
    uint64_t bad_icmp_error = 0;  // an icmp_error whose type is no error (e.g. a redirect)
    uint64_t tun_queue_full = 0;  // the TUN's write queue was full
};

/// Datagrams and bytes that passed, both ways.
struct TunDatagramsCounters {
    uint64_t udp_out = 0, udp_bytes_out = 0;  // UDP frames sent to the server
    uint64_t udp_in = 0, udp_bytes_in = 0;    // UDP written into the TUN
    uint64_t echo_requests = 0;               // echo requests sent
    uint64_t echo_replies = 0;                // echo replies written into the TUN
    uint64_t icmp_errors = 0;                 // ICMP errors written into the TUN
    uint64_t flows_created = 0;
    uint64_t flows_evicted = 0;  // made room for a new flow while still active
    uint64_t flows_expired = 0;  // idle for longer than idle_timeout
    TunDatagramsDrops dropped;
};

class TunDatagrams {
  public:
    /// Sends one frame on the session's datagram channel; false when it was not queued.
    using Send = std::function<bool(udp::Datagram)>;
    using Clock = std::chrono::steady_clock;

    /// Writes into the TUN through `tun` (the NatEngine). No channel until channel_up().
    TunDatagrams(std::shared_ptr<tun::TunWriter> tun, TunDatagramsConfig cfg);

    /// The session's datagram channel is open and the server's hello arrived: frames go
    /// to `send` from now on, within the hello's limits (max_payload, echo features).
    void channel_up(Send send, const udp::Hello& hello);
    /// The channel is gone or was never there; `why` is shown in status ("no session",
    /// "the server does not offer datagram@ghost (a stock sshd?)", ...). Flows are kept:
    /// their replies may still come on the next channel.
    void channel_down(std::string why);
    bool has_channel() const { return static_cast<bool>(send_); }

    /// A UDP datagram the NAT handed over (NatEngine's UdpHandler).
    void on_udp(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                std::span<const uint8_t> payload, Clock::time_point now = Clock::now());
    /// An echo request the NAT handed over (NatEngine's EchoHandler).
    void on_echo_request(const net::IpAddress& from, const net::IpAddress& to, uint16_t ident,
                         uint16_t sequence, std::span<const uint8_t> data,
                         Clock::time_point now = Clock::now());
    /// A udp, icmp_echo or icmp_error frame from the server.
    void on_frame(const udp::Datagram& d, Clock::time_point now = Clock::now());

    /// channel (up/down and why), the server's limits, flows, counters, drops by reason,
    /// and the most recently active flows. For the owning thread.
    nlohmann::json status() const;

    const TunDatagramsCounters& counters() const { return counters_; }
    size_t flow_count() const { return flows_.size(); }

  private:
    /// A flow's identity: the application's address and its port (UDP) or echo identifier.
    struct Key {
        bool echo = false;
        ghost::tun::SocketAddr client;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        size_t operator()(const Key& k) const;
    };
    struct Flow {
        Key key;
        ghost::tun::SocketAddr remote;  // last destination (echo: port unused)
        Clock::time_point last_active{};
        uint64_t datagrams_out = 0, bytes_out = 0, datagrams_in = 0, bytes_in = 0;
    };
    using FlowList = std::list<Flow>;  // most recently active first

    Flow* touch(const Key& key, const ghost::tun::SocketAddr& remote, Clock::time_point now);
    Flow* find(const Key& key, Clock::time_point now);
    void expire(Clock::time_point now);
    /// Records the flow, then sends `d`; false (counted) when the channel refused it.
    bool sent(const Key& key, const ghost::tun::SocketAddr& remote, udp::Datagram d,
              Clock::time_point now);
    void refuse_udp(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                    std::span<const uint8_t> payload);
    void udp_from_server(const udp::Datagram& d, Clock::time_point now);
    void echo_from_server(const udp::Datagram& d, Clock::time_point now);
    void error_from_server(const udp::Datagram& d, Clock::time_point now);

    std::shared_ptr<tun::TunWriter> tun_;
    TunDatagramsConfig cfg_;
    Send send_;
    std::optional<udp::Hello> hello_;
    std::string why_ = "no session";
    FlowList order_;
    std::unordered_map<Key, FlowList::iterator, KeyHash> flows_;
    TunDatagramsCounters counters_;
};

}  // namespace ghost::daemon::client
