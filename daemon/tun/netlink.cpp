#include "daemon/tun/netlink.hpp"

#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>

namespace ghost::daemon::tun {

namespace {

class NetlinkCategory : public std::error_category {
  public:
    const char* name() const noexcept override { return "libnl"; }
    std::string message(int code) const override { return nl_geterror(code); }
};

std::error_code nl_error(int rc) {
    return rc < 0 ? std::error_code(-rc, netlink_category()) : std::error_code{};
}

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const {
        if (p != nullptr) Free(p);
    }
};
using AddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using RulePtr = std::unique_ptr<rtnl_rule, Deleter<rtnl_rule, rtnl_rule_put>>;
using AddrObjPtr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;
using MsgPtr = std::unique_ptr<nl_msg, Deleter<nl_msg, nlmsg_free>>;

AddrPtr to_nl_addr(const net::Cidr& cidr) {
    nl_addr* a = nl_addr_build(cidr.address.v6 ? AF_INET6 : AF_INET, cidr.address.bytes.data(),
                               cidr.address.v6 ? 16 : 4);
    if (a != nullptr) nl_addr_set_prefixlen(a, cidr.prefix_len);
    return AddrPtr(a);
}

net::Cidr from_nl_addr(nl_addr* a, int family) {
    net::Cidr c;
    c.address.v6 = family == AF_INET6;
    if (a != nullptr) {
        size_t len = std::min<size_t>(nl_addr_get_len(a), 16);
        std::memcpy(c.address.bytes.data(), nl_addr_get_binary_addr(a), len);
        c.prefix_len = static_cast<uint8_t>(nl_addr_get_prefixlen(a));
    }
    return c;
}

RoutePtr build_route(const RouteSpec& spec) {
    RoutePtr r(rtnl_route_alloc());
    AddrPtr dst = to_nl_addr(spec.dst);
    if (!r || !dst) return nullptr;
    rtnl_route_set_family(r.get(), spec.dst.address.v6 ? AF_INET6 : AF_INET);
    rtnl_route_set_dst(r.get(), dst.get());
    rtnl_route_set_table(r.get(), spec.table);
    rtnl_route_set_protocol(r.get(), spec.protocol);
    rtnl_route_set_priority(r.get(), spec.metric);
    rtnl_route_set_type(r.get(), spec.throw_route ? RTN_THROW : RTN_UNICAST);
    rtnl_route_set_scope(r.get(), spec.throw_route ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    if (!spec.throw_route && spec.ifindex > 0) {
        rtnl_nexthop* nh = rtnl_route_nh_alloc();
        if (nh == nullptr) return nullptr;
        rtnl_route_nh_set_ifindex(nh, spec.ifindex);
        rtnl_route_add_nexthop(r.get(), nh);  // the route owns nh now
    }
    return r;
}

}  // namespace

const std::error_category& netlink_category() {
    static const NetlinkCategory category;
    return category;
}

bool is_absent(const std::error_code& ec) {
    if (ec.category() != netlink_category()) return false;
    return ec.value() == NLE_OBJ_NOTFOUND || ec.value() == NLE_NODEV || ec.value() == NLE_NOADDR;
}

Netlink::~Netlink() {
    if (sock_ != nullptr) nl_socket_free(sock_);
}

std::error_code Netlink::connect() {
    if (sock_ != nullptr) return {};
    sock_ = nl_socket_alloc();
    if (sock_ == nullptr) return nl_error(-NLE_NOMEM);
    int rc = nl_connect(sock_, NETLINK_ROUTE);
    if (rc < 0) {
        nl_socket_free(sock_);
        sock_ = nullptr;
    }
    return nl_error(rc);
}

std::error_code Netlink::link_index(const std::string& name, int* index) {
    rtnl_link* raw = nullptr;
    int rc = rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw);
    LinkPtr link(raw);
    if (rc < 0) return nl_error(rc);
    *index = rtnl_link_get_ifindex(link.get());
    return {};
}

std::error_code Netlink::set_link_up(int ifindex, uint32_t mtu, uint32_t txqlen) {
    LinkPtr orig(rtnl_link_alloc());
    LinkPtr change(rtnl_link_alloc());
    if (!orig || !change) return nl_error(-NLE_NOMEM);
    rtnl_link_set_ifindex(orig.get(), ifindex);
    rtnl_link_set_flags(change.get(), IFF_UP);
    if (mtu != 0) rtnl_link_set_mtu(change.get(), mtu);
    if (txqlen != 0) rtnl_link_set_txqlen(change.get(), txqlen);
    return nl_error(rtnl_link_change(sock_, orig.get(), change.get(), 0));
}

std::error_code Netlink::delete_link_of_kind(const std::string& name, const std::string& kind,
                                             bool* deleted) {
    *deleted = false;
    rtnl_link* raw = nullptr;
    int rc = rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw);
    LinkPtr link(raw);
    if (rc < 0) return is_absent(nl_error(rc)) ? std::error_code{} : nl_error(rc);
    const char* type = rtnl_link_get_type(link.get());
    if (type == nullptr || kind != type) return {};
    rc = rtnl_link_delete(sock_, link.get());
    *deleted = rc >= 0;
    return nl_error(rc);
}

std::error_code Netlink::add_address(int ifindex, const net::Cidr& addr) {
    AddrObjPtr a(rtnl_addr_alloc());
    AddrPtr local = to_nl_addr(addr);
    if (!a || !local) return nl_error(-NLE_NOMEM);
    rtnl_addr_set_ifindex(a.get(), ifindex);
    rtnl_addr_set_family(a.get(), addr.address.v6 ? AF_INET6 : AF_INET);
    int rc = rtnl_addr_set_local(a.get(), local.get());
    if (rc < 0) return nl_error(rc);
    // Without NODAD a new IPv6 address stays tentative for a while and bind() fails.
    if (addr.address.v6) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
    return nl_error(rtnl_addr_add(sock_, a.get(), NLM_F_EXCL));
}

std::error_code Netlink::delete_address(int ifindex, const net::Cidr& addr) {
    AddrObjPtr a(rtnl_addr_alloc());
    AddrPtr local = to_nl_addr(addr);
    if (!a || !local) return nl_error(-NLE_NOMEM);
    rtnl_addr_set_ifindex(a.get(), ifindex);
    rtnl_addr_set_family(a.get(), addr.address.v6 ? AF_INET6 : AF_INET);
    int rc = rtnl_addr_set_local(a.get(), local.get());
    if (rc < 0) return nl_error(rc);
    return nl_error(rtnl_addr_delete(sock_, a.get(), 0));
}

std::error_code Netlink::change_route(const RouteSpec& spec, bool add) {
    RoutePtr r = build_route(spec);
    if (!r) return nl_error(-NLE_NOMEM);
    int rc =
        add ? rtnl_route_add(sock_, r.get(), NLM_F_EXCL) : rtnl_route_delete(sock_, r.get(), 0);
    return nl_error(rc);
}

std::error_code Netlink::add_route(const RouteSpec& route) {
    return change_route(route, true);
}
std::error_code Netlink::delete_route(const RouteSpec& route) {
    return change_route(route, false);
}

std::error_code Netlink::send_rule(const RuleSpec& spec, bool add) {
    RulePtr rule(rtnl_rule_alloc());
    if (!rule) return nl_error(-NLE_NOMEM);
    rtnl_rule_set_family(rule.get(), spec.v6 ? AF_INET6 : AF_INET);
    rtnl_rule_set_prio(rule.get(), spec.priority);
    rtnl_rule_set_table(rule.get(), spec.table);
    rtnl_rule_set_action(rule.get(), FR_ACT_TO_TBL);
    rtnl_rule_set_protocol(rule.get(), spec.protocol);
    if (spec.fwmark != 0) rtnl_rule_set_mark(rule.get(), spec.fwmark);
    nl_msg* raw = nullptr;
    int rc = add ? rtnl_rule_build_add_request(rule.get(), NLM_F_CREATE | NLM_F_EXCL, &raw)
                 : rtnl_rule_build_delete_request(rule.get(), 0, &raw);
    MsgPtr msg(raw);
    if (rc < 0) return nl_error(rc);
    // libnl's rule object knows neither "not" nor suppress_prefixlength: add them here.
    auto* frh = static_cast<fib_rule_hdr*>(nlmsg_data(nlmsg_hdr(msg.get())));
    if (spec.invert) frh->flags |= FIB_RULE_INVERT;
    if (spec.suppress_prefixlen >= 0) {
        rc = nla_put_u32(msg.get(), FRA_SUPPRESS_PREFIXLEN,
                         static_cast<uint32_t>(spec.suppress_prefixlen));
        if (rc < 0) return nl_error(rc);
    }
    rc = nl_send_auto_complete(sock_, msg.get());
    if (rc < 0) return nl_error(rc);
    return nl_error(nl_wait_for_ack(sock_));
}

std::error_code Netlink::add_rule(const RuleSpec& rule) {
    return send_rule(rule, true);
}
std::error_code Netlink::delete_rule(const RuleSpec& rule) {
    return send_rule(rule, false);
}

std::error_code Netlink::list_rules(uint8_t protocol, std::vector<RuleSpec>* out) {
    nl_cache* raw = nullptr;
    int rc = rtnl_rule_alloc_cache(sock_, AF_UNSPEC, &raw);
    CachePtr cache(raw);
    if (rc < 0) return nl_error(rc);
    for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
        auto* rule = reinterpret_cast<rtnl_rule*>(o);
        uint8_t proto = 0;
        if (rtnl_rule_get_protocol(rule, &proto) < 0 || proto != protocol) continue;
        RuleSpec spec;
        spec.v6 = rtnl_rule_get_family(rule) == AF_INET6;
        spec.priority = rtnl_rule_get_prio(rule);
        spec.table = rtnl_rule_get_table(rule);
        spec.protocol = proto;
        out->push_back(spec);
    }
    return {};
}

std::error_code Netlink::list_routes(uint8_t protocol, std::vector<RouteSpec>* out) {
    nl_cache* raw = nullptr;
    int rc = rtnl_route_alloc_cache(sock_, AF_UNSPEC, 0, &raw);
    CachePtr cache(raw);
    if (rc < 0) return nl_error(rc);
    for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
        auto* route = reinterpret_cast<rtnl_route*>(o);
        if (rtnl_route_get_protocol(route) != protocol) continue;
        RouteSpec spec;
        spec.dst = from_nl_addr(rtnl_route_get_dst(route), rtnl_route_get_family(route));
        spec.table = rtnl_route_get_table(route);
        spec.throw_route = rtnl_route_get_type(route) == RTN_THROW;
        spec.metric = rtnl_route_get_priority(route);
        spec.protocol = protocol;
        if (rtnl_route_get_nnexthops(route) > 0)
            spec.ifindex = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0));
        out->push_back(spec);
    }
    return {};
}

}  // namespace ghost::daemon::tun
