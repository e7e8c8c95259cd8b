#include "daemon/core/accept_loop.hpp"

namespace ghost::daemon {
namespace {

/// A failure of this one connection (the client gave up, a firewall reset): go on at once.
bool connection_failure(const asio::error_code& ec) {
    return ec == asio::error::connection_aborted || ec == asio::error::connection_reset ||
           ec == asio::error::interrupted || ec == asio::error::try_again ||
           ec == asio::error::would_block;
}

}  // namespace

AcceptLoop::AcceptLoop(asio::ip::tcp::acceptor& acceptor, std::chrono::milliseconds pause)
    : acceptor_(acceptor), retry_(acceptor.get_executor()), pause_(pause) {}

void AcceptLoop::start(Fn fn, ErrorFn on_error) {
    fn_ = std::move(fn);
    on_error_ = std::move(on_error);
    next();
}

void AcceptLoop::stop() {
    stopped_ = true;
    retry_.cancel();
}

void AcceptLoop::next() {
    if (stopped_) return;
    acceptor_.async_accept([this](asio::error_code ec, asio::ip::tcp::socket s) {
        if (ec == asio::error::operation_aborted || stopped_) return;
        if (ec && !connection_failure(ec)) return pause(ec);
        if (!ec) fn_(std::move(s));
        next();
    });
}

void AcceptLoop::pause(const asio::error_code& ec) {
    if (on_error_) on_error_(ec);
    retry_.expires_after(pause_);
    retry_.async_wait([this](asio::error_code e) {
        if (!e && !stopped_) next();
    });
}

}  // namespace ghost::daemon
