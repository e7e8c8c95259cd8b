#pragma once
/// A small rtnetlink client over libnl-3 / libnl-route-3: link state, addresses, routes
/// and policy rules, each call synchronous and acknowledged by the kernel. Nothing here
/// shells out to `ip`.

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "common/net/endpoint.hpp"

struct nl_sock;

namespace ghost::daemon::tun {

/// rtm_protocol / FRA_PROTOCOL value that tags every route and rule ghost creates.
inline constexpr uint8_t kGhostRouteProtocol = 103;

/// The error category of libnl's NLE_* codes (message from nl_geterror).
const std::error_category& netlink_category();

/// A route: `dst` via device `ifindex` (unicast) or a `throw` route (ifindex 0).
struct RouteSpec {
    net::Cidr dst;
    int ifindex = 0;
    uint32_t table = 254;  // RT_TABLE_MAIN
    bool throw_route = false;
    uint32_t metric = 0;
    uint8_t protocol = kGhostRouteProtocol;
};

/// A policy rule: [not] fwmark M / suppress_prefixlength N -> lookup table.
struct RuleSpec {
    bool v6 = false;
    uint32_t priority = 0;
    uint32_t table = 0;
    uint32_t fwmark = 0;          // 0: no fwmark match
    bool invert = false;          // "not fwmark M"
    int suppress_prefixlen = -1;  // -1: none
    uint8_t protocol = kGhostRouteProtocol;
};

/// One rtnetlink socket. Not thread-safe; use from one thread.
class Netlink {
  public:
    Netlink() = default;
    ~Netlink();
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;

    /// Opens and connects the NETLINK_ROUTE socket.
    std::error_code connect();

    /// Interface index of `name`; ENODEV-like error when absent.
    std::error_code link_index(const std::string& name, int* index);
    /// Sets the link up with `mtu` and transmit queue length `txqlen` (0 keeps either).
    std::error_code set_link_up(int ifindex, uint32_t mtu, uint32_t txqlen = 0);
    /// Deletes the link `name` if it exists and is of kind `kind` ("tun"); *deleted says so.
    std::error_code delete_link_of_kind(const std::string& name, const std::string& kind,
                                        bool* deleted);

    /// Adds `addr` (address/prefix) to the link; IPv6 without duplicate address detection.
    std::error_code add_address(int ifindex, const net::Cidr& addr);
    std::error_code delete_address(int ifindex, const net::Cidr& addr);

    std::error_code add_route(const RouteSpec& route);
    std::error_code delete_route(const RouteSpec& route);

    std::error_code add_rule(const RuleSpec& rule);
    std::error_code delete_rule(const RuleSpec& rule);

    /// All rules of both families whose protocol is `protocol`.
    std::error_code list_rules(uint8_t protocol, std::vector<RuleSpec>* out);
    /// All routes (every table, both families) whose protocol is `protocol`.
    std::error_code list_routes(uint8_t protocol, std::vector<RouteSpec>* out);

  private:
    std::error_code send_rule(const RuleSpec& rule, bool add);
    std::error_code change_route(const RouteSpec& route, bool add);

    nl_sock* sock_ = nullptr;
};

/// True when `ec` means "already gone" (a delete of something that does not exist).
bool is_absent(const std::error_code& ec);

}  // namespace ghost::daemon::tun
