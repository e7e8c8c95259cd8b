#pragma once
/// Plain TCP transport: async resolve + connect with a deadline, then socket tuning
/// (TCP_NODELAY, keepalive, TCP_USER_TIMEOUT, optional SO_MARK).

#include <memory>
#include <string>

#include "common/net/endpoint.hpp"
#include "daemon/transport/transport.hpp"

namespace ghost::daemon::transport {

/// Connects to one server endpoint over TCP.
class TcpTransport : public Transport {
public:
    TcpTransport(asio::io_context& io, net::Endpoint server, StreamOptions opts);
    ~TcpTransport() override;
    void connect(Callback cb) override;
    void cancel() override;
    std::string name() const override { return "tcp"; }

private:
    struct Attempt;
    asio::io_context& io_;
    net::Endpoint server_;
    StreamOptions opts_;
    std::shared_ptr<Attempt> attempt_;
};

/// Applies keepalive / user-timeout / mark to a connected TCP socket fd; false + *why on error.
bool tune_tcp_socket(int fd, const StreamOptions& opts, std::string* why);

}  // namespace ghost::daemon::transport
