#include "daemon/core/acceptor.hpp"

#include <cerrno>
#include <type_traits>
#include <utility>

namespace ghost::daemon::core {
namespace {

/// accept() errors of the one connection being accepted (reset before we took it, or an
/// error pending on it, see accept(2)): the next accept may well succeed at once.
bool connection_error(const std::error_code& ec) {
    if (ec.category() != asio::error::get_system_category()) return false;
    switch (ec.value()) {
        case ECONNABORTED:
        case ECONNRESET:
        case EPROTO:
        case EPERM:
        case EINTR:
        case EAGAIN:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            return true;
        default:
            return false;
    }
}

}  // namespace

template <class Protocol>
struct Acceptor<Protocol>::Loop : std::enable_shared_from_this<Loop> {
    explicit Loop(asio::io_context& io) : socket(io), retry(io) {}

    void next() {
        if (closed) return;
        if (options.max_live != 0 && live >= options.max_live) {
            at_cap = true;  // release() goes on
            return;
        }
        socket.async_accept([self = this->shared_from_this()](std::error_code ec, Socket s) {
            self->accepted(ec, std::move(s));
        });
    }

    void accepted(const std::error_code& ec, Socket s) {
        if (closed || ec == asio::error::operation_aborted) return;
        if (ec) return failed(ec);
        failing = false;
        if (options.max_live != 0) ++live;
        auto handler = on_accept;  // close() inside it drops on_accept, not this copy
        (*handler)(std::move(s));
        next();
    }

    void failed(const std::error_code& ec) {
        ++counters.errors;
        if (connection_error(ec)) return next();
        // Out of descriptors or memory stays so for a while: accepting again at once would
        // only fail again, a busy loop. Said once until an accept succeeds.
        ++counters.pauses;
        if (!std::exchange(failing, true))
            options.log.warning(options.what, ": ", ec.message(), "; pausing accepts for ",
                                options.pause.count(), " ms at a time until one succeeds");
        retry.expires_after(options.pause);
        retry.async_wait([self = this->shared_from_this()](std::error_code e) {
            if (!e) self->next();
        });
    }

    typename Protocol::acceptor socket;
    asio::steady_timer retry;
    std::shared_ptr<const Handler> on_accept;
    AcceptOptions options;
    AcceptCounters counters;
    size_t live = 0;
    bool at_cap = false;   // stopped at max_live until release()
    bool failing = false;  // in a run of failed accepts, already logged
    bool closed = false;
};

template <class Protocol>
Acceptor<Protocol>::Acceptor(asio::io_context& io) : loop_(std::make_shared<Loop>(io)) {}

template <class Protocol>
Acceptor<Protocol>::~Acceptor() {
    close();
}

template <class Protocol>
std::error_code Acceptor<Protocol>::open(const Endpoint& ep, const ListenOptions& options) {
    auto& s = loop_->socket;
    std::error_code ec;
    s.open(ep.protocol(), ec);
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        if (!ec && options.reuse_address) s.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec && options.v6_only && ep.address().is_v6())
            s.set_option(asio::ip::v6_only(true), ec);
    }
    if (!ec) s.bind(ep, ec);
    if (!ec) s.listen(options.backlog, ec);
    if (ec) {
        std::error_code ignored;
        s.close(ignored);
    }
    return ec;
}

template <class Protocol>
void Acceptor<Protocol>::start(Handler on_accept, AcceptOptions options) {
    if (loop_->closed || loop_->on_accept || !loop_->socket.is_open()) return;
    loop_->on_accept = std::make_shared<const Handler>(std::move(on_accept));
    loop_->options = std::move(options);
    loop_->next();
}

template <class Protocol>
void Acceptor<Protocol>::release() {
    auto& l = *loop_;
    if (l.options.max_live == 0 || l.live == 0) return;
    --l.live;
    if (std::exchange(l.at_cap, false)) l.next();
}

template <class Protocol>
void Acceptor<Protocol>::close() {
    auto& l = *loop_;
    if (std::exchange(l.closed, true)) return;
    l.on_accept.reset();  // whatever it holds (often its owner) goes now
    l.retry.cancel();
    std::error_code ignored;
    l.socket.close(ignored);
}

template <class Protocol>
bool Acceptor<Protocol>::is_open() const {
    return !loop_->closed && loop_->socket.is_open();
}

template <class Protocol>
typename Acceptor<Protocol>::Endpoint Acceptor<Protocol>::local_endpoint() const {
    std::error_code ec;
    auto ep = loop_->socket.local_endpoint(ec);
    return ec ? Endpoint() : ep;
}

template <class Protocol>
int Acceptor<Protocol>::native_handle() {
    return loop_->socket.native_handle();
}

template <class Protocol>
AcceptCounters Acceptor<Protocol>::counters() const {
    return loop_->counters;
}

template class Acceptor<asio::ip::tcp>;
template class Acceptor<asio::local::stream_protocol>;

bool listen_tcp(TcpAcceptor& acceptor, const net::Endpoint& ep, const ListenOptions& options,
                std::string_view role, std::string* why) {
    const std::string where =
        ep.str() + (role.empty() ? std::string() : " (" + std::string(role) + ")");
    std::error_code ec;
    auto addr = asio::ip::make_address(ep.host, ec);
    if (ec) {
        *why = "cannot listen on " + where + ": not an IP address";
        return false;
    }
    ec = acceptor.open({addr, ep.port}, options);
    if (ec) *why = "cannot listen on " + where + ": " + ec.message();
    return !ec;
}

}  // namespace ghost::daemon::core
