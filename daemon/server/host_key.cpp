#include "daemon/server/host_key.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <libssh/libssh.h>

#include "daemon/ssh/ssh_key.hpp"

namespace ghost::daemon::server {
namespace {

bool generate(const std::string& path, std::string* why) {
    ssh_key raw = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
        *why = "cannot generate an ed25519 host key";
        return false;
    }
    ssh::KeyPtr key(raw);
    char* b64 = nullptr;
    if (ssh_pki_export_privkey_base64(key.get(), nullptr, nullptr, nullptr, &b64) != SSH_OK) {
        *why = "cannot encode the generated host key";
        return false;
    }
    std::string data(b64);
    ssh_string_free_char(b64);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        *why = "cannot create host key " + path + ": " + std::strerror(errno);
        return false;
    }
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    if (!ok) *why = "cannot write host key " + path + ": " + std::strerror(errno);
    ::close(fd);
    if (!ok) ::unlink(path.c_str());
    return ok;
}

}  // namespace

bool load_host_key(const std::string& explicit_path, const std::string& state_dir,
                   const std::string& profile, HostKey* out, std::string* why) {
    std::string path = explicit_path;
    if (path.empty()) {
        std::string dir;
        if (!ssh::ensure_profile_dir(state_dir, profile, &dir, why)) return false;
        path = dir + "/host_ed25519";
        if (::access(path.c_str(), F_OK) != 0 && !generate(path, why)) return false;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0 && ::geteuid() == 0) {
        *why = "host key " + path + " is accessible by group/others; chmod 600 " + path;
        return false;
    }
    ssh_key raw = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
        *why = "cannot load host key " + path + " (missing, or not an unencrypted private key)";
        return false;
    }
    ssh::KeyPtr key(raw);
    out->path = path;
    out->public_line = ssh::public_line(key.get());
    out->fingerprint = ssh::sha256_fingerprint(key.get());
    return true;
}

std::string known_hosts_line(const std::string& host, unsigned port, const std::string& key) {
    if (port == 22) return host + " " + key;
    return "[" + host + "]:" + std::to_string(port) + " " + key;
}

}  // namespace ghost::daemon::server
