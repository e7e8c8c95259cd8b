#pragma once
/// DNS for TUN mode: UDP queries the NAT intercepts are forwarded as DNS over TCP
/// (RFC 7766, length-prefixed, pipelined) to the profile's resolvers through direct-tcpip
/// channels, so no UDP ever leaves the machine outside the SSH session.
///
///   app --UDP/53--> ghost0 --NAT--> query() --(id rewritten)--> pooled DNS-over-TCP
///        connection = one channel --SSH--> server --TCP--> resolver
///
/// Bounded: at most kMaxInFlight queries (more get SERVFAIL at once), kMaxConnections
/// channels; a query unanswered after kQueryTimeout gets SERVFAIL. Lives on the opener's
/// io_context; status() is for that thread (TunMode snapshots it).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/net/endpoint.hpp"
#include "daemon/core/log.hpp"
#include "daemon/ssh/channel_opener.hpp"

namespace ghost::daemon::client {

/// Largest DNS answer sent back as one UDP datagram into the TUN (IPv6 header included
/// the datagram stays within 65535 bytes and the default MTU).
inline constexpr size_t kMaxUdpDnsAnswer = 65000 - 48;

class DnsForwarder : public std::enable_shared_from_this<DnsForwarder> {
  public:
    using Answer = std::function<void(std::vector<uint8_t>)>;
    static constexpr size_t kMaxInFlight = 256;
    static constexpr size_t kMaxConnections = 4;
    static constexpr size_t kPerConnection = 64;  // open another channel beyond this
    static constexpr std::chrono::seconds kQueryTimeout{5};

    DnsForwarder(ssh::ChannelOpener& opener, std::vector<net::Endpoint> resolvers, log::Logger log);
    ~DnsForwarder();

    /// Forwards one DNS message; `answer` runs exactly once (the response, or SERVFAIL).
    void query(std::vector<uint8_t> message, Answer answer);
    /// Closes every connection; pending queries get SERVFAIL.
    void stop();

    nlohmann::json status() const;

  private:
    struct Conn;
    struct Pending {
        uint16_t client_id = 0;
        std::vector<uint8_t> query;  // as received (for SERVFAIL)
        Answer answer;
        std::chrono::steady_clock::time_point deadline;
    };

    std::shared_ptr<Conn> pick_connection();
    void open_connection(const std::shared_ptr<Conn>& c);
    void on_open(const std::shared_ptr<Conn>& c, ssh::OpenOutcome o, ssh::ChannelHandle ch);
    void write_next(const std::shared_ptr<Conn>& c);
    void read_next(const std::shared_ptr<Conn>& c);
    void on_response(const std::shared_ptr<Conn>& c, std::vector<uint8_t> msg);
    void close_connection(const std::shared_ptr<Conn>& c, const std::string& why);
    enum class Why { overload, timeout, lost };  // which counter a SERVFAIL adds to
    void fail(Pending& p, Why why);
    void sweep();           // arms the 1 s deadline check (while queries are in flight)
    void expire_queries();  // SERVFAIL for every query past its deadline

    ssh::ChannelOpener& opener_;
    std::vector<net::Endpoint> resolvers_;
    log::Logger log_;
    asio::steady_timer sweep_timer_;
    std::vector<std::shared_ptr<Conn>> conns_;
    size_t next_resolver_ = 0;
    size_t in_flight_ = 0;
    bool stopped_ = false;
    bool sweeping_ = false;  // sweep_timer_ armed
    uint64_t queries_ = 0, answered_ = 0, servfail_ = 0, timeouts_ = 0, overload_ = 0,
             channels_opened_ = 0, channel_failures_ = 0;
    std::string last_error_;
};

}  // namespace ghost::daemon::client
