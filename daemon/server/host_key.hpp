#pragma once
/// The server's host key: loaded from `host_key`, or generated (ed25519, mode 0600) at
/// <state_dir>/<profile>/host_ed25519 on first start; what status() shows of it.

#include <string>

namespace ghost::daemon::server {

/// A loaded host key (the private key is re-read by ssh_bind from `path`).
struct HostKey {
    std::string path;
    std::string public_line;  // "ssh-ed25519 AAAA..."
    std::string fingerprint;  // "SHA256:..."
};

/// Loads `explicit_path`, or the per-profile generated key; false + *why on error.
bool load_host_key(const std::string& explicit_path, const std::string& state_dir,
                   const std::string& profile, HostKey* out, std::string* why);

/// The known_hosts line for a listener: "[host]:port key" ("host key" for port 22).
std::string known_hosts_line(const std::string& host, unsigned port, const std::string& key);

}  // namespace ghost::daemon::server
