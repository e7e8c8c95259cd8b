#include "daemon/client/resolved_link.hpp"

#include <sys/socket.h>

#include <chrono>

#include <sdbus-c++/sdbus-c++.h>

namespace ghost::daemon::client {
namespace {

constexpr const char* kService = "org.freedesktop.resolve1";
constexpr const char* kPath = "/org/freedesktop/resolve1";
constexpr const char* kManager = "org.freedesktop.resolve1.Manager";
constexpr auto kTimeout = std::chrono::seconds(3);

}  // namespace

ResolvedLink::ResolvedLink() = default;
ResolvedLink::~ResolvedLink() {
    revert();
}

bool ResolvedLink::apply(int ifindex, const std::vector<net::IpAddress>& servers,
                         const std::vector<std::string>& domains, bool default_route,
                         std::string* why) {
    try {
        if (!bus_) bus_ = sdbus::createSystemBusConnection();
        if (!proxy_) proxy_ = sdbus::createProxy(*bus_, kService, kPath);
        std::vector<sdbus::Struct<int32_t, std::vector<uint8_t>>> addrs;
        for (const auto& ip : servers) {
            std::vector<uint8_t> bytes(ip.bytes.begin(), ip.bytes.begin() + (ip.v6 ? 16 : 4));
            addrs.emplace_back(ip.v6 ? AF_INET6 : AF_INET, std::move(bytes));
        }
        std::vector<sdbus::Struct<std::string, bool>> doms;
        for (const auto& d : domains) doms.emplace_back(d, true);  // routing-only domains
        if (default_route) doms.emplace_back(".", true);
        proxy_->callMethod("SetLinkDNS")
            .onInterface(kManager)
            .withTimeout(kTimeout)
            .withArguments(ifindex, addrs);
        ifindex_ = ifindex;
        proxy_->callMethod("SetLinkDomains")
            .onInterface(kManager)
            .withTimeout(kTimeout)
            .withArguments(ifindex, doms);
        proxy_->callMethod("SetLinkDefaultRoute")
            .onInterface(kManager)
            .withTimeout(kTimeout)
            .withArguments(ifindex, default_route);
        return true;
    } catch (const sdbus::Error& e) {
        *why = "systemd-resolved: " + e.getName() + ": " + e.getMessage();
        return false;
    }
}

void ResolvedLink::revert() {
    if (ifindex_ == 0 || !proxy_) return;
    try {
        proxy_->callMethod("RevertLink")
            .onInterface(kManager)
            .withTimeout(kTimeout)
            .withArguments(ifindex_);
    } catch (const sdbus::Error&) {
        // The link is gone with the device, or resolved went away: nothing left to undo.
    }
    ifindex_ = 0;
}

}  // namespace ghost::daemon::client
