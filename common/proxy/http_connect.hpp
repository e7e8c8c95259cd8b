#pragma once
/// HTTP CONNECT proxy request parser (RFC 9110 section 9.3.6, RFC 9112) with optional
/// Basic proxy authentication (RFC 7617). Pure: no I/O; memory bounded by kMaxHeadBytes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/proxy/credentials.hpp"
#include "common/proxy/parse_status.hpp"

namespace ghost::proxy {

/// A parsed CONNECT request. host is a name, dotted IPv4, or IPv6 without brackets.
struct HttpConnectRequest {
    std::string host;
    uint16_t port = 0;
    bool ipv6_literal = false;
    int version_minor = 1;  ///< HTTP/1.x
    std::string username;   ///< from Proxy-Authorization when credentials are configured
};

/// Result of one HttpConnectParser::feed call.
struct HttpConnectStep {
    ParseStatus status = ParseStatus::need_more;
    /// Bytes of the input taken. When done, input[consumed..] follows the request head
    /// (early tunnel data or garbage; the caller decides).
    std::size_t consumed = 0;
    /// Set when status is done.
    std::optional<HttpConnectRequest> request;
    /// When status is error: the HTTP status, why, and the full response to send before
    /// closing.
    int http_status = 0;
    std::string error;
    std::string response;
};

/// Incremental parser for one CONNECT request head. Feed bytes as they arrive; it never
/// consumes bytes beyond the empty line that ends the head.
class HttpConnectParser {
  public:
    static constexpr std::size_t kMaxHeadBytes = 16 * 1024;   ///< request line + headers
    static constexpr std::size_t kMaxRequestLine = 8 * 1024;  ///< beyond: 414
    static constexpr std::size_t kMaxHeaders = 100;           ///< beyond: 431

    /// With credentials, a matching "Proxy-Authorization: Basic" header is required
    /// (407 with a challenge for realm otherwise).
    explicit HttpConnectParser(std::optional<Credentials> credentials = std::nullopt,
                               std::string realm = "ghost");

    /// Parses as much of input as belongs to the request head; see HttpConnectStep.
    HttpConnectStep feed(std::string_view input);

    /// Convenience overload for raw bytes.
    HttpConnectStep feed(std::span<const uint8_t> input) {
        return feed(std::string_view(reinterpret_cast<const char*>(input.data()), input.size()));
    }

  private:
    enum class Stage { request_line, headers, done, failed };

    void handle_line(std::string_view line);
    void handle_request_line(std::string_view line);
    void handle_header(std::string_view line);
    void handle_proxy_authorization(std::string_view value);
    void finish_head();
    void fail(int status, std::string reason);

    std::optional<Credentials> credentials_;
    std::string realm_;
    Stage stage_ = Stage::request_line;
    std::string line_;
    std::size_t head_bytes_ = 0;
    std::size_t header_count_ = 0;
    bool seen_host_ = false;
    bool seen_authorization_ = false;
    bool authorized_ = false;
    HttpConnectRequest request_;
    std::string auth_problem_;
    int error_status_ = 0;
    std::string error_;
};

/// Reason phrase for a status code ("Bad Gateway"); "Error" for codes it does not know.
std::string_view http_reason_phrase(int status);

/// "HTTP/1.1 200 Connection established\r\n\r\n".
std::string http_connect_established();

/// A complete error response with a text/plain body (message + "\n"), Content-Length
/// and "Connection: close". 407 carries a Basic challenge for realm; 405 an Allow header.
std::string http_error_response(int status, std::string_view message,
                                std::string_view realm = "ghost");

}  // namespace ghost::proxy
