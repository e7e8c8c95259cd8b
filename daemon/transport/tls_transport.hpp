#pragma once
/// The client's `tls` transport (DESIGN.md §10): TCP, then TLS (SNI, browser-like ALPN,
/// CA or pin verification), then — when the profile has a knock — a WebSocket upgrade
/// carrying the knock token; SSH then flows in binary frames. libssh gets one end of a
/// socketpair; a Pump on the same io_context moves bytes between it and the TLS stream.

#include <memory>
#include <string>

#include "common/config/model.hpp"
#include "daemon/transport/net_stream.hpp"
#include "daemon/transport/tcp_transport.hpp"

namespace ghost::daemon::transport {

class TlsTransport : public Transport {
  public:
    TlsTransport(asio::io_context& io, const config::Profile& profile, StreamOptions opts);
    ~TlsTransport() override;
    void connect(Callback cb) override;
    void cancel() override;
    std::string name() const override { return "tls"; }

    /// Opens the TLS (+ knock) stream and hands back the network stream itself, with any
    /// bytes read past the knock answer; used by connect() and by `proxy-command`.
    struct Stream {
        std::shared_ptr<transport::NetStream> net;
        std::string leftover;
        bool websocket = false;
    };
    using StreamCallback = std::function<void(ConnectResult, Stream)>;
    void open_stream(StreamCallback cb);

  private:
    struct Attempt;
    asio::io_context& io_;
    config::TransportConfig cfg_;
    net::Endpoint server_;
    StreamOptions opts_;
    TcpTransport tcp_;
    std::shared_ptr<Attempt> attempt_;
};

/// Makes a connected AF_UNIX stream socketpair with large buffers; false + *why.
bool stream_pair(core::UniqueFd* a, core::UniqueFd* b, std::string* why);

}  // namespace ghost::daemon::transport
