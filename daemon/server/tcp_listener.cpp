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
    TcpListener(asio::io_context& io, net::Endpoint ep, log::Logger log)
        : acceptor_(io), ep_(std::move(ep)), log_(std::move(log)) {}

    bool open(std::string* why) override {
        if (!core::listen_tcp(acceptor_, ep_, {}, "", why)) return false;
        bound_port_ = acceptor_.local_endpoint().port();
        return true;
    }

    void start(AcceptFn fn) override {
        fn_ = std::move(fn);
        acceptor_.start([this](asio::ip::tcp::socket s) { deliver(std::move(s)); },
                        accept_options(log_, ep_));
    }

    void close() override { acceptor_.close(); }

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

    core::TcpAcceptor acceptor_;
    net::Endpoint ep_;
    log::Logger log_;
    uint16_t bound_port_ = 0;
    AcceptFn fn_;
};

}  // namespace

core::AcceptOptions accept_options(const log::Logger& log, const net::Endpoint& ep) {
    return {.what = "accept on " + ep.str() + " failed", .log = log};
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
