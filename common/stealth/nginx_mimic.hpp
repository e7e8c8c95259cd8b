#pragma once
/// What a TLS port without the knock answers: a pure state machine (no sockets, no clocks)
/// that behaves byte for byte like stock Debian 12 nginx 1.22.1 (Debian's nginx.conf, gzip on)
/// whose only site is `location / { return 404; }`. docs/stealth-fallback.md lists what a
/// prober sees; tests/unit/data/nginx_1.22/ holds the real nginx transcripts it is tested on.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace ghost::stealth {

/// Answers HTTP like stock Debian nginx 1.22.1 whose only site returns 404, one connection
/// per object. The caller moves bytes and time in and carries out each Reply:
///   send `bytes`; if `close`: on TLS send close_notify unless `quiet`; then, if `lingering`,
///   shut down the write side and keep feeding what arrives until a Reply closes without
///   `lingering` (or deadline() passes), else close the socket.
/// Call on_timeout() once deadline() has passed without input.
class NginxMimic {
  public:
    using Clock = std::chrono::system_clock;

    /// `plain`: an HTTP port; `tls`: HTTP inside TLS (plain bytes there: plain_on_tls()).
    enum class Port { tls, plain };

    /// What to do after an event.
    struct Reply {
        std::string bytes;       ///< to send now (may be empty)
        bool close = false;      ///< close after sending `bytes`
        bool lingering = false;  ///< with close: nginx's lingering close (see the class comment)
        bool quiet = false;      ///< with close: no TLS close_notify (nginx after timeouts, EOF)
    };

    /// A connection accepted at `accepted` (client_header_timeout runs from there).
    NginxMimic(Port port, Clock::time_point accepted);
    ~NginxMimic();
    NginxMimic(NginxMimic&&) noexcept;
    NginxMimic& operator=(NginxMimic&&) noexcept;

    /// The first byte on the TLS port was neither 0x16 nor >= 0x80 (what nginx takes for a
    /// handshake): nginx then reads plain HTTP and answers 400 "The plain HTTP request was sent
    /// to HTTPS port" to a complete request. Call before the first feed().
    void plain_on_tls();

    /// Bytes received from the peer, all of them (the mimic keeps what nginx would buffer:
    /// at most 1 KiB + 5 x 8 KiB); `now` also gives the Date header.
    Reply feed(std::string_view in, Clock::time_point now);

    /// The peer sent EOF (FIN or TLS close_notify).
    Reply eof(Clock::time_point now);

    /// When to call on_timeout() if nothing arrives before (time_point::max() when closed):
    /// client_header_timeout 60 s from accept or from a keepalive request's first byte,
    /// keepalive_timeout 75 s, lingering_timeout 5 s within lingering_time 30 s.
    Clock::time_point deadline() const;

    /// deadline() passed: nginx closes silently (never sends 408).
    Reply on_timeout(Clock::time_point now);

    /// No more input is wanted; the connection is (to be) closed.
    bool closed() const;

    /// Bytes of buffer the mimic holds now: at most 1 KiB + 5 x 8 KiB, like nginx's header
    /// buffers (bodies are discarded as they arrive).
    std::size_t buffered_bytes() const;

  private:
    class Machine;
    std::unique_ptr<Machine> m_;
};

/// HTTP Date header value for a time point ("Tue, 24 Nov 2026 00:05:02 GMT").
std::string http_date(NginxMimic::Clock::time_point t);

}  // namespace ghost::stealth
