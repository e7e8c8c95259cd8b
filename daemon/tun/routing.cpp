#include "daemon/tun/routing.hpp"

#include "common/tun/cidr_set.hpp"

namespace ghost::daemon::tun {

namespace {

net::Cidr default_route(bool v6) {
    net::Cidr c;
    c.address.v6 = v6;
    return c;
}

}  // namespace

std::error_code Routing::add_route(const RouteSpec& r, std::string* why) {
    std::error_code ec = nl_.add_route(r);
    if (ec) {
        if (why != nullptr)
            *why = "cannot add " + std::string(r.throw_route ? "throw " : "") + "route " +
                   r.dst.str() + " (table " + std::to_string(r.table) + "): " + ec.message();
        return ec;
    }
    routes_.push_back(r);
    return {};
}

std::error_code Routing::add_rule(const RuleSpec& r, std::string* why) {
    std::error_code ec = nl_.add_rule(r);
    if (ec) {
        if (why != nullptr)
            *why = "cannot add " + std::string(r.v6 ? "IPv6" : "IPv4") + " rule priority " +
                   std::to_string(r.priority) + ": " + ec.message();
        return ec;
    }
    rules_.push_back(r);
    return {};
}

std::error_code Routing::apply_split(const RoutingConfig& c, std::string* why) {
    auto prefixes = ghost::tun::subtract_cidrs(c.routes, c.exclude, why);
    if (!prefixes) return std::make_error_code(std::errc::argument_out_of_domain);
    for (const auto& p : *prefixes) {
        RouteSpec r;
        r.dst = p;
        r.ifindex = c.ifindex;
        if (auto ec = add_route(r, why)) return ec;
    }
    return {};
}

std::error_code Routing::apply_full(const RoutingConfig& c, std::string* why) {
    for (bool v6 : {false, true}) {
        if (v6 && !c.ipv6) continue;
        RouteSpec def;
        def.dst = default_route(v6);
        def.ifindex = c.ifindex;
        def.table = c.table;
        if (auto ec = add_route(def, why)) return ec;
        for (const auto& ex : c.exclude) {
            if (ex.address.v6 != v6) continue;
            RouteSpec t;
            t.dst = ex;
            t.table = c.table;
            t.throw_route = true;
            if (auto ec = add_route(t, why)) return ec;
        }
        RuleSpec suppress;
        suppress.v6 = v6;
        suppress.priority = c.rule_priority;
        suppress.table = 254;  // main
        suppress.suppress_prefixlen = 0;
        if (auto ec = add_rule(suppress, why)) return ec;
        RuleSpec to_tunnel;
        to_tunnel.v6 = v6;
        to_tunnel.priority = c.rule_priority + 1;
        to_tunnel.table = c.table;
        to_tunnel.fwmark = c.fwmark;
        to_tunnel.invert = true;
        if (auto ec = add_rule(to_tunnel, why)) return ec;
    }
    return {};
}

std::error_code Routing::apply(const RoutingConfig& config, std::string* why) {
    std::error_code ec = config.full ? apply_full(config, why) : apply_split(config, why);
    if (ec) teardown();
    return ec;
}

std::error_code Routing::teardown() {
    std::error_code first;
    // Rules first, so no packet is steered into a table that is being emptied.
    for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
        std::error_code ec = nl_.delete_rule(*it);
        if (ec && !is_absent(ec) && !first) first = ec;
    }
    rules_.clear();
    for (auto it = routes_.rbegin(); it != routes_.rend(); ++it) {
        std::error_code ec = nl_.delete_route(*it);
        if (ec && !is_absent(ec) && !first) first = ec;
    }
    routes_.clear();
    return first;
}

std::error_code Routing::cleanup_leftovers(Netlink& nl, size_t* removed) {
    *removed = 0;
    std::vector<RuleSpec> rules;
    if (auto ec = nl.list_rules(kGhostRouteProtocol, &rules)) return ec;
    for (const auto& r : rules)
        if (!nl.delete_rule(r)) ++*removed;
    std::vector<RouteSpec> routes;
    if (auto ec = nl.list_routes(kGhostRouteProtocol, &routes)) return ec;
    for (const auto& r : routes)
        if (!nl.delete_route(r)) ++*removed;
    return {};
}

}  // namespace ghost::daemon::tun
