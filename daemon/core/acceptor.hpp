#pragma once
/// The one way ghostd accepts connections, for TCP and Unix stream sockets alike: bind and
/// listen, then an accept loop that never spins. When accept() fails for want of
/// descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM, or any error that is not the
/// connection's own) the loop pauses briefly and logs once until an accept succeeds; the
/// connections wait in the listen queue meanwhile. An optional cap stops accepting while
/// the owner holds that many live connections.
///
///   core::TcpAcceptor acceptor(io);
///   if (auto ec = acceptor.open(endpoint)) ...;
///   acceptor.start([this](asio::ip::tcp::socket s) { serve(std::move(s)); },
///                  {.what = "accept on 127.0.0.1:1080 failed", .log = log_});
///   ...
///   acceptor.close();  // idempotent; no handler runs afterwards

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <asio.hpp>

#include "common/net/endpoint.hpp"
#include "daemon/core/log.hpp"

namespace ghost::daemon::core {

/// How to bind and listen.
struct ListenOptions {
    bool reuse_address = true;  // TCP: SO_REUSEADDR, so a restart binds at once
    bool v6_only = false;       // TCP on an IPv6 address: no IPv4-mapped connections
    int backlog = asio::socket_base::max_listen_connections;
};

/// How to accept.
struct AcceptOptions {
    /// Leads the one log line of a run of failed accepts, followed by ": <error>".
    std::string what = "accept";
    log::Logger log{};
    /// The pause after a failure the next accept() would only repeat.
    std::chrono::milliseconds pause{100};
    /// With a cap, every accepted connection holds a slot until the owner calls release();
    /// at the cap accepting stops and the rest wait in the listen queue. 0: no cap.
    size_t max_live = 0;
};

/// What an Acceptor counted; read on its io_context.
struct AcceptCounters {
    uint64_t errors = 0;  // failed accepts, of any kind
    uint64_t pauses = 0;  // failures after which accepting paused
};

/// One listening socket and its accept loop. Use on the io_context it was made with.
template <class Protocol>
class Acceptor {
  public:
    using Socket = typename Protocol::socket;
    using Endpoint = typename Protocol::endpoint;
    /// Receives each accepted connection. It may capture its owner: it is dropped by close()
    /// and never runs afterwards.
    using Handler = std::function<void(Socket)>;

    explicit Acceptor(asio::io_context& io);
    /// Closes.
    ~Acceptor();
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    /// Opens, binds and listens on `ep`; on failure the socket is closed again.
    std::error_code open(const Endpoint& ep, const ListenOptions& options = {});
    /// Starts accepting (once); `on_accept` runs on the io_context, never inside start().
    void start(Handler on_accept, AcceptOptions options = {});
    /// With a cap: a connection accepted earlier no longer counts against it; accepting
    /// resumes if it had stopped at the cap. Without a cap: nothing.
    void release();
    /// Stops accepting and closes the socket. Idempotent; safe inside the handler.
    void close();

    /// Open and not closed.
    bool is_open() const;
    /// The bound address (a default Endpoint when not open).
    Endpoint local_endpoint() const;
    /// The listening socket, for options Acceptor does not set.
    int native_handle();
    /// Failed accepts and pauses so far.
    AcceptCounters counters() const;

  private:
    struct Loop;
    std::shared_ptr<Loop> loop_;  // shared with pending handlers, which may outlive us
};

using TcpAcceptor = Acceptor<asio::ip::tcp>;
using UnixAcceptor = Acceptor<asio::local::stream_protocol>;

/// Opens `acceptor` on `ep` (the host must be an IP address). false + *why: "cannot listen
/// on 127.0.0.1:1080 (socks5 proxy): Address already in use" (`role` in brackets if given).
bool listen_tcp(TcpAcceptor& acceptor, const net::Endpoint& ep, const ListenOptions& options,
                std::string_view role, std::string* why);

}  // namespace ghost::daemon::core
