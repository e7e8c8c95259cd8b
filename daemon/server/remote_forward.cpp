#include "daemon/server/remote_forward.hpp"

#include "daemon/server/server_session.hpp"

namespace ghost::daemon::server {

namespace {
constexpr int kBacklog = 128;  // OpenSSH's SSH_LISTEN_BACKLOG for forwarded ports
}  // namespace

RemoteForward::RemoteForward(ServerSession& session, std::string requested, std::string bind_host)
    : session_(session),
      requested_(std::move(requested)),
      bind_host_(std::move(bind_host)),
      acceptor_(session.io()) {}

bool RemoteForward::bind(uint16_t port, std::string* why) {
    if (!core::listen_tcp(acceptor_, {bind_host_, port}, {.backlog = kBacklog}, "", why))
        return false;
    bound_port_ = acceptor_.local_endpoint().port();
    return true;
}

void RemoteForward::start() {
    acceptor_.start(
        [self = shared_from_this()](asio::ip::tcp::socket s) {
            self->session_.open_forwarded(*self, std::move(s));
        },
        {.what = "accept on " + net::Endpoint{bind_host_, bound_port_}.str() + " failed",
         .log = session_.logger()});
}

void RemoteForward::close() {
    acceptor_.close();
}

}  // namespace ghost::daemon::server
