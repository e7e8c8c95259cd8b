#include "daemon/transport/tcp_transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "daemon/transport/tls_transport.hpp"

namespace ghost::daemon::transport {
namespace {

ConnectResult failure(std::string why) {
    ConnectResult r;
    r.error = std::move(why);
    return r;
}

ConnectResult connected(core::UniqueFd fd, std::string peer) {
    ConnectResult r;
    r.fd = std::move(fd);
    r.peer = std::move(peer);
    return r;
}

}  // namespace

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
    std::vector<asio::ip::tcp::endpoint> endpoints;  // resolved, tried in order
    size_t next = 0;

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
        if (!opts.addresses.empty()) {  // resolved earlier (full tunnel)
            for (const auto& a : opts.addresses) endpoints.emplace_back(a, server.port);
            asio::post(socket.get_executor(), [self] {
                if (self->cb) self->try_next(asio::error::host_not_found);
            });
            return;
        }
        resolver.async_resolve(
            server.host, std::to_string(server.port),
            [self](asio::error_code ec, asio::ip::tcp::resolver::results_type r) {
                self->on_resolved(ec, std::move(r));
            });
    }

    void on_resolved(asio::error_code ec, asio::ip::tcp::resolver::results_type results) {
        if (ec) return finish_error(ec, "cannot resolve " + server.host);
        endpoints.assign(results.begin(), results.end());
        try_next(asio::error::host_not_found);
    }

    /// Connects to the next resolved address. Each socket is opened and marked here, before
    /// connect: in a full tunnel an unmarked SYN would be routed into the tunnel itself.
    void try_next(asio::error_code last) {
        if (timed_out || next >= endpoints.size()) {
            return finish_error(last, "cannot connect to " + server.str());
        }
        const asio::ip::tcp::endpoint ep = endpoints[next++];
        asio::error_code ec;
        socket.close(ec);
        socket.open(ep.protocol(), ec);
        if (ec) return try_next(ec);
        std::string why;
        if (!mark_socket(socket.native_handle(), opts.fwmark, &why)) {
            return finish(failure(why + " on connection to " + server.str()));
        }
        auto self = shared_from_this();
        socket.async_connect(ep, [self, ep](asio::error_code ec2) {
            if (!ec2) return self->on_connected(ec2, ep);
            if (self->timed_out || !self->cb) return self->finish_error(ec2, "");
            self->try_next(ec2);
        });
    }

    void on_connected(asio::error_code ec, const asio::ip::tcp::endpoint& ep) {
        if (ec) return finish_error(ec, "cannot connect to " + server.str());
        timer.cancel();
        std::string why;
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        if (!tune_tcp_socket(socket.native_handle(), opts, &why)) {
            return finish(failure(why + " on connection to " + server.str()));
        }
        std::string peer =
            ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
        peer += ":" + std::to_string(ep.port());
        finish(connected(core::UniqueFd(socket.release()), std::move(peer)));
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
        finish(failure(std::move(msg)));
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

TcpTransport::~TcpTransport() {
    cancel();
}

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
        // Unacknowledged data older than this kills the connection: a lost path is noticed
        // by the kernel too, within the SSH keepalive's bound (DESIGN.md §5).
        !set(IPPROTO_TCP, TCP_USER_TIMEOUT, interval * count * 1000, "TCP_USER_TIMEOUT")) {
        return false;
    }
    return true;
}

bool mark_socket(int fd, uint32_t fwmark, std::string* why) {
    if (fwmark == 0) return true;
    int value = static_cast<int>(fwmark);
    if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &value, sizeof value) == 0) return true;
    *why = std::string("setsockopt(SO_MARK): ") + std::strerror(errno);
    return false;
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
