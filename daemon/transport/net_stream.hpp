#pragma once
/// The network side of a stealth connection: a TCP socket, optionally wrapped in TLS,
/// driven by Asio readiness on one io_context (non-blocking OpenSSL on the raw fd, no
/// memory BIOs), and the Pump that bridges it to a local socket — the socketpair end
/// libssh reads, or an upstream web server for the fallback — with optional WebSocket
/// framing. Everything here runs on the io_context's thread.

#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <asio.hpp>

#include "common/stealth/websocket.hpp"
#include "daemon/core/unique_fd.hpp"
#include "daemon/transport/tls_context.hpp"

namespace ghost::daemon::transport {

using ghost::stealth::WsDecoder;
using ghost::stealth::WsOpcode;

/// TCP socket + optional TLS.
class NetStream : public std::enable_shared_from_this<NetStream> {
  public:
    enum class Io { ok, eof, want_read, want_write, error };
    struct Result {
        Io io = Io::ok;
        size_t n = 0;
        std::string error;
    };

    /// Takes `fd` (made non-blocking). `ssl` null = plain TCP.
    NetStream(asio::io_context& io, core::UniqueFd fd, SslPtr ssl);
    ~NetStream();

    /// Wraps the (still unused) plain socket in TLS; `ssl` set up for server or client.
    void attach_tls(SslPtr ssl);
    /// Stops using TLS (after close_notify): further reads and writes are raw TCP.
    void drop_tls() { ssl_.reset(); }
    /// One step of the TLS handshake (client or server as `ssl` was set up).
    Result handshake();
    Result read(void* buf, size_t len);
    Result write(const void* buf, size_t len);
    /// Best-effort TLS close_notify (one non-blocking attempt).
    void shutdown();
    /// Runs `cb(ok)` when the socket is ready for what `want` asks (want_read/want_write).
    void wait(Io want, std::function<void(bool)> cb);
    /// Cancels pending waits (they complete with ok == false); the socket stays open.
    void cancel();
    /// Closes the socket; pending waits complete with ok == false.
    void close();
    /// Gives up the (plain) socket, e.g. to hand it to SSH as it is.
    core::UniqueFd release();
    bool closed() const { return !desc_.is_open(); }

    SSL* ssl() const { return ssl_.get(); }
    int fd() { return desc_.native_handle(); }
    asio::io_context& io() { return io_; }

  private:
    Result ssl_result(int r, const char* what);
    asio::io_context& io_;
    asio::posix::stream_descriptor desc_;
    SslPtr ssl_;
};

/// Repeats `op` until it stops asking to wait, then `done(result)`.
void drive(const std::shared_ptr<NetStream>& net, std::function<NetStream::Result()> op,
           std::function<void(NetStream::Result)> done);
/// Writes all of `data`; `done(error)` with empty error on success.
void write_all(const std::shared_ptr<NetStream>& net, std::string data,
               std::function<void(std::string)> done);
/// Reads what is available (at least one byte, at most 16 KiB) and appends it to *buf.
/// `done(error)`: empty on success; "eof" when the peer closed.
void read_some(const std::shared_ptr<NetStream>& net, std::string* buf,
               std::function<void(std::string)> done);

/// Bridges a NetStream and a local stream socket until either side ends. Keeps itself
/// alive while running; stop() ends it from outside.
class Pump : public std::enable_shared_from_this<Pump> {
  public:
    enum class Framing { raw, ws_client, ws_server };
    /// `from_net`: bytes already read from the network (they go to the local side first,
    /// through the WebSocket decoder when framed). `on_end(reason)` runs once.
    static std::shared_ptr<Pump> start(std::shared_ptr<NetStream> net, core::UniqueFd local,
                                       Framing framing, std::string from_net,
                                       std::function<void(const std::string&)> on_end = {});
    /// Closes both sides now.
    void stop(const std::string& reason = "stopped");

    Pump(std::shared_ptr<NetStream> net, core::UniqueFd local, Framing framing,
         std::function<void(const std::string&)> on_end);

    /// Bytes moved so far (payload, both directions).
    uint64_t bytes_up() const { return up_total_; }
    uint64_t bytes_down() const { return down_total_; }

  private:
    static constexpr size_t kChunk = 64 * 1024;
    void seed(std::string bytes);
    void progress();
    bool step_up();
    bool step_down();
    bool decode_down(size_t n);
    void arm_net(NetStream::Io want);
    void arm_local(bool write);
    void end(const std::string& reason);
    void queue_control(WsOpcode op, const std::string& payload);

    std::shared_ptr<NetStream> net_;
    asio::posix::stream_descriptor local_;
    Framing framing_;
    std::function<void(const std::string&)> on_end_;
    WsDecoder decoder_;
    std::mt19937 mask_rng_{std::random_device{}()};

    // local → net: one framed chunk at a time; control frames go out between chunks.
    std::vector<uint8_t> up_;
    size_t up_off_ = 0, up_len_ = 0;
    std::string ctrl_;
    size_t ctrl_off_ = 0;
    // net → local: decoded payload waiting for the local side.
    std::vector<uint8_t> down_;
    size_t down_off_ = 0, down_len_ = 0;

    bool net_read_armed_ = false, net_write_armed_ = false;
    bool local_read_armed_ = false, local_write_armed_ = false;
    bool local_eof_ = false;  // local side finished sending
    bool net_eof_ = false;    // network side finished sending
    bool closing_ = false;    // close frame queued; end once it is written
    bool scheduled_ = false;
    bool ended_ = false;
    uint64_t up_total_ = 0, down_total_ = 0;
};

}  // namespace ghost::daemon::transport
