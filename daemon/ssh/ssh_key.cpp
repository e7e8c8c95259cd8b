#include "daemon/ssh/ssh_key.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ghost::daemon::ssh {
namespace {

std::string errno_text() {
    return std::strerror(errno);
}

/// Writes `data` to a new file created with `mode` (never widening an existing file).
bool write_new_file(const std::string& path, const std::string& data, mode_t mode,
                    std::string* why) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        *why = "cannot create " + path + ": " + errno_text();
        return false;
    }
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    if (!ok) *why = "cannot write " + path + ": " + errno_text();
    ::close(fd);
    return ok;
}

bool check_key_file_mode(const std::string& path, std::string* why) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        *why = "cannot read identity file " + path + ": " + errno_text();
        return false;
    }
    if (::geteuid() != 0) return true;
    if (st.st_uid != 0) {
        *why = "identity file " + path + " is owned by uid " + std::to_string(st.st_uid) +
               ", not root; chown root " + path;
        return false;
    }
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
        *why = "identity file " + path + " is accessible by group/others (mode " + mode +
               "); chmod 600 " + path;
        return false;
    }
    return true;
}

bool generate_key(const std::string& path, const std::string& comment, std::string* why) {
    ssh_key raw = nullptr;
    if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
        *why = "cannot generate an ed25519 key";
        return false;
    }
    KeyPtr key(raw);
    char* b64 = nullptr;
    if (ssh_pki_export_privkey_base64(key.get(), nullptr, nullptr, nullptr, &b64) != SSH_OK) {
        *why = "cannot encode the generated key";
        return false;
    }
    std::string priv(b64);
    ssh_string_free_char(b64);
    if (!write_new_file(path, priv, 0600, why)) return false;
    return write_new_file(path + ".pub", public_line(key.get(), comment) + "\n", 0644, why);
}

}  // namespace

std::string sha256_fingerprint(ssh_key key) {
    unsigned char* hash = nullptr;
    size_t len = 0;
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != 0) return {};
    char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
    ssh_clean_pubkey_hash(&hash);
    if (!fp) return {};
    std::string out(fp);
    ssh_string_free_char(fp);
    return out;
}

std::string public_line(ssh_key key, const std::string& comment) {
    char* b64 = nullptr;
    if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) return {};
    std::string line = ssh_key_type_to_char(ssh_key_type(key));
    line += " ";
    line += b64;
    ssh_string_free_char(b64);
    if (!comment.empty()) line += " " + comment;
    return line;
}

bool ensure_profile_dir(const std::string& state_dir, const std::string& profile, std::string* dir,
                        std::string* why) {
    if (::mkdir(state_dir.c_str(), 0755) != 0 && errno != EEXIST) {
        *why = "cannot create state directory " + state_dir + ": " + errno_text();
        return false;
    }
    *dir = state_dir + "/" + profile;
    if (::mkdir(dir->c_str(), 0700) != 0 && errno != EEXIST) {
        *why = "cannot create " + *dir + ": " + errno_text();
        return false;
    }
    ::chmod(dir->c_str(), 0700);
    return true;
}

bool load_identity(const std::string& explicit_path, const std::string& state_dir,
                   const std::string& profile, Identity* out, std::string* why) {
    std::string path = explicit_path;
    if (path.empty()) {
        std::string dir;
        if (!ensure_profile_dir(state_dir, profile, &dir, why)) return false;
        path = dir + "/id_ed25519";
        if (::access(path.c_str(), F_OK) != 0 && !generate_key(path, "ghost-" + profile, why)) {
            return false;
        }
    }
    if (!check_key_file_mode(path, why)) return false;
    ssh_key raw = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
        *why =
            "cannot load identity file " + path + " (not an unencrypted OpenSSH/PEM private key?)";
        return false;
    }
    out->key = std::shared_ptr<ssh_key_struct>(raw, KeyDeleter{});
    out->path = path;
    out->public_line = public_line(raw, "ghost-" + profile);
    out->fingerprint = sha256_fingerprint(raw);
    return true;
}

}  // namespace ghost::daemon::ssh
