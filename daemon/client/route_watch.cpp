#include "daemon/client/route_watch.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace ghost::daemon::client {

RouteWatch::RouteWatch(asio::io_context& io, std::function<void()> on_change)
    : socket_(io), on_change_(std::move(on_change)) {}

bool RouteWatch::start(std::string* why) {
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        *why = std::string("netlink socket: ") + std::strerror(errno);
        return false;
    }
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        *why = std::string("netlink bind: ") + std::strerror(errno);
        ::close(fd);
        return false;
    }
    socket_.assign(fd);
    wait();
    return true;
}

void RouteWatch::stop() {
    asio::error_code ec;
    socket_.close(ec);
}

void RouteWatch::wait() {
    socket_.async_wait(asio::posix::descriptor_base::wait_read,
                       [w = weak_from_this()](asio::error_code ec) {
                           auto self = w.lock();
                           if (!self || ec) return;
                           self->on_readable();
                           self->wait();
                       });
}

void RouteWatch::on_readable() {
    std::array<char, 16384> buf;
    bool changed = false;
    for (;;) {
        ssize_t n = ::recv(socket_.native_handle(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) {  // notifications were lost: one may have been ours
            changed = true;
            continue;
        }
        if (n <= 0) break;  // EAGAIN: all read
        auto len = static_cast<unsigned>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE) continue;
            auto* rt = static_cast<rtmsg*>(NLMSG_DATA(h));
            if (rt->rtm_dst_len == 0 && rt->rtm_table == RT_TABLE_MAIN) changed = true;
        }
    }
    if (changed && on_change_) on_change_();
}

}  // namespace ghost::daemon::client
