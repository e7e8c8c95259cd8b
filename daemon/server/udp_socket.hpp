#pragma once
/// Small socket helpers of the UDP relay: address conversions, error-queue reading
/// (IP_RECVERR / IPV6_RECVERR), non-blocking datagram I/O on a raw fd.

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "common/tun/packet.hpp"

namespace ghost::daemon::server::udpio {

/// Fills *out with `a`; returns its length.
socklen_t to_sockaddr(const tun::SocketAddr& a, sockaddr_storage* out);
/// The address of an AF_INET / AF_INET6 sockaddr; nullopt for anything else.
std::optional<tun::SocketAddr> from_sockaddr(const sockaddr_storage& ss);

/// ICMP types and codes the relay reports (RFC 792, RFC 4443).
inline constexpr uint8_t kIcmp4Unreachable = 3;
inline constexpr uint8_t kIcmp4FragNeeded = 4;        // code of kIcmp4Unreachable
inline constexpr uint8_t kIcmp4AdminProhibited = 13;  // code of kIcmp4Unreachable
inline constexpr uint8_t kIcmp6Unreachable = 1;
inline constexpr uint8_t kIcmp6AdminProhibited = 1;  // code of kIcmp6Unreachable
inline constexpr uint8_t kIcmp6PacketTooBig = 2;

/// One ICMP error the kernel queued for a socket: where the datagram went and what came
/// back, as the client should report it (a locally detected "message too long" becomes
/// fragmentation needed / packet too big with the MTU the kernel knows).
struct IcmpReport {
    tun::SocketAddr dest;
    uint8_t type = 0;
    uint8_t code = 0;
    uint32_t mtu = 0;
};

enum class ErrorQueue { report, other, empty };

/// Reads one entry of `fd`'s error queue (never blocks): report (*out filled), other (an
/// entry that is no ICMP error, consumed), or empty.
ErrorQueue read_error_queue(int fd, IcmpReport* out);

/// Turns on IP_RECVERR (v4) or IPV6_RECVERR and IPV6_V6ONLY (v6); 0 or an errno.
int enable_error_queue(int fd, bool v6);

/// sendto with MSG_DONTWAIT; 0 or an errno.
int send_datagram(int fd, const tun::SocketAddr& to, std::span<const uint8_t> data);

/// One recvfrom with MSG_DONTWAIT|MSG_TRUNC into `buf`: the datagram's full length (may
/// exceed buf.size()) and its source, or -errno.
ssize_t receive_datagram(int fd, std::span<uint8_t> buf, tun::SocketAddr* from);

}  // namespace ghost::daemon::server::udpio
