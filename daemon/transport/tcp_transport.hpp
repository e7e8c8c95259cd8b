#pragma once
/// Plain TCP transport: async resolve + connect with a deadline (SO_MARK, when set, before
/// connect), then socket tuning (TCP_NODELAY, keepalive, TCP_USER_TIMEOUT).

#include <cstdint>
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

/// Applies keepalive and user timeout to a connected TCP socket fd; false + *why on error.
bool tune_tcp_socket(int fd, const StreamOptions& opts, std::string* why);

/// Sets SO_MARK (nothing when fwmark is 0) on a socket that is not connected yet, so that
/// its first packet already carries the mark; false + *why on error.
bool mark_socket(int fd, uint32_t fwmark, std::string* why);

}  // namespace ghost::daemon::transport
