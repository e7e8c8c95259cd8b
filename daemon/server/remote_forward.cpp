#include "daemon/server/remote_forward.hpp"

#include "daemon/server/server_session.hpp"

namespace ghost::daemon::server {

RemoteForward::RemoteForward(ServerSession& session, std::string requested, std::string bind_host)
    : session_(session),
      requested_(std::move(requested)),
      bind_host_(std::move(bind_host)),
      acceptor_(session.io()) {}

bool RemoteForward::bind(uint16_t port, std::string* why) {
    asio::error_code ec;
    auto addr = asio::ip::make_address(bind_host_, ec);
    if (ec) {
        *why = "cannot listen on " + bind_host_ + ": not an IP address";
        return false;
    }
    asio::ip::tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(128, ec);
    if (ec) {
        *why = "cannot listen on " + bind_host_ + ":" + std::to_string(port) + ": " + ec.message();
        acceptor_.close(ec);
        return false;
    }
    bound_port_ = acceptor_.local_endpoint(ec).port();
    return true;
}

void RemoteForward::start() {
    accept_next();
}

void RemoteForward::close() {
    closed_ = true;
    asio::error_code ec;
    acceptor_.close(ec);
}

void RemoteForward::accept_next() {
    if (closed_) return;
    acceptor_.async_accept(
        [self = shared_from_this()](asio::error_code ec, asio::ip::tcp::socket s) {
            if (self->closed_ || ec == asio::error::operation_aborted) return;
            if (!ec) self->session_.open_forwarded(*self, std::move(s));
            self->accept_next();
        });
}

}  // namespace ghost::daemon::server
