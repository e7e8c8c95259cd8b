#include "daemon/transport/tcp_transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "daemon/transport/tls_transport.hpp"

namespace ghost::daemon::transport {

/// One connect() in flight; handlers keep it alive, cancel() closes it.
struct TcpTransport::Attempt : std::enable_shared_from_this<TcpTransport::Attempt> {
    Attempt(asio::io_context& io, net::Endpoint s, StreamOptions o, Callback c)
        : resolver(io), socket(io), timer(io), server(std::move(s)), opts(o), cb(std::move(c)) {}

    asio::ip::tcp::resolver resolver;
    asio::ip::tcp::socket socket;
    asio::steady_timer timer;
    net::Endpoint server;
    StreamOptions opts;
    Callback cb;
    bool timed_out = false;

    void start() {
        auto self = shared_from_this();
        timer.expires_after(opts.connect_timeout);
        timer.async_wait([self](asio::error_code ec) {
            if (ec || !self->cb) return;
            self->timed_out = true;
            self->resolver.cancel();
            asio::error_code ignored;
            self->socket.close(ignored);
        });
        resolver.async_resolve(server.host, std::to_string(server.port),
                               [self](asio::error_code ec, asio::ip::tcp::resolver::results_type r) {
                                   self->on_resolved(ec, std::move(r));
                               });
    }

    void on_resolved(asio::error_code ec, asio::ip::tcp::resolver::results_type results) {
        if (ec) return finish_error(ec, "cannot resolve " + server.host);
        auto self = shared_from_this();
        // The condition stops the range connect from opening the next address after
        // the deadline closed the socket.
        auto keep_trying = [self](const asio::error_code&, const asio::ip::tcp::endpoint&) {
            return !self->timed_out;
        };
        asio::async_connect(socket, results, keep_trying,
                            [self](asio::error_code ec2, const asio::ip::tcp::endpoint& ep) {
                                self->on_connected(ec2, ep);
                            });
    }

    void on_connected(asio::error_code ec, const asio::ip::tcp::endpoint& ep) {
        if (ec) return finish_error(ec, "cannot connect to " + server.str());
        timer.cancel();
        std::string why;
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        if (!tune_tcp_socket(socket.native_handle(), opts, &why)) {
            return finish(ConnectResult{{}, why + " on connection to " + server.str(), {}});
        }
        std::string peer = ep.address().is_v6() ? "[" + ep.address().to_string() + "]"
                                                 : ep.address().to_string();
        peer += ":" + std::to_string(ep.port());
        finish(ConnectResult{UniqueFd(socket.release()), {}, std::move(peer)});
    }

    void finish_error(asio::error_code ec, const std::string& what) {
        std::string msg;
        if (timed_out) {
            msg = "connection to " + server.str() + " timed out after " +
                  std::to_string(opts.connect_timeout.count() / 1000) + " s";
        } else if (ec == asio::error::operation_aborted) {
            msg = "connect to " + server.str() + " cancelled";
        } else if (ec == asio::error::connection_refused) {
            msg = "connection refused to " + server.str();
        } else {
            msg = what + ": " + ec.message();
        }
        finish(ConnectResult{{}, std::move(msg), {}});
    }

    void finish(ConnectResult r) {
        timer.cancel();
        if (auto c = std::move(cb)) {
            cb = nullptr;
            c(std::move(r));
        }
    }
};

TcpTransport::TcpTransport(asio::io_context& io, net::Endpoint server, StreamOptions opts)
    : io_(io), server_(std::move(server)), opts_(opts) {}

TcpTransport::~TcpTransport() { cancel(); }

void TcpTransport::connect(Callback cb) {
    cancel();
    attempt_ = std::make_shared<Attempt>(io_, server_, opts_, std::move(cb));
    attempt_->start();
}

void TcpTransport::cancel() {
    if (!attempt_) return;
    auto a = std::move(attempt_);
    a->cb = nullptr;  // a cancelled attempt reports nothing
    a->resolver.cancel();
    a->timer.cancel();
    asio::error_code ignored;
    a->socket.close(ignored);
}

bool tune_tcp_socket(int fd, const StreamOptions& opts, std::string* why) {
    auto set = [&](int level, int name, int value, const char* label) {
        if (::setsockopt(fd, level, name, &value, sizeof value) == 0) return true;
        *why = std::string("setsockopt(") + label + "): " + std::strerror(errno);
        return false;
    };
    const int interval = static_cast<int>(std::max<uint32_t>(1, opts.keepalive_interval_s));
    const int count = static_cast<int>(std::max<uint32_t>(1, opts.keepalive_count));
    if (!set(SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE") ||
        !set(IPPROTO_TCP, TCP_KEEPIDLE, interval, "TCP_KEEPIDLE") ||
        !set(IPPROTO_TCP, TCP_KEEPINTVL, interval, "TCP_KEEPINTVL") ||
        !set(IPPROTO_TCP, TCP_KEEPCNT, count, "TCP_KEEPCNT") ||
        // Unacknowledged data (our SSH_MSG_IGNORE keepalives) older than this kills the
        // connection: the dead-peer bound of DESIGN.md §5.
        !set(IPPROTO_TCP, TCP_USER_TIMEOUT, interval * count * 1000, "TCP_USER_TIMEOUT")) {
        return false;
    }
    if (opts.fwmark != 0 && !set(SOL_SOCKET, SO_MARK, static_cast<int>(opts.fwmark), "SO_MARK")) {
        return false;
    }
    return true;
}

std::unique_ptr<Transport> make_transport(asio::io_context& io, const config::Profile& profile,
                                          const StreamOptions& opts, std::string* why) {
    if (!profile.server) {
        *why = "profile " + profile.name + " has no server";
        return nullptr;
    }
    if (profile.transport.type == "tcp") {
        return std::make_unique<TcpTransport>(io, *profile.server, opts);
    }
    if (profile.transport.type == "tls") return std::make_unique<TlsTransport>(io, profile, opts);
    *why = "transport \"" + profile.transport.type + "\" is not supported by this ghostd yet";
    return nullptr;
}

}  // namespace ghost::daemon::transport
