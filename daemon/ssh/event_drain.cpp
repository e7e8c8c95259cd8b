#include "daemon/ssh/event_drain.hpp"

#include <poll.h>

namespace ghost::daemon::ssh {

DrainResult drain_event(ssh_event event, int max_polls) {
    for (int i = 0; i < max_polls; ++i) {
        int rc = ssh_event_dopoll(event, 0);
        if (rc == SSH_ERROR) return DrainResult::error;
        if (rc == SSH_AGAIN) return DrainResult::drained;
    }
    return DrainResult::more;
}

DrainResult drain_event(ssh_event event, int max_polls, const std::function<bool()>& around_polls) {
    if (!around_polls()) return DrainResult::more;
    for (int i = 0; i < max_polls; ++i) {
        int rc = ssh_event_dopoll(event, 0);
        if (rc == SSH_ERROR) return DrainResult::error;
        if (!around_polls()) return DrainResult::more;
        if (rc == SSH_AGAIN) return DrainResult::drained;
    }
    return DrainResult::more;
}

bool fd_ready_now(int fd, short events) {
    struct pollfd p {
        fd, events, 0
    };
    return ::poll(&p, 1, 0) > 0;
}

}  // namespace ghost::daemon::ssh
