#pragma once
/// One client of the control socket (RpcServer): reads requests line by line, authorises
/// each, answers in any order, streams events once subscribed. Bounded: requests in flight
/// (per connection and, through the server, per uid), queued output, idle time.

#include <array>
#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/rpc/authz.hpp"
#include "common/rpc/jsonrpc.hpp"
#include "common/rpc/line_queue.hpp"
#include "daemon/control/core_api.hpp"

namespace ghost::daemon {

class RpcServer;

/// Who is on the other end, decided once when the connection is accepted.
struct RpcPeer {
    rpc::Caller caller;       // SO_PEERCRED + SO_PEERGROUPS
    bool privileged = false;  // rpc::privileged: root or the control group
};

/// One message as the line to send: strings made printable (text::printable), '\n' added.
rpc::LineQueue::Line answer_line(const nlohmann::json& message);

class RpcConnection : public std::enable_shared_from_this<RpcConnection> {
  public:
    RpcConnection(RpcServer& server, asio::local::stream_protocol::socket socket, RpcPeer peer);

    /// Starts the idle timer and reading.
    void start();
    /// Closes the socket and gives back every slot it held (idempotent).
    void close();
    /// Queues one line; a client whose queue is full is not reading and is dropped.
    void send(rpc::LineQueue::Line line);
    /// Handles buffered requests and reads more, unless a limit says wait.
    void resume();

    uid_t uid() const { return peer_.caller.uid; }
    bool privileged() const { return peer_.privileged; }

  private:
    bool busy() const { return closed_ || closing_ || streaming_; }
    bool may_take_request() const;
    void read();
    void handle(const std::string& line);
    void call(rpc::Request req);
    void begin_request();
    void end_request();
    void subscribe(const rpc::Request& req);
    void connect_stream(rpc::Request req);
    void hand_over();
    void answer(const rpc::Request& req, ApiResult r);
    void too_large();
    void write();
    void arm_idle();
    /// The caller's user name ("uid N" when unknown), looked up when first needed.
    const std::string& user();

    RpcServer& server_;
    asio::local::stream_protocol::socket socket_;
    asio::steady_timer timer_;
    rpc::LineFramer framer_;
    rpc::LineQueue out_;
    std::array<char, 16384> buf_{};
    RpcPeer peer_;
    std::string user_;
    bool streaming_ = false;                // profile.connect in progress or done
    std::unique_ptr<OpenedStream> stream_;  // handed over once the answer is written
    size_t inflight_ = 0;
    bool subscribed_ = false;
    bool reading_ = false, writing_ = false, processing_ = false;
    bool closing_ = false, closed_ = false;
};

}  // namespace ghost::daemon
