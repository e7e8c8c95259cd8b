#pragma once
/// libssh key helpers: owning pointer, fingerprints, OpenSSH public lines, and the
/// client identity (load, permission check, or generate on first use).

#include <memory>
#include <string>

#include <libssh/libssh.h>

namespace ghost::daemon::ssh {

struct KeyDeleter {
    void operator()(ssh_key k) const { ssh_key_free(k); }
};
/// Owning libssh key.
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;

/// "SHA256:base64" of a key, or "" on error.
std::string sha256_fingerprint(ssh_key key);

/// "ssh-ed25519 AAAA... comment" of a key's public half, or "" on error.
std::string public_line(ssh_key key, const std::string& comment = {});

/// A loaded client key with what status() shows of it.
struct Identity {
    std::shared_ptr<ssh_key_struct> key;  // private key
    std::string path;
    std::string public_line;  // to paste into authorized_keys
    std::string fingerprint;  // SHA256:...
};

/// Loads `explicit_path`, or <state_dir>/<profile>/id_ed25519 (generating it, mode 0600
/// in a 0700 directory, when absent). As root, refuses files not owned by root or
/// readable by group/others. Returns false and sets *why on error.
bool load_identity(const std::string& explicit_path, const std::string& state_dir,
                   const std::string& profile, Identity* out, std::string* why);

/// Creates <state_dir>/<profile> with mode 0700 if missing; false + *why on error.
bool ensure_profile_dir(const std::string& state_dir, const std::string& profile, std::string* dir,
                        std::string* why);

}  // namespace ghost::daemon::ssh
