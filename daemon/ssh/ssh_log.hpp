#pragma once
/// Routes libssh's (thread-local) log output into ghostd's logger.

#include "daemon/core/log.hpp"

namespace ghost::daemon::ssh {

/// Installs the libssh log callback and level on the calling thread (idempotent).
void init_thread_logging();

/// While alive, libssh messages on this thread are logged with `logger`'s profile/peer.
class LogScope {
  public:
    explicit LogScope(const log::Logger& logger);
    ~LogScope();
    LogScope(const LogScope&) = delete;
    LogScope& operator=(const LogScope&) = delete;

  private:
    const log::Logger* previous_;
};

}  // namespace ghost::daemon::ssh
