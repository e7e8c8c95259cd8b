#include "common/net/acl.hpp"

#include <algorithm>

namespace ghost::net {
namespace {

bool is_multicast_or_broadcast(const IpAddress& ip) {
    if (ip.v6) return ip.bytes[0] == 0xff;
    bool broadcast =
        std::all_of(ip.bytes.begin(), ip.bytes.begin() + 4, [](uint8_t b) { return b == 0xff; });
    return broadcast || (ip.bytes[0] & 0xf0) == 0xe0;
}

bool in_any(const std::vector<Cidr>& list, const IpAddress& ip, const Cidr** hit) {
    for (const auto& c : list) {
        if (c.address.v6 == ip.v6 && c.contains(ip)) {
            *hit = &c;
            return true;
        }
    }
    return false;
}

AclDecision deny(std::string why) {
    return {false, std::move(why)};
}

}  // namespace

IpAddress unmap_v4(const IpAddress& ip) {
    if (!ip.v6 ||
        !std::all_of(ip.bytes.begin(), ip.bytes.begin() + 10, [](uint8_t b) { return b == 0; }) ||
        ip.bytes[10] != 0xff || ip.bytes[11] != 0xff)
        return ip;
    IpAddress v4;
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), v4.bytes.begin());
    return v4;
}

Acl::Acl(config::AclConfig cfg, std::vector<IpAddress> self) : cfg_(std::move(cfg)) {
    for (auto& a : self) self_.push_back(unmap_v4(a));
}

AclDecision Acl::check(const IpAddress& raw, uint16_t port) const {
    AclDecision d = check_host(raw);
    if (!d.allowed) return d;
    if (!cfg_.ports.empty() &&
        std::find(cfg_.ports.begin(), cfg_.ports.end(), port) == cfg_.ports.end())
        return deny("port " + std::to_string(port) + " is not in acl.ports");
    return d;
}

AclDecision Acl::check_host(const IpAddress& raw) const {
    IpAddress ip = unmap_v4(raw);
    std::string what = ip.str();
    // 0.0.0.0 / :: reach the local host on Linux: never a valid destination.
    if (ip.is_unspecified()) return deny(what + " is the unspecified address");
    if (is_multicast_or_broadcast(ip)) return deny(what + " is a multicast/broadcast address");
    if (cfg_.deny_loopback && ip.is_loopback())
        return deny(what + " is a loopback address (acl.deny_loopback)");
    if (cfg_.deny_link_local && ip.is_link_local())
        return deny(what + " is a link-local address (acl.deny_link_local)");
    if (cfg_.deny_self && std::find(self_.begin(), self_.end(), ip) != self_.end())
        return deny(what + " is an address of this server (acl.deny_self)");
    const Cidr* hit = nullptr;
    if (in_any(cfg_.deny, ip, &hit)) return deny(what + " is in acl.deny " + hit->str());
    if (!cfg_.allow.empty() && !in_any(cfg_.allow, ip, &hit))
        return deny(what + " is not in acl.allow");
    return {true, {}};
}

}  // namespace ghost::net
