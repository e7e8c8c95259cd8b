#include "daemon/server/icmp_echo.hpp"

#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "common/tun/checksum.hpp"
#include "daemon/server/udp_socket.hpp"

namespace ghost::daemon::server {
namespace {

constexpr uint8_t kEchoRequest4 = 8;
constexpr uint8_t kEchoReply4 = 0;
constexpr uint8_t kEchoRequest6 = 128;
constexpr uint8_t kEchoReply6 = 129;
constexpr int kIcmpFilter = 1;  // SOL_RAW option of <linux/icmp.h>
constexpr size_t kRepliesPerWakeup = 64;
constexpr size_t kIcmpHeader = 8;

/// A non-blocking ICMP socket of `type` (SOCK_DGRAM = ping socket, SOCK_RAW), or -errno.
int open_icmp(bool v6, int type) {
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      v6 ? int(IPPROTO_ICMPV6) : int(IPPROTO_ICMP));
    return fd >= 0 ? fd : -errno;
}

/// Raw sockets see every ICMP message of the host: keep only echo replies.
void filter_echo_replies(int fd, bool v6) {
    if (v6) {
        icmp6_filter f;
        ICMP6_FILTER_SETBLOCKALL(&f);
        ICMP6_FILTER_SETPASS(kEchoReply6, &f);
        ::setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f);
        return;
    }
    uint32_t blocked = ~(uint32_t{1} << kEchoReply4);
    ::setsockopt(fd, SOL_RAW, kIcmpFilter, &blocked, sizeof blocked);
}

}  // namespace

const char* echo_mode_name(EchoMode m) {
    switch (m) {
        case EchoMode::disabled:
            return "disabled";
        case EchoMode::ping:
            return "ping";
        case EchoMode::raw:
            return "raw";
        case EchoMode::unavailable:
            return "unavailable";
    }
    return "?";
}

EchoMode probe_echo_mode(bool v6) {
    for (auto [type, mode] :
         {std::pair{int(SOCK_DGRAM), EchoMode::ping}, std::pair{int(SOCK_RAW), EchoMode::raw}}) {
        int fd = open_icmp(v6, type);
        if (fd >= 0) {
            ::close(fd);
            return mode;
        }
    }
    return EchoMode::unavailable;
}

IcmpEcho::IcmpEcho(asio::io_context& io, config::IcmpConfig cfg, size_t max_payload, EchoMode v4,
                   EchoMode v6, Reply reply, log::Logger log)
    : io_(io),
      cfg_(cfg),
      max_payload_(std::min(max_payload, udp::kMaxPayload - kIcmpHeader)),
      reply_(std::move(reply)),
      log_(std::move(log)),
      fam_{Family(io), Family(io)},
      buf_(udp::kMaxPayload + 64),
      tokens_(cfg.echo_rate),
      refilled_(std::chrono::steady_clock::now()) {
    fam_[0].mode = cfg.echo ? v4 : EchoMode::disabled;
    fam_[1].mode = cfg.echo ? v6 : EchoMode::disabled;
}

IcmpEcho::~IcmpEcho() {
    close();
}

bool IcmpEcho::take_token() {
    auto now = std::chrono::steady_clock::now();
    double rate = cfg_.echo_rate;
    tokens_ =
        std::min(rate, tokens_ + rate * std::chrono::duration<double>(now - refilled_).count());
    refilled_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

bool IcmpEcho::open(Family& f, bool v6) {
    if (f.socket.is_open()) return true;
    if (f.open_failed) return false;
    int fd = open_icmp(v6, f.mode == EchoMode::ping ? SOCK_DGRAM : SOCK_RAW);
    if (fd < 0) {
        f.open_failed = true;
        log_.warning("icmp echo to IPv", v6 ? 6 : 4, " hosts unavailable: cannot open a ",
                     echo_mode_name(f.mode), " socket: ", std::strerror(-fd));
        return false;
    }
    if (f.mode == EchoMode::raw) {
        filter_echo_replies(fd, v6);
        f.ident = static_cast<uint16_t>(std::random_device{}());
    }
    f.next_seq = static_cast<uint16_t>(std::random_device{}());
    asio::error_code ec;
    f.socket.assign(fd, ec);
    if (ec) {
        ::close(fd);
        f.open_failed = true;
        return false;
    }
    wait_readable(v6);
    return true;
}

std::vector<uint8_t> IcmpEcho::build_request(const Family& f, bool v6, uint16_t seq,
                                             const std::vector<uint8_t>& data) const {
    std::vector<uint8_t> pkt(kIcmpHeader + data.size());
    pkt[0] = v6 ? kEchoRequest6 : kEchoRequest4;
    tun::store_be16(&pkt[4], f.ident);  // a ping socket puts its own identifier here
    tun::store_be16(&pkt[6], seq);
    std::copy(data.begin(), data.end(), pkt.begin() + kIcmpHeader);
    // The kernel sums ping sockets and ICMPv6 raw sockets; an ICMPv4 raw socket is ours.
    if (!v6 && f.mode == EchoMode::raw) tun::store_be16(&pkt[2], tun::internet_checksum(pkt));
    return pkt;
}

void IcmpEcho::request(const udp::Datagram& d) {
    if (closed_) return;
    bool v6 = d.remote.ip.v6;
    Family& f = fam_[v6];
    if (f.mode == EchoMode::disabled || f.mode == EchoMode::unavailable || !open(f, v6)) {
        ++drops_[size_t(Drop::unavailable)];
        return;
    }
    if (d.payload.size() > max_payload_) {
        ++drops_[size_t(Drop::oversize)];
        return;
    }
    if (!take_token()) {
        ++drops_[size_t(Drop::rate)];
        return;
    }
    uint16_t seq = f.next_seq++;
    auto pkt = build_request(f, v6, seq, d.payload);
    int err = udpio::send_datagram(f.socket.native_handle(), {d.remote.ip, 0}, pkt);
    if (err != 0) {
        ++drops_[size_t(err == EAGAIN || err == EWOULDBLOCK ? Drop::send_would_block
                                                            : Drop::send_failed)];
        return;
    }
    f.pending[seq % kPending] = {true, seq, d.remote.ip, d.client, d.remote.port};
    ++requests_;
}

void IcmpEcho::wait_readable(bool v6) {
    fam_[v6].socket.async_wait(asio::posix::descriptor_base::wait_read,
                               [w = weak_from_this(), v6](asio::error_code ec) {
                                   auto self = w.lock();
                                   if (self && !ec && !self->closed_) self->on_readable(v6);
                               });
}

void IcmpEcho::on_readable(bool v6) {
    Family& f = fam_[v6];
    size_t i = 0;
    for (; i < kRepliesPerWakeup && !closed_; ++i) {
        tun::SocketAddr from;
        ssize_t n = udpio::receive_datagram(f.socket.native_handle(), buf_, &from);
        if (n == -EAGAIN || n == -EWOULDBLOCK) break;
        if (n < 0) continue;
        size_t len = std::min(static_cast<size_t>(n), buf_.size());
        const uint8_t* p = buf_.data();
        if (!v6 && f.mode == EchoMode::raw) {  // IPv4 raw sockets deliver the IP header too
            size_t ihl = len > 0 ? size_t(p[0] & 0x0f) * 4 : 0;
            if (ihl < 20 || ihl > len) continue;
            p += ihl;
            len -= ihl;
        }
        handle_reply(f, v6, from.ip, p, len);
    }
    if (closed_) return;
    if (i < kRepliesPerWakeup) return wait_readable(v6);
    asio::post(io_, [w = weak_from_this(), v6] {
        auto self = w.lock();
        if (self && !self->closed_) self->on_readable(v6);
    });
}

void IcmpEcho::handle_reply(Family& f, bool v6, const net::IpAddress& from, const uint8_t* icmp,
                            size_t len) {
    if (len < kIcmpHeader || icmp[0] != (v6 ? kEchoReply6 : kEchoReply4) || icmp[1] != 0) return;
    uint16_t ident = tun::load_be16(icmp + 4);
    uint16_t seq = tun::load_be16(icmp + 6);
    if (f.mode == EchoMode::raw && ident != f.ident) return;  // someone else's ping
    Pending& p = f.pending[seq % kPending];
    if (!p.used || p.seq != seq || p.remote != from) {
        ++unmatched_;
        return;
    }
    p.used = false;
    udp::Datagram d;
    d.type = udp::FrameType::icmp_echo;
    d.client = p.client;
    d.remote = {from, p.client_seq};
    d.payload.assign(icmp + kIcmpHeader, icmp + len);
    if (!reply_ || !reply_(std::move(d))) {
        ++drops_[size_t(Drop::client_busy)];
        return;
    }
    ++replies_;
}

nlohmann::json IcmpEcho::status() const {
    static constexpr std::array<const char*, size_t(Drop::kCount)> kNames = {
        "denied",           "unavailable", "rate",       "oversize",
        "send_would_block", "send_failed", "client_busy"};
    nlohmann::json drops = nlohmann::json::object();
    for (size_t i = 0; i < drops_.size(); ++i) drops[kNames[i]] = drops_[i];
    return {{"ipv4", echo_mode_name(fam_[0].mode)},
            {"ipv6", echo_mode_name(fam_[1].mode)},
            {"rate", cfg_.echo_rate},
            {"requests", requests_},
            {"replies", replies_},
            {"unmatched_replies", unmatched_},
            {"drops", drops}};
}

void IcmpEcho::close() {
    if (closed_) return;
    closed_ = true;
    for (auto& f : fam_) {
        asio::error_code ignore;
        f.socket.close(ignore);
    }
}

}  // namespace ghost::daemon::server
