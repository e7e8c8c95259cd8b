#pragma once
/// Server host key verification for client sessions (DESIGN.md §6): a pinned key or
/// SHA256 fingerprint, else a known_hosts file, with trust-on-first-use only if asked.

#include <string>

#include <libssh/libssh.h>

namespace ghost::daemon::ssh {

/// What the profile says about trusting the server.
struct HostKeyPolicy {
    std::string pinned;       // "ssh-ed25519 AAAA..." or "SHA256:..."; empty = none
    std::string known_hosts;  // file consulted (and written on TOFU)
    bool trust_on_first_use = false;
};

/// Result of verify_host_key.
struct HostKeyVerdict {
    bool ok = false;
    std::string fingerprint;  // the server's key, SHA256:...
    std::string message;      // why not ok ("host key mismatch for ...")
};

/// Sets options that must precede ssh_connect (known_hosts path, host key algorithms
/// matching a pinned key). False + *why on a malformed pin.
bool prepare_host_key_options(ssh_session session, const HostKeyPolicy& policy, std::string* why);

/// Checks the connected session's server key; `server` names it in messages and
/// `host_port` is its known_hosts name ("host" or "[host]:port").
HostKeyVerdict verify_host_key(ssh_session session, const HostKeyPolicy& policy,
                               const std::string& server, const std::string& host_port);

}  // namespace ghost::daemon::ssh
