#pragma once
/// The UDP relay's flows: one kernel socket per flow key (the client application's address
/// and port), the remotes it has sent to, and a table ordered by last use so the least
/// recently used flow is found at once (eviction, idle expiry).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include <asio.hpp>

#include "common/tun/packet.hpp"

namespace ghost::daemon::server {

using UdpClock = std::chrono::steady_clock;

struct SocketAddrHash {
    size_t operator()(const tun::SocketAddr& a) const;
};

/// A bounded set of addresses, oldest forgotten first.
class AddrRing {
  public:
    explicit AddrRing(size_t capacity) : capacity_(capacity) {}
    bool contains(const tun::SocketAddr& a) const;
    /// True when some entry has address `ip` (any port).
    bool contains_address(const net::IpAddress& ip) const;
    /// Adds `a` (once); forgets the oldest entry when full.
    void add(const tun::SocketAddr& a);
    size_t size() const { return ring_.size(); }
    const std::vector<tun::SocketAddr>& entries() const { return ring_; }

  private:
    size_t capacity_;
    size_t next_ = 0;
    std::vector<tun::SocketAddr> ring_;
};

/// Remotes one flow remembers (for filtering and as allowed by ACL and permitopen).
inline constexpr size_t kMaxRemotesPerFlow = 64;

/// One UDP flow: the client's (address, port) mapped to one socket on the server.
struct UdpFlow {
    explicit UdpFlow(asio::io_context& io) : socket(io) {}

    tun::SocketAddr client;
    asio::ip::udp::socket socket;
    uint16_t local_port = 0;
    AddrRing remotes{kMaxRemotesPerFlow};
    UdpClock::time_point last_active{};
    bool closed = false;
    bool denial_logged = false;
    uint64_t to_remote_datagrams = 0;
    uint64_t to_remote_bytes = 0;
    uint64_t to_client_datagrams = 0;
    uint64_t to_client_bytes = 0;
    std::list<UdpFlow*>::iterator lru;  // the table's
};

/// Flows by key, and in order of last use.
class UdpFlowTable {
  public:
    using Ptr = std::shared_ptr<UdpFlow>;

    /// The flow of `client`, or null.
    Ptr find(const tun::SocketAddr& client) const;
    /// Adds `f` as the most recently used (its key must be new).
    void insert(Ptr f);
    /// Marks `f` used at `now`.
    void touch(UdpFlow& f, UdpClock::time_point now);
    /// The least recently used flow, or null.
    Ptr oldest() const;
    /// Removes and returns the flow of `client` (null when absent).
    Ptr erase(const tun::SocketAddr& client);
    size_t size() const { return map_.size(); }
    /// Flows, most recently used first.
    const std::list<UdpFlow*>& by_use() const { return lru_; }

  private:
    std::unordered_map<tun::SocketAddr, Ptr, SocketAddrHash> map_;
    std::list<UdpFlow*> lru_;  // front = most recently used
};

}  // namespace ghost::daemon::server
