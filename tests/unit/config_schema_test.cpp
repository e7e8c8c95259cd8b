#include "common/config/schema.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

#include "common/config/keys.hpp"
#include "common/config/validate.hpp"
#include "io/config_file.hpp"

namespace ghost::config {
namespace {

using io::load_daemon_config;
using io::load_profile_file;

constexpr const char* kFile = "/etc/ghost/profiles/t.json";

struct Result {
    std::optional<Profile> profile;
    std::vector<Error> errors;

    /// All error lines joined, for failure messages.
    std::string text() const {
        std::string out;
        for (const auto& e : errors) out += e.str() + "\n";
        return out;
    }
    const Error* find(std::string_view path) const {
        for (const auto& e : errors)
            if (e.path == path) return &e;
        return nullptr;
    }
};

Result parse(std::string_view text, std::string_view name = "t") {
    Result r;
    r.profile = parse_profile(name, text, kFile, r.errors);
    EXPECT_EQ(r.profile.has_value(), r.errors.empty()) << r.text();
    return r;
}

/// Parses text expecting exactly one error at path; returns it.
Error one_error(std::string_view text, std::string_view path) {
    Result r = parse(text);
    EXPECT_EQ(r.errors.size(), 1u) << r.text();
    const Error* e = r.find(path);
    EXPECT_NE(e, nullptr) << "no error at " << path << ":\n" << r.text();
    return e ? *e : Error{};
}

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

// ---- good cases ----------------------------------------------------------------------------

TEST(ConfigSchema, MinimalClientTakesTableDefaults) {
    Result r = parse(R"({"server": "192.0.2.1:22"})");
    ASSERT_TRUE(r.profile) << r.text();
    const Profile& p = *r.profile;
    EXPECT_EQ(p.name, "t");
    EXPECT_EQ(p.file, kFile);
    EXPECT_EQ(p.role, Role::client);
    EXPECT_EQ(p.server->str(), "192.0.2.1:22");
    // The table defaults agree with the model's documented defaults.
    Profile d;
    EXPECT_EQ(p.transport.type, d.transport.type);
    EXPECT_EQ(p.transport.alpn, d.transport.alpn);
    EXPECT_EQ(p.transport.min_version, d.transport.min_version);
    EXPECT_EQ(p.ssh.user, d.ssh.user);
    EXPECT_EQ(p.ssh.connect_timeout_s, d.ssh.connect_timeout_s);
    EXPECT_EQ(p.keepalive.interval_s, d.keepalive.interval_s);
    EXPECT_EQ(p.keepalive.count, d.keepalive.count);
    EXPECT_EQ(p.reconnect.enabled, d.reconnect.enabled);
    EXPECT_EQ(p.reconnect.initial_delay_s, d.reconnect.initial_delay_s);
    EXPECT_EQ(p.reconnect.max_delay_s, d.reconnect.max_delay_s);
    EXPECT_EQ(p.reconnect.pending_wait_s, d.reconnect.pending_wait_s);
    EXPECT_EQ(p.hooks.timeout_s, d.hooks.timeout_s);
    EXPECT_FALSE(p.socks5);
    EXPECT_FALSE(p.tun);
    EXPECT_EQ(p.features, std::vector<std::string>{"ssh"});
}

TEST(ConfigSchema, ServerDefaultsMatchModel) {
    Result r = parse(R"({"role": "server", "listen": [{"address": "2222"}],
                         "authorized_keys": "/etc/ghost/authorized_keys"})");
    ASSERT_TRUE(r.profile) << r.text();
    const Profile& p = *r.profile;
    Profile d;
    ASSERT_EQ(p.listen.size(), 1u);
    EXPECT_EQ(p.listen[0].address.str(), "127.0.0.1:2222");
    EXPECT_EQ(p.listen[0].transport.type, "tcp");
    EXPECT_EQ(p.outbound.type, d.outbound.type);
    EXPECT_EQ(p.outbound.connect_timeout_s, d.outbound.connect_timeout_s);
    EXPECT_EQ(p.acl.deny_loopback, d.acl.deny_loopback);
    EXPECT_EQ(p.acl.deny_link_local, d.acl.deny_link_local);
    EXPECT_EQ(p.acl.deny_self, d.acl.deny_self);
    EXPECT_EQ(p.limits.max_sessions, d.limits.max_sessions);
    EXPECT_EQ(p.limits.max_startups, d.limits.max_startups);
    EXPECT_EQ(p.limits.max_startups_total, d.limits.max_startups_total);
    EXPECT_EQ(p.limits.login_grace_time_s, d.limits.login_grace_time_s);
    EXPECT_EQ(p.limits.max_channels, d.limits.max_channels);
    EXPECT_EQ(p.limits.max_forwards, d.limits.max_forwards);
    EXPECT_EQ(p.limits.idle_timeout_s, d.limits.idle_timeout_s);
    EXPECT_EQ(p.limits.source_netblock_v4, d.limits.source_netblock_v4);
    EXPECT_EQ(p.limits.source_netblock_v6, d.limits.source_netblock_v6);
    const PenaltyConfig &pp = p.limits.penalties, &dp = d.limits.penalties;
    EXPECT_EQ(pp.enabled, dp.enabled);
    EXPECT_EQ(pp.auth_failed_s, dp.auth_failed_s);
    EXPECT_EQ(pp.grace_exceeded_s, dp.grace_exceeded_s);
    EXPECT_EQ(pp.protocol_error_s, dp.protocol_error_s);
    EXPECT_EQ(pp.no_auth_s, dp.no_auth_s);
    EXPECT_EQ(pp.min_s, dp.min_s);
    EXPECT_EQ(pp.max_s, dp.max_s);
    EXPECT_EQ(pp.max_sources, dp.max_sources);
    EXPECT_EQ(pp.deny_all_on_overflow, dp.deny_all_on_overflow);
    EXPECT_TRUE(pp.exempt.empty());
    EXPECT_EQ(p.features, std::vector<std::string>{"server"});
}

TEST(ConfigSchema, ServerUdp) {
    Result r =
        parse(R"({"role": "server", "listen": [{"address": "2222"}], "authorized_keys": "/a"})");
    ASSERT_TRUE(r.profile) << r.text();
    const Profile& d = *r.profile;
    EXPECT_TRUE(d.udp.enabled);
    EXPECT_EQ(d.udp.max_flows_per_session, 256u);
    EXPECT_EQ(d.udp.max_flows, 4096u);
    EXPECT_EQ(d.udp.idle_timeout_s, 120u);
    EXPECT_EQ(d.udp.filtering, "address-and-port-dependent");
    EXPECT_EQ(d.udp.max_payload, 65507u);
    EXPECT_TRUE(d.icmp.echo);
    EXPECT_EQ(d.icmp.echo_rate, 20u);
    r = parse(R"({"role": "server", "listen": [{"address": "2222"}], "authorized_keys": "/a",
                  "udp": {"enabled": false, "max_flows_per_session": 8, "max_flows": 100,
                          "idle_timeout": 30, "filtering": "endpoint-independent",
                          "max_payload": 1400},
                  "icmp": {"echo": false, "echo_rate": 5}})");
    ASSERT_TRUE(r.profile) << r.text();
    const Profile& p = *r.profile;
    EXPECT_FALSE(p.udp.enabled);
    EXPECT_EQ(p.udp.max_flows_per_session, 8u);
    EXPECT_EQ(p.udp.max_flows, 100u);
    EXPECT_EQ(p.udp.idle_timeout_s, 30u);
    EXPECT_EQ(p.udp.filtering, "endpoint-independent");
    EXPECT_EQ(p.udp.max_payload, 1400u);
    EXPECT_FALSE(p.icmp.echo);
    EXPECT_EQ(p.icmp.echo_rate, 5u);
    EXPECT_EQ(p.features, (std::vector<std::string>{"server", "udp"}));
    one_error(R"({"role": "server", "listen": [{"address": "2222"}], "authorized_keys": "/a",
                  "udp": {"filtering": "full-cone"}})",
              "udp.filtering");
    one_error(R"({"role": "server", "listen": [{"address": "2222"}], "authorized_keys": "/a",
                  "udp": {"max_payload": 70000}})",
              "udp.max_payload");
    one_error(R"({"server": "192.0.2.1:22", "udp": {}})", "udp");
}

TEST(ConfigSchema, ServerPenalties) {
    Result r = parse(R"({"role": "server", "listen": [{"address": "2222"}], "authorized_keys": "/a",
                         "limits": {"source_netblock_v4": 24, "source_netblock_v6": 56,
                                    "penalties": {"enabled": true, "auth_failed": 30, "grace_exceeded": 60,
                                                  "protocol_error": 0, "no_auth": 2, "min": 0, "max": 3600,
                                                  "max_sources": 1000, "overflow": "deny-all",
                                                  "exempt": ["192.0.2.0/24", "2001:db8::1"]}}})");
    ASSERT_TRUE(r.profile) << r.text();
    const LimitsConfig& l = r.profile->limits;
    EXPECT_EQ(l.source_netblock_v4, 24u);
    EXPECT_EQ(l.source_netblock_v6, 56u);
    EXPECT_EQ(l.penalties.auth_failed_s, 30u);
    EXPECT_EQ(l.penalties.grace_exceeded_s, 60u);
    EXPECT_EQ(l.penalties.protocol_error_s, 0u);
    EXPECT_EQ(l.penalties.no_auth_s, 2u);
    EXPECT_EQ(l.penalties.min_s, 0u);
    EXPECT_EQ(l.penalties.max_s, 3600u);
    EXPECT_EQ(l.penalties.max_sources, 1000u);
    EXPECT_TRUE(l.penalties.deny_all_on_overflow);
    ASSERT_EQ(l.penalties.exempt.size(), 2u);
    EXPECT_EQ(l.penalties.exempt[1].str(), "2001:db8::1/128");

    const char* head =
        R"({"role": "server", "listen": [{"address": "2222"}], "authorized_keys": "/a", )";
    Error e = one_error(std::string(head) + R"("limits": {"penalties": {"min": 600}}})",
                        "limits.penalties.min");
    EXPECT_EQ(e.message,
              "limits.penalties.min (600) must be less than max (600), else no source is "
              "ever refused");
    e = one_error(std::string(head) + R"("limits": {"penalties": {"max": 10}}})",
                  "limits.penalties.max");
    EXPECT_TRUE(contains(e.message, "min (15) must be less than max (10)")) << e.str();
    e = one_error(std::string(head) + R"("limits": {"penalties": {"exempt": ["10.0.0.1/8"]}}})",
                  "limits.penalties.exempt[0]");
    EXPECT_TRUE(contains(e.message, "host bits set")) << e.str();
    e = one_error(std::string(head) + R"("limits": {"penalties": {"overflow": "drop"}}})",
                  "limits.penalties.overflow");
    EXPECT_TRUE(contains(e.message, "permissive")) << e.str();
    e = one_error(std::string(head) + R"("limits": {"source_netblock_v4": 33}})",
                  "limits.source_netblock_v4");
    EXPECT_EQ(e.value, "33");
    e = one_error(std::string(head) + R"("limits": {"max_startups_total": 20000}})",
                  "limits.max_startups_total");
    EXPECT_EQ(e.value, "20000");
}

TEST(ConfigSchema, TunDefaultsMatchModel) {
    Result r = parse(R"({"server": "192.0.2.1:22", "tun": {"full": true}})");
    ASSERT_TRUE(r.profile) << r.text();
    TunConfig d;
    const TunConfig& t = *r.profile->tun;
    EXPECT_EQ(t.name, d.name);
    EXPECT_EQ(t.mtu, d.mtu);
    EXPECT_EQ(t.kill_switch, d.kill_switch);
    EXPECT_EQ(t.ipv6, d.ipv6);
    EXPECT_EQ(t.dns_mode, d.dns_mode);
    EXPECT_EQ(t.udp, d.udp);
    EXPECT_EQ(t.icmp, d.icmp);
    EXPECT_EQ(t.udp, "tunnel");
    EXPECT_EQ(t.icmp, "tunnel");
    EXPECT_TRUE(t.full);
}

TEST(ConfigSchema, TunUdpAndIcmpTakeTunnelOrRefuse) {
    Result r = parse(
        R"({"server": "192.0.2.1:22", "tun": {"full": true, "udp": "refuse", "icmp": "refuse"}})");
    ASSERT_TRUE(r.profile) << r.text();
    EXPECT_EQ(r.profile->tun->udp, "refuse");
    EXPECT_EQ(r.profile->tun->icmp, "refuse");
    const char* head = R"({"server": "192.0.2.1:22", )";
    auto e = one_error(std::string(head) + R"("tun": {"full": true, "udp": "drop"}})", "tun.udp");
    EXPECT_TRUE(contains(e.message, "\"tunnel\", \"refuse\"")) << e.str();
    e = one_error(std::string(head) + R"("tun": {"full": true, "icmp": true}})", "tun.icmp");
    EXPECT_EQ(e.path, "tun.icmp");
}

TEST(ConfigSchema, CommentsAreAccepted) {
    Result r = parse(R"(// a line comment
        {
            /* a block comment */
            "server": "192.0.2.1:22", // trailing
            "socks5": {}
        })");
    ASSERT_TRUE(r.profile) << r.text();
    ASSERT_TRUE(r.profile->socks5);
    EXPECT_EQ(r.profile->socks5->listen.str(), "127.0.0.1:1080");
    EXPECT_TRUE(r.profile->socks5->http_connect);
}

TEST(ConfigSchema, FullClientFillsModel) {
    Result r = parse(R"({
        "server": "ssh.example.com:2222",
        "transport": {"type": "tls", "knock": {"path": "/ws", "secret_file": "/s"}},
        "ssh": {"user": "alice", "ciphers": ["aes256-gcm@openssh.com"], "agent": true},
        "socks5": {"listen": "[::1]:1080", "username": "u", "password": "p", "http_connect": false},
        "http_connect": {"listen": "3128"},
        "forward": [{"listen": "5432", "target": "198.51.100.7:5432"}],
        "remote_forward": [{"listen": "8080", "target": "127.0.0.1:3000"}],
        "tun": {"routes": ["198.51.100.0/24"], "exclude": ["198.51.100.1"],
                "dns": ["198.51.100.53", "[2001:db8::53]:5353"]},
        "hooks": {"up": "/bin/true"}
    })");
    ASSERT_TRUE(r.profile) << r.text();
    const Profile& p = *r.profile;
    EXPECT_EQ(p.transport.type, "tls");
    EXPECT_EQ(p.transport.sni, "ssh.example.com");  // defaults to the server name
    EXPECT_EQ(p.transport.knock_path, "/ws");
    EXPECT_EQ(p.transport.knock_secret_file, "/s");
    EXPECT_TRUE(p.ssh.agent);
    EXPECT_EQ(p.ssh.ciphers, std::vector<std::string>{"aes256-gcm@openssh.com"});
    EXPECT_EQ(p.socks5->listen.str(), "[::1]:1080");
    EXPECT_EQ(p.socks5->username, "u");
    EXPECT_FALSE(p.socks5->http_connect);
    EXPECT_EQ(p.http_connect->listen.str(), "127.0.0.1:3128");
    ASSERT_EQ(p.forward.size(), 1u);
    EXPECT_EQ(p.forward[0].listen.str(), "127.0.0.1:5432");
    EXPECT_EQ(p.forward[0].target.str(), "198.51.100.7:5432");
    ASSERT_EQ(p.remote_forward.size(), 1u);
    EXPECT_EQ(p.remote_forward[0].listen.host, "");
    EXPECT_EQ(p.remote_forward[0].listen.port, 8080);
    ASSERT_EQ(p.tun->routes.size(), 1u);
    EXPECT_EQ(p.tun->routes[0].str(), "198.51.100.0/24");
    EXPECT_EQ(p.tun->exclude[0].str(), "198.51.100.1/32");
    ASSERT_EQ(p.tun->dns.size(), 2u);
    EXPECT_EQ(p.tun->dns[0].str(), "198.51.100.53:53");
    EXPECT_EQ(p.tun->dns[1].str(), "[2001:db8::53]:5353");
    EXPECT_EQ(p.hooks.up, "/bin/true");
    std::vector<std::string> want{"forward", "hooks", "http_connect", "remote_forward",
                                  "socks5",  "ssh",   "tls",          "tun"};
    EXPECT_EQ(p.features, want);
}

TEST(ConfigSchema, FeaturesFollowValues) {
    // tcp transport is the core client; socks5 with http_connect on its port needs both.
    Result r = parse(R"({"server": "192.0.2.1:22", "transport": {"type": "tcp"}, "socks5": {}})");
    ASSERT_TRUE(r.profile) << r.text();
    EXPECT_EQ(r.profile->features, (std::vector<std::string>{"socks5", "ssh"}));
    r = parse(R"({"server": "192.0.2.1:22", "socks5": {"http_connect": true}})");
    EXPECT_EQ(r.profile->features, (std::vector<std::string>{"http_connect", "socks5", "ssh"}));
    r = parse(R"({"role": "server", "listen": [{"address": "22"}], "authorized_keys": "/a",
                  "outbound": {"type": "direct"}, "acl": {"deny_self": true}})");
    ASSERT_TRUE(r.profile) << r.text();
    EXPECT_EQ(r.profile->features, (std::vector<std::string>{"acl", "server"}));
    r = parse(R"({"role": "server", "listen": [{"address": "22"}], "authorized_keys": "/a",
                  "outbound": {"type": "http", "proxy": "127.0.0.1:3128"}})");
    EXPECT_EQ(r.profile->features, (std::vector<std::string>{"outbound", "server"}));
}

TEST(ConfigSchema, AllFeaturesAreTheDocumentedSet) {
    auto features = all_features();
    std::set<std::string> got(features.begin(), features.end());
    std::set<std::string> want{"ssh", "socks5", "http_connect", "forward", "remote_forward",
                               "tun", "tls",    "hooks",        "server",  "outbound",
                               "acl", "udp"};
    EXPECT_EQ(got, want);
    EXPECT_EQ(got.size(), features.size());
}

// ---- error format ------------------------------------------------------------------------

TEST(ConfigError, StrFormat) {
    Error e{"f.json", "tun.routes[2]", "\"10.1.2.3/8\"", "invalid CIDR: x"};
    EXPECT_EQ(e.str(), "f.json: tun.routes[2]: invalid CIDR: x (got \"10.1.2.3/8\")");
    EXPECT_EQ((Error{"f.json", "", "", "malformed"}).str(), "f.json: malformed");
}

// ---- bad input ---------------------------------------------------------------------------

TEST(ConfigSchema, MalformedJsonNamesLineAndColumn) {
    Result r = parse("{\n  \"server\": \"192.0.2.1:22\",\n}\n");
    ASSERT_EQ(r.errors.size(), 1u) << r.text();
    EXPECT_EQ(r.errors[0].file, kFile);
    EXPECT_TRUE(contains(r.errors[0].message, "malformed JSON")) << r.text();
    EXPECT_TRUE(contains(r.errors[0].message, "line 3")) << r.text();
    EXPECT_TRUE(contains(r.errors[0].message, "column")) << r.text();
    EXPECT_FALSE(contains(r.errors[0].message, "json.exception")) << r.text();

    EXPECT_EQ(parse("").errors.size(), 1u);
    r = parse(R"({"server": "192.0.2.1:22", "autostart": 1e999})");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_TRUE(contains(r.errors[0].message, "number overflow")) << r.text();
    EXPECT_EQ(parse("{\"server\": \"a:1\"").errors.size(), 1u);
}

TEST(ConfigSchema, TopLevelMustBeObject) {
    Error e = one_error("[1, 2]", "");
    EXPECT_TRUE(contains(e.message, "JSON object"));
    EXPECT_EQ(e.value, "[1,2]");
}

TEST(ConfigSchema, UnknownKeySuggestsClosest) {
    Error e = one_error(R"({"server": "192.0.2.1:22", "sock5": {}})", "sock5");
    EXPECT_EQ(e.message, "unknown key 'sock5' (did you mean 'socks5'?)");
    EXPECT_EQ(e.str(), std::string(kFile) +
                           ": sock5: unknown key 'sock5' (did you mean "
                           "'socks5'?) (got {})");

    e = one_error(R"({"server": "192.0.2.1:22", "tun": {"full": true, "rutes": []}})", "tun.rutes");
    EXPECT_EQ(e.message, "unknown key 'rutes' (did you mean 'routes'?)");

    e = one_error(R"({"server": "192.0.2.1:22", "zzzzzz": 1})", "zzzzzz");
    EXPECT_EQ(e.message, "unknown key 'zzzzzz'");

    e = one_error(R"({"server": "192.0.2.1:22", "forward": [{"listen": "1", "target": "a:1",
                      "tagret": "a:2"}]})",
                  "forward[0].tagret");
    EXPECT_EQ(e.message, "unknown key 'tagret' (did you mean 'target'?)");
}

TEST(ConfigSchema, WrongTypes) {
    Error e = one_error(R"({"server": "192.0.2.1:22", "autostart": "yes"})", "autostart");
    EXPECT_EQ(e.message, "expected true or false");
    EXPECT_EQ(e.value, "\"yes\"");
    e = one_error(R"({"server": 22})", "server");
    EXPECT_EQ(e.message, "expected a string");
    e = one_error(R"({"server": "192.0.2.1:22", "tun": {"full": true, "mtu": "1400"}})", "tun.mtu");
    EXPECT_EQ(e.message, "expected a whole number");
    e = one_error(R"({"server": "192.0.2.1:22", "keepalive": {"interval": 1.5}})",
                  "keepalive.interval");
    EXPECT_EQ(e.message, "expected a whole number");
    e = one_error(R"({"server": "192.0.2.1:22", "tun": {"full": true, "routes": "10.0.0.0/8"}})",
                  "tun.routes");
    EXPECT_EQ(e.message, "expected an array");
    e = one_error(R"({"server": "192.0.2.1:22", "socks5": "1080"})", "socks5");
    EXPECT_EQ(e.message, "expected an object");
}

TEST(ConfigSchema, OutOfRangeAndEnums) {
    Error e = one_error(R"({"server": "192.0.2.1:22", "keepalive": {"interval": 0}})",
                        "keepalive.interval");
    EXPECT_EQ(e.message, "out of range (1..3600)");
    EXPECT_EQ(e.value, "0");
    e = one_error(R"({"server": "192.0.2.1:22", "keepalive": {"count": 18446744073709551616}})",
                  "keepalive.count");
    EXPECT_EQ(e.message, "expected a whole number");
    e = one_error(R"({"server": "192.0.2.1:22", "keepalive": {"count": 4294967297}})",
                  "keepalive.count");
    EXPECT_EQ(e.message, "out of range (1..100)");
    e = one_error(R"({"server": "192.0.2.1:22", "keepalive": {"count": -3}})", "keepalive.count");
    EXPECT_TRUE(contains(e.message, "out of range"));
    e = one_error(R"({"server": "192.0.2.1:22", "transport": {"type": "quic"}})", "transport.type");
    EXPECT_EQ(e.message, "must be one of \"tcp\", \"tls\"");
    EXPECT_EQ(e.value, "\"quic\"");
    e = one_error(R"({"role": "admin", "server": "192.0.2.1:22"})", "role");
    EXPECT_TRUE(contains(e.message, "\"client\", \"server\""));
}

TEST(ConfigSchema, BadCidrNamesIndex) {
    Error e = one_error(
        R"({"server": "192.0.2.1:22", "tun": {"routes": ["10.0.0.0/8", "192.0.2.0/24", "10.1.2.3/8"]}})",
        "tun.routes[2]");
    EXPECT_EQ(e.message, "invalid CIDR: host bits set, did you mean 10.0.0.0/8?");
    EXPECT_EQ(e.value, "\"10.1.2.3/8\"");
    EXPECT_EQ(e.str(), std::string(kFile) +
                           ": tun.routes[2]: invalid CIDR: host bits set, did you mean "
                           "10.0.0.0/8? (got \"10.1.2.3/8\")");
    e = one_error(
        R"({"server": "192.0.2.1:22", "tun": {"full": true, "exclude": ["10.0.0.0/40"]}})",
        "tun.exclude[0]");
    EXPECT_TRUE(contains(e.message, "invalid prefix length"));
}

TEST(ConfigSchema, BadEndpoints) {
    struct Case {
        const char* server;
        const char* reason;
    } cases[] = {
        {"192.0.2.1:0", "invalid port '0'"}, {"192.0.2.1:65536", "invalid port '65536'"},
        {"192.0.2.1", "missing port"},       {":22", "empty host"},
        {"2001:db8::1:22", "in brackets"},   {"bad host:22", "invalid host name"},
    };
    for (const auto& c : cases) {
        std::string text = std::string(R"({"server": ")") + c.server + "\"}";
        Error e = one_error(text, "server");
        EXPECT_TRUE(contains(e.message, "invalid address")) << e.str();
        EXPECT_TRUE(contains(e.message, c.reason)) << e.str();
        EXPECT_EQ(e.value, std::string("\"") + c.server + "\"");
    }
}

TEST(ConfigSchema, ListenAddressesMustBeIps) {
    Error e = one_error(R"({"server": "192.0.2.1:22", "socks5": {"listen": "localhost:1080"}})",
                        "socks5.listen");
    EXPECT_TRUE(contains(e.message, "must be an IP address")) << e.str();
    e = one_error(R"({"server": "192.0.2.1:22", "socks5": {"listen": "70000"}})", "socks5.listen");
    EXPECT_TRUE(contains(e.message, "invalid port")) << e.str();
    e = one_error(R"({"server": "192.0.2.1:22", "forward": [{"listen": "127.0.0.1:0",
                     "target": "a:1"}]})",
                  "forward[0].listen");
    EXPECT_TRUE(contains(e.message, "invalid port '0'")) << e.str();
}

TEST(ConfigSchema, RoleMismatchKeys) {
    Error e = one_error(R"({"server": "192.0.2.1:22", "listen": [{"address": "22"}]})", "listen");
    EXPECT_EQ(e.message, "'listen' is a server key but role is client");
    e = one_error(R"({"role": "server", "listen": [{"address": "22"}], "authorized_keys": "/a",
                      "socks5": {}})",
                  "socks5");
    EXPECT_EQ(e.message, "'socks5' is a client key but role is server");
}

TEST(ConfigSchema, MissingRequiredKeys) {
    Error e = one_error("{}", "server");
    EXPECT_EQ(e.message, "missing required key 'server'");
    Result r = parse(R"({"role": "server"})");
    EXPECT_NE(r.find("listen"), nullptr) << r.text();
    EXPECT_NE(r.find("authorized_keys"), nullptr) << r.text();
    e = one_error(R"({"role": "server", "listen": [], "authorized_keys": "/a"})", "listen");
    EXPECT_TRUE(contains(e.message, "1..16 elements")) << e.str();
    e = one_error(R"({"server": "192.0.2.1:22", "forward": [{"listen": "1"}]})",
                  "forward[0].target");
    EXPECT_EQ(e.message, "missing required key 'target'");
}

TEST(ConfigSchema, TlsOnlyKeysNeedTls) {
    Error e = one_error(R"({"server": "192.0.2.1:22", "transport": {"sni": "a.example"}})",
                        "transport.sni");
    EXPECT_TRUE(contains(e.message, "only valid with transport type \"tls\"")) << e.str();
    // A tls listener serves a knock (or bare SSH); cert_file and key_file go together.
    e = one_error(R"({"role": "server", "authorized_keys": "/a",
                      "listen": [{"address": "443", "transport": {"type": "tls"}}]})",
                  "listen[0].transport.knock");
    EXPECT_TRUE(contains(e.message, "serves nobody")) << e.str();
    e = one_error(R"({"role": "server", "authorized_keys": "/a",
                      "listen": [{"address": "443", "transport": {"type": "tls", "cert_file": "/c",
                                  "knock": {"path": "/ws", "secret_file": "/s"}}}]})",
                  "listen[0].transport.key_file");
    EXPECT_TRUE(contains(e.message, "go together")) << e.str();
    Result r = parse(R"({"role": "server", "authorized_keys": "/a",
                         "listen": [{"address": "443", "transport": {"type": "tls", "allow_bare_ssh": true}}]})");
    EXPECT_TRUE(r.errors.empty()) << r.text();
    e = one_error(R"({"role": "server", "authorized_keys": "/a",
                      "listen": [{"address": "443", "transport": {"fallback": "127.0.0.1:80"}}]})",
                  "listen[0].transport.fallback");
    EXPECT_TRUE(contains(e.message, "only valid with transport type")) << e.str();
}

TEST(ConfigSchema, CrossKeyRules) {
    Error e =
        one_error(R"({"server": "192.0.2.1:22", "socks5": {"username": "u"}})", "socks5.username");
    EXPECT_EQ(e.message, "'username' needs 'password' as well");
    e = one_error(R"({"server": "192.0.2.1:22", "tun": {}})", "tun");
    EXPECT_TRUE(contains(e.message, "routes")) << e.str();
    e = one_error(R"({"server": "192.0.2.1:22", "reconnect": {"initial_delay": 100}})",
                  "reconnect.initial_delay");
    EXPECT_TRUE(contains(e.message, "max_delay (60)")) << e.str();
    e = one_error(R"({"role": "server", "listen": [{"address": "22"}], "authorized_keys": "/a",
                      "outbound": {"type": "socks5"}})",
                  "outbound.proxy");
    EXPECT_TRUE(contains(e.message, "missing required key 'proxy'")) << e.str();
}

TEST(ConfigSchema, FormatChecks) {
    Error e = one_error(R"({"server": "192.0.2.1:22", "ssh": {"identity_file": "id_ed25519"}})",
                        "ssh.identity_file");
    EXPECT_EQ(e.message, "must be an absolute path");
    e = one_error(R"({"server": "192.0.2.1:22", "ssh": {"host_key": "nope"}})", "ssh.host_key");
    EXPECT_TRUE(contains(e.message, "SHA256:")) << e.str();
    e = one_error(R"({"server": "192.0.2.1:22", "tun": {"full": true, "name": "a/b"}})",
                  "tun.name");
    EXPECT_TRUE(contains(e.message, "interface name")) << e.str();
    e = one_error(R"({"server": "192.0.2.1:22", "tun": {"full": true, "dns": ["dns.example"]}})",
                  "tun.dns[0]");
    EXPECT_TRUE(contains(e.message, "DNS server")) << e.str();
    e = one_error(R"({"server": "192.0.2.1:22", "ssh": {"user": ""}})", "ssh.user");
    EXPECT_EQ(e.message, "must not be empty");
}

TEST(ConfigSchema, DuplicateJsonKeys) {
    Error e =
        one_error(R"({"server": "192.0.2.1:22", "ssh": {"user": "a", "user": "b"}})", "ssh.user");
    EXPECT_EQ(e.message, "duplicate key 'user'");
    e = one_error(R"({"server": "192.0.2.1:22", "forward": [{"listen": "1", "target": "a:1"},
                     {"listen": "2", "target": "a:1", "listen": "3"}]})",
                  "forward[1].listen");
    EXPECT_EQ(e.message, "duplicate key 'listen'");
}

/// A profile whose unknown key "x" holds arrays nested so the document is `depth` deep.
std::string nested_profile(size_t depth) {
    return "{\"server\": \"192.0.2.1:22\",\n \"x\": " + std::string(depth - 1, '[') +
           std::string(depth - 1, ']') + "}";
}

TEST(ConfigSchema, NestingLimitIsExactAndNamesTheLine) {
    Result at = parse(nested_profile(64));  // parsed; then refused as an unknown key
    ASSERT_EQ(at.errors.size(), 1u) << at.text();
    EXPECT_EQ(at.errors[0].path, "x");
    Result over = parse(nested_profile(65));
    ASSERT_EQ(over.errors.size(), 1u) << over.text();
    EXPECT_EQ(over.errors[0].str(), std::string(kFile) +
                                        ": nesting deeper than 64 levels (arrays and objects) at "
                                        "line 2, column 70");
}

TEST(ConfigSchema, HundredThousandLevelsAreOneClearError) {
    Result r = parse(nested_profile(100000));
    ASSERT_EQ(r.errors.size(), 1u) << r.text().substr(0, 500);
    EXPECT_TRUE(contains(r.errors[0].message, "nesting deeper than 64 levels")) << r.text();
    EXPECT_TRUE(contains(r.errors[0].message, "line 2")) << r.text();
    std::vector<Error> errors;
    EXPECT_FALSE(parse_daemon_config(nested_profile(100000), "/etc/ghost/ghostd.json", errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_TRUE(contains(errors[0].str(), "/etc/ghost/ghostd.json: nesting deeper than 64 levels"))
        << errors[0].str();
}

TEST(ConfigSchema, ErrorListIsBounded) {
    std::string text = R"({"server": "192.0.2.1:22")";
    for (int i = 0; i < 500; ++i) text += ",\"unknown" + std::to_string(i) + "\": 1";
    Result r = parse(text + "}");
    ASSERT_EQ(r.errors.size(), kMaxErrorsPerDocument + 1) << r.text().substr(0, 500);
    EXPECT_EQ(r.errors.back().str(), std::string(kFile) + ": 400 more errors not listed");
}

TEST(ConfigSchema, CheckedTextIsBoundedLikeAFile) {
    std::vector<Error> errors;
    std::string big = "{\"server\": \"192.0.2.1:22\"}" + std::string(kMaxConfigBytes, ' ');
    EXPECT_FALSE(check_profile_text("/home/u/big.json", big, errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].str(), "/home/u/big.json: file too large (limit 1048576 bytes)");
    errors.clear();
    auto p = check_profile_text("/home/u/work.json", R"({"server": "192.0.2.1:22"})", errors);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "work");
}

TEST(ConfigSchema, CollectsAllErrors) {
    Result r = parse(R"({"sever": "192.0.2.1:22", "autostart": 1,
                         "tun": {"routes": ["10.0.0.1/8", "300.0.0.0/8"]}})");
    EXPECT_NE(r.find("sever"), nullptr) << r.text();
    EXPECT_NE(r.find("autostart"), nullptr) << r.text();
    EXPECT_NE(r.find("tun.routes[0]"), nullptr) << r.text();
    EXPECT_NE(r.find("tun.routes[1]"), nullptr) << r.text();
    EXPECT_NE(r.find("server"), nullptr) << r.text();
    EXPECT_EQ(r.errors.size(), 5u) << r.text();
    EXPECT_EQ(r.find("sever")->message, "unknown key 'sever' (did you mean 'server'?)");
}

TEST(ConfigSchema, LongValuesAreShortenedInErrors) {
    std::string big(500, 'x');
    Error e = one_error(R"({"server": "192.0.2.1:22", "banner2": ")" + big + "\"}", "banner2");
    EXPECT_LE(e.value.size(), 80u);
}

// ---- profile names -----------------------------------------------------------------------

TEST(ProfileName, Rules) {
    EXPECT_TRUE(is_valid_profile_name("work"));
    EXPECT_TRUE(is_valid_profile_name("vpn-full_2"));
    EXPECT_TRUE(is_valid_profile_name("0"));
    EXPECT_TRUE(is_valid_profile_name(std::string(64, 'a')));
    EXPECT_FALSE(is_valid_profile_name(std::string(65, 'a')));
    EXPECT_FALSE(is_valid_profile_name(""));
    EXPECT_FALSE(is_valid_profile_name("Work"));
    EXPECT_FALSE(is_valid_profile_name("a/b"));
    EXPECT_FALSE(is_valid_profile_name(".."));
    EXPECT_FALSE(is_valid_profile_name("a..b"));
    EXPECT_FALSE(is_valid_profile_name("-a"));
    EXPECT_FALSE(is_valid_profile_name("_a"));
    EXPECT_FALSE(is_valid_profile_name("a b"));
}

TEST(ProfileName, BadNamesAreClearErrors) {
    for (const std::string& name :
         std::vector<std::string>{"../etc", "a/b", "..", "Work", std::string(65, 'a')}) {
        Result r = parse(R"({"server": "192.0.2.1:22"})", name);
        ASSERT_EQ(r.errors.size(), 1u) << name;
        EXPECT_TRUE(contains(r.errors[0].message, "invalid profile name")) << r.text();
        EXPECT_TRUE(contains(r.errors[0].str(), name)) << r.text();
    }
}

TEST(ProfileFile, NameFromStemAndUnreadableFile) {
    auto dir = std::filesystem::temp_directory_path() /
               ("ghost-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto good = dir / "my-vpn.json";
    std::ofstream(good) << R"({"server": "192.0.2.1:22"})";
    std::vector<Error> errors;
    auto p = load_profile_file(good.string(), errors);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "my-vpn");
    EXPECT_EQ(p->file, good.string());

    auto bad = dir / "My VPN.json";
    std::ofstream(bad) << R"({"server": "192.0.2.1:22"})";
    EXPECT_FALSE(load_profile_file(bad.string(), errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].file, bad.string());

    errors.clear();
    EXPECT_FALSE(load_profile_file((dir / "missing.json").string(), errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_TRUE(contains(errors[0].str(), "cannot read file")) << errors[0].str();
    std::filesystem::remove_all(dir);
}

TEST(ProfileFile, FilesThatAreNotPlainFilesAreErrorsNamingThem) {
    auto dir = std::filesystem::temp_directory_path() /
               ("ghost-config-special-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
    std::filesystem::create_directory(dir / "dir.json");
    std::filesystem::create_symlink("/dev/zero", dir / "zero.json");
    std::filesystem::create_symlink("gone.json", dir / "dangling.json");
    std::filesystem::create_symlink("loop.json", dir / "loop.json");
    std::ofstream(dir / "big.json") << std::string(2 << 20, ' ');
    const std::pair<const char*, const char*> cases[] = {
        {"fifo.json", "not a regular file: it is a FIFO (named pipe)"},
        {"dir.json", "not a regular file: it is a directory"},
        {"zero.json", "not a regular file: it is a character device"},
        {"dangling.json", "cannot read file: dangling symbolic link"},
        {"loop.json", "cannot read file: symbolic link loop"},
        {"big.json", "file too large (limit 1048576 bytes)"},
    };
    for (auto [name, want] : cases) {
        std::vector<Error> errors;
        EXPECT_FALSE(load_profile_file((dir / name).string(), errors)) << name;
        ASSERT_EQ(errors.size(), 1u) << name;
        EXPECT_TRUE(errors[0].str().starts_with((dir / name).string() + ": " + want))
            << errors[0].str();
    }
    std::vector<Error> errors;
    std::filesystem::create_symlink("gone.json", dir / "ghostd.json");
    EXPECT_FALSE(load_daemon_config((dir / "ghostd.json").string(), errors));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_TRUE(contains(errors[0].str(), "dangling symbolic link")) << errors[0].str();
    std::filesystem::remove_all(dir);
}

// ---- conflicts ---------------------------------------------------------------------------

Profile make(std::string_view name, std::string_view text) {
    std::vector<Error> errors;
    auto p = parse_profile(name, text, std::string(name) + ".json", errors);
    EXPECT_TRUE(p) << (errors.empty() ? "" : errors[0].str());
    return p.value_or(Profile{});
}

TEST(Conflicts, TunProfilesThatCannotBeUpTogether) {
    auto split = [](std::string_view name, std::string_view dev, std::string_view routes) {
        return make(name, R"({"server": "192.0.2.1:22", "tun": {"name": ")" + std::string(dev) +
                              R"(", "routes": )" + std::string(routes) + "}}");
    };
    auto a = split("a", "ghost0", R"(["10.0.0.0/8"])");
    auto b = split("b", "ghost1", R"(["10.1.0.0/16"])");
    auto c = split("c", "ghost2", R"(["192.168.0.0/16", "fd00::/8"])");
    auto d = split("d", "ghost0", R"(["172.16.0.0/12"])");
    auto f1 = make("f1", R"({"server": "192.0.2.1:22", "tun": {"name": "t1", "full": true}})");
    auto f2 = make("f2", R"({"server": "192.0.2.1:22", "tun": {"name": "t2", "full": true}})");
    EXPECT_TRUE(contains(tun_conflict(b, a), "10.1.0.0/16 overlaps 10.0.0.0/8 of profile 'a'"));
    EXPECT_TRUE(contains(tun_conflict(a, b), "overlaps"));
    EXPECT_EQ(tun_conflict(c, a), "");
    EXPECT_TRUE(contains(tun_conflict(d, a), "tun.name ghost0 is in use by profile 'a'"));
    EXPECT_TRUE(contains(tun_conflict(f2, f1), "already runs a full tunnel"));
    EXPECT_EQ(tun_conflict(a, f1), "");  // split routes win over the full tunnel's default
    auto plain = make("p", R"({"server": "192.0.2.1:22"})");
    EXPECT_EQ(tun_conflict(plain, a), "");
}

TEST(Conflicts, DuplicateListenAcrossProfiles) {
    auto a = make("alpha", R"({"server": "192.0.2.1:22", "socks5": {"listen": "127.0.0.1:1080"}})");
    auto b = make("beta", R"({"server": "192.0.2.1:22",
                              "forward": [{"listen": "1080", "target": "a.example:1"}]})");
    auto errors = check_conflicts({b, a});
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].file, "beta.json");
    EXPECT_EQ(errors[0].path, "forward[0].listen");
    EXPECT_EQ(errors[0].value, "\"127.0.0.1:1080\"");
    EXPECT_TRUE(contains(errors[0].message, "'alpha'")) << errors[0].str();
    EXPECT_TRUE(contains(errors[0].message, "'beta'")) << errors[0].str();
    EXPECT_TRUE(contains(errors[0].message, "socks5.listen")) << errors[0].str();
}

TEST(Conflicts, WildcardOverlapsAnyAddressOnSamePort) {
    auto a = make("a", R"({"role": "server", "authorized_keys": "/k",
                           "listen": [{"address": "0.0.0.0:2222"}]})");
    auto b =
        make("b", R"({"server": "192.0.2.1:22", "http_connect": {"listen": "192.0.2.5:2222"}})");
    auto c = make("c", R"({"server": "192.0.2.1:22", "http_connect": {"listen": "[::]:8080"}})");
    auto d =
        make("d", R"({"server": "192.0.2.1:22", "http_connect": {"listen": "127.0.0.1:8080"}})");
    auto e =
        make("e", R"({"server": "192.0.2.1:22", "http_connect": {"listen": "127.0.0.2:8080"}})");
    auto errors = check_conflicts({a, b, c, d, e});
    ASSERT_EQ(errors.size(), 3u);
    EXPECT_EQ(errors[0].file, "b.json");
    EXPECT_EQ(errors[1].file, "d.json");
    EXPECT_EQ(errors[2].file, "e.json");
}

TEST(Conflicts, DifferentPortsOrAddressesAreFine) {
    auto a = make("a", R"({"server": "192.0.2.1:22", "socks5": {"listen": "127.0.0.1:1080"}})");
    auto b = make("b", R"({"server": "192.0.2.1:22", "socks5": {"listen": "127.0.0.2:1080"}})");
    auto c = make("c", R"({"server": "192.0.2.1:22", "socks5": {"listen": "127.0.0.1:1081"}})");
    EXPECT_TRUE(check_conflicts({a, b, c}).empty());
}

TEST(Conflicts, WithinOneProfile) {
    auto a = make("a", R"({"server": "192.0.2.1:22", "socks5": {},
                           "forward": [{"listen": "127.0.0.1:1080", "target": "x.example:1"}]})");
    auto errors = check_conflicts({a});
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "forward[0].listen");
    EXPECT_TRUE(contains(errors[0].message, "socks5.listen of the same profile"))
        << errors[0].str();
}

// ---- ghostd.json -------------------------------------------------------------------------

TEST(DaemonConfig, DefaultsAndValues) {
    std::vector<Error> errors;
    auto c = parse_daemon_config("{}", "ghostd.json", errors);
    ASSERT_TRUE(c);
    DaemonConfig d;
    EXPECT_EQ(c->log_level, d.log_level);
    EXPECT_EQ(c->control_group, d.control_group);
    EXPECT_EQ(c->workers, d.workers);
    EXPECT_EQ(c->rpc_max_clients, d.rpc_max_clients);
    EXPECT_EQ(c->rpc_max_request_bytes, d.rpc_max_request_bytes);
    EXPECT_EQ(c->rpc_idle_timeout_s, d.rpc_idle_timeout_s);
    EXPECT_EQ(c->watchdog_interval_s, d.watchdog_interval_s);

    c = parse_daemon_config(R"({"log_level": "debug", "rpc": {"max_clients": 8}, "workers": 2})",
                            "ghostd.json", errors);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->log_level, "debug");
    EXPECT_EQ(c->rpc_max_clients, 8u);
    EXPECT_EQ(c->workers, 2u);
    EXPECT_TRUE(errors.empty());
}

TEST(DaemonConfig, Errors) {
    std::vector<Error> errors;
    auto c = parse_daemon_config(R"({"log_level": "loud", "rpc": {"max_client": 8},
                                     "role": "client"})",
                                 "ghostd.json", errors);
    EXPECT_FALSE(c);
    ASSERT_EQ(errors.size(), 3u);
    auto at = [&](std::string_view path) -> const Error* {
        for (const auto& e : errors)
            if (e.path == path) return &e;
        return nullptr;
    };
    ASSERT_TRUE(at("log_level"));
    EXPECT_EQ(at("log_level")->value, "\"loud\"");
    ASSERT_TRUE(at("rpc.max_client"));
    EXPECT_EQ(at("rpc.max_client")->message,
              "unknown key 'max_client' (did you mean 'max_clients'?)");
    EXPECT_TRUE(at("role"));
}

TEST(DaemonConfig, MissingFileGivesDefaults) {
    std::vector<Error> errors;
    auto c = load_daemon_config("/nonexistent/ghost/ghostd.json", errors);
    ASSERT_TRUE(c);
    EXPECT_TRUE(errors.empty());
    EXPECT_EQ(c->log_level, "info");
}

// ---- documentation -----------------------------------------------------------------------

TEST(SchemaMarkdown, ListsEveryKey) {
    std::string md = schema_markdown();
    for (const auto& key : profile_keys()) {
        if (key.path.ends_with("[]")) continue;
        EXPECT_TRUE(contains(md, "| `" + key.path + "` |")) << key.path;
        EXPECT_FALSE(key.doc.empty()) << key.path;
        EXPECT_FALSE(key.feature.empty()) << key.path;
    }
    for (const auto& key : daemon_keys()) EXPECT_TRUE(contains(md, "| `" + key.path + "` |"));
    EXPECT_TRUE(contains(md, "| `listen[].transport.cert_file` |"));
}

TEST(SchemaTable, DefaultsParseAndValidate) {
    for (const auto* keys : {&profile_keys(), &daemon_keys()}) {
        for (const auto& key : *keys) {
            EXPECT_TRUE(key.def.empty() || !default_value(key).is_null()) << key.path;
            if (key.type == KeyType::array || key.type == KeyType::object) continue;
            EXPECT_TRUE(key.def.empty() || !(key.flags & kRequired)) << key.path;
        }
    }
}

}  // namespace
}  // namespace ghost::config
