#pragma once
/// Destination ACL for direct-tcpip on a server profile (DESIGN.md §9): a decision for
/// one resolved address and port, with the reason. Names must be resolved first and
/// every address checked, so a DNS name cannot reach what its address may not.

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/model.hpp"
#include "common/net/endpoint.hpp"

namespace ghost::net {

/// Outcome of Acl::check; `reason` says which rule denied (empty when allowed).
struct AclDecision {
    bool allowed = false;
    std::string reason;
};

/// Immutable rules: deny unspecified, then loopback / link-local / own addresses (when
/// enabled), then acl.deny, then acl.allow (when non-empty), then acl.ports.
class Acl {
  public:
    /// `self` are the server's own (non-loopback) interface addresses, for deny_self.
    Acl(config::AclConfig cfg, std::vector<IpAddress> self);
    /// Decides for `ip:port`; IPv4-mapped IPv6 addresses are judged as IPv4.
    AclDecision check(const IpAddress& ip, uint16_t port) const;
    /// Decides for `ip` alone, every rule but acl.ports (ICMP echo has no port).
    AclDecision check_host(const IpAddress& ip) const;
    const config::AclConfig& config() const { return cfg_; }

  private:
    config::AclConfig cfg_;
    std::vector<IpAddress> self_;
};

/// ::ffff:a.b.c.d -> a.b.c.d; other addresses unchanged.
IpAddress unmap_v4(const IpAddress& ip);

}  // namespace ghost::net
