#pragma once
/// The end of a channel's life in a session that takes libssh's messages from its queue
/// (ssh_message_get) instead of a callback.
///
/// A queued SSH_REQUEST_CHANNEL message points at its ssh_channel. libssh 0.10 frees a
/// channel the application has freed as soon as the peer's CHANNEL_CLOSE is processed,
/// which can be in the same read as a request for that channel still waiting in the
/// queue: a use-after-free. So a finished channel is only closed (CHANNEL_CLOSE sent) and
/// kept, and freed once the peer's CLOSE has come (the close handshake of RFC 4254 5.3 is
/// over) and the session has emptied the queue. While kept, what the peer still sends on
/// it is discarded, and it counts toward the session's channel limit, so a peer that
/// never answers CLOSE cannot make the session keep more than that.
///
/// Lives on the session's worker; no libssh call is made from libssh callbacks.

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <cstddef>
#include <memory>
#include <unordered_map>

namespace ghost::daemon::ssh {

/// Channels of one session from creation until both CLOSEs are exchanged.
class ChannelReaper {
  public:
    ChannelReaper() = default;
    /// Touches no channel: call clear() before the session is freed.
    ~ChannelReaper() = default;
    ChannelReaper(const ChannelReaper&) = delete;
    ChannelReaper& operator=(const ChannelReaper&) = delete;

    /// Watches `ch` for the peer's CLOSE from now on; call when the channel is created or
    /// accepted, before the session polls again.
    void watch(ssh_channel ch);
    /// The session is done with `ch`: sends CLOSE unless it was sent already (this runs
    /// libssh's packet loop, so never call it from a libssh callback) and keeps the channel
    /// until reap() may free it. `opened`: false for a channel the peer refused to open
    /// (nothing to close; freed by the next reap()).
    void retire(ssh_channel ch, bool opened = true);
    /// Frees the retired channels whose close handshake is over. Call only when no
    /// message in libssh's queue can refer to them (right after ssh_message_get returned
    /// NULL). Makes no packet-loop call.
    void reap();
    /// Retired channels not freed yet (they count toward the channel limit).
    size_t retired() const { return retired_; }
    /// True when reap() would free something.
    bool reap_due() const { return due_ > 0; }
    /// Session teardown (ssh_free frees the channels): removes the callbacks, forgets all.
    void clear();

  private:
    struct Entry {
        ChannelReaper* owner = nullptr;
        ssh_channel channel = nullptr;
        struct ssh_channel_callbacks_struct callbacks {};
        bool peer_closed = false;
        bool retired = false;
        bool opened = true;
        bool close_failed = false;  // CLOSE could not be sent: left to session teardown
        bool counted = false;       // included in due_
    };
    /// Keeps due_ in step with `e` (called whenever one of its flags changed).
    void recount(Entry& e);
    static int on_data(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                       void* user);
    static void on_close(ssh_session, ssh_channel, void* user);
    static bool due(const Entry& e) {
        return e.retired && !e.close_failed && (e.peer_closed || !e.opened);
    }

    std::unordered_map<ssh_channel, std::unique_ptr<Entry>> entries_;
    size_t retired_ = 0;
    size_t due_ = 0;
};

}  // namespace ghost::daemon::ssh
