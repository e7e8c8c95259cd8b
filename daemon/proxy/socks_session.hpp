#pragma once
/// One accepted connection on a SOCKS5 / HTTP CONNECT front door, from the first byte
/// to the moment its socket is handed to an SSH channel (or closed with an error reply).
///
/// Phases: reading (handshake, under a deadline) -> opening (channel open in flight) ->
/// replying (success reply being written) -> bridged; or -> lingering (error reply
/// written, input drained briefly so the reply is not lost to a reset) -> closed.
/// Lives on the opener's io_context; owned by shared_ptr (the listener's registry and
/// pending handlers); close() is idempotent.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "common/proxy/credentials.hpp"
#include "daemon/core/log.hpp"
#include "daemon/proxy/socks_handshake.hpp"
#include "daemon/ssh/channel_opener.hpp"

namespace ghost::daemon::proxy {

/// Which protocols a front-door port speaks.
enum class FrontDoorKind {
    socks5_http,  ///< SOCKS5 and HTTP CONNECT, told apart by the first byte
    socks5,       ///< SOCKS5 only
    http,         ///< HTTP CONNECT only
};

/// "socks5+http", "socks5" or "http".
std::string_view to_string(FrontDoorKind kind);

/// Settings every session of one listener shares.
struct FrontDoorSettings {
    FrontDoorKind kind = FrontDoorKind::socks5_http;
    std::optional<ghost::proxy::Credentials> credentials;
    /// From accept to a complete request; a client that stalls longer is dropped.
    std::chrono::milliseconds handshake_timeout{10'000};
    /// How long an error reply waits for the client to read it and hang up.
    std::chrono::milliseconds linger_timeout{2'000};
};

/// How a session ended, for the listener's counters.
enum class SessionResult { bridged, handshake_failed, timed_out, open_failed, aborted };

/// One front-door connection; see the file comment. Create with make_shared.
class FrontDoorSession : public std::enable_shared_from_this<FrontDoorSession> {
  public:
    /// Called once when the session ends (bridged or closed).
    using DoneCallback = std::function<void(FrontDoorSession*, SessionResult)>;

    /// Read chunk; also the bound on early data carried into the tunnel.
    static constexpr std::size_t kReadChunk = 4 * 1024;
    /// Input thrown away while lingering before the socket is closed anyway.
    static constexpr std::size_t kMaxLingerDiscard = 64 * 1024;

    FrontDoorSession(ssh::ChannelOpener& opener, asio::ip::tcp::socket socket,
                     std::shared_ptr<const FrontDoorSettings> settings, log::Logger logger,
                     DoneCallback done);

    /// Starts the handshake deadline and reading.
    void start();
    /// Closes the socket (and an un-attached channel) now; idempotent.
    void close();

  private:
    enum class Phase { reading, opening, replying, lingering, bridged, closed };

    void read_next();
    void on_read(asio::error_code ec, std::size_t n);
    bool choose_handshake(uint8_t first_byte);
    void handle_step(HandshakeStep step, std::size_t n);
    void write_then_read(std::string bytes);
    void open_channel(std::string host, uint16_t port);
    void on_open(ssh::OpenOutcome outcome, ssh::ChannelHandle channel);
    void on_success_written(asio::error_code ec);
    void refuse(std::string reply, SessionResult result);
    void drain_then_close();
    void arm_timer(std::chrono::milliseconds after, SessionResult result);
    void finish(SessionResult result);

    ssh::ChannelOpener& opener_;
    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;
    std::shared_ptr<const FrontDoorSettings> settings_;
    log::Logger log_;
    DoneCallback done_;
    Phase phase_ = Phase::reading;
    std::unique_ptr<Handshake> handshake_;
    std::array<uint8_t, kReadChunk> buf_{};
    std::string out_;     // reply bytes being written, or held until the open result
    std::string early_;   // client bytes after the request, forwarded into the tunnel
    std::string target_;  // host:port, for logs
    ssh::ChannelHandle channel_;
    std::size_t discarded_ = 0;
    uint64_t timer_generation_ = 0;  // a stale expiry does not act on a newer phase
    SessionResult result_ = SessionResult::aborted;
};

}  // namespace ghost::daemon::proxy
