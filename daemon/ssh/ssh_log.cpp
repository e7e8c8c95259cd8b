#include "daemon/ssh/ssh_log.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

namespace ghost::daemon::ssh {
namespace {

thread_local const log::Logger* t_logger = nullptr;
thread_local bool t_initialised = false;

void on_libssh_log(int priority, const char* function, const char* buffer, void* /*userdata*/) {
    // libssh's "warnings" are mostly routine (missing known_hosts, unknown global
    // requests); ghost reports real failures itself, so everything goes to debug.
    (void)priority;
    const log::Logger& l = t_logger ? *t_logger : log::global();
    l.debug("libssh ", function ? function : "", ": ", buffer);
}

}  // namespace

void init_thread_logging() {
    if (t_initialised) return;
    t_initialised = true;
    ssh_set_log_callback(on_libssh_log);
    ssh_set_log_level(log::enabled(log::Level::debug) ? SSH_LOG_PROTOCOL : SSH_LOG_WARN);
}

LogScope::LogScope(const log::Logger& logger) : previous_(t_logger) {
    init_thread_logging();
    t_logger = &logger;
}

LogScope::~LogScope() {
    t_logger = previous_;
}

}  // namespace ghost::daemon::ssh
