#include "daemon/ssh/global_requests.hpp"

#include <libssh/server.h>  // ssh_send_keepalive (declared there, usable by clients)

#include <utility>

namespace ghost::daemon::ssh {
namespace {

// An address no server has a listener on (RFC 6761 reserves .invalid), for the
// cancel-tcpip-forward that finish_keepalive may have to send.
constexpr const char* kNeverBound = "keepalive.invalid";

}  // namespace

void GlobalRequests::add_forward(std::string host, uint16_t port, ForwardCallback cb) {
    forwards_.push_back({std::move(host), port, std::move(cb)});
}

void GlobalRequests::start_keepalive(ssh_session s) {
    in_flight_ = InFlight::keepalive;
    ssh_send_keepalive(s);  // always SSH_OK: the outcome is read by finish_keepalive
}

std::optional<GlobalRequests::ForwardResult> GlobalRequests::step(ssh_session s) {
    if (in_flight_ == InFlight::keepalive && !finish_keepalive(s)) return std::nullopt;
    if (forwards_.empty()) return std::nullopt;
    return drive_forward(s);
}

// ssh_send_keepalive hides libssh's result, so the answer is collected with another
// global-request function: while the slot is taken it sends nothing, only returns
// SSH_AGAIN until the answer came and then consumes it (SSH_OK for REQUEST_SUCCESS,
// SSH_ERROR with SSH_REQUEST_DENIED for REQUEST_FAILURE, which OpenSSH sends). Should the
// answer already have been consumed inside ssh_send_keepalive (it reads input right after
// sending), the slot is free and this call sends a cancel-tcpip-forward for an address
// that is never bound; the server refuses it and that answer is consumed the same way, so
// the slot stays consistent and the probe takes one more round trip.
bool GlobalRequests::finish_keepalive(ssh_session s) {
    int rc = ssh_channel_cancel_forward(s, kNeverBound, 0);
    if (rc == SSH_AGAIN) return false;
    in_flight_ = InFlight::none;
    if (rc == SSH_OK || ssh_get_error_code(s) == SSH_REQUEST_DENIED) ++keepalives_answered_;
    return true;
}

// One call both sends the request (slot free) and collects its answer (slot taken).
std::optional<GlobalRequests::ForwardResult> GlobalRequests::drive_forward(ssh_session s) {
    Forward& f = forwards_.front();
    in_flight_ = InFlight::forward;
    int bound = 0;
    int rc =
        ssh_channel_listen_forward(s, f.host.empty() ? nullptr : f.host.c_str(), f.port, &bound);
    if (rc == SSH_AGAIN) return std::nullopt;
    in_flight_ = InFlight::none;
    ForwardResult r{std::move(f), rc == SSH_OK, bound, rc == SSH_OK ? "" : ssh_get_error(s)};
    forwards_.pop_front();
    return r;
}

std::deque<GlobalRequests::Forward> GlobalRequests::take_forwards() {
    return std::exchange(forwards_, {});
}

}  // namespace ghost::daemon::ssh
