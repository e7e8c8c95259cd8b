#pragma once
/// The server side of a session's datagram channel (docs/server.md "UDP and ICMP"): UDP
/// flows relayed through one kernel socket each, with endpoint-independent mapping
/// (RFC 4787) and the configured filtering, ICMP errors the kernel reports for them, and
/// ICMP echo. One per SSH session, on the session's worker io_context.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "common/udp/frame.hpp"
#include "daemon/core/log.hpp"
#include "daemon/server/outbound.hpp"

namespace ghost::daemon::server {

/// What a relay needs from its server profile.
struct UdpRelayConfig {
    config::UdpConfig udp;
    config::IcmpConfig icmp;
    /// Flows of every session of the profile (udp.max_flows); shared by their relays, which
    /// run on different workers. Null: the relay keeps its own count.
    std::shared_ptr<std::atomic<uint32_t>> profile_flows;
};

/// Key's permitopen for one remote (an IP literal and port): true when allowed.
using UdpPermits = std::function<bool(std::string_view host, uint16_t port)>;
/// Queues a frame towards the client; false when it cannot take it now (it is dropped).
using UdpSendToClient = std::function<bool(udp::Datagram)>;

/// UDP/ICMP relay of one session. Every member function must be called on the thread that
/// runs `io`; nothing blocks (a datagram that cannot go at once is dropped and counted).
class UdpRelay {
  public:
    UdpRelay(asio::io_context& io, UdpRelayConfig cfg, std::shared_ptr<const OutboundPolicy> policy,
             UdpPermits permits, UdpSendToClient send_to_client, log::Logger log);
    /// Closes (see close()).
    ~UdpRelay();
    UdpRelay(const UdpRelay&) = delete;
    UdpRelay& operator=(const UdpRelay&) = delete;

    /// The hello frame the server sends first: version, features (ICMP echo per family),
    /// udp.max_payload and udp.max_flows_per_session.
    udp::Hello hello() const;
    /// Handles one frame from the client: `udp` is relayed to its remote, `icmp_echo` sends
    /// an echo request; other types are dropped and counted.
    void on_frame(udp::Datagram d);
    /// {enabled, filtering, flows, counters, drops by reason, icmp_echo {...}}.
    nlohmann::json status() const;
    /// Closes every flow socket and stops every timer; send_to_client is not called again.
    /// Idempotent.
    void close();

    class Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace ghost::daemon::server
