#include "common/proxy/http_connect.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ghost::proxy {
namespace {

const std::string kRequest =
    "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: t\r\n\r\n";

HttpConnectStep parse(const std::string& in, std::optional<Credentials> creds = std::nullopt) {
    HttpConnectParser p(std::move(creds));
    return p.feed(in);
}

void expect_error(const std::string& in, int status, const std::string& error_part,
                  std::optional<Credentials> creds = std::nullopt) {
    const auto step = parse(in, std::move(creds));
    ASSERT_EQ(step.status, ParseStatus::error) << in;
    EXPECT_EQ(step.http_status, status) << step.error;
    EXPECT_NE(step.error.find(error_part), std::string::npos) << step.error;
    EXPECT_EQ(step.response.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0u)
        << step.response;
    EXPECT_NE(step.response.find("Connection: close\r\n"), std::string::npos);
}

TEST(HttpConnect, ParsesDomainTarget) {
    const auto step = parse(kRequest);
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.consumed, kRequest.size());
    EXPECT_EQ(step.request->host, "example.com");
    EXPECT_EQ(step.request->port, 443);
    EXPECT_FALSE(step.request->ipv6_literal);
    EXPECT_EQ(step.request->version_minor, 1);
}

TEST(HttpConnect, ParsesIpTargets) {
    auto step = parse("CONNECT 192.0.2.1:8443 HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.request->host, "192.0.2.1");
    EXPECT_EQ(step.request->port, 8443);

    step = parse("CONNECT [2001:DB8:0::1]:22 HTTP/1.1\r\nHost: [2001:db8::1]:22\r\n\r\n");
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.request->host, "2001:db8::1");
    EXPECT_EQ(step.request->port, 22);
    EXPECT_TRUE(step.request->ipv6_literal);
}

TEST(HttpConnect, Http10WithoutHostAndBareLf) {
    const auto step = parse("CONNECT example.com:80 HTTP/1.0\n\n");
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.request->version_minor, 0);
}

TEST(HttpConnect, LeadingEmptyLineIgnored) {
    const auto step = parse("\r\n" + kRequest);
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
}

TEST(HttpConnect, TruncatedAtEveryByteIsNeedMore) {
    for (std::size_t k = 0; k < kRequest.size(); ++k) {
        HttpConnectParser p;
        const auto first = p.feed(std::string_view(kRequest).substr(0, k));
        ASSERT_EQ(first.status, ParseStatus::need_more) << "split at " << k << ": " << first.error;
        ASSERT_EQ(first.consumed, k);
        const auto second = p.feed(std::string_view(kRequest).substr(k));
        ASSERT_EQ(second.status, ParseStatus::done) << "split at " << k << ": " << second.error;
        ASSERT_EQ(second.consumed, kRequest.size() - k);
    }
    HttpConnectParser p;
    for (std::size_t i = 0; i + 1 < kRequest.size(); ++i) {
        ASSERT_EQ(p.feed(std::string_view(kRequest).substr(i, 1)).status, ParseStatus::need_more);
    }
    EXPECT_EQ(p.feed(std::string_view(kRequest).substr(kRequest.size() - 1)).status,
              ParseStatus::done);
}

TEST(HttpConnect, EarlyDataIsLeftover) {
    const std::string in = kRequest + "\x16\x03\x01 client hello";
    const auto step = parse(in);
    ASSERT_EQ(step.status, ParseStatus::done);
    EXPECT_EQ(step.consumed, kRequest.size());
}

TEST(HttpConnect, FeedAfterDoneIsError) {
    HttpConnectParser p;
    ASSERT_EQ(p.feed(kRequest).status, ParseStatus::done);
    EXPECT_EQ(p.feed("x").status, ParseStatus::error);
}

TEST(HttpConnect, MissingHost) {
    expect_error("CONNECT example.com:443 HTTP/1.1\r\n\r\n", 400,
                 "HTTP/1.1 CONNECT request lacks a Host header");
}

TEST(HttpConnect, DuplicateOrEmptyHost) {
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nhost: b:1\r\n\r\n", 400,
                 "more than one Host");
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: \r\n\r\n", 400, "Host header is empty");
}

TEST(HttpConnect, OtherMethods) {
    const auto step = parse("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.http_status, 405);
    EXPECT_NE(step.error.find("'GET'"), std::string::npos) << step.error;
    EXPECT_NE(step.response.find("Allow: CONNECT\r\n"), std::string::npos);
    // Rejected as soon as the request line is complete, before the headers arrive.
    EXPECT_EQ(parse("connect a:1 HTTP/1.1\r\n").http_status, 405);
}

TEST(HttpConnect, MalformedRequestLine) {
    expect_error("CONNECT example.com:443\r\n\r\n", 400, "malformed HTTP request line");
    expect_error("CONNECT  example.com:443 HTTP/1.1\r\n\r\n", 400, "malformed HTTP request line");
    expect_error("CONNECT a:1 HTTP/1.1 extra\r\n\r\n", 400, "malformed HTTP request line");
    expect_error("CON(NECT a:1 HTTP/1.1\r\n\r\n", 400, "malformed HTTP method");
    expect_error("CONNECT a:1 HTTP/1.x\r\n\r\n", 400, "malformed HTTP version 'HTTP/1.x'");
    expect_error("CONNECT a:1 FTP/1.1\r\n\r\n", 400, "malformed HTTP version");
    expect_error("CONNECT a:1 HTTP/2.0\r\n\r\n", 505, "HTTP version 'HTTP/2.0' not supported");
    expect_error("CONNECT a:1\rHTTP/1.1\r\n\r\n", 400, "control byte 0x0d");
    expect_error(std::string("CONNECT a:1 HTTP/1.1\r\nX: a\0b\r\n\r\n", 32), 400,
                 "control byte 0x00");
}

TEST(HttpConnect, BadTargets) {
    expect_error("CONNECT example.com HTTP/1.1\r\n\r\n", 400, "has no port");
    expect_error("CONNECT example.com: HTTP/1.1\r\n\r\n", 400, "port '' is not a number");
    expect_error("CONNECT example.com:0 HTTP/1.1\r\n\r\n", 400, "port '0' is not a number");
    expect_error("CONNECT example.com:65536 HTTP/1.1\r\n\r\n", 400, "port '65536'");
    expect_error("CONNECT example.com:123456 HTTP/1.1\r\n\r\n", 400, "port '123456'");
    expect_error("CONNECT example.com:-1 HTTP/1.1\r\n\r\n", 400, "port '-1'");
    expect_error("CONNECT example.com:44x HTTP/1.1\r\n\r\n", 400, "port '44x'");
    expect_error("CONNECT :443 HTTP/1.1\r\n\r\n", 400, "host '' is not a valid");
    expect_error("CONNECT http://example.com:443 HTTP/1.1\r\n\r\n", 400, "is a URL");
    expect_error("CONNECT 2001:db8::1:443 HTTP/1.1\r\n\r\n", 400, "in brackets");
    expect_error("CONNECT [2001:db8::1]443 HTTP/1.1\r\n\r\n", 400, "has no port");
    expect_error("CONNECT [2001:db8::1:443 HTTP/1.1\r\n\r\n", 400, "lacks ']'");
    expect_error("CONNECT [not-v6]:443 HTTP/1.1\r\n\r\n", 400, "invalid IPv6");
    expect_error("CONNECT [fe80::1%eth0]:443 HTTP/1.1\r\n\r\n", 400, "invalid IPv6");
    expect_error("CONNECT ex/ample:443 HTTP/1.1\r\n\r\n", 400, "host 'ex/ample'");
    expect_error("CONNECT " + std::string(256, 'a') + ":1 HTTP/1.1\r\n\r\n", 400, "host 'aaa");
}

TEST(HttpConnect, MalformedHeaders) {
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400,
                 "malformed HTTP header");
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost : a\r\n\r\n", 400, "malformed HTTP header");
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "line folding");
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 400,
                 "Content-Length '5'");
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                 "Transfer-Encoding");
    EXPECT_EQ(parse("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").status,
              ParseStatus::done);
}

TEST(HttpConnect, AbsurdHeaderSize) {
    // One huge header line: 431, and nothing is buffered beyond the limit.
    const std::string huge = "CONNECT a:1 HTTP/1.1\r\nX-Big: " + std::string(20000, 'x');
    auto step = parse(huge);
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.http_status, 431);
    EXPECT_LE(step.consumed, HttpConnectParser::kMaxHeadBytes);

    // Many small headers adding up past the byte limit, fed in pieces.
    HttpConnectParser p;
    ASSERT_EQ(p.feed("CONNECT a:1 HTTP/1.1\r\n").status, ParseStatus::need_more);
    ParseStatus status = ParseStatus::need_more;
    for (int i = 0; i < 90 && status == ParseStatus::need_more; ++i) {
        status = p.feed("X-Pad: " + std::string(200, 'p') + "\r\n").status;
    }
    EXPECT_EQ(status, ParseStatus::error);

    // Too many header fields.
    std::string many = "CONNECT a:1 HTTP/1.1\r\n";
    for (int i = 0; i < 101; ++i) many += "X: y\r\n";
    expect_error(many + "\r\n", 431, "more than 100 header fields");

    // An overlong request line is 414.
    expect_error("CONNECT " + std::string(9000, 'a') + ":1 HTTP/1.1\r\n\r\n", 414,
                 "request line exceeds");
}

TEST(HttpConnect, BasicAuth) {
    const Credentials creds{"alice", "s3:cret"};
    // "alice:s3:cret" in base64; the password may contain ':'.
    const std::string ok_header = "Proxy-Authorization: Basic YWxpY2U6czM6Y3JldA==\r\n";
    auto step = parse("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n" + ok_header + "\r\n", creds);
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.request->username, "alice");

    // Scheme is case-insensitive; padding optional.
    step = parse(
        "CONNECT a:1 HTTP/1.1\r\nHost: a\r\nproxy-authorization: basic "
        "YWxpY2U6czM6Y3JldA\r\n\r\n",
        creds);
    EXPECT_EQ(step.status, ParseStatus::done) << step.error;

    // Without credentials configured the header is ignored.
    EXPECT_EQ(parse("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n" + ok_header + "\r\n").status,
              ParseStatus::done);
}

TEST(HttpConnect, BasicAuthFailures) {
    const Credentials creds{"alice", "s3:cret"};
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n", 407, "proxy authentication required",
                 creds);
    // "alice:wrong"
    expect_error(
        "CONNECT a:1 HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n\r\n",
        407, "proxy credentials rejected for user 'alice'", creds);
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Bearer abc\r\n\r\n", 407,
                 "scheme 'Bearer' not supported", creds);
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic !!!!\r\n\r\n", 400,
                 "not valid base64", creds);
    // "alice" without a colon
    expect_error("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic YWxpY2U=\r\n\r\n",
                 400, "lack ':'", creds);
    expect_error(
        "CONNECT a:1 HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic YWxpY2U6czM6Y3JldA==\r\n"
        "Proxy-Authorization: Basic YWxpY2U6czM6Y3JldA==\r\n\r\n",
        400, "more than one Proxy-Authorization", creds);
    const auto step = parse("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n", creds);
    EXPECT_NE(step.response.find("Proxy-Authenticate: Basic realm=\"ghost\"\r\n"),
              std::string::npos)
        << step.response;
}

TEST(HttpConnect, ResponseBuilders) {
    EXPECT_EQ(http_connect_established(), "HTTP/1.1 200 Connection established\r\n\r\n");
    EXPECT_EQ(http_error_response(502, "connect to a:1 refused"),
              "HTTP/1.1 502 Bad Gateway\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 23\r\n"
              "Connection: close\r\n\r\n"
              "connect to a:1 refused\n");
    EXPECT_NE(http_error_response(407, "x", "my \"realm\"\r\n").find("realm=\"my realm\"\r\n"),
              std::string::npos);
    EXPECT_EQ(http_reason_phrase(504), "Gateway Timeout");
    EXPECT_EQ(http_reason_phrase(999), "Error");
}

}  // namespace
}  // namespace ghost::proxy
