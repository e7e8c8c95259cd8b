#pragma once
/// Points systemd-resolved at the TUN device's DNS address over D-Bus
/// (org.freedesktop.resolve1.Manager: SetLinkDNS, SetLinkDomains, SetLinkDefaultRoute,
/// RevertLink). Calls are synchronous with a short timeout; the link is reverted on
/// teardown (and the kernel forgets it anyway when the device goes).

#include <memory>
#include <string>
#include <vector>

#include "common/net/endpoint.hpp"

namespace sdbus {
class IConnection;
class IProxy;
}  // namespace sdbus

namespace ghost::daemon::client {

class ResolvedLink {
  public:
    ResolvedLink();
    ~ResolvedLink();

    /// Link `ifindex` gets `servers`; `domains` as routing domains ("~corp.example");
    /// with `default_route` every name not claimed by another link's domain (full tunnel:
    /// "~." as well). False + *why when resolved cannot be reached or refuses.
    bool apply(int ifindex, const std::vector<net::IpAddress>& servers,
               const std::vector<std::string>& domains, bool default_route, std::string* why);
    /// RevertLink; errors are ignored (the device may already be gone).
    void revert();

  private:
    std::unique_ptr<sdbus::IConnection> bus_;
    std::unique_ptr<sdbus::IProxy> proxy_;
    int ifindex_ = 0;
};

}  // namespace ghost::daemon::client
