#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "daemon/core/accept_loop.hpp"
#include "daemon/server/listener.hpp"

namespace ghost::daemon::server {
namespace {

constexpr int kKeepIdleS = 30;  // TCP keepalive: dead clients are noticed within minutes

/// Plain TCP listener: the accepted socket is the SSH stream.
class TcpListener : public Listener {
  public:
    TcpListener(asio::io_context& io, net::Endpoint ep, log::Logger log)
        : acceptor_(io), accept_(acceptor_), ep_(std::move(ep)), log_(std::move(log)) {}

    bool open(std::string* why) override {
        return bind_acceptor(acceptor_, ep_, &bound_port_, why);
    }

    void start(AcceptFn fn) override {
        fn_ = std::move(fn);
        accept_.start([this](asio::ip::tcp::socket s) { deliver(std::move(s)); },
                      accept_failure_logger(log_, ep_));
    }

    void close() override {
        accept_.stop();
        asio::error_code ec;
        acceptor_.close(ec);
    }

    net::Endpoint bound() const override { return {ep_.host, bound_port_}; }
    std::string transport() const override { return "tcp"; }

  private:
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
        a.fd = core::UniqueFd(fd);
        a.peer_ip = *net::IpAddress::parse(remote.address().to_string());
        a.peer = net::Endpoint{remote.address().to_string(), remote.port()}.str();
        fn_(std::move(a));
    }

    asio::ip::tcp::acceptor acceptor_;
    AcceptLoop accept_;
    net::Endpoint ep_;
    log::Logger log_;
    uint16_t bound_port_ = 0;
    AcceptFn fn_;
};

}  // namespace

AcceptLoop::ErrorFn accept_failure_logger(const log::Logger& log, const net::Endpoint& ep) {
    return [log, where = ep.str(), n = uint64_t{0}](const asio::error_code& ec) mutable {
        // Out of descriptors stays so while the flood lasts: say it once per thousand.
        if (n++ % 1000 == 0)
            log.warning("accept on ", where, " failed: ", ec.message(), " (", n,
                        " times); pausing accepts briefly");
    };
}

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
    return std::make_unique<TcpListener>(ctx.control, cfg.address, ctx.log);
}

}  // namespace ghost::daemon::server
