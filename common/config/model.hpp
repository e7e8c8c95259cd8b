#pragma once
/// Typed view of a validated profile and of the daemon configuration.
/// Produced only by the schema (schema.hpp) from JSON that passed validation, so every
/// field here already holds a checked value or its documented default.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net/endpoint.hpp"

namespace ghost::config {

enum class Role { client, server };

/// `transport` of a client profile, and `listen[].transport` of a server profile.
struct TransportConfig {
    std::string type = "tcp";  // "tcp" | "tls"
    std::string sni;           // tls: defaults to the server host
    std::vector<std::string> alpn{"h2", "http/1.1"};
    std::string ca_file;     // tls: empty = system CAs
    std::string pin_sha256;  // tls: base64 SPKI SHA-256 pin
    std::string min_version = "1.3";
    std::string knock_path;  // tls: WebSocket path
    std::string knock_secret_file;
    // server listeners only (`listen[].transport`)
    std::string cert_file;                  // tls: PEM certificate chain
    std::string key_file;                   // tls: PEM private key
    std::optional<net::Endpoint> fallback;  // tls: web server for probes; empty = built-in 404
    bool allow_bare_ssh = false;            // tls: accept SSH without the knock (visible to probes)
    bool sniff = false;                     // tls: also plain SSH and plain HTTP on the port
};

/// `ssh` section of a client profile.
struct SshClientConfig {
    std::string user = "ghost";
    std::string identity_file;  // empty = <state-dir>/<profile>/id_ed25519 (generated)
    bool agent = false;         // use $SSH_AUTH_SOCK
    std::string host_key;       // pinned: "ssh-ed25519 AAAA..." or "SHA256:..."
    std::string known_hosts;    // path to a known_hosts file
    bool trust_on_first_use = false;
    std::vector<std::string> ciphers;  // empty = ghost's preference
    uint32_t connect_timeout_s = 15;
};

/// A proxy front door: SOCKS5 and/or HTTP CONNECT.
struct ProxyListenerConfig {
    net::Endpoint listen;
    std::string username;  // RFC 1929 / Basic; empty = no auth
    std::string password;
    bool http_connect = true;  // socks5 only: also answer HTTP CONNECT on the same port
};

/// `forward[]`: local listener -> direct-tcpip to target (ssh -L).
struct ForwardConfig {
    net::Endpoint listen;
    net::Endpoint target;
};

/// `remote_forward[]`: server listens, connections come back to a local target (ssh -R).
struct RemoteForwardConfig {
    net::Endpoint listen;  // host may be empty = server default (loopback)
    net::Endpoint target;
};

/// Receive windows of SSH channels (`window.*`, both roles).
struct WindowConfig {
    uint32_t initial = 2 * 1024 * 1024;
    uint32_t max = 16 * 1024 * 1024;
    uint32_t session_budget = 64 * 1024 * 1024;
};

struct KeepaliveConfig {
    uint32_t interval_s = 5;  // send an SSH_MSG_IGNORE / check progress every interval
    uint32_t count = 3;       // dead after interval*count without inbound traffic
};

struct ReconnectConfig {
    bool enabled = true;
    uint32_t initial_delay_s = 1;
    uint32_t max_delay_s = 60;
    uint32_t pending_wait_s = 10;  // how long new connections wait for the session
};

struct HooksConfig {
    std::string up;
    std::string down;
    uint32_t timeout_s = 10;
};

struct TunConfig {
    std::string name = "ghost0";
    uint32_t mtu = 65000;
    std::vector<net::Cidr> routes;
    std::vector<net::Cidr> exclude;
    bool full = false;
    bool kill_switch = true;
    bool ipv6 = true;
    std::vector<net::Endpoint> dns;        // resolvers on the server side
    std::vector<std::string> dns_domains;  // split tunnel: routing domains for resolved
    std::string dns_mode = "auto";         // auto | resolved | none
    std::string udp = "tunnel";            // tunnel | refuse
    std::string icmp = "tunnel";           // tunnel | refuse
};

/// Server listener (`listen[]`).
struct ListenConfig {
    net::Endpoint address;
    TransportConfig transport;
};

/// Upstream used for direct-tcpip by a server profile.
struct OutboundConfig {
    std::string type = "direct";  // direct | socks5 | http
    std::optional<net::Endpoint> proxy;
    std::string username;
    std::string password;
    uint32_t connect_timeout_s = 10;
};

/// Destination ACL for direct-tcpip.
struct AclConfig {
    std::vector<net::Cidr> allow;  // empty = everything not denied
    std::vector<net::Cidr> deny;
    std::vector<uint16_t> ports;  // empty = all ports
    bool deny_loopback = true;
    bool deny_link_local = true;
    bool deny_self = true;
};

/// UDP relay of a server profile for ghost clients (`udp.*`, docs/server.md "UDP and ICMP").
struct UdpConfig {
    bool enabled = true;
    uint32_t max_flows_per_session = 256;
    uint32_t max_flows = 4096;  // all sessions of the profile together
    uint32_t idle_timeout_s = 120;
    /// RFC 4787 filtering: "endpoint-independent" | "address-dependent" |
    /// "address-and-port-dependent".
    std::string filtering = "address-and-port-dependent";
    uint32_t max_payload = 65507;
};

/// ICMP echo relayed for ghost clients (`icmp.*`).
struct IcmpConfig {
    bool echo = true;
    uint32_t echo_rate = 20;  // echo requests per second per session
};

/// Per-source penalties (limits.penalties; OpenSSH's PerSourcePenalties): seconds charged
/// to a source netblock for each way an unauthenticated connection can end badly.
struct PenaltyConfig {
    bool enabled = true;
    uint32_t auth_failed_s = 5;
    uint32_t grace_exceeded_s = 10;  // also charged for an eviction
    uint32_t protocol_error_s = 5;
    uint32_t no_auth_s = 1;
    uint32_t min_s = 15;  // refused only once more than this is outstanding
    uint32_t max_s = 600;
    uint32_t max_sources = 65536;       // tracked netblocks per address family
    bool deny_all_on_overflow = false;  // overflow "deny-all" (else "permissive")
    std::vector<net::Cidr> exempt;
};

struct LimitsConfig {
    uint32_t max_sessions = 256;
    uint32_t max_startups = 10;  // per source netblock, unauthenticated
    uint32_t max_startups_total = 2048;
    uint32_t source_netblock_v4 = 32;
    uint32_t source_netblock_v6 = 64;
    PenaltyConfig penalties;
    uint32_t login_grace_time_s = 30;
    uint32_t max_channels = 1024;  // per session
    uint32_t max_forwards = 16;    // per session
    uint32_t idle_timeout_s = 0;   // per channel; 0 = none
};

/// A whole profile after validation.
struct Profile {
    std::string name;
    std::string file;
    Role role = Role::client;
    bool autostart = false;

    // client role
    std::optional<net::Endpoint> server;
    TransportConfig transport;
    SshClientConfig ssh;
    std::optional<ProxyListenerConfig> socks5;
    std::optional<ProxyListenerConfig> http_connect;
    std::vector<ForwardConfig> forward;
    std::vector<RemoteForwardConfig> remote_forward;
    std::optional<TunConfig> tun;
    KeepaliveConfig keepalive;
    ReconnectConfig reconnect;
    WindowConfig window;  // both roles
    HooksConfig hooks;

    // server role
    std::vector<ListenConfig> listen;
    std::string host_key;         // empty = <state-dir>/<profile>/host_ed25519
    std::string authorized_keys;  // file or directory
    std::string banner;
    bool gateway_ports = false;
    OutboundConfig outbound;
    AclConfig acl;
    LimitsConfig limits;
    UdpConfig udp;
    IcmpConfig icmp;

    /// Feature names (schema `feature` column) of every key present in the file;
    /// the daemon refuses `up` when one of them is not built yet.
    std::vector<std::string> features;
};

/// ghostd.json
struct DaemonConfig {
    std::string log_level = "info";  // debug | info | notice | warning | error
    std::string control_group = "ghost";
    uint32_t workers = 0;  // 0 = one per core
    uint32_t rpc_max_clients = 64;
    uint32_t rpc_reserved_clients = 16;           // only root and the control group
    uint32_t rpc_max_clients_per_user = 8;        // per uid outside the control group
    uint32_t rpc_max_subscriptions_per_user = 4;  // per uid outside the control group
    uint32_t rpc_max_request_bytes = 1 << 20;
    uint32_t rpc_idle_timeout_s = 300;
    uint32_t watchdog_interval_s = 0;  // 0 = from WATCHDOG_USEC
};

}  // namespace ghost::config
