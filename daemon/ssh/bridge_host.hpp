#pragma once
/// What a ChannelBridge needs from the SSH session (client or server) that owns its
/// channel: the worker's io_context, a shared scratch buffer, the session's output
/// budget, the stalled list, byte counters and deferred channel frees.

#include <cstddef>
#include <cstdint>
#include <memory>

#include <asio.hpp>

#include "daemon/core/log.hpp"

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
    /// Counts channel payload received (`in`) and sent (`out`).
    virtual void count_bytes(uint64_t in, uint64_t out) = 0;
    /// Parks a bridge until window or output budget grows (then resume_up()).
    virtual void add_stalled(const std::shared_ptr<ChannelBridge>& b) = 0;
    /// Removes a finished bridge and frees its channel after the current call stack.
    virtual void release_bridge(const std::shared_ptr<ChannelBridge>& b) = 0;
    /// Re-arms readiness waits after any libssh call made outside the pump.
    virtual void after_io() = 0;
    virtual ~BridgeHost() = default;
};

}  // namespace ghost::daemon::ssh
