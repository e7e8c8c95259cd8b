// check_conflicts(): local listen addresses that two listeners would both bind.

#include <algorithm>

#include "common/config/schema.hpp"

namespace ghost::config {
namespace {

struct Listener {
    const Profile* profile;
    std::string path;  // key path inside the profile, e.g. "forward[1].listen"
    net::Endpoint endpoint;
};

std::vector<Listener> listeners_of(const Profile& p) {
    std::vector<Listener> out;
    if (p.socks5) out.push_back({&p, "socks5.listen", p.socks5->listen});
    if (p.http_connect) out.push_back({&p, "http_connect.listen", p.http_connect->listen});
    for (size_t i = 0; i < p.forward.size(); ++i)
        out.push_back({&p, "forward[" + std::to_string(i) + "].listen", p.forward[i].listen});
    for (size_t i = 0; i < p.listen.size(); ++i)
        out.push_back({&p, "listen[" + std::to_string(i) + "].address", p.listen[i].address});
    return out;
}

/// Same port, and the same address or a wildcard (0.0.0.0 / ::) on either side.
bool overlaps(const net::Endpoint& a, const net::Endpoint& b) {
    if (a.port != b.port) return false;
    auto ia = net::IpAddress::parse(a.host);
    auto ib = net::IpAddress::parse(b.host);
    if (!ia || !ib) return a.host == b.host;
    return *ia == *ib || ia->is_unspecified() || ib->is_unspecified();
}

Error conflict_error(const Listener& later, const Listener& earlier) {
    std::string where = earlier.profile == later.profile
                            ? earlier.path + " of the same profile"
                            : "profile '" + earlier.profile->name + "' (" + earlier.path + ")";
    return {later.profile->file, later.path, "\"" + later.endpoint.str() + "\"",
            "profile '" + later.profile->name + "' listens on " + later.endpoint.str() +
                ", which overlaps " + earlier.endpoint.str() + " of " + where};
}

}  // namespace

std::string tun_conflict(const Profile& p, const Profile& running) {
    if (!p.tun || !running.tun) return {};
    const TunConfig& a = *p.tun;
    const TunConfig& b = *running.tun;
    std::string other = "profile '" + running.name + "'";
    if (a.name == b.name) return "tun.name " + a.name + " is in use by " + other;
    if (a.full && b.full) return "tun.full: " + other + " already runs a full tunnel";
    if (a.full || b.full) return {};  // split routes are more specific than the full tunnel's
    for (const auto& x : a.routes) {
        for (const auto& y : b.routes) {
            if (x.address.v6 != y.address.v6) continue;
            if (x.contains(y.address) || y.contains(x.address)) {
                return "tun.routes " + x.str() + " overlaps " + y.str() + " of " + other;
            }
        }
    }
    return {};
}

std::vector<Error> check_conflicts(const std::vector<Profile>& profiles) {
    std::vector<const Profile*> sorted;
    for (const auto& p : profiles) sorted.push_back(&p);
    std::sort(sorted.begin(), sorted.end(),
              [](const Profile* a, const Profile* b) { return a->name < b->name; });

    std::vector<Error> errors;
    std::vector<Listener> seen;
    for (const Profile* p : sorted) {
        for (auto& listener : listeners_of(*p)) {
            auto clash = std::find_if(seen.begin(), seen.end(), [&](const Listener& s) {
                return overlaps(s.endpoint, listener.endpoint);
            });
            if (clash != seen.end()) {
                errors.push_back(conflict_error(listener, *clash));
                continue;  // report each listener once; keep the first owner
            }
            seen.push_back(std::move(listener));
        }
    }
    return errors;
}

}  // namespace ghost::config
