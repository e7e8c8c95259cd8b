#pragma once
/// A client session's SSH global requests: remote-forward requests (`tcpip-forward`) and
/// keepalive probes (`keepalive@openssh.com`), all with want-reply.
///
/// libssh 0.10 has one pending-global-request slot per session (libssh-0.10.md): a
/// non-blocking request leaves it PENDING, the server's REQUEST_SUCCESS / FAILURE marks it
/// answered, and only the next call of a global-request function (whatever request it is
/// for) consumes that answer; while the slot is not free such a call sends nothing. An
/// unconsumed keepalive answer would thus be taken as the answer to a later tcpip-forward,
/// which would "succeed" without ever being sent. This class is the only user of the slot
/// and runs one request at a time, consuming each answer before the next request starts.

#include <libssh/libssh.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

namespace ghost::daemon::ssh {

/// The global requests of one client session, sent one at a time. Use on the session's
/// thread only, never from inside a libssh callback (its calls run libssh's packet loop).
class GlobalRequests {
  public:
    using ForwardCallback = std::function<void(bool ok, int bound_port, std::string message)>;

    /// A queued remote-forward request.
    struct Forward {
        std::string host;  // empty: all addresses (as libssh sends it)
        uint16_t port = 0;
        ForwardCallback cb;
    };

    /// A remote-forward request the server answered (or that failed to be sent).
    struct ForwardResult {
        Forward request;
        bool ok = false;
        int bound_port = 0;
        std::string error;  // libssh's error when !ok
    };

    /// Queues a tcpip-forward request; step() sends it when the slot is free.
    void add_forward(std::string host, uint16_t port, ForwardCallback cb);

    /// True when nothing is in flight or queued: a keepalive probe may start.
    bool idle() const { return in_flight_ == InFlight::none && forwards_.empty(); }

    /// Sends keepalive@openssh.com with want-reply. Only when idle(); step() consumes the
    /// answer (REQUEST_SUCCESS and REQUEST_FAILURE alike).
    void start_keepalive(ssh_session s);

    /// Drives the slot after input arrived: consumes the answer to the request in flight if
    /// it came, then starts the next queued forward. Returns a forward that finished (call
    /// again while it returns one), nullopt when a request is pending or nothing is queued.
    std::optional<ForwardResult> step(ssh_session s);

    /// Keepalive probes answered so far (success or failure both prove the server alive).
    uint64_t keepalives_answered() const { return keepalives_answered_; }

    /// Removes the queued forwards (the session is closing); their callbacks are not run.
    std::deque<Forward> take_forwards();

  private:
    enum class InFlight { none, forward, keepalive };

    bool finish_keepalive(ssh_session s);
    std::optional<ForwardResult> drive_forward(ssh_session s);

    InFlight in_flight_ = InFlight::none;
    std::deque<Forward> forwards_;
    uint64_t keepalives_answered_ = 0;
};

}  // namespace ghost::daemon::ssh
