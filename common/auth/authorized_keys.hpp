#pragma once
/// OpenSSH authorized_keys parsing (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"), restricted to
/// the options that matter to a tunnel server. Unknown or unsupported options reject the
/// whole line with a reason: a line is never accepted with less restriction than its
/// author wrote. Pure: no logging, no I/O (io/authorized_keys_file reads the files).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net/endpoint.hpp"

namespace ghost::auth {

/// `permitopen="host:port"`; host "*" or port "*" match anything.
struct PermitOpen {
    std::string host;              // lower-case; "*" = any host
    std::optional<uint16_t> port;  // nullopt = "*"
};

/// `permitlisten="[host:]port"`; host is a pattern (wildcards), "*" when omitted.
struct PermitListen {
    std::string host_pattern;      // lower-case
    std::optional<uint16_t> port;  // nullopt = "*"
};

/// One accepted key line.
struct KeyEntry {
    std::string type;                         // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"
    std::string base64;                       // key blob as written
    std::vector<uint8_t> blob;                // decoded key blob
    std::string name;                         // the comment, or "file:line" when there is none
    std::string where;                        // "file:line"
    bool port_forwarding = true;              // false after restrict / no-port-forwarding
    std::vector<PermitOpen> permit_open;      // empty = any destination
    std::vector<PermitListen> permit_listen;  // empty = any listen address
    std::vector<std::string> from;            // from= patterns (lower-case, may start with '!')
    std::optional<int64_t> expiry;            // unix time; the key is refused at or after it

    /// True when the key has expired at `now` (unix time).
    bool expired(int64_t now) const { return expiry && now >= *expiry; }
    /// True when from= is absent or the client's address matches it.
    bool from_allows(const net::IpAddress& client) const;
    /// True when direct-tcpip to host:port is allowed (forwarding on, permitopen match).
    bool permits_open(std::string_view host, uint16_t port) const;
    /// True when tcpip-forward on host:port is allowed (forwarding on, permitlisten match).
    bool permits_listen(std::string_view host, uint16_t port) const;
};

/// A rejected line: "file:line: reason".
struct LineError {
    std::string where;
    std::string reason;
    std::string str() const { return where + ": " + reason; }
};

/// Parsed keys plus every rejected line.
struct AuthorizedKeys {
    std::vector<KeyEntry> entries;
    std::vector<LineError> errors;

    /// The first entry whose decoded blob equals `blob`, or nullptr.
    const KeyEntry* find(const std::vector<uint8_t>& blob) const;
};

/// Longest accepted line (OpenSSH uses 8 KiB; RSA-16384 keys need about 3 KiB).
inline constexpr size_t kMaxLineLength = 16 * 1024;

/// Parses the text of one file; `source` names it in `where` and errors.
AuthorizedKeys parse_authorized_keys(std::string_view text, const std::string& source);

/// Parses one line (no newline); nullopt + *why when rejected. Blank/comment lines
/// return nullopt with *why empty.
std::optional<KeyEntry> parse_key_line(std::string_view line, const std::string& where,
                                       std::string* why);

/// A key blob as a line writes it (and libssh exports it): standard base64, any number of
/// trailing '=' (none included); nullopt on any other character or a length no encoder writes.
std::optional<std::vector<uint8_t>> decode_key_blob(std::string_view b64);

/// OpenSSH pattern match: '*' any run, '?' one character; case-sensitive.
bool wildcard_match(std::string_view text, std::string_view pattern);

/// Parses "YYYYMMDD[HHMM[SS]]" (local time) with an optional trailing 'Z' (UTC).
std::optional<int64_t> parse_expiry_time(std::string_view text);

}  // namespace ghost::auth
