#pragma once
/// The routes and rules of a TUN profile, applied through Netlink and removed exactly.
///
/// split tunnel: routes (main table) for `routes` minus `exclude`, via the device.
/// full tunnel (the wg-quick scheme), per family:
///   table T:  default dev <device>;  throw <exclude>
///   rule priority P:    lookup main suppress_prefixlength 0
///   rule priority P+1:  not fwmark M lookup T
/// Everything carries protocol kGhostRouteProtocol, so cleanup_leftovers() finds what a
/// crashed ghostd left behind.

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "common/net/endpoint.hpp"
#include "daemon/tun/netlink.hpp"

namespace ghost::daemon::tun {

/// What to route into the TUN.
struct RoutingConfig {
    int ifindex = 0;
    std::vector<net::Cidr> routes;   // split tunnel prefixes
    std::vector<net::Cidr> exclude;  // never via the tunnel
    bool full = false;
    bool ipv6 = true;                // full tunnel: also route (and so block or carry) IPv6
    uint32_t table = 0x67686f;       // T
    uint32_t fwmark = 0x67686f;      // M: ghostd's own transport sockets carry it
    uint32_t rule_priority = 26470;  // P and P+1
};

/// Applies one RoutingConfig and remembers every object it added.
class Routing {
  public:
    explicit Routing(Netlink& nl) : nl_(nl) {}
    ~Routing() { teardown(); }
    Routing(const Routing&) = delete;
    Routing& operator=(const Routing&) = delete;

    /// Adds the routes and rules; on failure removes what it added and returns the error,
    /// *why naming the object that failed.
    std::error_code apply(const RoutingConfig& config, std::string* why);

    /// Removes everything apply() added, newest first. Idempotent. Returns the first error
    /// other than "already gone".
    std::error_code teardown();

    size_t route_count() const { return routes_.size(); }
    size_t rule_count() const { return rules_.size(); }

    /// Removes every rule and route tagged with kGhostRouteProtocol (a crash's leftovers);
    /// *removed counts them.
    static std::error_code cleanup_leftovers(Netlink& nl, size_t* removed);

  private:
    std::error_code add_route(const RouteSpec& r, std::string* why);
    std::error_code add_rule(const RuleSpec& r, std::string* why);
    std::error_code apply_split(const RoutingConfig& c, std::string* why);
    std::error_code apply_full(const RoutingConfig& c, std::string* why);

    Netlink& nl_;
    std::vector<RouteSpec> routes_;
    std::vector<RuleSpec> rules_;
};

}  // namespace ghost::daemon::tun
