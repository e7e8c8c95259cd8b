#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "daemon/server/listener.hpp"

namespace ghost::daemon::server {
namespace {

constexpr int kKeepIdleS = 30;  // TCP keepalive: dead clients are noticed within minutes

/// Plain TCP listener: the accepted socket is the SSH stream.
class TcpListener : public Listener {
public:
    TcpListener(asio::io_context& io, net::Endpoint ep) : acceptor_(io), ep_(std::move(ep)) {}

    bool open(std::string* why) override { return bind_acceptor(acceptor_, ep_, &bound_port_, why); }

    void start(AcceptFn fn) override {
        fn_ = std::move(fn);
        accept_next();
    }

    void close() override {
        closed_ = true;
        asio::error_code ec;
        acceptor_.close(ec);
    }

    net::Endpoint bound() const override { return {ep_.host, bound_port_}; }
    std::string transport() const override { return "tcp"; }

private:
    void accept_next() {
        if (closed_) return;
        acceptor_.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
            if (ec == asio::error::operation_aborted || closed_) return;
            if (!ec) deliver(std::move(s));
            // EMFILE and friends: keep accepting; the limits drop excess connections.
            accept_next();
        });
    }

    void deliver(asio::ip::tcp::socket s) {
        asio::error_code ec;
        auto remote = s.remote_endpoint(ec);
        if (ec) return;
        int fd = s.release(ec);
        if (ec) return;
        int one = 1, idle = kKeepIdleS;
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        Accepted a;
        a.fd = transport::UniqueFd(fd);
        a.peer_ip = *net::IpAddress::parse(remote.address().to_string());
        a.peer = net::Endpoint{remote.address().to_string(), remote.port()}.str();
        fn_(std::move(a));
    }

    asio::ip::tcp::acceptor acceptor_;
    net::Endpoint ep_;
    uint16_t bound_port_ = 0;
    bool closed_ = false;
    AcceptFn fn_;
};

}  // namespace

bool bind_acceptor(asio::ip::tcp::acceptor& acceptor, const net::Endpoint& ep, uint16_t* bound_port,
                   std::string* why) {
    asio::error_code ec;
    auto addr = asio::ip::make_address(ep.host, ec);
    if (ec) {
        *why = "listen address " + ep.str() + " is not an IP address";
        return false;
    }
    asio::ip::tcp::endpoint e(addr, ep.port);
    acceptor.open(e.protocol(), ec);
    if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(e, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *why = "cannot listen on " + ep.str() + ": " + ec.message();
        acceptor.close(ec);
        return false;
    }
    *bound_port = acceptor.local_endpoint(ec).port();
    return true;
}

std::unique_ptr<Listener> make_listener(const ListenerContext& ctx, const config::ListenConfig& cfg,
                                        std::string* why) {
    if (cfg.transport.type == "tls") return make_tls_listener(ctx, cfg);
    if (cfg.transport.type != "tcp") {
        *why = "listen " + cfg.address.str() + ": transport '" + cfg.transport.type +
               "' is not supported by this ghostd yet";
        return nullptr;
    }
    return std::make_unique<TcpListener>(ctx.control, cfg.address);
}

}  // namespace ghost::daemon::server
