#pragma once
/// What a ChannelBridge needs from the SSH session (client or server) that owns its
/// channel: the worker's io_context, a shared scratch buffer, the session's output
/// budget, its receive-window state, the stalled list, byte counters and deferred
/// channel frees.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <asio.hpp>

#include "daemon/core/log.hpp"
#include "daemon/ssh/session_windows.hpp"

namespace ghost::daemon::ssh {

class ChannelBridge;

/// Implemented by ClientSession and ServerSession; used only on the session's worker.
class BridgeHost {
  public:
    /// The worker's io_context (bridges post and wait on it).
    virtual asio::io_context& io() = 0;
    virtual const log::Logger& logger() const = 0;
    /// Bytes the session may still queue for output before the socket drains.
    virtual size_t out_allowance() const = 0;
    /// Charges `n` bytes written to a channel against the output budget.
    virtual void consume_out(size_t n) = 0;
    /// Scratch buffer shared by the worker's bridges (no per-flow read buffers).
    virtual char* scratch() = 0;
    virtual size_t scratch_size() const = 0;
    /// Receive-window settings, budget and path RTT shared by the session's channels.
    virtual SessionWindows& windows() = 0;
    /// Counts channel payload received (`in`) and sent (`out`).
    virtual void count_bytes(uint64_t in, uint64_t out) = 0;
    /// Parks a bridge until window or output budget grows (then resume_up()).
    virtual void add_stalled(const std::shared_ptr<ChannelBridge>& b) = 0;
    /// Removes a finished bridge and frees its channel after the current call stack.
    virtual void release_bridge(const std::shared_ptr<ChannelBridge>& b) = 0;
    /// Re-arms readiness waits after any libssh call made outside the pump.
    virtual void after_io() = 0;
    /// More SSH input is already read and waiting in the session: data a bridge sends
    /// now may wait in its socket for what follows (MSG_MORE).
    virtual bool input_pending() const = 0;
    /// `b` sent with MSG_MORE: the session pushes its socket (CorkList::flush) once the
    /// pump or libssh call that delivered the data is over.
    virtual void add_corked(const std::shared_ptr<ChannelBridge>& b) = 0;
    virtual ~BridgeHost() = default;
};

/// The bridges whose sockets hold data sent with MSG_MORE, until the session flushes them.
class CorkList {
  public:
    void add(std::shared_ptr<ChannelBridge> b) { bridges_.push_back(std::move(b)); }
    /// Pushes every socket on the list and empties it.
    void flush();

  private:
    std::vector<std::shared_ptr<ChannelBridge>> bridges_;
};

}  // namespace ghost::daemon::ssh
