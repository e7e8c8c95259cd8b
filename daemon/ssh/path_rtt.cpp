#include "daemon/ssh/path_rtt.hpp"

// linux/tcp.h, not netinet/tcp.h: only the kernel's header has tcpi_min_rtt.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

namespace ghost::daemon::ssh {

std::optional<PathRtt> read_path_rtt(int fd) {
    if (fd < 0) return std::nullopt;
    struct tcp_info info {};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
    if (len < offsetof(struct tcp_info, tcpi_min_rtt) + sizeof info.tcpi_min_rtt) {
        return std::nullopt;  // a kernel older than 4.10
    }
    if (info.tcpi_rtt == 0) return std::nullopt;
    PathRtt r;
    r.smoothed = std::chrono::microseconds(info.tcpi_rtt);
    // ~0U until the first sample
    r.min = std::chrono::microseconds(info.tcpi_min_rtt == ~0U ? info.tcpi_rtt : info.tcpi_min_rtt);
    return r;
}

}  // namespace ghost::daemon::ssh
