#include "daemon/proxy/forward_listener.hpp"

namespace ghost::daemon::proxy {

ForwardListener::ForwardListener(ssh::ChannelOpener& opener, config::ForwardConfig cfg,
                                 log::Logger logger)
    : opener_(opener), cfg_(std::move(cfg)), log_(std::move(logger)), acceptor_(opener.io()) {}

bool ForwardListener::bind(std::string* why) {
    net::Endpoint ep{cfg_.listen.host.empty() ? "127.0.0.1" : cfg_.listen.host, cfg_.listen.port};
    if (!core::listen_tcp(acceptor_, ep, {.v6_only = true}, "forward to " + cfg_.target.str(), why))
        return false;
    bound_port_ = acceptor_.local_endpoint().port();
    return true;
}

void ForwardListener::start() {
    log_.info("forwarding ", cfg_.listen.str(), " -> ", cfg_.target.str());
    acceptor_.start(
        [self = shared_from_this()](asio::ip::tcp::socket s) { self->on_accepted(std::move(s)); },
        {.what = "accept on " + cfg_.listen.str() + " failed",
         .log = log_,
         .max_live = kMaxPendingOpens});
}

void ForwardListener::close() {
    acceptor_.close();
}

void ForwardListener::on_accepted(asio::ip::tcp::socket socket) {
    ++connections_;
    asio::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    ssh::OpenRequest req{cfg_.target.host, cfg_.target.port,
                         ec ? "127.0.0.1" : peer.address().to_string(),
                         ec ? uint16_t{0} : peer.port()};
    auto sock = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
    opener_.open(std::move(req), [self = shared_from_this(), sock](ssh::OpenOutcome outcome,
                                                                   ssh::ChannelHandle channel) {
        self->acceptor_.release();  // the next waiting connection may come in
        if (!outcome.ok()) {
            ++self->failed_;
            self->log_.notice("forward ", self->cfg_.listen.str(), " -> ", self->cfg_.target.str(),
                              ": ", outcome.message);
            asio::error_code ignored;
            sock->close(ignored);  // the client sees the connection closed
            return;
        }
        channel.attach(std::move(*sock));
    });
}

nlohmann::json ForwardListener::status() const {
    return {{"listen", net::Endpoint{cfg_.listen.host, bound_port_.load()}.str()},
            {"target", cfg_.target.str()},
            {"connections", connections_.load()},
            {"failed", failed_.load()}};
}

}  // namespace ghost::daemon::proxy
