#include "common/config/keys.hpp"

#include <algorithm>

#include "common/json/bounded_json.hpp"
#include "common/net/endpoint.hpp"
#include "common/text/base64.hpp"

namespace ghost::config {
namespace {

using nlohmann::json;
using enum KeyType;

/// Non-empty standard base64 with exactly the padding it needs.
bool is_base64(std::string_view s) {
    return !s.empty() &&
           text::base64_decode(s, text::Base64Alphabet::standard, text::Base64Padding::required);
}

bool has_space_or_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(),
                       [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

bool check_word(const json& v, std::string& why) {
    if (!has_space_or_control(v.get_ref<const std::string&>())) return true;
    why = "must not contain spaces or control characters";
    return false;
}

bool check_hostname(const json& v, std::string& why) {
    if (net::is_valid_hostname(v.get_ref<const std::string&>())) return true;
    why = "invalid host name";
    return false;
}

bool check_pin(const json& v, std::string& why) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() == 44 && is_base64(s)) return true;
    why = "expected the base64 SHA-256 of the server's public key (44 characters)";
    return false;
}

/// "SHA256:<43 base64 chars>" or an OpenSSH public key line "TYPE BASE64 [comment]".
bool check_host_key(const json& v, std::string& why) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.starts_with("SHA256:")) {
        auto b64 = s.substr(7);
        if (b64.size() == 43 && is_base64(b64 + "=")) return true;
    } else {
        auto sp = s.find(' ');
        auto end = s.find(' ', sp == std::string::npos ? sp : sp + 1);
        if (sp != std::string::npos && sp > 0 && is_base64(s.substr(sp + 1, end - sp - 1)))
            return true;
    }
    why = "expected \"SHA256:<base64>\" or \"ssh-ed25519 AAAA...\" (an OpenSSH public key)";
    return false;
}

bool check_domain(const json& v, std::string& why) {
    const std::string s = v.get<std::string>();
    if (s.empty() || s.size() > 253) {
        why = "a domain must be 1..253 characters";
        return false;
    }
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_';
        if (!ok) {
            why = std::string("invalid character '") + c + "' in a domain";
            return false;
        }
    }
    return true;
}

bool check_ifname(const json& v, std::string& why) {
    const auto& s = v.get_ref<const std::string&>();
    bool ok = !s.empty() && s.size() <= 15 && s != "." && s != ".." &&
              std::all_of(s.begin(), s.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
              });
    if (ok) return true;
    why = "invalid interface name (1-15 characters: letters, digits, '_', '-', '.')";
    return false;
}

bool check_url_path(const json& v, std::string& why) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.starts_with('/') && !has_space_or_control(s)) return true;
    why = "must start with '/' and contain no spaces";
    return false;
}

bool check_group(const json& v, std::string& why) {
    const auto& s = v.get_ref<const std::string&>();
    bool ok = !s.empty() && s.size() <= 32 && !(s[0] >= '0' && s[0] <= '9') && s[0] != '-' &&
              std::all_of(s.begin(), s.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
              });
    if (ok) return true;
    why = "invalid group name";
    return false;
}

/// Which transport objects a transport row applies to.
enum class Side { both, client, server };

struct TransportKey {
    Side side;
    Key key;  // path relative to the transport object
};

// clang-format off
std::vector<TransportKey> transport_keys() {
    return {
        {Side::both, {.path = "type", .type = enumeration, .def = R"("tcp")", .feature = "ssh",
            .doc = "Carrier of the SSH stream: plain TCP, or SSH inside TLS.",
            .choices = "tcp|tls", .when = "tls", .when_feature = "tls"}},
        {Side::client, {.path = "sni", .type = string, .feature = "tls",
            .doc = "TLS server name to send; defaults to the host of `server`.",
            .min = 1, .max = 253, .flags = kTlsOnly, .check = check_hostname}},
        {Side::client, {.path = "alpn", .type = array, .def = R"(["h2","http/1.1"])", .feature = "tls",
            .doc = "ALPN protocols offered, in order (looks like a browser by default).",
            .min = 1, .max = 8, .flags = kTlsOnly}},
        {Side::client, {.path = "alpn[]", .type = string, .feature = "tls", .doc = "An ALPN protocol name.",
            .min = 1, .max = 255, .flags = kTlsOnly, .check = check_word}},
        {Side::client, {.path = "ca_file", .type = path, .feature = "tls",
            .doc = "PEM file of CAs to verify the server with; absent = system CAs.", .flags = kTlsOnly}},
        {Side::client, {.path = "pin_sha256", .type = string, .feature = "tls",
            .doc = "Base64 SHA-256 of the server's SubjectPublicKeyInfo; replaces CA verification.",
            .flags = kTlsOnly, .check = check_pin}},
        {Side::client, {.path = "min_version", .type = enumeration, .def = R"("1.3")", .feature = "tls",
            .doc = "Lowest TLS version accepted.", .choices = "1.2|1.3", .flags = kTlsOnly}},
        {Side::server, {.path = "min_version", .type = enumeration, .def = R"("1.2")", .feature = "tls",
            .doc = "Lowest TLS version accepted (1.2 by default, like an ordinary web server and the reverse proxies in front of one).",
            .choices = "1.2|1.3", .flags = kTlsOnly}},
        {Side::both, {.path = "knock", .type = object, .feature = "tls",
            .doc = "WebSocket upgrade with an HMAC token before SSH flows (anti-probing).",
            .flags = kTlsOnly}},
        {Side::both, {.path = "knock.path", .type = string, .feature = "tls",
            .doc = "HTTP path of the WebSocket upgrade, e.g. \"/ws\".", .min = 1, .max = 256,
            .flags = kRequired | kTlsOnly, .check = check_url_path}},
        {Side::both, {.path = "knock.secret_file", .type = path, .feature = "tls",
            .doc = "File holding the shared secret for the knock token (same on both ends; root-owned, mode 600, ≥ 16 bytes). A server creates it when absent.",
            .flags = kRequired | kTlsOnly}},
        {Side::server, {.path = "cert_file", .type = path, .feature = "tls",
            .doc = "PEM certificate chain; absent = a self-signed certificate ghostd generates once (clients pin it).", .flags = kTlsOnly}},
        {Side::server, {.path = "key_file", .type = path, .feature = "tls",
            .doc = "PEM private key of `cert_file` (both or neither).", .flags = kTlsOnly}},
        {Side::server, {.path = "fallback", .type = endpoint, .feature = "tls",
            .doc = "Web server that gets every connection without a valid knock; absent = built-in 404 responder.",
            .flags = kTlsOnly}},
        {Side::server, {.path = "sniff", .type = boolean, .def = "false", .feature = "tls",
            .doc = "Also serve plain SSH and plain HTTP on this port (SSH, TLS and HTTP by their first bytes); plain SSH is visible to probes.",
            .flags = kTlsOnly}},
        {Side::server, {.path = "allow_bare_ssh", .type = boolean, .def = "false", .feature = "tls",
            .doc = "Also accept SSH inside TLS without the knock (stock ssh + ProxyCommand; visible to probes).",
            .flags = kTlsOnly}},
    };
}

std::vector<Key> client_head() {
    return {
        {.path = "role", .type = enumeration, .def = R"("client")", .feature = "ssh",
            .doc = "What the profile does: connect to a server, or be one.", .choices = "client|server"},
        {.path = "autostart", .type = boolean, .def = "false", .feature = "ssh",
            .doc = "Bring the profile up when ghostd starts."},
        {.path = "server", .type = endpoint, .scope = Scope::client, .feature = "ssh",
            .doc = "SSH server to connect to, \"host:port\".", .flags = kRequired},
        {.path = "transport", .type = object, .scope = Scope::client, .feature = "ssh",
            .doc = "How the SSH stream reaches the server."},
    };
}

std::vector<Key> client_tail() {
    return {
        {.path = "ssh", .type = object, .scope = Scope::client, .feature = "ssh",
            .doc = "SSH session settings."},
        {.path = "ssh.user", .type = string, .def = R"("ghost")", .scope = Scope::client, .feature = "ssh",
            .doc = "User name on the server.", .min = 1, .max = 64, .check = check_word},
        {.path = "ssh.identity_file", .type = path, .scope = Scope::client, .feature = "ssh",
            .doc = "Private key; absent = per-profile ed25519 key generated on first up."},
        {.path = "ssh.agent", .type = boolean, .def = "false", .scope = Scope::client, .feature = "ssh",
            .doc = "Authenticate with the keys of $SSH_AUTH_SOCK."},
        {.path = "ssh.host_key", .type = string, .scope = Scope::client, .feature = "ssh",
            .doc = "Pinned server host key: \"ssh-ed25519 AAAA...\" or \"SHA256:...\".",
            .max = 8192, .check = check_host_key},
        {.path = "ssh.known_hosts", .type = path, .scope = Scope::client, .feature = "ssh",
            .doc = "known_hosts file to verify the server host key against."},
        {.path = "ssh.trust_on_first_use", .type = boolean, .def = "false", .scope = Scope::client,
            .feature = "ssh", .doc = "Accept and remember an unknown host key on first connect."},
        {.path = "ssh.ciphers", .type = array, .scope = Scope::client, .feature = "ssh",
            .doc = "Cipher preference; absent = AES-GCM on AES-NI hardware, else chacha20-poly1305.",
            .min = 1, .max = 8},
        {.path = "ssh.ciphers[]", .type = enumeration, .scope = Scope::client, .feature = "ssh",
            .doc = "A cipher name.",
            .choices = "aes128-gcm@openssh.com|aes256-gcm@openssh.com|chacha20-poly1305@openssh.com|"
                       "aes128-ctr|aes192-ctr|aes256-ctr"},
        {.path = "ssh.connect_timeout", .type = uint, .def = "15", .scope = Scope::client,
            .feature = "ssh", .doc = "Seconds allowed for TCP connect plus SSH handshake and auth.",
            .min = 1, .max = 300},

        {.path = "socks5", .type = object, .scope = Scope::client, .feature = "socks5",
            .doc = "SOCKS5 proxy (RFC 1928); names are resolved on the server side."},
        {.path = "socks5.listen", .type = listen, .def = R"("127.0.0.1:1080")", .scope = Scope::client,
            .feature = "socks5", .doc = "Local listen address, \"ip:port\" or a bare port."},
        {.path = "socks5.username", .type = string, .scope = Scope::client, .feature = "socks5",
            .doc = "Require RFC 1929 username/password auth with this user (needs password).",
            .min = 1, .max = 255},
        {.path = "socks5.password", .type = string, .scope = Scope::client, .feature = "socks5",
            .doc = "Password for socks5.username.", .min = 1, .max = 255},
        {.path = "socks5.http_connect", .type = boolean, .def = "true", .scope = Scope::client,
            .feature = "socks5", .doc = "Also answer HTTP CONNECT on the SOCKS port.",
            .when = "true", .when_feature = "http_connect"},

        {.path = "http_connect", .type = object, .scope = Scope::client, .feature = "http_connect",
            .doc = "HTTP CONNECT proxy on its own port."},
        {.path = "http_connect.listen", .type = listen, .def = R"("127.0.0.1:8080")",
            .scope = Scope::client, .feature = "http_connect",
            .doc = "Local listen address, \"ip:port\" or a bare port."},
        {.path = "http_connect.username", .type = string, .scope = Scope::client,
            .feature = "http_connect", .doc = "Require Basic proxy auth with this user (needs password).",
            .min = 1, .max = 255},
        {.path = "http_connect.password", .type = string, .scope = Scope::client,
            .feature = "http_connect", .doc = "Password for http_connect.username.", .min = 1, .max = 255},

        {.path = "forward", .type = array, .scope = Scope::client, .feature = "forward",
            .doc = "Local forwards (ssh -L).", .max = 256},
        {.path = "forward[]", .type = object, .scope = Scope::client, .feature = "forward",
            .doc = "One local forward."},
        {.path = "forward[].listen", .type = listen, .scope = Scope::client, .feature = "forward",
            .doc = "Local listen address, \"ip:port\" or a bare port.", .flags = kRequired},
        {.path = "forward[].target", .type = endpoint, .scope = Scope::client, .feature = "forward",
            .doc = "Destination as seen from the server, \"host:port\".", .flags = kRequired},

        {.path = "remote_forward", .type = array, .scope = Scope::client, .feature = "remote_forward",
            .doc = "Remote forwards (ssh -R): the server listens, connections come back here.",
            .max = 64},
        {.path = "remote_forward[]", .type = object, .scope = Scope::client,
            .feature = "remote_forward", .doc = "One remote forward."},
        {.path = "remote_forward[].listen", .type = remote_listen, .scope = Scope::client,
            .feature = "remote_forward",
            .doc = "Address on the server, \"[host:]port\"; a bare port = server's default (loopback).",
            .flags = kRequired},
        {.path = "remote_forward[].target", .type = endpoint, .scope = Scope::client,
            .feature = "remote_forward", .doc = "Local destination, \"host:port\".",
            .flags = kRequired},

        {.path = "tun", .type = object, .scope = Scope::client, .feature = "tun",
            .doc = "VPN mode: a TUN device whose TCP flows go through the tunnel."},
        {.path = "tun.name", .type = string, .def = R"("ghost0")", .scope = Scope::client,
            .feature = "tun", .doc = "Interface name.", .check = check_ifname},
        {.path = "tun.mtu", .type = uint, .def = "65000", .scope = Scope::client, .feature = "tun",
            .doc = "Interface MTU. Flows end in this machine's own TCP stack, so a large MTU costs nothing and saves per-packet work.", .min = 1280, .max = 65535},
        {.path = "tun.routes", .type = array, .scope = Scope::client, .feature = "tun",
            .doc = "Split tunnel: prefixes routed through the tunnel.", .max = 1024},
        {.path = "tun.routes[]", .type = cidr, .scope = Scope::client, .feature = "tun",
            .doc = "A prefix."},
        {.path = "tun.exclude", .type = array, .scope = Scope::client, .feature = "tun",
            .doc = "Prefixes that never go through the tunnel.", .max = 1024},
        {.path = "tun.exclude[]", .type = cidr, .scope = Scope::client, .feature = "tun",
            .doc = "A prefix."},
        {.path = "tun.full", .type = boolean, .def = "false", .scope = Scope::client, .feature = "tun",
            .doc = "Full tunnel: default route through the tunnel (policy routing, fwmark)."},
        {.path = "tun.kill_switch", .type = boolean, .def = "true", .scope = Scope::client,
            .feature = "tun", .doc = "Keep the routes while reconnecting so traffic never leaks."},
        {.path = "tun.ipv6", .type = boolean, .def = "true", .scope = Scope::client, .feature = "tun",
            .doc = "Carry IPv6; false = IPv6 is blocked on the tunnel, never leaked."},
        {.path = "tun.dns", .type = array, .scope = Scope::client, .feature = "tun",
            .doc = "Resolvers reached through the tunnel (queries go as DNS over TCP).", .max = 8},
        {.path = "tun.dns[]", .type = resolver, .scope = Scope::client, .feature = "tun",
            .doc = "\"ip\" or \"ip:port\" (port 53)."},
        {.path = "tun.dns_domains", .type = array, .scope = Scope::client, .feature = "tun",
            .doc = "Split tunnel: domains whose names are resolved through the tunnel (systemd-resolved "
                   "routing domains); full tunnel always routes every name (~.).", .max = 64},
        {.path = "tun.dns_domains[]", .type = string, .scope = Scope::client, .feature = "tun",
            .doc = "A domain, e.g. corp.example.", .check = check_domain},
        {.path = "tun.dns_mode", .type = enumeration, .def = R"("auto")", .scope = Scope::client,
            .feature = "tun", .doc = "How DNS is configured: systemd-resolved when running (auto), always, or not.",
            .choices = "auto|resolved|none"},
        {.path = "tun.udp", .type = enumeration, .def = R"("tunnel")", .scope = Scope::client,
            .feature = "tun",
            .doc = "UDP other than the tunnel's DNS: tunnel = carried over the session's datagram "
                   "channel (needs a ghost server; refused with ICMP port unreachable while there is "
                   "none, e.g. against a stock sshd); refuse = always ICMP port unreachable.",
            .choices = "tunnel|refuse"},
        {.path = "tun.icmp", .type = enumeration, .def = R"("tunnel")", .scope = Scope::client,
            .feature = "tun",
            .doc = "ICMP/ICMPv6 echo (ping): tunnel = the ghost server pings for the application "
                   "(dropped while there is no datagram channel); refuse = dropped.",
            .choices = "tunnel|refuse"},

        {.path = "keepalive", .type = object, .scope = Scope::client, .feature = "ssh",
            .doc = "Dead-peer detection (keepalive@openssh.com probes on a quiet link)."},
        {.path = "keepalive.interval", .type = uint, .def = "5", .scope = Scope::client,
            .feature = "ssh",
            .doc = "Seconds of silence before a keepalive probe; one probe per interval while "
                   "the link stays quiet.",
            .min = 1, .max = 3600},
        {.path = "keepalive.count", .type = uint, .def = "3", .scope = Scope::client, .feature = "ssh",
            .doc = "Peer is dead after interval*count seconds without inbound traffic; the "
                   "profile then reconnects.",
            .min = 1,
            .max = 100},

        {.path = "window", .type = object, .scope = Scope::any, .feature = "ssh",
            .doc = "Receive windows of SSH channels (both roles): each channel starts at `initial` and "
                   "doubles once per round trip while the path, not the local reader, limits it, up to "
                   "`max`; the growth of all channels of one session comes out of `session_budget`. "
                   "docs/performance.md explains the sizes."},
        {.path = "window.initial", .type = uint, .def = "2097152", .scope = Scope::any,
            .feature = "ssh",
            .doc = "Bytes granted to every channel as soon as it opens (OpenSSH grants 2 MiB). libssh "
                   "itself keeps at least about 1.28 MB open once data flows.",
            .min = 65536, .max = 268435456},
        {.path = "window.max", .type = uint, .def = "16777216", .scope = Scope::any, .feature = "ssh",
            .doc = "Largest window of one channel in bytes: one flow carries at most max / RTT "
                   "(16 MiB: about 1.3 Gbit/s at 100 ms). Also what one channel may hold in memory "
                   "when its local reader stops.",
            .min = 65536, .max = 268435456},
        {.path = "window.session_budget", .type = uint, .def = "67108864", .scope = Scope::any,
            .feature = "ssh",
            .doc = "Bytes all channels of one session may grow by beyond `initial`, together; 0 keeps "
                   "every window at `initial`.",
            .max = 4294967295},

        {.path = "reconnect", .type = object, .scope = Scope::client, .feature = "ssh",
            .doc = "Reconnect with exponential backoff and jitter."},
        {.path = "reconnect.enabled", .type = boolean, .def = "true", .scope = Scope::client,
            .feature = "ssh", .doc = "Reconnect after the session is lost."},
        {.path = "reconnect.initial_delay", .type = uint, .def = "1", .scope = Scope::client,
            .feature = "ssh", .doc = "First delay in seconds; doubles up to max_delay.", .min = 1,
            .max = 3600},
        {.path = "reconnect.max_delay", .type = uint, .def = "60", .scope = Scope::client,
            .feature = "ssh", .doc = "Longest delay in seconds.", .min = 1, .max = 86400},
        {.path = "reconnect.pending_wait", .type = uint, .def = "10", .scope = Scope::client,
            .feature = "ssh", .doc = "Seconds a new connection waits for the session while reconnecting.",
            .min = 0, .max = 300},

        {.path = "hooks", .type = object, .scope = Scope::client, .feature = "hooks",
            .doc = "Executables run on state changes (GHOST_PROFILE, GHOST_STATE, GHOST_TUN_DEV set)."},
        {.path = "hooks.up", .type = path, .scope = Scope::client, .feature = "hooks",
            .doc = "Run when the profile is up."},
        {.path = "hooks.down", .type = path, .scope = Scope::client, .feature = "hooks",
            .doc = "Run when the profile goes down."},
        {.path = "hooks.timeout", .type = uint, .def = "10", .scope = Scope::client, .feature = "hooks",
            .doc = "Seconds before a hook is killed.", .min = 1, .max = 600},
    };
}

std::vector<Key> server_head() {
    return {
        {.path = "listen", .type = array, .scope = Scope::server, .feature = "server",
            .doc = "Listeners of a server profile.", .min = 1, .max = 16, .flags = kRequired},
        {.path = "listen[]", .type = object, .scope = Scope::server, .feature = "server",
            .doc = "One listener."},
        {.path = "listen[].address", .type = listen, .scope = Scope::server, .feature = "server",
            .doc = "Listen address, \"ip:port\" or a bare port (127.0.0.1).", .flags = kRequired},
        {.path = "listen[].transport", .type = object, .scope = Scope::server, .feature = "server",
            .doc = "Transport of this listener."},
    };
}

std::vector<Key> server_tail() {
    return {
        {.path = "host_key", .type = path, .scope = Scope::server, .feature = "server",
            .doc = "Host private key; absent = per-profile ed25519 key generated on first start."},
        {.path = "authorized_keys", .type = path, .scope = Scope::server, .feature = "server",
            .doc = "OpenSSH authorized_keys file, or a directory of such files; re-read on reload.",
            .flags = kRequired},
        {.path = "banner", .type = string, .scope = Scope::server, .feature = "server",
            .doc = "Text sent to clients before authentication.", .max = 1024},
        {.path = "gateway_ports", .type = boolean, .def = "false", .scope = Scope::server,
            .feature = "server", .doc = "Let remote forwards listen on non-loopback addresses."},

        {.path = "outbound", .type = object, .scope = Scope::server, .feature = "server",
            .doc = "How direct-tcpip connections leave the server."},
        {.path = "outbound.type", .type = enumeration, .def = R"("direct")", .scope = Scope::server,
            .feature = "server", .doc = "Connect directly, or through an upstream proxy.",
            .choices = "direct|socks5|http", .when = "socks5|http", .when_feature = "outbound"},
        {.path = "outbound.proxy", .type = endpoint, .scope = Scope::server, .feature = "outbound",
            .doc = "Upstream proxy \"host:port\"; required for socks5 and http."},
        {.path = "outbound.username", .type = string, .scope = Scope::server, .feature = "outbound",
            .doc = "Upstream proxy user.", .min = 1, .max = 255},
        {.path = "outbound.password", .type = string, .scope = Scope::server, .feature = "outbound",
            .doc = "Upstream proxy password.", .min = 1, .max = 255},
        {.path = "outbound.connect_timeout", .type = uint, .def = "10", .scope = Scope::server,
            .feature = "server", .doc = "Seconds allowed to connect a destination.", .min = 1,
            .max = 300},

        {.path = "acl", .type = object, .scope = Scope::server, .feature = "acl",
            .doc = "Destination ACL for direct-tcpip."},
        {.path = "acl.allow", .type = array, .scope = Scope::server, .feature = "acl",
            .doc = "Allowed destination prefixes; absent/empty = all not denied.", .max = 1024},
        {.path = "acl.allow[]", .type = cidr, .scope = Scope::server, .feature = "acl",
            .doc = "A prefix."},
        {.path = "acl.deny", .type = array, .scope = Scope::server, .feature = "acl",
            .doc = "Denied destination prefixes (checked first).", .max = 1024},
        {.path = "acl.deny[]", .type = cidr, .scope = Scope::server, .feature = "acl", .doc = "A prefix."},
        {.path = "acl.ports", .type = array, .scope = Scope::server, .feature = "acl",
            .doc = "Allowed destination ports; absent/empty = all.", .max = 1024},
        {.path = "acl.ports[]", .type = uint, .scope = Scope::server, .feature = "acl",
            .doc = "A port.", .min = 1, .max = 65535},
        {.path = "acl.deny_loopback", .type = boolean, .def = "true", .scope = Scope::server,
            .feature = "acl", .doc = "Refuse 127.0.0.0/8 and ::1."},
        {.path = "acl.deny_link_local", .type = boolean, .def = "true", .scope = Scope::server,
            .feature = "acl", .doc = "Refuse 169.254.0.0/16 and fe80::/10."},
        {.path = "acl.deny_self", .type = boolean, .def = "true", .scope = Scope::server,
            .feature = "acl", .doc = "Refuse the server's own addresses."},

        {.path = "limits", .type = object, .scope = Scope::server, .feature = "server",
            .doc = "Resource limits."},
        {.path = "limits.max_sessions", .type = uint, .def = "256", .scope = Scope::server,
            .feature = "server", .doc = "Authenticated sessions at once.", .min = 1, .max = 100000},
        {.path = "limits.max_startups", .type = uint, .def = "10", .scope = Scope::server,
            .feature = "server",
            .doc = "Unauthenticated connections per source netblock; more are closed at accept.",
            .min = 1, .max = 10000},
        {.path = "limits.max_startups_total", .type = uint, .def = "2048", .scope = Scope::server,
            .feature = "server",
            .doc = "Unauthenticated connections in total; at the cap a new one evicts the oldest.",
            .min = 1, .max = 16384},
        {.path = "limits.source_netblock_v4", .type = uint, .def = "32", .scope = Scope::server,
            .feature = "server",
            .doc = "Prefix length grouping IPv4 sources for max_startups and penalties.", .min = 8,
            .max = 32},
        {.path = "limits.source_netblock_v6", .type = uint, .def = "64", .scope = Scope::server,
            .feature = "server",
            .doc = "Prefix length grouping IPv6 sources for max_startups and penalties.", .min = 16,
            .max = 128},
        {.path = "limits.penalties", .type = object, .scope = Scope::server, .feature = "server",
            .doc = "Per-source penalties (OpenSSH's PerSourcePenalties), in seconds."},
        {.path = "limits.penalties.enabled", .type = boolean, .def = "true", .scope = Scope::server,
            .feature = "server", .doc = "Refuse sources whose connections fail or stall."},
        {.path = "limits.penalties.auth_failed", .type = uint, .def = "5", .scope = Scope::server,
            .feature = "server", .doc = "Charged when a connection ends after a refused key.",
            .min = 0, .max = 86400},
        {.path = "limits.penalties.grace_exceeded", .type = uint, .def = "10",
            .scope = Scope::server, .feature = "server",
            .doc = "Charged for no login within login_grace_time, or eviction as the oldest.",
            .min = 0, .max = 86400},
        {.path = "limits.penalties.protocol_error", .type = uint, .def = "5",
            .scope = Scope::server, .feature = "server",
            .doc = "Charged when the key exchange fails (not SSH, no common algorithm).", .min = 0,
            .max = 86400},
        {.path = "limits.penalties.no_auth", .type = uint, .def = "1", .scope = Scope::server,
            .feature = "server", .doc = "Charged when the client leaves without trying to log in.",
            .min = 0, .max = 86400},
        {.path = "limits.penalties.min", .type = uint, .def = "15", .scope = Scope::server,
            .feature = "server", .doc = "A source is refused once more than this is outstanding.",
            .min = 0, .max = 86400},
        {.path = "limits.penalties.max", .type = uint, .def = "600", .scope = Scope::server,
            .feature = "server", .doc = "Charges add up to at most this.", .min = 1, .max = 86400},
        {.path = "limits.penalties.max_sources", .type = uint, .def = "65536",
            .scope = Scope::server, .feature = "server",
            .doc = "Netblocks tracked per address family.", .min = 1, .max = 1048576},
        {.path = "limits.penalties.overflow", .type = enumeration, .def = R"("permissive")",
            .scope = Scope::server, .feature = "server",
            .doc = "When the table is full: forget the soonest-expiring, or refuse everyone.",
            .choices = "permissive|deny-all"},
        {.path = "limits.penalties.exempt", .type = array, .scope = Scope::server,
            .feature = "server", .doc = "Sources never penalised.", .max = 1024},
        {.path = "limits.penalties.exempt[]", .type = cidr, .scope = Scope::server,
            .feature = "server", .doc = "A prefix."},
        {.path = "limits.login_grace_time", .type = uint, .def = "30", .scope = Scope::server,
            .feature = "server", .doc = "Seconds allowed from accept to successful auth.", .min = 1,
            .max = 600},
        {.path = "limits.max_channels", .type = uint, .def = "1024", .scope = Scope::server,
            .feature = "server", .doc = "Channels per session.", .min = 1, .max = 65536},
        {.path = "limits.max_forwards", .type = uint, .def = "16", .scope = Scope::server,
            .feature = "server", .doc = "Remote forwards per session.", .min = 0, .max = 1024},
        {.path = "limits.idle_timeout", .type = uint, .def = "0", .scope = Scope::server,
            .feature = "server", .doc = "Seconds a channel may be idle; 0 = no limit.", .min = 0,
            .max = 604800},

        {.path = "udp", .type = object, .scope = Scope::server, .feature = "udp",
            .doc = "UDP relay for ghost clients (datagram channel); the ACL and the key's permitopen apply to every datagram."},
        {.path = "udp.enabled", .type = boolean, .def = "true", .scope = Scope::server,
            .feature = "udp", .doc = "Relay UDP (and ICMP echo) for ghost clients."},
        {.path = "udp.max_flows_per_session", .type = uint, .def = "256", .scope = Scope::server,
            .feature = "udp",
            .doc = "UDP flows (one socket each) a session may hold; at the cap a new flow evicts the session's least recently used one.",
            .min = 1, .max = 65536},
        {.path = "udp.max_flows", .type = uint, .def = "4096", .scope = Scope::server,
            .feature = "udp",
            .doc = "UDP flows of all sessions of the profile together; at the cap a session's new flow evicts its own least recently used one, or is dropped.",
            .min = 1, .max = 1048576},
        {.path = "udp.idle_timeout", .type = uint, .def = "120", .scope = Scope::server,
            .feature = "udp", .doc = "Seconds a UDP flow may carry nothing (either way) before its socket is closed.",
            .min = 5, .max = 86400},
        {.path = "udp.filtering", .type = enumeration, .def = R"("address-and-port-dependent")",
            .scope = Scope::server, .feature = "udp",
            .doc = "Which remotes may send to a flow (RFC 4787): anyone, addresses the flow has sent to, or address and port pairs it has sent to.",
            .choices = "endpoint-independent|address-dependent|address-and-port-dependent"},
        {.path = "udp.max_payload", .type = uint, .def = "65507", .scope = Scope::server,
            .feature = "udp", .doc = "Largest UDP payload relayed, either way; larger datagrams are dropped.",
            .min = 508, .max = 65507},
        {.path = "icmp", .type = object, .scope = Scope::server, .feature = "udp",
            .doc = "ICMP echo (ping) for ghost clients."},
        {.path = "icmp.echo", .type = boolean, .def = "true", .scope = Scope::server,
            .feature = "udp", .doc = "Send ICMP echo requests for clients (ping sockets when net.ipv4.ping_group_range allows, else raw sockets)."},
        {.path = "icmp.echo_rate", .type = uint, .def = "20", .scope = Scope::server,
            .feature = "udp", .doc = "Echo requests per second one session may send; more are dropped.",
            .min = 1, .max = 10000},
    };
}

std::vector<Key> build_daemon_keys() {
    return {
        {.path = "log_level", .type = enumeration, .def = R"("info")",
            .doc = "Lowest level logged.", .choices = "debug|info|notice|warning|error"},
        {.path = "control_group", .type = string, .def = R"("ghost")",
            .doc = "Group whose members may call mutating methods (root always may).",
            .check = check_group},
        {.path = "workers", .type = uint, .def = "0", .doc = "Data-plane threads; 0 = one per core.",
            .min = 0, .max = 256},
        {.path = "rpc", .type = object, .doc = "Control socket limits."},
        {.path = "rpc.max_clients", .type = uint, .def = "64", .doc = "Connected control clients.",
            .min = 1, .max = 4096},
        {.path = "rpc.reserved_clients", .type = uint, .def = "16",
            .doc = "Of max_clients, connections only root and the control group may use.",
            .min = 0, .max = 4096},
        {.path = "rpc.max_clients_per_user", .type = uint, .def = "8",
            .doc = "Connections one user outside the control group may hold.", .min = 1, .max = 4096},
        {.path = "rpc.max_subscriptions_per_user", .type = uint, .def = "4",
            .doc = "Event subscriptions one user outside the control group may hold.", .min = 0,
            .max = 4096},
        {.path = "rpc.max_request_bytes", .type = uint, .def = "1048576",
            .doc = "Longest request line in bytes.", .min = 1024, .max = 16777216},
        {.path = "rpc.idle_timeout", .type = uint, .def = "300",
            .doc = "Seconds before an idle control client is dropped; 0 = never (subscribers are never dropped).",
            .min = 0, .max = 86400},
        {.path = "watchdog_interval", .type = uint, .def = "0",
            .doc = "Seconds between watchdog pings; 0 = derived from WATCHDOG_USEC.", .min = 0,
            .max = 3600},
    };
}
// clang-format on

void add_transport(std::vector<Key>& out, const std::string& prefix, Scope scope, Side side) {
    for (const auto& tk : transport_keys()) {
        if (tk.side != Side::both && tk.side != side) continue;
        Key key = tk.key;
        key.path = prefix + "." + key.path;
        key.scope = scope;
        out.push_back(std::move(key));
    }
}

std::vector<Key> build_profile_keys() {
    std::vector<Key> keys = client_head();
    auto append = [&keys](std::vector<Key> more) {
        keys.insert(keys.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
    };
    add_transport(keys, "transport", Scope::client, Side::client);
    append(client_tail());
    append(server_head());
    add_transport(keys, "listen[].transport", Scope::server, Side::server);
    append(server_tail());
    return keys;
}

}  // namespace

const std::vector<Key>& profile_keys() {
    static const std::vector<Key> keys = build_profile_keys();
    return keys;
}

const std::vector<Key>& daemon_keys() {
    static const std::vector<Key> keys = build_daemon_keys();
    return keys;
}

const Key* find_key(const std::vector<Key>& keys, std::string_view path) {
    for (const auto& key : keys)
        if (key.path == path) return &key;
    return nullptr;
}

std::string_view parent_path(std::string_view path) {
    if (path.ends_with("[]")) return path.substr(0, path.size() - 2);
    auto dot = path.rfind('.');
    return dot == std::string_view::npos ? std::string_view{} : path.substr(0, dot);
}

std::string_view leaf_name(std::string_view path) {
    auto dot = path.rfind('.');
    return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

json default_value(const Key& key) {
    if (key.def.empty()) return nullptr;
    return bounded_json::parse(key.def).value;  // null if the table's text were malformed
}

}  // namespace ghost::config
