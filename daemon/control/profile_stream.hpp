#pragma once
/// `profile.connect` (for `ghostctl proxy-command`): ghostd opens a client profile's
/// transport — tcp, or tls with its knock, using secrets only ghostd can read — and the
/// caller's control connection then carries that raw byte stream (stock `ssh` speaks SSH
/// over it through ProxyCommand).

#include <functional>
#include <memory>
#include <string>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "daemon/transport/net_stream.hpp"

namespace ghost::daemon {

/// An opened transport stream, ready to be pumped to a local socket.
struct OpenedStream {
    std::shared_ptr<transport::NetStream> net;  // bound to the io_context it was opened on
    std::string leftover;                       // stream bytes already read
    bool websocket = false;                     // SSH travels in WebSocket frames
    nlohmann::json info;                        // peer, transport, tls details
};

/// Opens `profile`'s transport on `io`; `done(error, stream)` runs on `io`.
void open_profile_stream(asio::io_context& io, const config::Profile& profile,
                         std::function<void(std::string, OpenedStream)> done);

/// Pumps `stream` to the local socket `fd` until either ends (runs on the stream's io).
void splice_stream(OpenedStream stream, int fd);

}  // namespace ghost::daemon
