// ghostctl proxy-command NAME: for `ssh -o ProxyCommand='ghostctl proxy-command NAME'`.
// ghostd opens the profile's transport (tcp, or tls with its knock; the secrets stay with
// ghostd) and turns this control connection into that byte stream; we copy it to and
// from stdin/stdout.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "ctl/verbs.hpp"

namespace ghost::ctl {
namespace {

/// Writes all of `data` to `fd`; false when the other side is gone.
bool write_all(int fd, const char* data, size_t len) {
    while (len > 0) {
        ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

}  // namespace

int verb_proxy_command(const Options& o) {
    if (o.args.size() != 1) return fail(exit_code::usage, "usage: ghostctl proxy-command NAME");
    auto conn = connect_socket(o);
    Answer a = conn->call("profile.connect", {{"name", o.args[0]}});
    if (!a.ok) return report_error(a);
    std::string early;
    int fd = conn->take_stream(&early);
    if (fd < 0) return fail(exit_code::protocol, "the control connection cannot carry a stream");
    if (!early.empty() && !write_all(STDOUT_FILENO, early.data(), early.size()))
        return exit_code::ok;
    char buf[65536];
    bool stdin_open = true;
    for (;;) {
        pollfd p[2] = {{fd, POLLIN, 0},
                       {STDIN_FILENO, static_cast<short>(stdin_open ? POLLIN : 0), 0}};
        int r = ::poll(p, stdin_open ? 2 : 1, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        if (p[0].revents) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || !write_all(STDOUT_FILENO, buf, static_cast<size_t>(n))) break;
        }
        if (stdin_open && p[1].revents) {
            ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                stdin_open = false;
                ::shutdown(fd, SHUT_WR);
            } else if (!write_all(fd, buf, static_cast<size_t>(n))) {
                break;
            }
        }
    }
    ::close(fd);
    return exit_code::ok;
}

}  // namespace ghost::ctl
