#pragma once
/// Read-ahead for the sockets libssh reads.
///
/// libssh 0.10 reads its socket at most 4 KiB per `ssh_event_dopoll`, each read after its
/// own `poll` (libssh-0.10.md "Event loop and flow control"): receiving costs two system
/// calls per 4 KiB, and at a few Gbit/s those calls are a third of the session thread's
/// time. libssh has no hook for its socket I/O, so ghostd provides the two libc functions
/// it calls, `recv` and `poll`, and the dynamic linker binds libssh to them (ghostd is
/// the executable, so its definitions come first). For every descriptor nobody attached
/// they are a bounds check and one atomic load in front of libc's `recvfrom` and `ppoll`.
///
/// For an attached descriptor, `recv` refills a 64 KiB buffer with one `recvfrom` and
/// hands it out in the small pieces libssh asks for, and `poll` reports POLLIN while that
/// buffer holds data (without a system call when the session has nothing to write).
/// Only the thread that attached the descriptor sees its buffer, so a descriptor number
/// that libssh closed and another thread reused is never served stale bytes; the owner
/// detaches before its session is freed. Only `recv` with no flags is buffered.
///
/// The buffer exists only while it holds data or the stream is busy: it is freed when a
/// refill did not fill it and it has since been emptied, so idle sessions cost nothing.

#include <cstddef>

#include <libssh/libssh.h>

namespace ghost::daemon::ssh {

/// Starts buffering `fd`, the socket of `session`, for the calling thread. False if `fd`
/// is out of range (the caller then works unbuffered) or already attached.
bool read_ahead_attach(int fd, ssh_session session);

/// Stops buffering `fd` (bytes still buffered are dropped: call it only when the stream
/// is being torn down, before the descriptor is closed, or at once if libssh closed it).
/// Any thread may call it, as the owner of `fd`, once the attaching thread no longer
/// reads it: a session destroyed elsewhere must not leave a buffer behind that a reused
/// descriptor number would find. No-op when `fd` is not attached.
void read_ahead_detach(int fd);

/// Bytes buffered for `fd` (for tests and status); 0 when not attached.
size_t read_ahead_buffered(int fd);

}  // namespace ghost::daemon::ssh
