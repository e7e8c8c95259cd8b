#include "daemon/client/dns_forwarder.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "common/dns/message.hpp"

namespace ghost::daemon::client {
namespace {

// The DNS messages the forwarder writes itself (common/dns/message), then the forwarder.

// A query for "a.example" type A, class IN, with id 0x1234, RD set, and an EDNS OPT record.
std::vector<uint8_t> query() {
    std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
    for (int b :
         {1, int('a'), 7, int('e'), int('x'), int('a'), int('m'), int('p'), int('l'), int('e'), 0})
        q.push_back(static_cast<uint8_t>(b));
    for (int b : {0, 1, 0, 1}) q.push_back(static_cast<uint8_t>(b));  // QTYPE A, QCLASS IN
    for (int b : {0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0}) q.push_back(static_cast<uint8_t>(b));  // OPT
    return q;
}

TEST(DnsServfail, KeepsIdAndQuestionDropsTheRest) {
    auto q = query();
    auto r = dns::servfail(q);
    ASSERT_EQ(r.size(), 12u + 11u + 4u);  // header + QNAME + QTYPE/QCLASS; OPT gone
    EXPECT_EQ(r[0], 0x12);
    EXPECT_EQ(r[1], 0x34);
    EXPECT_EQ(r[2] & 0x80, 0x80);  // QR
    EXPECT_EQ(r[2] & 0x01, 0x01);  // RD copied
    EXPECT_EQ(r[3] & 0x0f, 2);     // SERVFAIL
    EXPECT_EQ(r[3] & 0x80, 0x80);  // RA
    EXPECT_EQ(r[5], 1);            // one question
    EXPECT_EQ(r[11], 0);           // no additional records
    EXPECT_TRUE(std::equal(r.begin() + 12, r.end(), q.begin() + 12));
}

TEST(DnsServfail, MalformedQuestionGivesBareHeader) {
    auto q = query();
    q[12] = 0xc0;  // a compression pointer where a label must be
    auto r = dns::servfail(q);
    ASSERT_EQ(r.size(), 12u);
    EXPECT_EQ(r[5], 0);                             // no question
    EXPECT_TRUE(dns::servfail({1, 2, 3}).empty());  // not even a header
    q.resize(20);                                   // label runs off the end
    EXPECT_EQ(dns::servfail(q).size(), 12u);
}

TEST(DnsTruncated, KeepsHeaderAndQuestionWithTc) {
    auto a = query();
    a[2] |= 0x80;                            // a response
    a.insert(a.end(), 70000 - a.size(), 0);  // far too big for UDP
    auto t = dns::truncated(a);
    ASSERT_EQ(t.size(), 12u + 11u + 4u);
    EXPECT_EQ(t[2] & 0x02, 0x02);  // TC
    EXPECT_EQ(t[2] & 0x80, 0x80);  // still a response
    EXPECT_LE(t.size(), kMaxUdpDnsAnswer);
    EXPECT_TRUE(dns::truncated({1, 2}).empty());
}

// A session whose channels open at once to a resolver that never answers: the channel
// keeps the local socket it is given and never writes to it.
class SilentResolverOpener : public ssh::ChannelOpener {
  public:
    struct Silent : ssh::ChannelHandle::Impl {
        explicit Silent(SilentResolverOpener& o) : owner(o) {}
        void attach(asio::ip::tcp::socket socket, std::string) override {
            owner.kept.push_back(std::move(socket));
        }
        void abandon() override {}
        void terminate(const std::string&) override {}
        SilentResolverOpener& owner;
    };
    asio::io_context& io() override { return io_; }
    void open(ssh::OpenRequest, OpenCallback cb) override {
        ++opened;
        asio::post(io_, [this, cb = std::move(cb)] {
            cb(ssh::OpenOutcome::success(), ssh::ChannelHandle(std::make_shared<Silent>(*this)));
        });
    }
    asio::io_context io_;
    std::vector<asio::ip::tcp::socket> kept;
    int opened = 0;
};

bool is_servfail(const std::vector<uint8_t>& a) {
    return a.size() >= 12 && (a[3] & 0x0f) == 2;
}

// Unanswered queries get SERVFAIL at their deadline and give their in-flight slot back;
// while the limit is reached, more queries get SERVFAIL at once.
TEST(DnsForwarder, UnansweredQueriesTimeOutAndFreeTheirSlots) {
    SilentResolverOpener opener;
    auto fwd = std::make_shared<DnsForwarder>(opener, std::vector<net::Endpoint>{{"10.0.0.53", 53}},
                                              log::Logger("dns-test"));
    size_t answered = 0, servfails = 0;
    auto count = [&](std::vector<uint8_t> a) {
        ++answered;
        servfails += is_servfail(a) ? 1 : 0;
    };
    for (size_t i = 0; i < DnsForwarder::kMaxInFlight; ++i) fwd->query(query(), count);
    opener.io_.run_for(std::chrono::milliseconds(100));
    EXPECT_EQ(answered, 0u);
    EXPECT_EQ(fwd->status()["in_flight"], DnsForwarder::kMaxInFlight);

    fwd->query(query(), count);  // over the limit: SERVFAIL now
    EXPECT_EQ(answered, 1u);
    EXPECT_EQ(servfails, 1u);
    EXPECT_EQ(fwd->status()["overload"], 1);

    auto start = std::chrono::steady_clock::now();
    while (answered < DnsForwarder::kMaxInFlight + 1 &&
           std::chrono::steady_clock::now() - start <
               DnsForwarder::kQueryTimeout + std::chrono::seconds(3)) {
        opener.io_.run_one_for(std::chrono::milliseconds(200));
    }
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(answered, DnsForwarder::kMaxInFlight + 1);
    EXPECT_EQ(servfails, DnsForwarder::kMaxInFlight + 1);
    EXPECT_GE(took, DnsForwarder::kQueryTimeout - std::chrono::milliseconds(500));
    auto st = fwd->status();
    EXPECT_EQ(st["timeouts"], DnsForwarder::kMaxInFlight);
    EXPECT_EQ(st["in_flight"], 0);

    fwd->query(query(), count);  // the slots are free again
    EXPECT_EQ(fwd->status()["in_flight"], 1);
    EXPECT_EQ(fwd->status()["overload"], 1);
    fwd->stop();  // a stopped forwarder answers what it still holds
    EXPECT_EQ(answered, DnsForwarder::kMaxInFlight + 2);
}

}  // namespace
}  // namespace ghost::daemon::client
