#include "daemon/proxy/forward_listener.hpp"

namespace ghost::daemon::proxy {

ForwardListener::ForwardListener(ssh::ChannelOpener& opener, config::ForwardConfig cfg,
                                 log::Logger logger)
    : opener_(opener), cfg_(std::move(cfg)), log_(std::move(logger)), acceptor_(opener.io()) {}

bool ForwardListener::bind(std::string* why) {
    asio::error_code ec;
    auto addr =
        asio::ip::make_address(cfg_.listen.host.empty() ? "127.0.0.1" : cfg_.listen.host, ec);
    if (ec) {
        *why = "forward listen address is not an IP address: " + cfg_.listen.str();
        return false;
    }
    asio::ip::tcp::endpoint ep(addr, cfg_.listen.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && addr.is_v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        *why = "cannot listen on " + cfg_.listen.str() + " (forward to " + cfg_.target.str() +
               "): " + ec.message();
        acceptor_.close(ec);
        return false;
    }
    bound_port_ = acceptor_.local_endpoint(ec).port();
    return true;
}

void ForwardListener::start() {
    log_.info("forwarding ", cfg_.listen.str(), " -> ", cfg_.target.str());
    accept_next();
}

void ForwardListener::close() {
    closed_ = true;
    asio::error_code ec;
    acceptor_.close(ec);
}

void ForwardListener::accept_next() {
    if (closed_) return;
    if (pending_ >= kMaxPendingOpens) {
        accept_paused_ = true;  // resumes when an open completes
        return;
    }
    acceptor_.async_accept([self = shared_from_this()](asio::error_code ec,
                                                       asio::ip::tcp::socket socket) {
        if (self->closed_ || ec == asio::error::operation_aborted) return;
        if (!ec)
            self->on_accepted(std::move(socket));
        else
            self->log_.warning("accept on ", self->cfg_.listen.str(), " failed: ", ec.message());
        self->accept_next();
    });
}

void ForwardListener::on_accepted(asio::ip::tcp::socket socket) {
    ++connections_;
    ++pending_;
    asio::error_code ec;
    auto peer = socket.remote_endpoint(ec);
    ssh::OpenRequest req{cfg_.target.host, cfg_.target.port,
                         ec ? "127.0.0.1" : peer.address().to_string(),
                         ec ? uint16_t{0} : peer.port()};
    auto sock = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
    opener_.open(std::move(req), [self = shared_from_this(), sock](ssh::OpenOutcome outcome,
                                                                   ssh::ChannelHandle channel) {
        --self->pending_;
        if (self->accept_paused_) {
            self->accept_paused_ = false;
            self->accept_next();
        }
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
