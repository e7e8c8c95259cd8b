#pragma once
/// The round-trip time of the network path under an SSH session, as the kernel's TCP
/// stack measures it (TCP_INFO of the TCP socket that carries the session).

#include <chrono>
#include <optional>

namespace ghost::daemon::ssh {

/// Kernel RTT figures of one TCP socket.
struct PathRtt {
    std::chrono::microseconds smoothed{0};  // srtt: includes queueing on the path
    std::chrono::microseconds min{0};       // lowest seen: the path's propagation delay
};

/// TCP_INFO of `fd`; nullopt when it is not a TCP socket or has no sample yet.
std::optional<PathRtt> read_path_rtt(int fd);

}  // namespace ghost::daemon::ssh
