#pragma once
/// TUN mode's data path without SSH: the TUN device, the NAT translator and the local
/// listener the kernel delivers rewritten flows to. Each accepted connection is handed,
/// with the application's original destination, to an AcceptHandler (in ghostd: open a
/// direct-tcpip channel and attach the socket).
///
///   app --SYN D:dp--> ghost0 --(read, rewrite)--> ghost0 --> kernel --> listener:P
///   accept() -> peer port n -> flow n -> (socket, D:dp) -> AcceptHandler

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <unordered_map>

#include <asio.hpp>

#include "common/tun/nat.hpp"
#include "daemon/core/acceptor.hpp"
#include "daemon/tun/netlink.hpp"
#include "daemon/tun/tun_io.hpp"

namespace ghost::daemon::tun {

/// Engine settings. nat.addresses.listener_port 0 picks a free port.
struct NatEngineConfig {
    std::string device = "ghost0";
    uint32_t mtu = 65000;
    ghost::tun::NatConfig nat{ghost::tun::NatAddresses::defaults(0), {}, true};
    uint8_t prefix_v4 = 30;
    uint8_t prefix_v6 = 126;
    size_t write_queue = 512;  // packets
    // Kernel-side queue of packets waiting for ghostd to read them (the default 500
    // drops under bursts of many new flows).
    uint32_t txqlen = 4096;
    std::chrono::milliseconds sweep_interval{1000};  // flow expiry timer
    // Pause before accepting again after an error that is not the connection's own (out of
    // descriptors or memory), which the next accept() would only repeat.
    std::chrono::milliseconds accept_backoff{100};
};

/// A connection the listener accepted: who the application was and where it wanted to go.
struct AcceptedFlow {
    asio::ip::tcp::endpoint source;
    asio::ip::tcp::endpoint destination;
};

/// Ends one accepted connection: resets its socket and closes whatever it is bridged to.
/// Runs on the engine's io_context, from its flow expiry; must not call into the engine.
using FlowCloser = std::function<void()>;

/// Receives each accepted socket (on the engine's io_context) with its original flow, and
/// returns how to end that connection should its flow record expire while it is still
/// open (empty: nothing to end). The engine keeps it until the record goes.
using AcceptHandler = std::function<FlowCloser(asio::ip::tcp::socket, AcceptedFlow)>;

/// Receives each intercepted UDP/53 query: who asked, whom it was sent to, the DNS message.
/// Answer with NatEngine::send_udp(to, from, answer).
using DnsHandler =
    std::function<void(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                       std::vector<uint8_t> query)>;

/// Receives each UDP datagram NatConfig::udp lets through (Verdict::udp): the application's
/// address, the destination and the payload (valid during the call only).
using UdpHandler =
    std::function<void(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                       std::span<const uint8_t> payload)>;

/// Receives each ICMP / ICMPv6 echo request NatConfig::icmp_echo lets through: the pinging
/// application's address, the host pinged, the echo identifier and sequence number, and the
/// echo data (valid during the call only).
using EchoHandler =
    std::function<void(const net::IpAddress& from, const net::IpAddress& to, uint16_t ident,
                       uint16_t sequence, std::span<const uint8_t> data)>;

/// Packets written into the TUN for the datagram channel. NatEngine is one; tests fake it.
/// Each returns false when the packet was not queued (device stopped, queue full, or
/// nothing to build).
class TunWriter {
  public:
    virtual ~TunWriter() = default;
    /// A UDP datagram from -> to (a DNS answer, or a datagram from the far side).
    virtual bool send_udp(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                          std::span<const uint8_t> payload) = 0;
    /// An echo reply from the host pinged (`from`) to the application (`to`).
    virtual bool send_icmp_echo_reply(const net::IpAddress& from, const net::IpAddress& to,
                                      uint16_t ident, uint16_t sequence,
                                      std::span<const uint8_t> data) = 0;
    /// An ICMP / ICMPv6 error for the application's UDP flow client -> remote
    /// (ghost::tun::build_udp_icmp_error); false for a type that is no error.
    virtual bool send_icmp_error(const ghost::tun::SocketAddr& client,
                                 const ghost::tun::SocketAddr& remote, uint8_t type, uint8_t code,
                                 uint32_t mtu, std::span<const uint8_t> payload) = 0;
};

/// Counters beyond the translator's.
struct NatEngineCounters {
    uint64_t accepted = 0;
    uint64_t accepted_unknown = 0;  // accepted a peer port with no flow: closed
    uint64_t accept_errors = 0;
    uint64_t accept_backoffs = 0;  // errors after which accepting paused (accept_backoff)
    uint64_t expired_open = 0;     // connections ended because their flow record expired
};

/// Owns the TUN device and listeners of one profile. Create with std::make_shared.
class NatEngine : public TunWriter, public std::enable_shared_from_this<NatEngine> {
  public:
    NatEngine(asio::io_context& io, NatEngineConfig config, AcceptHandler on_accept);
    ~NatEngine() override;

    /// Creates the device, sets it up (MTU, addresses) through `nl`, binds the listeners
    /// and starts the loops. On failure everything is undone; *why says what failed.
    std::error_code start(Netlink& nl, std::string* why);

    /// Closes listeners and the device (the kernel drops its addresses and routes). Idempotent.
    void stop();

    /// Intercepted UDP/53 queries go to `h` (set before start; needs nat.intercept_dns).
    void set_dns_handler(DnsHandler h) { on_dns_ = std::move(h); }
    /// UDP of Verdict::udp goes to `h` (needs nat.udp); without one it is refused with
    /// ICMP port unreachable.
    void set_udp_handler(UdpHandler h) { on_udp_ = std::move(h); }
    /// Echo requests of Verdict::icmp_echo go to `h` (needs nat.icmp_echo); without one
    /// they are dropped.
    void set_echo_handler(EchoHandler h) { on_echo_ = std::move(h); }
    /// `h` runs once (on the io_context) if the device stops working after start, e.g.
    /// because it was deleted: "TUN device ghost0: read from the TUN device failed: ...".
    void set_failure_handler(std::function<void(const std::string&)> h) {
        on_failure_ = std::move(h);
    }
    /// Writes a UDP datagram from -> to into the TUN (a DNS answer). False if not queued.
    bool send_udp(const ghost::tun::SocketAddr& from, const ghost::tun::SocketAddr& to,
                  std::span<const uint8_t> payload) override;
    bool send_icmp_echo_reply(const net::IpAddress& from, const net::IpAddress& to, uint16_t ident,
                              uint16_t sequence, std::span<const uint8_t> data) override;
    bool send_icmp_error(const ghost::tun::SocketAddr& client, const ghost::tun::SocketAddr& remote,
                         uint8_t type, uint8_t code, uint32_t mtu,
                         std::span<const uint8_t> payload) override;

    const std::string& device_name() const { return device_name_; }
    int ifindex() const { return ifindex_; }
    /// The device hands over TCP/UDP packets with their checksums left unfinished.
    bool checksum_offload() const { return checksum_offload_; }
    uint16_t listener_port() const { return config_.nat.addresses.listener_port; }
    const ghost::tun::NatCounters* nat_counters() const;
    const TunIoCounters* io_counters() const;
    NatEngineCounters counters() const;
    size_t flow_count() const;
    uint64_t flows_evicted() const;

  private:
    std::error_code configure_link(Netlink& nl, int ifindex, std::string* why);
    std::error_code bind_listeners(std::string* why);
    void accept(core::TcpAcceptor& listener);
    void on_accepted(asio::ip::tcp::socket socket);
    void flow_ended(const ghost::tun::Flow& flow);
    void on_packet(std::span<uint8_t> packet, std::optional<ghost::tun::PartialChecksum> partial);
    void hand_over(std::span<uint8_t> packet, ghost::tun::Verdict verdict);
    bool write(const std::vector<uint8_t>& packet);
    void sweep();

    asio::io_context& io_;
    NatEngineConfig config_;
    AcceptHandler on_accept_;
    DnsHandler on_dns_;
    UdpHandler on_udp_;
    EchoHandler on_echo_;
    std::function<void(const std::string&)> on_failure_;
    std::string device_name_;
    int ifindex_ = 0;
    bool checksum_offload_ = false;
    std::optional<ghost::tun::NatTranslator> nat_;
    std::shared_ptr<TunIo> tun_io_;
    core::TcpAcceptor listener_v4_;
    core::TcpAcceptor listener_v6_;
    asio::steady_timer sweep_timer_;
    std::vector<uint8_t> reply_;
    NatEngineCounters counters_;  // but the accept_ ones, which the listeners count
    // How to end each accepted connection, by its port n; only while flow n is in the
    // table, so never more entries than flows.
    std::unordered_map<uint16_t, FlowCloser> closers_;
    bool running_ = false;
};

}  // namespace ghost::daemon::tun
