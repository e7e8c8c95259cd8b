#pragma once
/// "Give me a connected byte stream": what carries the SSH session (DESIGN.md §2).
/// The SSH layer gets a file descriptor and never knows whether it is a TCP socket or
/// one end of a socketpair pumped through TLS.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/config/model.hpp"
#include "daemon/core/unique_fd.hpp"

namespace ghost::daemon::transport {

/// Socket tuning every transport applies to its network socket.
struct StreamOptions {
    std::chrono::milliseconds connect_timeout{15000};
    uint32_t keepalive_interval_s = 5;  // TCP keepalive idle/interval
    uint32_t keepalive_count = 3;       // dead after interval*count (TCP_USER_TIMEOUT)
    uint32_t fwmark = 0;                // SO_MARK for full-tunnel routing; 0 = none
    /// When not empty: connect to these (in order) instead of resolving the server's
    /// name; names, SNI and certificate checks still use the name.
    std::vector<asio::ip::address> addresses;
};

/// Outcome of Transport::connect: a connected stream fd, or a human reason.
struct ConnectResult {
    core::UniqueFd fd;
    std::string error;   // "connection refused to 127.0.0.1:2222"; empty on success
    std::string peer;    // "127.0.0.1:2222" actually connected
    bool fatal = false;  // retrying cannot help (untrusted certificate, pin mismatch)
    nlohmann::json info = nlohmann::json::object();  // transport details for status (tls)
    core::UniqueFd path_fd;  // the TCP socket under `fd` when `fd` is not one (tls): RTT only
};

/// Produces one connected byte stream per connect() call.
class Transport {
  public:
    using Callback = std::function<void(ConnectResult)>;
    virtual ~Transport() = default;
    /// Starts connecting; `cb` runs once on the io_context given at construction.
    virtual void connect(Callback cb) = 0;
    /// Aborts a connect in progress (the callback then reports "cancelled").
    virtual void cancel() = 0;
    /// "tcp", "tls".
    virtual std::string name() const = 0;
};

/// Builds the transport a client profile asks for; nullptr + *why when unsupported.
std::unique_ptr<Transport> make_transport(asio::io_context& io, const config::Profile& profile,
                                          const StreamOptions& opts, std::string* why);

}  // namespace ghost::daemon::transport
