#include "common/config/build.hpp"

#include "common/config/keys.hpp"

namespace ghost::config {
namespace {

using nlohmann::json;

const json& empty_object() {
    static const json kEmpty = json::object();
    return kEmpty;
}

/// One object of a validated document plus its schema path; getters fall back to the
/// table default of the key when the member is absent.
class Section {
  public:
    Section(const std::vector<Key>& keys, const json& obj, std::string spath)
        : keys_(keys), obj_(&obj), spath_(std::move(spath)) {}

    bool has(std::string_view name) const { return obj_->contains(name); }

    json get(std::string_view name) const {
        auto it = obj_->find(name);
        if (it != obj_->end()) return *it;
        const Key* key = find_key(keys_, path_of(name));
        return key ? default_value(*key) : json();
    }

    std::string str(std::string_view name) const {
        json v = get(name);
        return v.is_string() ? v.get<std::string>() : std::string();
    }
    bool flag(std::string_view name) const { return get(name).get<bool>(); }
    uint32_t num(std::string_view name) const { return get(name).get<uint32_t>(); }

    std::vector<std::string> strings(std::string_view name) const {
        json v = get(name);
        return v.is_array() ? v.get<std::vector<std::string>>() : std::vector<std::string>{};
    }

    std::optional<net::Endpoint> endpoint(std::string_view name) const {
        json v = get(name);
        if (!v.is_string()) return std::nullopt;
        return net::parse_endpoint(v.get<std::string>());
    }

    net::Endpoint listen(std::string_view name, std::string_view default_host) const {
        json v = get(name);
        if (!v.is_string()) return {};
        return net::parse_listen(v.get<std::string>(), default_host).value_or(net::Endpoint{});
    }

    std::vector<net::Cidr> cidrs(std::string_view name) const {
        std::vector<net::Cidr> out;
        for (const auto& s : strings(name))
            if (auto c = net::Cidr::parse(s)) out.push_back(*c);
        return out;
    }

    Section sub(std::string_view name) const {
        auto it = obj_->find(name);
        return {keys_, it != obj_->end() ? *it : empty_object(), path_of(name)};
    }

    /// The elements of an array of objects.
    std::vector<Section> elements(std::string_view name) const {
        std::vector<Section> out;
        auto it = obj_->find(name);
        if (it == obj_->end()) return out;
        for (const auto& element : *it) out.emplace_back(keys_, element, path_of(name) + "[]");
        return out;
    }

  private:
    std::string path_of(std::string_view name) const {
        return spath_.empty() ? std::string(name) : spath_ + "." + std::string(name);
    }

    const std::vector<Key>& keys_;
    const json* obj_;
    std::string spath_;
};

TransportConfig build_transport(const Section& s) {
    TransportConfig t;
    t.type = s.str("type");
    t.sni = s.str("sni");
    t.alpn = s.strings("alpn");
    t.ca_file = s.str("ca_file");
    t.pin_sha256 = s.str("pin_sha256");
    t.min_version = s.str("min_version");
    Section knock = s.sub("knock");
    t.knock_path = knock.str("path");
    t.knock_secret_file = knock.str("secret_file");
    t.cert_file = s.str("cert_file");
    t.key_file = s.str("key_file");
    t.fallback = s.endpoint("fallback");
    if (s.has("allow_bare_ssh")) t.allow_bare_ssh = s.flag("allow_bare_ssh");
    if (s.has("sniff")) t.sniff = s.flag("sniff");
    return t;
}

SshClientConfig build_ssh(const Section& s) {
    SshClientConfig c;
    c.user = s.str("user");
    c.identity_file = s.str("identity_file");
    c.agent = s.flag("agent");
    c.host_key = s.str("host_key");
    c.known_hosts = s.str("known_hosts");
    c.trust_on_first_use = s.flag("trust_on_first_use");
    c.ciphers = s.strings("ciphers");
    c.connect_timeout_s = s.num("connect_timeout");
    return c;
}

ProxyListenerConfig build_proxy(const Section& s) {
    ProxyListenerConfig p;
    p.listen = s.listen("listen", "127.0.0.1");
    p.username = s.str("username");
    p.password = s.str("password");
    if (s.has("http_connect") || s.get("http_connect").is_boolean())
        p.http_connect = s.flag("http_connect");
    return p;
}

TunConfig build_tun(const Section& s) {
    TunConfig t;
    t.name = s.str("name");
    t.mtu = s.num("mtu");
    t.routes = s.cidrs("routes");
    t.exclude = s.cidrs("exclude");
    t.full = s.flag("full");
    t.kill_switch = s.flag("kill_switch");
    t.ipv6 = s.flag("ipv6");
    for (const auto& text : s.strings("dns")) {
        if (net::IpAddress::parse(text)) {
            t.dns.push_back({text, 53});
        } else if (auto ep = net::parse_endpoint(text)) {
            t.dns.push_back(*ep);
        }
    }
    t.dns_domains = s.strings("dns_domains");
    t.dns_mode = s.str("dns_mode");
    t.udp = s.str("udp");
    t.icmp = s.str("icmp");
    return t;
}

void build_client(const Section& root, Profile& p) {
    p.server = root.endpoint("server");
    p.transport = build_transport(root.sub("transport"));
    // SNI defaults to the server's name; IP literals are never sent as SNI (RFC 6066).
    if (p.transport.type == "tls" && p.transport.sni.empty() && p.server &&
        !net::IpAddress::parse(p.server->host))
        p.transport.sni = p.server->host;
    p.ssh = build_ssh(root.sub("ssh"));
    if (root.has("socks5")) p.socks5 = build_proxy(root.sub("socks5"));
    if (root.has("http_connect")) {
        p.http_connect = build_proxy(root.sub("http_connect"));
        p.http_connect->http_connect = true;
    }
    for (const auto& f : root.elements("forward"))
        p.forward.push_back({f.listen("listen", "127.0.0.1"), *f.endpoint("target")});
    for (const auto& f : root.elements("remote_forward"))
        p.remote_forward.push_back({f.listen("listen", ""), *f.endpoint("target")});
    if (root.has("tun")) p.tun = build_tun(root.sub("tun"));
    Section ka = root.sub("keepalive");
    p.keepalive = {ka.num("interval"), ka.num("count")};
    Section rc = root.sub("reconnect");
    p.reconnect = {rc.flag("enabled"), rc.num("initial_delay"), rc.num("max_delay"),
                   rc.num("pending_wait")};
    Section hooks = root.sub("hooks");
    p.hooks = {hooks.str("up"), hooks.str("down"), hooks.num("timeout")};
}

void build_limits(const Section& lim, LimitsConfig& l) {
    l.max_sessions = lim.num("max_sessions");
    l.max_startups = lim.num("max_startups");
    l.max_startups_total = lim.num("max_startups_total");
    l.source_netblock_v4 = lim.num("source_netblock_v4");
    l.source_netblock_v6 = lim.num("source_netblock_v6");
    l.login_grace_time_s = lim.num("login_grace_time");
    l.max_channels = lim.num("max_channels");
    l.max_forwards = lim.num("max_forwards");
    l.idle_timeout_s = lim.num("idle_timeout");
    Section pen = lim.sub("penalties");
    l.penalties = {pen.flag("enabled"),
                   pen.num("auth_failed"),
                   pen.num("grace_exceeded"),
                   pen.num("protocol_error"),
                   pen.num("no_auth"),
                   pen.num("min"),
                   pen.num("max"),
                   pen.num("max_sources"),
                   pen.str("overflow") == "deny-all",
                   pen.cidrs("exempt")};
}

void build_server(const Section& root, Profile& p) {
    for (const auto& l : root.elements("listen"))
        p.listen.push_back({l.listen("address", "127.0.0.1"), build_transport(l.sub("transport"))});
    p.host_key = root.str("host_key");
    p.authorized_keys = root.str("authorized_keys");
    p.banner = root.str("banner");
    p.gateway_ports = root.flag("gateway_ports");
    Section out = root.sub("outbound");
    p.outbound = {out.str("type"), out.endpoint("proxy"), out.str("username"), out.str("password"),
                  out.num("connect_timeout")};
    Section acl = root.sub("acl");
    p.acl.allow = acl.cidrs("allow");
    p.acl.deny = acl.cidrs("deny");
    for (const auto& port : acl.get("ports")) p.acl.ports.push_back(port.get<uint16_t>());
    p.acl.deny_loopback = acl.flag("deny_loopback");
    p.acl.deny_link_local = acl.flag("deny_link_local");
    p.acl.deny_self = acl.flag("deny_self");
    build_limits(root.sub("limits"), p.limits);
    Section udp = root.sub("udp");
    p.udp = {udp.flag("enabled"),  udp.num("max_flows_per_session"),
             udp.num("max_flows"), udp.num("idle_timeout"),
             udp.str("filtering"), udp.num("max_payload")};
    Section icmp = root.sub("icmp");
    p.icmp = {icmp.flag("echo"), icmp.num("echo_rate")};
}

}  // namespace

Profile build_profile(const json& doc) {
    Section root(profile_keys(), doc, "");
    Profile p;
    p.role = root.str("role") == "server" ? Role::server : Role::client;
    p.autostart = root.flag("autostart");
    Section win = root.sub("window");
    p.window = {win.num("initial"), win.num("max"), win.num("session_budget")};
    if (p.role == Role::client) {
        build_client(root, p);
    } else {
        build_server(root, p);
    }
    return p;
}

DaemonConfig build_daemon_config(const json& doc) {
    Section root(daemon_keys(), doc, "");
    DaemonConfig c;
    c.log_level = root.str("log_level");
    c.control_group = root.str("control_group");
    c.workers = root.num("workers");
    Section rpc = root.sub("rpc");
    c.rpc_max_clients = rpc.num("max_clients");
    c.rpc_reserved_clients = rpc.num("reserved_clients");
    c.rpc_max_clients_per_user = rpc.num("max_clients_per_user");
    c.rpc_max_subscriptions_per_user = rpc.num("max_subscriptions_per_user");
    c.rpc_max_request_bytes = rpc.num("max_request_bytes");
    c.rpc_idle_timeout_s = rpc.num("idle_timeout");
    c.watchdog_interval_s = root.num("watchdog_interval");
    return c;
}

}  // namespace ghost::config
