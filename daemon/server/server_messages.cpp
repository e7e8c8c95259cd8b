// ServerSession: taking requests from libssh's message queue (see server_session.hpp).
// libssh appends every request it does not answer itself to a list that only
// ssh_message_get() empties, so the session empties it after every packet poll: one
// poll reads at most 4 KiB, so the list never holds more than a poll's worth, whatever
// the peer sends. libssh answers keepalive@openssh.com and unknown global requests itself.

#include <libssh/server.h>

#include "daemon/server/server_session.hpp"

namespace ghost::daemon::server {
namespace {

// More than one 4 KiB poll can queue (the smallest packet is 32 bytes), so a drain
// normally ends with the list empty; a drain that reaches it stops the pump instead.
constexpr size_t kMaxMessagesPerDrain = 256;

}  // namespace

bool ServerSession::session_usable() const {
    if (phase_ == Phase::closed || !session_ || !ssh_is_connected(session_)) return false;
    return !(ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR));
}

bool ServerSession::drain_messages() {
    for (size_t n = 0;; ++n) {
        // ssh_message_get polls once more when the list is empty: never on a dead session.
        if (!session_usable()) return false;
        if (n == kMaxMessagesPerDrain || messages_left_ == 0)
            return false;  // the list may hold more
        ssh_message msg = ssh_message_get(session_);
        if (!msg) break;
        --messages_left_;
        dispatch(msg);
    }
    // The list is empty: no queued request can point at a retired channel any more.
    reaper_.reap();
    return true;
}

void ServerSession::dispatch(ssh_message msg) {
    int type = ssh_message_type(msg);
    Answer a = Answer::refuse;
    if (type == SSH_REQUEST_AUTH)
        a = handle_auth(msg);
    else if (phase_ == Phase::up)
        a = dispatch_up(msg);
    // Before authentication anything else (the service request, global requests) gets
    // libssh's default reply: SERVICE_ACCEPT for the first, failure for the rest.
    if (a == Answer::held) return;
    if (a == Answer::refuse && phase_ != Phase::closed) ssh_message_reply_default(msg);
    ssh_message_free(msg);
}

ServerSession::Answer ServerSession::dispatch_up(ssh_message msg) {
    int type = ssh_message_type(msg);
    int sub = ssh_message_subtype(msg);
    if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_DIRECT_TCPIP)
        return handle_direct_tcpip(msg);
    if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_SESSION)
        return handle_session_open(msg);
    if (type == SSH_REQUEST_CHANNEL) {
        // Nothing may follow our CLOSE on a channel (RFC 4254 5.3): a request that crossed
        // it gets no reply at all. PuTTY, for one, treats the reply as a fatal error.
        if (!ssh_channel_is_open(ssh_message_channel_request_channel(msg))) {
            log_.debug("request on a closed channel: not answered");
            return Answer::answered;
        }
        return handle_channel_request(msg);
    }
    if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_TCPIP_FORWARD)
        return handle_tcpip_forward(msg);
    if (type == SSH_REQUEST_GLOBAL && sub == SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD)
        return handle_cancel_forward(msg);
    if (type == SSH_REQUEST_CHANNEL_OPEN)
        log_.notice("refused channel type ", sub, " (only direct-tcpip and session)");
    return Answer::refuse;
}

}  // namespace ghost::daemon::server
