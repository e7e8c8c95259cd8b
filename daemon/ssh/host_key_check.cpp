#include "daemon/ssh/host_key_check.hpp"

#include <fstream>
#include <sstream>

#include "daemon/ssh/ssh_key.hpp"

namespace ghost::daemon::ssh {
namespace {

bool is_fingerprint(const std::string& pin) {
    return pin.rfind("SHA256:", 0) == 0;
}

/// Parses "type base64 [comment]" into a key.
KeyPtr parse_public_line(const std::string& line) {
    std::istringstream in(line);
    std::string type, b64;
    in >> type >> b64;
    ssh_key raw = nullptr;
    if (ssh_pki_import_pubkey_base64(b64.c_str(), ssh_key_type_from_name(type.c_str()), &raw) !=
        SSH_OK) {
        return nullptr;
    }
    return KeyPtr(raw);
}

/// Host key algorithms to offer so the server presents the pinned key's type.
std::string algorithms_for(ssh_key key) {
    switch (ssh_key_type(key)) {
        case SSH_KEYTYPE_RSA:
            return "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
        case SSH_KEYTYPE_ED25519:
            return "ssh-ed25519";
        case SSH_KEYTYPE_ECDSA_P256:
            return "ecdsa-sha2-nistp256";
        case SSH_KEYTYPE_ECDSA_P384:
            return "ecdsa-sha2-nistp384";
        case SSH_KEYTYPE_ECDSA_P521:
            return "ecdsa-sha2-nistp521";
        default:
            return {};
    }
}

std::string mismatch(const std::string& server, const std::string& expected,
                     const std::string& got) {
    return "host key mismatch for " + server + ": expected " + expected + ", got " + got +
           " (possible man-in-the-middle; if the server key really changed, update ssh.host_key "
           "or the known_hosts file)";
}

/// Fingerprints of the known_hosts entries for `host_port` (plain, not hashed, entries).
std::string recorded_fingerprints(const std::string& file, const std::string& host_port) {
    std::ifstream in(file);
    std::string line, out;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string hosts, type, b64;
        if (!(fields >> hosts >> type >> b64) || hosts.empty() || hosts[0] == '#') continue;
        std::istringstream names(hosts);
        bool match = false;
        for (std::string name; std::getline(names, name, ',');) match |= name == host_port;
        if (!match) continue;
        KeyPtr key = parse_public_line(type + " " + b64);
        if (!key) continue;
        if (!out.empty()) out += " or ";
        out += sha256_fingerprint(key.get());
    }
    return out;
}

HostKeyVerdict check_known_hosts(ssh_session session, const HostKeyPolicy& policy,
                                 const std::string& server, const std::string& host_port,
                                 const std::string& fp) {
    HostKeyVerdict v{false, fp, {}};
    switch (ssh_session_is_known_server(session)) {
        case SSH_KNOWN_HOSTS_OK:
            v.ok = true;
            return v;
        case SSH_KNOWN_HOSTS_CHANGED:
        case SSH_KNOWN_HOSTS_OTHER: {
            std::string expected = recorded_fingerprints(policy.known_hosts, host_port);
            if (expected.empty()) expected = "(a different key in " + policy.known_hosts + ")";
            v.message = mismatch(server, expected, fp);
            return v;
        }
        case SSH_KNOWN_HOSTS_UNKNOWN:
        case SSH_KNOWN_HOSTS_NOT_FOUND:
            if (policy.trust_on_first_use) {
                if (ssh_session_update_known_hosts(session) != SSH_OK) {
                    v.message = "cannot record host key of " + server + " in " +
                                policy.known_hosts + ": " + ssh_get_error(session);
                    return v;
                }
                v.ok = true;
                return v;
            }
            v.message = "host key of " + server + " is not trusted: " + fp +
                        " (pin it with ssh.host_key, add it to " + policy.known_hosts +
                        ", or set ssh.trust_on_first_use)";
            return v;
        case SSH_KNOWN_HOSTS_ERROR:
        default:
            v.message = "cannot check host key of " + server + " against " + policy.known_hosts +
                        ": " + ssh_get_error(session);
            return v;
    }
}

}  // namespace

bool prepare_host_key_options(ssh_session session, const HostKeyPolicy& policy, std::string* why) {
    ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
    if (!policy.known_hosts.empty()) {
        ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, policy.known_hosts.c_str());
    }
    if (policy.pinned.empty() || is_fingerprint(policy.pinned)) return true;
    KeyPtr pinned = parse_public_line(policy.pinned);
    if (!pinned) {
        *why = "ssh.host_key is not a valid public key: " + policy.pinned;
        return false;
    }
    std::string algos = algorithms_for(pinned.get());
    if (!algos.empty()) ssh_options_set(session, SSH_OPTIONS_HOSTKEYS, algos.c_str());
    return true;
}

HostKeyVerdict verify_host_key(ssh_session session, const HostKeyPolicy& policy,
                               const std::string& server, const std::string& host_port) {
    ssh_key raw = nullptr;
    if (ssh_get_server_publickey(session, &raw) != SSH_OK) {
        return {false, {}, "server " + server + " sent no usable host key"};
    }
    KeyPtr key(raw);
    const std::string fp = sha256_fingerprint(key.get());
    if (policy.pinned.empty()) return check_known_hosts(session, policy, server, host_port, fp);
    if (is_fingerprint(policy.pinned)) {
        // base64 padding is optional in fingerprints people paste.
        std::string want = policy.pinned;
        while (!want.empty() && want.back() == '=') want.pop_back();
        if (want == fp) return {true, fp, {}};
        return {false, fp, mismatch(server, policy.pinned, fp)};
    }
    KeyPtr pinned = parse_public_line(policy.pinned);
    if (pinned && ssh_key_cmp(pinned.get(), key.get(), SSH_KEY_CMP_PUBLIC) == 0) {
        return {true, fp, {}};
    }
    return {false, fp,
            mismatch(server, pinned ? sha256_fingerprint(pinned.get()) : policy.pinned, fp)};
}

}  // namespace ghost::daemon::ssh
