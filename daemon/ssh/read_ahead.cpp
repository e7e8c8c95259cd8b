// Defines libc's recv and poll: the fortified inline wrappers must not be in scope.
#undef _FORTIFY_SOURCE
#include "daemon/ssh/read_ahead.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

namespace ghost::daemon::ssh {

namespace {

constexpr int kMaxFd = 65536;            // libssh's own limit on session descriptors
constexpr size_t kCapacity = 64 * 1024;  // one refill; libssh takes 4 KiB at a time

/// Identifies the calling thread: the address of a thread_local is unique among the
/// threads alive at once.
thread_local char this_thread_token;

struct Slot {
    const void* owner = nullptr;
    ssh_session session = nullptr;
    std::unique_ptr<char[]> buf;  // null while empty and idle
    size_t pos = 0;
    size_t len = 0;
    bool last_refill_full = false;

    size_t available() const { return len - pos; }
    void consumed(size_t n) {
        pos += n;
        if (pos == len) {
            pos = len = 0;
            if (!last_refill_full) buf.reset();  // the stream went quiet: give the memory back
        }
    }
};

std::array<std::atomic<Slot*>, kMaxFd> g_slots{};
std::atomic<int> g_attached{0};

/// The slot of `fd` if the calling thread attached it.
Slot* own_slot(int fd) {
    if (fd < 0 || fd >= kMaxFd || g_attached.load(std::memory_order_relaxed) == 0) return nullptr;
    Slot* s = g_slots[static_cast<size_t>(fd)].load(std::memory_order_acquire);
    return s && s->owner == &this_thread_token ? s : nullptr;
}

int real_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms) {
    if (timeout_ms < 0) return ::ppoll(fds, nfds, nullptr, nullptr);
    struct timespec ts = {timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
    return ::ppoll(fds, nfds, &ts, nullptr);
}

ssize_t serve(Slot* s, void* out, size_t want, bool peek) {
    size_t n = std::min(want, s->available());
    std::memcpy(out, s->buf.get() + s->pos, n);
    if (!peek) s->consumed(n);
    return static_cast<ssize_t>(n);
}

}  // namespace

bool read_ahead_attach(int fd, ssh_session session) {
    if (fd < 0 || fd >= kMaxFd || !session) return false;
    auto slot = std::make_unique<Slot>();
    slot->owner = &this_thread_token;
    slot->session = session;
    Slot* expected = nullptr;
    if (!g_slots[static_cast<size_t>(fd)].compare_exchange_strong(expected, slot.get(),
                                                                  std::memory_order_release))
        return false;
    slot.release();
    g_attached.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void read_ahead_detach(int fd) {
    if (fd < 0 || fd >= kMaxFd) return;
    Slot* s = g_slots[static_cast<size_t>(fd)].exchange(nullptr, std::memory_order_acq_rel);
    if (!s) return;
    g_attached.fetch_sub(1, std::memory_order_relaxed);
    delete s;
}

size_t read_ahead_buffered(int fd) {
    Slot* s = own_slot(fd);
    return s ? s->available() : 0;
}

}  // namespace ghost::daemon::ssh

using ghost::daemon::ssh::kCapacity;
using ghost::daemon::ssh::own_slot;
using ghost::daemon::ssh::Slot;

/// libssh's socket read (see read_ahead.hpp). Unattached descriptors go straight to libc.
extern "C" ssize_t recv(int fd, void* buf, size_t len, int flags) {
    Slot* s = own_slot(fd);
    if (!s) return ::recvfrom(fd, buf, len, flags, nullptr, nullptr);
    if (s->available() > 0 && len > 0)
        return ghost::daemon::ssh::serve(s, buf, len, flags & MSG_PEEK);
    if (flags != 0 || len >= kCapacity) return ::recvfrom(fd, buf, len, flags, nullptr, nullptr);
    if (!s->buf) s->buf = std::make_unique_for_overwrite<char[]>(kCapacity);
    ssize_t n = ::recvfrom(fd, s->buf.get(), kCapacity, 0, nullptr, nullptr);
    if (n <= 0) {
        int saved = errno;
        s->last_refill_full = false;
        s->buf.reset();  // empty (served above otherwise)
        errno = saved;
        return n;
    }
    s->pos = 0;
    s->len = static_cast<size_t>(n);
    s->last_refill_full = static_cast<size_t>(n) == kCapacity;
    return ghost::daemon::ssh::serve(s, buf, len, false);
}

/// libssh's readiness wait (see read_ahead.hpp): an attached descriptor with buffered
/// bytes is readable now, whatever the kernel says. libssh keeps POLLOUT in its request
/// while input keeps coming, so a POLLOUT asked for with nothing waiting to be written is
/// left out; everything else goes to the kernel (without waiting) and gets POLLIN added.
extern "C" int poll(struct pollfd* fds, nfds_t nfds, int timeout) {
    bool any_buffered = false;
    bool kernel_needed = false;
    for (nfds_t i = 0; i < nfds; ++i) {
        Slot* s = (fds[i].events & POLLIN) ? own_slot(fds[i].fd) : nullptr;
        if (!s || s->available() == 0) {
            kernel_needed = true;
            continue;
        }
        any_buffered = true;
        short rest = fds[i].events & ~POLLIN;
        if (rest == POLLOUT && !(ssh_get_status(s->session) & SSH_WRITE_PENDING)) rest = 0;
        if (rest != 0) kernel_needed = true;
    }
    if (!any_buffered) return ghost::daemon::ssh::real_poll(fds, nfds, timeout);
    if (!kernel_needed) {
        for (nfds_t i = 0; i < nfds; ++i) fds[i].revents = POLLIN;
        return static_cast<int>(nfds);
    }
    int rc = ghost::daemon::ssh::real_poll(fds, nfds, 0);
    if (rc < 0) return rc;
    int ready = 0;
    for (nfds_t i = 0; i < nfds; ++i) {
        Slot* s = (fds[i].events & POLLIN) ? own_slot(fds[i].fd) : nullptr;
        if (s && s->available() > 0) fds[i].revents |= POLLIN;
        if (fds[i].revents) ++ready;
    }
    return ready;
}
