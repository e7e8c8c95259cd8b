#pragma once
/// SOCKS5 (RFC 1928) server-side handshake parser with RFC 1929 username/password
/// authentication. Pure: no I/O; buffers at most one handshake message (kMaxMessage).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/proxy/credentials.hpp"
#include "common/proxy/parse_status.hpp"

namespace ghost::proxy {

/// REP field of a SOCKS5 reply (RFC 1928 section 6).
enum class Socks5Reply : uint8_t {
    succeeded = 0x00,
    general_failure = 0x01,
    not_allowed = 0x02,
    network_unreachable = 0x03,
    host_unreachable = 0x04,
    connection_refused = 0x05,
    ttl_expired = 0x06,
    command_not_supported = 0x07,
    address_type_not_supported = 0x08,
};

/// ATYP field of a SOCKS5 request or reply.
enum class Socks5AddressType : uint8_t { ipv4 = 0x01, domain = 0x03, ipv6 = 0x04 };

/// Short English name of a reply code, e.g. "connection refused".
std::string_view socks5_reply_name(Socks5Reply code);

/// A parsed CONNECT request. host is dotted IPv4, RFC 5952 IPv6 without brackets, or
/// the domain name exactly as sent (never resolved locally).
struct Socks5Request {
    std::string host;
    uint16_t port = 0;
    Socks5AddressType atyp = Socks5AddressType::ipv4;
};

/// Result of one Socks5Server::feed call.
struct Socks5Step {
    ParseStatus status = ParseStatus::need_more;
    /// Bytes of the input taken. When done, input[consumed..] is data the client sent
    /// after the request (early data or garbage; the caller decides).
    std::size_t consumed = 0;
    /// Bytes to write to the client now, in order: method choice, auth status and, on
    /// error, the failure reply. Write them even when status is error, then close.
    std::vector<uint8_t> reply;
    /// Set when status is done.
    std::optional<Socks5Request> request;
    /// Why, when status is error; names the field and the bad value.
    std::string error;
};

/// Server side of the SOCKS5 handshake: greeting, method choice, optional RFC 1929
/// sub-negotiation, CONNECT request. Feed bytes as they arrive; never consumes bytes
/// beyond the end of the request. After done, send socks5_reply() once the outcome of
/// the connection attempt is known.
class Socks5Server {
  public:
    /// Largest single handshake message (the RFC 1929 request).
    static constexpr std::size_t kMaxMessage = 1 + 1 + 255 + 1 + 255;

    /// Without credentials only "no authentication" (0x00) is offered; with them only
    /// username/password (0x02) is.
    explicit Socks5Server(std::optional<Credentials> credentials = std::nullopt);

    /// Parses as much of input as forms handshake messages; see Socks5Step.
    Socks5Step feed(std::span<const uint8_t> input);

    /// Convenience overload for byte strings.
    Socks5Step feed(std::string_view input) {
        return feed(std::span(reinterpret_cast<const uint8_t*>(input.data()), input.size()));
    }

    /// The username that authenticated (empty for no-auth or before auth).
    const std::string& username() const { return username_; }

  private:
    enum class Stage { greeting, auth, request, done, failed };

    std::size_t wanted();
    std::size_t greeting_wanted();
    std::size_t auth_wanted();
    std::size_t request_wanted();
    void process(Socks5Step& step);
    void process_greeting(Socks5Step& step);
    void process_auth(Socks5Step& step);
    void process_request(Socks5Step& step);
    void fail(std::string reason, std::vector<uint8_t> reply);

    std::optional<Credentials> credentials_;
    Stage stage_ = Stage::greeting;
    std::array<uint8_t, kMaxMessage> buf_{};
    std::size_t have_ = 0;
    std::string username_;
    std::string error_;
    std::vector<uint8_t> error_reply_;
};

/// A SOCKS5 reply: VER 5, REP code, RSV 0, and the bound address. bound_host is an IPv4
/// or IPv6 literal (or a domain name up to 255 bytes); empty means 0.0.0.0.
std::vector<uint8_t> socks5_reply(Socks5Reply code, std::string_view bound_host = {},
                                  uint16_t bound_port = 0);

}  // namespace ghost::proxy
