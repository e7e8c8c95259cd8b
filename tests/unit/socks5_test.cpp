#include "common/proxy/socks5.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/proxy/detect.hpp"
#include "common/proxy/open_failure.hpp"

namespace ghost::proxy {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes domain_request(const std::string& host, uint16_t port, uint8_t cmd = 0x01) {
    Bytes out{0x05, cmd, 0x00, 0x03, static_cast<uint8_t>(host.size())};
    out.insert(out.end(), host.begin(), host.end());
    out.push_back(static_cast<uint8_t>(port >> 8));
    out.push_back(static_cast<uint8_t>(port & 0xff));
    return out;
}

Bytes auth_message(const std::string& user, const std::string& pass) {
    Bytes out{0x01, static_cast<uint8_t>(user.size())};
    out.insert(out.end(), user.begin(), user.end());
    out.push_back(static_cast<uint8_t>(pass.size()));
    out.insert(out.end(), pass.begin(), pass.end());
    return out;
}

const Bytes kGreetingNoAuth{0x05, 0x01, 0x00};
const Bytes kIpv4Request{0x05, 0x01, 0x00, 0x01, 10, 1, 2, 3, 0x01, 0xbb};
const Bytes kErrorTail{0x00, 0x01, 0, 0, 0, 0, 0, 0};  // RSV, ATYP IPv4, 0.0.0.0:0

Bytes error_reply(uint8_t code) {
    return cat({{0x05, code}, kErrorTail});
}

TEST(Socks5, NoAuthIpv4Connect) {
    Socks5Server s;
    const Bytes in = cat({kGreetingNoAuth, kIpv4Request});
    const auto step = s.feed(in);
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.consumed, in.size());
    EXPECT_EQ(step.reply, (Bytes{0x05, 0x00}));
    ASSERT_TRUE(step.request);
    EXPECT_EQ(step.request->host, "10.1.2.3");
    EXPECT_EQ(step.request->port, 443);
    EXPECT_EQ(step.request->atyp, Socks5AddressType::ipv4);
}

TEST(Socks5, GreetingThenRequestInSeparateCalls) {
    Socks5Server s;
    auto step = s.feed(kGreetingNoAuth);
    EXPECT_EQ(step.status, ParseStatus::need_more);
    EXPECT_EQ(step.consumed, 3u);
    EXPECT_EQ(step.reply, (Bytes{0x05, 0x00}));
    step = s.feed(kIpv4Request);
    ASSERT_EQ(step.status, ParseStatus::done);
    EXPECT_TRUE(step.reply.empty());
    EXPECT_EQ(step.request->host, "10.1.2.3");
}

// Every proper prefix of a valid handshake is need_more, consumed completely; the rest
// then completes it.
void check_every_split(const Bytes& in, const std::optional<Credentials>& creds) {
    for (std::size_t k = 0; k < in.size(); ++k) {
        Socks5Server s(creds);
        const auto first = s.feed(std::span(in.data(), k));
        ASSERT_EQ(first.status, ParseStatus::need_more) << "split at " << k << ": " << first.error;
        ASSERT_EQ(first.consumed, k);
        const auto second = s.feed(std::span(in.data() + k, in.size() - k));
        ASSERT_EQ(second.status, ParseStatus::done) << "split at " << k << ": " << second.error;
        ASSERT_EQ(second.consumed, in.size() - k);
    }
}

void check_byte_by_byte(const Bytes& in, const std::optional<Credentials>& creds) {
    Socks5Server s(creds);
    for (std::size_t i = 0; i + 1 < in.size(); ++i) {
        const auto step = s.feed(std::span(in.data() + i, 1));
        ASSERT_EQ(step.status, ParseStatus::need_more) << "byte " << i << ": " << step.error;
        ASSERT_EQ(step.consumed, 1u);
    }
    const auto last = s.feed(std::span(in.data() + in.size() - 1, 1));
    ASSERT_EQ(last.status, ParseStatus::done) << last.error;
}

TEST(Socks5, TruncatedAtEveryByteIsNeedMore) {
    for (const auto& req : {kIpv4Request, domain_request("example.com", 80),
                            Bytes{0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    1, 0, 22}}) {
        check_every_split(cat({kGreetingNoAuth, req}), std::nullopt);
        check_byte_by_byte(cat({kGreetingNoAuth, req}), std::nullopt);
    }
    const Credentials creds{"alice", "s3cret"};
    const Bytes with_auth =
        cat({{0x05, 0x02, 0x00, 0x02}, auth_message("alice", "s3cret"), kIpv4Request});
    check_every_split(with_auth, creds);
    check_byte_by_byte(with_auth, creds);
}

TEST(Socks5, GarbageAfterRequestIsLeftover) {
    Socks5Server s;
    const Bytes in = cat({kGreetingNoAuth, kIpv4Request, {'G', 'E', 'T', ' '}});
    const auto step = s.feed(in);
    ASSERT_EQ(step.status, ParseStatus::done);
    EXPECT_EQ(step.consumed, in.size() - 4);
}

TEST(Socks5, FeedAfterDoneIsError) {
    Socks5Server s;
    ASSERT_EQ(s.feed(cat({kGreetingNoAuth, kIpv4Request})).status, ParseStatus::done);
    const auto step = s.feed(Bytes{0x00});
    EXPECT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.consumed, 0u);
}

TEST(Socks5, WrongVersion) {
    Socks5Server s4;
    auto step = s4.feed(Bytes{0x04, 0x01, 0x00, 0x50});
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.error, "SOCKS version 4 not supported (expected 5)");
    EXPECT_EQ(step.reply, (Bytes{0x00, 0x5b, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(step.consumed, 1u);

    Socks5Server s;
    step = s.feed(Bytes{'G'});
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.error, "SOCKS version 71 not supported (expected 5)");
    EXPECT_TRUE(step.reply.empty());
}

TEST(Socks5, ZeroMethods) {
    Socks5Server s;
    const auto step = s.feed(Bytes{0x05, 0x00});
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_NE(step.error.find("0 authentication methods"), std::string::npos) << step.error;
    EXPECT_EQ(step.reply, (Bytes{0x05, 0xff}));
}

TEST(Socks5, NoAcceptableMethod) {
    Socks5Server s;
    auto step = s.feed(Bytes{0x05, 0x02, 0x01, 0x02});
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.reply, (Bytes{0x05, 0xff}));
    EXPECT_NE(step.error.find("offered 0x01 0x02; need 0x00"), std::string::npos) << step.error;

    // With credentials configured, a client offering only no-auth is refused.
    Socks5Server auth(Credentials{"u", "p"});
    step = auth.feed(kGreetingNoAuth);
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.reply, (Bytes{0x05, 0xff}));
    EXPECT_NE(step.error.find("need 0x02 username/password"), std::string::npos) << step.error;
}

TEST(Socks5, AllMethodsOffered) {
    Bytes greeting{0x05, 0xff};
    for (int i = 0; i < 255; ++i) greeting.push_back(static_cast<uint8_t>(0xfe - i));
    Socks5Server s;
    const auto step = s.feed(greeting);
    EXPECT_EQ(step.status, ParseStatus::need_more);
    EXPECT_EQ(step.reply, (Bytes{0x05, 0x00}));
}

TEST(Socks5, AuthSuccess) {
    Socks5Server s(Credentials{"alice", "s3cret"});
    const auto step =
        s.feed(cat({{0x05, 0x01, 0x02}, auth_message("alice", "s3cret"), kIpv4Request}));
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.reply, (Bytes{0x05, 0x02, 0x01, 0x00}));
    EXPECT_EQ(s.username(), "alice");
}

TEST(Socks5, AuthFailure) {
    for (const auto& [user, pass] : std::vector<std::pair<std::string, std::string>>{
             {"alice", "wrong"}, {"bob", "s3cret"}, {"alice", "s3cre"}, {"alice", "s3cret!"}}) {
        Socks5Server s(Credentials{"alice", "s3cret"});
        const auto step = s.feed(cat({{0x05, 0x01, 0x02}, auth_message(user, pass)}));
        ASSERT_EQ(step.status, ParseStatus::error) << user << ":" << pass;
        EXPECT_EQ(step.reply, (Bytes{0x05, 0x02, 0x01, 0x01}));
        EXPECT_EQ(step.error, "SOCKS5 username/password rejected for user '" + user + "'");
        EXPECT_TRUE(s.username().empty());
    }
}

TEST(Socks5, AuthMalformed) {
    Socks5Server bad_version(Credentials{"u", "p"});
    auto step = bad_version.feed(Bytes{0x05, 0x01, 0x02, 0x05, 0x01, 'u', 0x01, 'p'});
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.reply, (Bytes{0x05, 0x02, 0x01, 0x01}));
    EXPECT_NE(step.error.find("version 5"), std::string::npos) << step.error;

    Socks5Server empty_user(Credentials{"u", "p"});
    step = empty_user.feed(Bytes{0x05, 0x01, 0x02, 0x01, 0x00});
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_NE(step.error.find("username length 0"), std::string::npos) << step.error;

    Socks5Server empty_pass(Credentials{"u", "p"});
    step = empty_pass.feed(Bytes{0x05, 0x01, 0x02, 0x01, 0x01, 'u', 0x00});
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_NE(step.error.find("password length 0"), std::string::npos) << step.error;
}

TEST(Socks5, MaximumLengthCredentials) {
    const std::string user(255, 'u');
    const std::string pass(255, 'p');
    Socks5Server s(Credentials{user, pass});
    const auto step = s.feed(cat({{0x05, 0x01, 0x02}, auth_message(user, pass), kIpv4Request}));
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
}

TEST(Socks5, DomainLengthZero) {
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, {0x05, 0x01, 0x00, 0x03, 0x00}}));
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.error, "SOCKS5 domain name length 0 (expected 1..255)");
    EXPECT_EQ(step.reply, cat({{0x05, 0x00}, error_reply(0x01)}));
}

TEST(Socks5, DomainLength255) {
    const std::string host(255, 'a');
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, domain_request(host, 8080)}));
    ASSERT_EQ(step.status, ParseStatus::done) << step.error;
    EXPECT_EQ(step.request->host, host);
    EXPECT_EQ(step.request->port, 8080);
    EXPECT_EQ(step.request->atyp, Socks5AddressType::domain);
}

TEST(Socks5, DomainWithControlByte) {
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, domain_request(std::string("a\0b", 3), 80)}));
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.error,
              "SOCKS5 domain name contains byte 0x00 at offset 1 (expected printable ASCII)");
    EXPECT_EQ(step.reply, cat({{0x05, 0x00}, error_reply(0x01)}));
}

TEST(Socks5, PortZero) {
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, domain_request("example.com", 0)}));
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.error, "SOCKS5 destination port 0 for host 'example.com' (expected 1..65535)");
    EXPECT_EQ(step.reply, cat({{0x05, 0x00}, error_reply(0x01)}));
}

TEST(Socks5, UnknownAddressType) {
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, {0x05, 0x01, 0x00, 0x02}}));
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_NE(step.error.find("address type 0x02"), std::string::npos) << step.error;
    EXPECT_EQ(step.reply, cat({{0x05, 0x00}, error_reply(0x08)}));
}

TEST(Socks5, BindAndUdpAssociateNotSupported) {
    for (uint8_t cmd : {0x02, 0x03, 0x09}) {
        Socks5Server s;
        const auto step = s.feed(cat({kGreetingNoAuth, domain_request("example.com", 80, cmd)}));
        ASSERT_EQ(step.status, ParseStatus::error);
        EXPECT_EQ(step.reply, cat({{0x05, 0x00}, error_reply(0x07)}));
        EXPECT_EQ(step.consumed, kGreetingNoAuth.size() + 2);
    }
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, {0x05, 0x03}}));
    EXPECT_EQ(step.error,
              "SOCKS5 command 0x03 (UDP ASSOCIATE) not supported; only CONNECT (0x01) is");
}

TEST(Socks5, ReservedByteNonZero) {
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, {0x05, 0x01, 0x01, 0x01}}));
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.error, "SOCKS5 request reserved byte is 0x01 (expected 0x00)");
    EXPECT_EQ(step.reply, cat({{0x05, 0x00}, error_reply(0x01)}));
}

TEST(Socks5, RequestWrongVersion) {
    Socks5Server s;
    const auto step = s.feed(cat({kGreetingNoAuth, {0x04, 0x01}}));
    ASSERT_EQ(step.status, ParseStatus::error);
    EXPECT_EQ(step.error, "SOCKS5 request version 4 (expected 5)");
}

TEST(Socks5, Ipv6Formatting) {
    struct Case {
        Bytes addr;
        std::string text;
    };
    const std::vector<Case> cases{
        {{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "2001:db8::1"},
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "::1"},
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "::"},
        {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}, "::ffff:192.0.2.1"},
        {{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0},
         "fe80::1234:5678:9abc:def0"},
    };
    for (const auto& c : cases) {
        Socks5Server s;
        const auto step = s.feed(cat({kGreetingNoAuth, {0x05, 0x01, 0x00, 0x04}, c.addr, {0, 80}}));
        ASSERT_EQ(step.status, ParseStatus::done) << step.error;
        EXPECT_EQ(step.request->host, c.text);
        EXPECT_EQ(step.request->atyp, Socks5AddressType::ipv6);
    }
}

TEST(Socks5, ReplyBuilder) {
    EXPECT_EQ(socks5_reply(Socks5Reply::succeeded), error_reply(0x00));
    EXPECT_EQ(socks5_reply(Socks5Reply::connection_refused, "192.0.2.7", 0x1234),
              (Bytes{0x05, 0x05, 0x00, 0x01, 192, 0, 2, 7, 0x12, 0x34}));
    EXPECT_EQ(
        socks5_reply(Socks5Reply::succeeded, "::1", 1),
        (Bytes{0x05, 0x00, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}));
    EXPECT_EQ(socks5_reply(Socks5Reply::succeeded, "gw", 2),
              (Bytes{0x05, 0x00, 0x00, 0x03, 2, 'g', 'w', 0, 2}));
    EXPECT_EQ(socks5_reply(Socks5Reply::succeeded, std::string(256, 'x'), 0), error_reply(0x00));
}

TEST(Socks5, ReplyNames) {
    EXPECT_EQ(socks5_reply_name(Socks5Reply::ttl_expired), "TTL expired");
    EXPECT_EQ(socks5_reply_name(Socks5Reply::address_type_not_supported),
              "address type not supported");
}

TEST(OpenFailure, SocksAndHttpMapping) {
    EXPECT_EQ(socks5_reply_for(OpenFailure::refused), Socks5Reply::connection_refused);
    EXPECT_EQ(socks5_reply_for(OpenFailure::unreachable_network), Socks5Reply::network_unreachable);
    EXPECT_EQ(socks5_reply_for(OpenFailure::unreachable_host), Socks5Reply::host_unreachable);
    EXPECT_EQ(socks5_reply_for(OpenFailure::timeout), Socks5Reply::ttl_expired);
    EXPECT_EQ(socks5_reply_for(OpenFailure::denied), Socks5Reply::not_allowed);
    EXPECT_EQ(socks5_reply_for(OpenFailure::no_session), Socks5Reply::general_failure);
    EXPECT_EQ(socks5_reply_for(OpenFailure::resource_shortage), Socks5Reply::general_failure);
    EXPECT_EQ(socks5_reply_for(OpenFailure::general), Socks5Reply::general_failure);
    EXPECT_EQ(http_status_for(OpenFailure::refused), 502);
    EXPECT_EQ(http_status_for(OpenFailure::unreachable_network), 502);
    EXPECT_EQ(http_status_for(OpenFailure::unreachable_host), 502);
    EXPECT_EQ(http_status_for(OpenFailure::timeout), 504);
    EXPECT_EQ(http_status_for(OpenFailure::denied), 403);
    EXPECT_EQ(http_status_for(OpenFailure::no_session), 503);
    EXPECT_EQ(http_status_for(OpenFailure::resource_shortage), 503);
    EXPECT_EQ(http_status_for(OpenFailure::general), 502);
}

TEST(OpenFailure, FromSsh) {
    EXPECT_EQ(open_failure_from_ssh(1, "open failed"), OpenFailure::denied);
    EXPECT_EQ(open_failure_from_ssh(2, "Connection refused"), OpenFailure::refused);
    EXPECT_EQ(open_failure_from_ssh(2, "No route to host"), OpenFailure::unreachable_host);
    EXPECT_EQ(open_failure_from_ssh(2, "Network is unreachable"), OpenFailure::unreachable_network);
    EXPECT_EQ(open_failure_from_ssh(2, "Connection timed out"), OpenFailure::timeout);
    EXPECT_EQ(open_failure_from_ssh(2, "Name or service not known"), OpenFailure::unreachable_host);
    EXPECT_EQ(open_failure_from_ssh(2, "Temporary failure in name resolution"),
              OpenFailure::unreachable_host);
    EXPECT_EQ(open_failure_from_ssh(2, "something odd"), OpenFailure::general);
    EXPECT_EQ(open_failure_from_ssh(2, ""), OpenFailure::general);
    EXPECT_EQ(open_failure_from_ssh(3, "Connection refused"), OpenFailure::general);
    EXPECT_EQ(open_failure_from_ssh(4, "too many channels"), OpenFailure::resource_shortage);
    EXPECT_EQ(open_failure_from_ssh(99, "CONNECTION REFUSED"), OpenFailure::refused);
}

TEST(Detect, FirstByte) {
    EXPECT_EQ(detect_front_door(0x05).protocol, FrontDoorProtocol::socks5);
    EXPECT_EQ(detect_front_door('C').protocol, FrontDoorProtocol::http);
    EXPECT_EQ(detect_front_door('g').protocol, FrontDoorProtocol::http);
    const auto socks4 = detect_front_door(0x04);
    EXPECT_EQ(socks4.protocol, FrontDoorProtocol::unknown);
    EXPECT_EQ(socks4.reason, "SOCKS4 is not supported (configure the client for SOCKS5)");
    EXPECT_EQ(socks4.reply.size(), 8u);
    const auto tls = detect_front_door(0x16);
    EXPECT_EQ(tls.protocol, FrontDoorProtocol::unknown);
    EXPECT_NE(tls.reason.find("0x16"), std::string::npos);
    EXPECT_NE(tls.reason.find("TLS"), std::string::npos);
    EXPECT_EQ(detect_front_door('1').protocol, FrontDoorProtocol::unknown);
}

TEST(Credentials, ConstantTimeEqual) {
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abd"));
    EXPECT_FALSE(constant_time_equal("abc", "ab"));
    EXPECT_FALSE(constant_time_equal("", "a"));
    EXPECT_FALSE(constant_time_equal(std::string("a\0", 2), "a"));
    EXPECT_EQ(printable(std::string("a\0\n\x1b\xff", 5)), "a\\x00\\n\\x1b\\xff");
    EXPECT_EQ(printable(std::string(70, 'x'), 4), "xxxx...");
}

TEST(OpenFailure, ParsesLibsshOpenFailureText) {
    auto f = parse_libssh_open_failure(
        "Channel opening failure: channel 7 error (2) Connection refused");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->reason_code, 2u);
    EXPECT_EQ(f->description, "Connection refused");
    f = parse_libssh_open_failure("Channel opening failure: channel 0 error (1) ");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->reason_code, 1u);
    EXPECT_EQ(f->description, "");
    f = parse_libssh_open_failure("Channel opening failure: channel 3 error (4) too many\nmore");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->description, "too many");
    EXPECT_EQ(parse_libssh_open_failure("Channel opening failure: channel 1 error (2) " +
                                        std::string(5000, 'x'))
                  ->description.size(),
              512u);
    EXPECT_FALSE(parse_libssh_open_failure("Socket error: disconnected"));
    EXPECT_FALSE(parse_libssh_open_failure("Channel opening failure: channel 1 error () x"));
    EXPECT_FALSE(parse_libssh_open_failure("Channel opening failure: channel 1 error (2x) x"));
    EXPECT_FALSE(
        parse_libssh_open_failure("Channel opening failure: channel 1 error (99999999999) x"));
    EXPECT_FALSE(parse_libssh_open_failure(""));
}

}  // namespace
}  // namespace ghost::proxy
