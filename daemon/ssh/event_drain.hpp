#pragma once
/// The readiness helpers shared by the client and server session pumps
/// (libssh-0.10.md "Event loop and flow control").

#include <libssh/libssh.h>

#include <functional>

namespace ghost::daemon::ssh {

/// How one drain of a session's ssh_event ended.
enum class DrainResult { drained, more, error };

/// Calls ssh_event_dopoll(event, 0) until SSH_AGAIN (drained), SSH_ERROR (error: the
/// session may be half gone, touch nothing but teardown) or `max_polls` calls (more:
/// input may remain; each call reads at most 4 KiB).
DrainResult drain_event(ssh_event event, int max_polls);

/// The same, with `around_polls` run before the first poll and after every poll that did
/// not fail (the queue-driven server takes libssh's queued messages there, so that one
/// poll's worth of input is all the queue ever holds). When it returns false the drain
/// stops with `more`.
DrainResult drain_event(ssh_event event, int max_polls, const std::function<bool()>& around_polls);

/// True if `fd` is ready for `events` (POLLIN, POLLOUT) right now.
bool fd_ready_now(int fd, short events);

}  // namespace ghost::daemon::ssh
