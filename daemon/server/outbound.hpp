#pragma once
/// How a direct-tcpip channel reaches its destination (DESIGN.md §9): resolve the name
/// here (so the ACL judges every address a name maps to), then connect directly or
/// through an upstream SOCKS5 / HTTP CONNECT proxy given the resolved address, all under
/// one deadline (outbound.connect_timeout).

#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>

#include "common/config/model.hpp"
#include "common/net/acl.hpp"

namespace ghost::daemon::server {

/// Shared, immutable outbound policy of a server profile.
struct OutboundPolicy {
    config::OutboundConfig cfg;
    net::Acl acl;
};

/// Result: a connected socket, or `error` ("denied by ACL: ...", "connection refused").
struct OutboundResult {
    std::string error;
    bool denied = false;  // refused by policy rather than by the network
    std::string address;  // "ip:port" actually connected
};

using OutboundCallback = std::function<void(OutboundResult, asio::ip::tcp::socket)>;

/// Connects to host:port per `policy`; `cb` runs once on `io`.
void connect_outbound(asio::io_context& io, std::shared_ptr<const OutboundPolicy> policy,
                      std::string host, uint16_t port, OutboundCallback cb);

}  // namespace ghost::daemon::server
