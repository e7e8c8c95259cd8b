#include "daemon/server/udp_socket.hpp"

#include <linux/errqueue.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

namespace ghost::daemon::server::udpio {

socklen_t to_sockaddr(const tun::SocketAddr& a, sockaddr_storage* out) {
    std::memset(out, 0, sizeof *out);
    if (a.ip.v6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(out);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a.port);
        std::memcpy(&s6->sin6_addr, a.ip.bytes.data(), 16);
        return sizeof(sockaddr_in6);
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(out);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port);
    std::memcpy(&s4->sin_addr, a.ip.bytes.data(), 4);
    return sizeof(sockaddr_in);
}

std::optional<tun::SocketAddr> from_sockaddr(const sockaddr_storage& ss) {
    tun::SocketAddr a;
    if (ss.ss_family == AF_INET6) {
        const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        a.ip.v6 = true;
        std::memcpy(a.ip.bytes.data(), &s6->sin6_addr, 16);
        a.port = ntohs(s6->sin6_port);
        return a;
    }
    if (ss.ss_family == AF_INET) {
        const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
        std::memcpy(a.ip.bytes.data(), &s4->sin_addr, 4);
        a.port = ntohs(s4->sin_port);
        return a;
    }
    return std::nullopt;
}

namespace {

/// The report for one extended error, or false when it is not an ICMP error.
bool to_report(const sock_extended_err& ee, bool v6, IcmpReport* out) {
    if (ee.ee_origin == SO_EE_ORIGIN_ICMP && !v6) {
        out->type = ee.ee_type;
        out->code = ee.ee_code;
        if (ee.ee_type == kIcmp4Unreachable && ee.ee_code == kIcmp4FragNeeded)
            out->mtu = ee.ee_info;
        return true;
    }
    if (ee.ee_origin == SO_EE_ORIGIN_ICMP6 && v6) {
        out->type = ee.ee_type;
        out->code = ee.ee_code;
        if (ee.ee_type == kIcmp6PacketTooBig) out->mtu = ee.ee_info;
        return true;
    }
    if (ee.ee_origin == SO_EE_ORIGIN_LOCAL && ee.ee_errno == EMSGSIZE) {
        out->type = v6 ? kIcmp6PacketTooBig : kIcmp4Unreachable;
        out->code = v6 ? 0 : kIcmp4FragNeeded;
        out->mtu = ee.ee_info;
        return true;
    }
    return false;
}

}  // namespace

ErrorQueue read_error_queue(int fd, IcmpReport* out) {
    sockaddr_storage name{};
    uint8_t data[64];  // the start of the datagram that failed; not needed
    alignas(cmsghdr) char control[256];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_name = &name;
    msg.msg_namelen = sizeof name;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return ErrorQueue::empty;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR;
        bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR;
        if (!v4 && !v6) continue;
        sock_extended_err ee{};
        std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
        auto dest = from_sockaddr(name);
        *out = IcmpReport{};
        if (!dest || dest->ip.v6 != v6 || !to_report(ee, v6, out)) return ErrorQueue::other;
        out->dest = *dest;
        return ErrorQueue::report;
    }
    return ErrorQueue::other;
}

int enable_error_queue(int fd, bool v6) {
    int on = 1;
    if (v6) {
        if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) return errno;
        if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on) != 0) return errno;
        return 0;
    }
    if (::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on) != 0) return errno;
    return 0;
}

int send_datagram(int fd, const tun::SocketAddr& to, std::span<const uint8_t> data) {
    sockaddr_storage ss;
    socklen_t len = to_sockaddr(to, &ss);
    ssize_t n = ::sendto(fd, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                         reinterpret_cast<sockaddr*>(&ss), len);
    return n < 0 ? errno : 0;
}

ssize_t receive_datagram(int fd, std::span<uint8_t> buf, tun::SocketAddr* from) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC,
                           reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0) return -errno;
    auto a = from_sockaddr(ss);
    if (!a) return -EAFNOSUPPORT;
    *from = *a;
    return n;
}

}  // namespace ghost::daemon::server::udpio
