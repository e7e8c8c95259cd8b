#pragma once
/// The client's side of datagram channel negotiation (common/udp/frame.hpp): open a
/// session channel, then request the datagram@ghost subsystem, both without blocking.
/// A server that does not speak the protocol (stock sshd) refuses the subsystem; that
/// answer is the capability discovery. Use on the session's worker, outside libssh
/// callbacks.

#include <libssh/libssh.h>

#include <chrono>
#include <memory>
#include <string>

#include "daemon/ssh/datagram_channel.hpp"

namespace ghost::daemon::ssh {

class DatagramOpen {
  public:
    enum class Result { pending, ready, refused };

    /// `channel`: made on `session` with its callbacks already started (so the hello that
    /// follows the server's answer is never left unread in libssh's buffer).
    DatagramOpen(ssh_session session, std::shared_ptr<DatagramChannel> channel,
                 std::chrono::steady_clock::time_point deadline);
    ~DatagramOpen();
    DatagramOpen(const DatagramOpen&) = delete;
    DatagramOpen& operator=(const DatagramOpen&) = delete;

    /// One step after packets arrived (or the deadline passed). `ready`: take() the
    /// channel; `refused`: why() says why ("the server does not offer ...").
    Result step();
    std::shared_ptr<DatagramChannel> take();
    const std::string& why() const { return why_; }

  private:
    enum class Stage { opening, requesting, done };
    Result refuse(std::string why, bool free_channel);

    ssh_session session_;
    std::shared_ptr<DatagramChannel> channel_;
    std::chrono::steady_clock::time_point deadline_;
    Stage stage_ = Stage::opening;
    std::string why_;
};

}  // namespace ghost::daemon::ssh
