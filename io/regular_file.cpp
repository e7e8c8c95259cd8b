#include "io/regular_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace ghost::io {
namespace {

std::string errno_text(int err) {
    return std::generic_category().message(err);
}

std::string not_regular(mode_t mode) {
    const char* kind = S_ISDIR(mode)    ? "a directory"
                       : S_ISFIFO(mode) ? "a FIFO (named pipe)"
                       : S_ISCHR(mode)  ? "a character device"
                       : S_ISBLK(mode)  ? "a block device"
                       : S_ISSOCK(mode) ? "a socket"
                                        : "not a plain file";
    return std::string("not a regular file: it is ") + kind;
}

/// Why `path` could not be looked up or opened (errno `err`), in words a user can act on.
std::string open_failure(const std::string& path, int err) {
    struct stat link {};
    if (err == ENOENT && ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode))
        return "cannot read file: dangling symbolic link (its target does not exist)";
    if (err == ELOOP) return "cannot read file: symbolic link loop (" + errno_text(err) + ")";
    return "cannot read file: " + errno_text(err);
}

std::string too_large(size_t max_bytes) {
    return "file too large (limit " + std::to_string(max_bytes) + " bytes)";
}

/// Owns a descriptor for the length of one read.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

/// Reads fd to its end, refusing more than max_bytes.
std::optional<std::string> read_all(int fd, size_t max_bytes, std::string* why) {
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            *why = "cannot read file: " + errno_text(errno);
            return std::nullopt;
        }
        if (n == 0) return text;
        if (text.size() + static_cast<size_t>(n) > max_bytes) {
            *why = too_large(max_bytes);
            return std::nullopt;
        }
        text.append(buffer, static_cast<size_t>(n));
    }
}

}  // namespace

std::optional<std::string> read_regular_file(const std::string& path, size_t max_bytes,
                                             std::string* why) {
    // Look first, so a FIFO or a device is never even opened (opening some devices acts).
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        *why = open_failure(path, errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = not_regular(st.st_mode);
        return std::nullopt;
    }
    // The file may have been swapped since: what counts is what the descriptor refers to.
    Fd file{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
    if (file.fd < 0) {
        *why = open_failure(path, errno);
        return std::nullopt;
    }
    if (::fstat(file.fd, &st) != 0) {
        *why = "cannot read file: " + errno_text(errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = not_regular(st.st_mode);
        return std::nullopt;
    }
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
        *why = too_large(max_bytes);
        return std::nullopt;
    }
    return read_all(file.fd, max_bytes, why);
}

}  // namespace ghost::io
