#pragma once
/// ICMP echo for one session's clients (docs/server.md "UDP and ICMP"): requests leave
/// through an ICMP datagram ("ping") socket when net.ipv4.ping_group_range admits ghostd,
/// else through a raw socket (ghostd is root), one per family, opened on first use. The
/// server numbers requests itself and maps each reply back to the client's identifier and
/// sequence, so replies of different clients and sessions cannot be confused.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "common/udp/frame.hpp"
#include "daemon/core/log.hpp"

namespace ghost::daemon::server {

/// How echo requests of one family leave the server.
enum class EchoMode { disabled, ping, raw, unavailable };
const char* echo_mode_name(EchoMode m);

/// Which socket ghostd can use for echo to `v6` hosts now (opens one and closes it).
EchoMode probe_echo_mode(bool v6);

/// Echo requests of one session. Use through std::make_shared; call on the io thread only.
class IcmpEcho : public std::enable_shared_from_this<IcmpEcho> {
  public:
    using Reply = std::function<bool(udp::Datagram)>;

    /// `modes` are from probe_echo_mode (or disabled); `max_payload` bounds the echo data.
    IcmpEcho(asio::io_context& io, config::IcmpConfig cfg, size_t max_payload, EchoMode v4,
             EchoMode v6, Reply reply, log::Logger log);
    ~IcmpEcho();
    IcmpEcho(const IcmpEcho&) = delete;
    IcmpEcho& operator=(const IcmpEcho&) = delete;

    EchoMode mode(bool v6) const { return fam_[v6].mode; }
    /// Sends the request `d` (an icmp_echo frame policy already allowed); rate limited.
    void request(const udp::Datagram& d);
    /// Counts a request policy refused.
    void count_denied() { ++drops_[size_t(Drop::denied)]; }
    /// {ipv4, ipv6 (modes), requests, replies, drops {...}}.
    nlohmann::json status() const;
    /// Closes the sockets; no reply is delivered after. Idempotent.
    void close();

  private:
    enum class Drop : size_t {
        denied,
        unavailable,
        rate,
        oversize,
        send_would_block,
        send_failed,
        client_busy,
        kCount
    };
    static constexpr size_t kPending = 1024;  // requests awaiting a reply, per family

    struct Pending {
        bool used = false;
        uint16_t seq = 0;  // ours
        net::IpAddress remote;
        tun::SocketAddr client;   // address and echo identifier
        uint16_t client_seq = 0;  // the client's sequence
    };
    struct Family {
        explicit Family(asio::io_context& io) : socket(io) {}
        EchoMode mode = EchoMode::disabled;
        asio::posix::stream_descriptor socket;
        bool open_failed = false;
        uint16_t ident = 0;  // raw sockets: ours; ping sockets: the kernel's
        uint16_t next_seq = 0;
        std::array<Pending, kPending> pending{};
    };

    bool take_token();
    bool open(Family& f, bool v6);
    std::vector<uint8_t> build_request(const Family& f, bool v6, uint16_t seq,
                                       const std::vector<uint8_t>& data) const;
    void wait_readable(bool v6);
    void on_readable(bool v6);
    void handle_reply(Family& f, bool v6, const net::IpAddress& from, const uint8_t* icmp,
                      size_t len);

    asio::io_context& io_;
    config::IcmpConfig cfg_;
    size_t max_payload_;
    Reply reply_;
    log::Logger log_;
    std::array<Family, 2> fam_;  // [0] IPv4, [1] IPv6
    std::vector<uint8_t> buf_;
    double tokens_ = 0;
    std::chrono::steady_clock::time_point refilled_{};
    bool closed_ = false;
    uint64_t requests_ = 0;
    uint64_t replies_ = 0;
    uint64_t unmatched_ = 0;
    std::array<uint64_t, size_t(Drop::kCount)> drops_{};
};

}  // namespace ghost::daemon::server
