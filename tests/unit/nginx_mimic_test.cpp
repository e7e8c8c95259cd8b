// The fallback responder against real nginx: every transcript in data/nginx_1.22/ was
// recorded with tests/tools/http_probe.py from Debian 12's nginx 1.22.1 (started by
// tests/tools/nginx_reference.sh); the mimic must send the same bytes and end the
// connection the same way. Plus fragmentation, bounds and timer tests.

#include "common/stealth/nginx_mimic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace ghost::stealth {
namespace {

using Clock = NginxMimic::Clock;
using Port = NginxMimic::Port;
using std::chrono::milliseconds;
using std::chrono::seconds;

const Clock::time_point kT0 = Clock::from_time_t(1795392302);  // Mon, 23 Nov 2026 00:05:02 GMT
constexpr size_t kBufferBound = 1024 + 5 * 8192;

// --- transcripts -------------------------------------------------------------------------

/// One probe as http_probe.py prints it.
struct Transcript {
    std::string name;
    bool no_tls = false;
    std::vector<std::string> writes;
    bool eof = false;
    std::string response;
    std::string end;
};

// Undoes http_probe.py's escapes: \\ \r \n \t \xHH, and X\{N} (N more copies of X).
std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] != '\\' || i + 1 >= s.size()) {
            out += s[i];
            continue;
        }
        const char c = s[++i];
        if (c == 'r') {
            out += '\r';
        } else if (c == 'n') {
            out += '\n';
        } else if (c == 't') {
            out += '\t';
        } else if (c == 'x') {
            out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else if (c == '{') {
            const size_t close = s.find('}', i);
            const size_t n = std::stoul(std::string(s.substr(i + 1, close - i - 1)));
            out.append(n, out.back());
            i = close;
        } else {
            out += c;
        }
    }
    return out;
}

std::vector<Transcript> load(const std::string& set) {
    const std::filesystem::path dir =
        std::filesystem::path(GHOST_SOURCE_DIR) / "tests/unit/data/nginx_1.22" / set;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
    std::sort(files.begin(), files.end());

    std::vector<Transcript> out;
    for (const auto& f : files) {
        std::ifstream in(f);
        Transcript t;
        bool new_write = true;
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("### ", 0) == 0) {
                t.name = line.substr(4);
            } else if (line == "~ no tls") {
                t.no_tls = true;
            } else if (line == "~ pause") {
                new_write = true;
            } else if (line == "~ eof") {
                t.eof = true;
            } else if (line.rfind("> ", 0) == 0) {
                if (new_write) t.writes.emplace_back();
                new_write = false;
                t.writes.back() += unescape(line.substr(2));
            } else if (line.rfind("< ", 0) == 0) {
                t.response += unescape(line.substr(2));
            } else if (line.rfind("= ", 0) == 0) {
                t.end = line.substr(2);
            }
        }
        out.push_back(std::move(t));
    }
    return out;
}

// Masks every Date header value the way http_probe.py does.
std::string mask_date(std::string s) {
    static constexpr std::string_view kDate = "\r\nDate: ";
    static constexpr size_t kLen = sizeof("Mon, 23 Nov 2026 00:05:02 GMT") - 1;
    for (size_t p = s.find(kDate); p != std::string::npos; p = s.find(kDate, p + 1)) {
        s.replace(p + kDate.size(), kLen, "DATE");
    }
    return s;
}

/// What the mimic sent and how a prober would see the connection end.
struct Outcome {
    std::string bytes;
    std::string end;
    bool closed = false;
};

/// Collects Replies and renders the end like http_probe.py.
class Recorder {
  public:
    explicit Recorder(bool tls) : tls_(tls) {}

    void add(NginxMimic::Reply r) {
        out_.bytes += r.bytes;
        if (!r.close) return;
        if (!closing_ && !r.quiet) notified_ = true;
        closing_ = true;
        lingering_ = r.lingering;
    }

    Outcome outcome(const NginxMimic& m) {
        out_.closed = closing_;
        out_.end = !closing_ ? "open" : lingering_ && !m.closed() ? "closed, lingering" : "closed";
        if (closing_ && tls_ && notified_) out_.end += ", close_notify";
        out_.bytes = mask_date(out_.bytes);
        return out_;
    }

  private:
    bool tls_;
    bool closing_ = false;
    bool lingering_ = false;
    bool notified_ = false;
    Outcome out_;
};

Outcome replay(const Transcript& t, Port port) {
    NginxMimic m(port, kT0);
    if (t.no_tls) m.plain_on_tls();
    Recorder rec(port == Port::tls && !t.no_tls);
    auto now = kT0 + milliseconds(5);
    for (const auto& w : t.writes) {
        rec.add(m.feed(w, now));
        now += milliseconds(200);
    }
    if (t.eof) rec.add(m.eof(now));
    return rec.outcome(m);
}

void expect_matches(const std::string& set, Port port) {
    const auto transcripts = load(set);
    ASSERT_GE(transcripts.size(), 80U) << "recorded transcripts missing in " << set;
    for (const auto& t : transcripts) {
        SCOPED_TRACE("probe " + t.name);
        const Outcome o = replay(t, port);
        EXPECT_EQ(o.bytes, t.response);
        EXPECT_EQ(o.end, t.end);
    }
}

TEST(NginxMimic, AnswersLikeNginxOverTls) {
    expect_matches("tls", Port::tls);
}

TEST(NginxMimic, AnswersLikeNginxOnPlainPort) {
    expect_matches("plain", Port::plain);
}

// --- fragmentation -----------------------------------------------------------------------

Outcome feed_split(const std::string& input, const std::vector<size_t>& cuts, bool no_tls,
                   bool eof) {
    NginxMimic m(Port::tls, kT0);
    if (no_tls) m.plain_on_tls();
    Recorder rec(!no_tls);
    size_t from = 0;
    for (size_t cut : cuts) {
        rec.add(m.feed(std::string_view(input).substr(from, cut - from), kT0));
        from = cut;
    }
    rec.add(m.feed(std::string_view(input).substr(from), kT0));
    if (eof) rec.add(m.eof(kT0));
    return rec.outcome(m);
}

// Probes whose answer depends on whether a body arrives with the request head, in nginx too:
// an invalid chunked body found before the response turns "keep-alive" into "close".
bool timing_dependent(const std::string& name) {
    return name == "chunked_invalid";
}

TEST(NginxMimic, OneByteAtATimeAnswersLikeAllAtOnce) {
    for (const auto& t : load("tls")) {
        if (timing_dependent(t.name)) continue;
        SCOPED_TRACE("probe " + t.name);
        std::string input;
        for (const auto& w : t.writes) input += w;
        std::vector<size_t> every_byte;
        for (size_t i = 1; i < input.size(); i++) every_byte.push_back(i);
        const Outcome whole = feed_split(input, {}, t.no_tls, t.eof);
        const Outcome bytewise = feed_split(input, every_byte, t.no_tls, t.eof);
        EXPECT_EQ(bytewise.bytes, whole.bytes);
        EXPECT_EQ(bytewise.closed, whole.closed);
    }
}

TEST(NginxMimic, RandomFragmentsAnswerLikeAllAtOnce) {
    std::mt19937 rng(7);
    for (const auto& t : load("tls")) {
        if (timing_dependent(t.name)) continue;
        SCOPED_TRACE("probe " + t.name);
        std::string input;
        for (const auto& w : t.writes) input += w;
        const Outcome whole = feed_split(input, {}, t.no_tls, t.eof);
        for (int round = 0; round < 5 && input.size() > 1; round++) {
            std::vector<size_t> cuts;
            for (size_t i = 1; i < input.size(); i++) {
                if (rng() % 7 == 0) cuts.push_back(i);
            }
            const Outcome split = feed_split(input, cuts, t.no_tls, t.eof);
            EXPECT_EQ(split.bytes, whole.bytes);
            EXPECT_EQ(split.closed, whole.closed);
        }
    }
}

// --- bounds ------------------------------------------------------------------------------

std::string get(std::string_view path, std::string_view extra = "") {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: example.com\r\n" + std::string(extra) +
           "\r\n";
}

size_t count(std::string_view hay, std::string_view needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string_view::npos; p = hay.find(needle, p + 1)) {
        n++;
    }
    return n;
}

TEST(NginxMimic, EndlessHeadersStopAtNginxsLimit) {
    NginxMimic m(Port::tls, kT0);
    std::string out;
    bool closing = false;
    out += m.feed("GET / HTTP/1.1\r\nHost: example.com\r\n", kT0).bytes;
    const std::string line = "X-Filler: " + std::string(500, 'v') + "\r\n";
    for (int i = 0; i < 1000 && !closing; i++) {
        auto r = m.feed(line, kT0);
        out += r.bytes;
        closing = r.close;
        EXPECT_LE(m.buffered_bytes(), kBufferBound);
    }
    EXPECT_TRUE(closing);
    EXPECT_NE(out.find("Request Header Or Cookie Too Large"), std::string::npos);
}

TEST(NginxMimic, LongBodiesAreDiscardedNotBuffered) {
    NginxMimic m(Port::tls, kT0);
    auto r = m.feed("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", kT0);
    EXPECT_NE(r.bytes.find("404 Not Found"), std::string::npos);  // answered before the body
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'b') + "\r\n";
    for (int i = 0; i < 1600; i++) {  // 100 MiB
        r = m.feed(chunk, kT0 + milliseconds(i));
        ASSERT_TRUE(r.bytes.empty());
        ASSERT_FALSE(r.close);
        ASSERT_LE(m.buffered_bytes(), kBufferBound);
    }
    r = m.feed("0\r\n\r\n" + get("/next"), kT0 + seconds(2));
    EXPECT_EQ(count(r.bytes, "HTTP/1.1 404 Not Found"), 1U);
    EXPECT_FALSE(r.close);
}

TEST(NginxMimic, RandomInputStaysBounded) {
    std::mt19937 rng(42);
    const std::string pieces[] = {
        get("/"),
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r\nhello\r\n",
        "0\r\n\r\n",
        "X-A: " + std::string(3000, 'a') + "\r\n",
        "\r\n",
        "GET /" + std::string(5000, 'u'),
        std::string("\0\x16\x03\x01\xff", 5),
        "Connection: close\r\n"};
    for (int conn = 0; conn < 300; conn++) {
        NginxMimic m(Port::tls, kT0);
        for (int i = 0; i < 60 && !m.closed(); i++) {
            std::string in = pieces[rng() % std::size(pieces)];
            if (rng() % 4 == 0) in[rng() % in.size()] = static_cast<char>(rng());
            m.feed(in, kT0 + milliseconds(i));
            ASSERT_LE(m.buffered_bytes(), kBufferBound);
        }
    }
}

// --- keep-alive limits -------------------------------------------------------------------

TEST(NginxMimic, ThousandthRequestClosesTheConnection) {
    NginxMimic m(Port::tls, kT0);
    std::string all;
    for (int i = 0; i < 1000; i++) all += get("/");
    auto r = m.feed(all, kT0);
    EXPECT_EQ(count(r.bytes, "Connection: keep-alive\r\n"), 999U);
    EXPECT_EQ(count(r.bytes, "Connection: close\r\n"), 1U);
    EXPECT_TRUE(r.close);
}

TEST(NginxMimic, KeepaliveEndsAfterAnHour) {
    NginxMimic m(Port::tls, kT0);
    EXPECT_FALSE(m.feed(get("/"), kT0 + seconds(1)).close);
    for (int i = 1; i <= 49; i++) {  // one request every 74 s, just inside keepalive_timeout
        auto r = m.feed(get("/"), kT0 + seconds(1 + 74 * i));
        EXPECT_EQ(r.close, 1 + 74 * i > 3600) << i;
        if (r.close) break;
    }
}

// --- timers ------------------------------------------------------------------------------

TEST(NginxMimic, IdleConnectionClosesAfterHeaderTimeout) {
    NginxMimic m(Port::tls, kT0);
    EXPECT_EQ(m.deadline(), kT0 + seconds(60));
    auto r = m.on_timeout(kT0 + seconds(60));
    EXPECT_TRUE(r.bytes.empty());  // no 408
    EXPECT_TRUE(r.close);
    EXPECT_FALSE(r.quiet);  // nginx sends close_notify here
    EXPECT_TRUE(m.closed());
    EXPECT_EQ(m.deadline(), Clock::time_point::max());
}

TEST(NginxMimic, HeaderTimeoutRunsFromAcceptNotFromProgress) {
    NginxMimic m(Port::tls, kT0);
    EXPECT_TRUE(m.feed("GET / HTTP/1.1\r\n", kT0 + seconds(10)).bytes.empty());
    EXPECT_EQ(m.deadline(), kT0 + seconds(60));
    EXPECT_TRUE(m.feed("Host: x\r\n", kT0 + seconds(50)).bytes.empty());
    EXPECT_EQ(m.deadline(), kT0 + seconds(60));
    auto r = m.on_timeout(kT0 + seconds(60));
    EXPECT_TRUE(r.bytes.empty());
    EXPECT_TRUE(r.close);
    EXPECT_TRUE(r.quiet);  // c->timedout: no close_notify
}

TEST(NginxMimic, KeepaliveTimeoutThenHeaderTimeoutForTheNextRequest) {
    NginxMimic m(Port::tls, kT0);
    m.feed(get("/"), kT0 + seconds(5));
    EXPECT_EQ(m.deadline(), kT0 + seconds(80));
    m.feed("GET /", kT0 + seconds(20));
    EXPECT_EQ(m.deadline(), kT0 + seconds(80));  // client_header_timeout from the first byte
    auto r = m.on_timeout(kT0 + seconds(80));
    EXPECT_TRUE(r.close);
    EXPECT_TRUE(r.quiet);

    NginxMimic idle(Port::tls, kT0);
    idle.feed(get("/"), kT0);
    r = idle.on_timeout(kT0 + seconds(75));
    EXPECT_TRUE(r.close);
    EXPECT_FALSE(r.quiet);
}

TEST(NginxMimic, UnfinishedBodyWaitsFiveSecondsAtATimeForThirtySeconds) {
    NginxMimic m(Port::tls, kT0);
    auto r = m.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", kT0);
    EXPECT_NE(r.bytes.find("Connection: keep-alive"), std::string::npos);
    EXPECT_EQ(m.deadline(), kT0 + seconds(5));
    Clock::time_point t = kT0;
    for (int i = 1; i <= 7; i++) {  // 4 s apart: each read restarts lingering_timeout
        t = kT0 + seconds(4 * i);
        r = m.feed(std::string(100, 'x'), t);
        EXPECT_TRUE(r.bytes.empty());
        EXPECT_FALSE(r.close);
        EXPECT_EQ(m.deadline(), t + std::min<Clock::duration>(seconds(5), kT0 + seconds(30) - t));
    }
    r = m.feed("x", kT0 + seconds(30));  // lingering_time is up
    EXPECT_TRUE(r.close);

    NginxMimic quiet_peer(Port::tls, kT0);
    quiet_peer.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab", kT0);
    r = quiet_peer.on_timeout(quiet_peer.deadline());
    EXPECT_TRUE(r.close);
    EXPECT_TRUE(r.quiet);
}

TEST(NginxMimic, LingeringCloseReadsOnThenCloses) {
    NginxMimic m(Port::tls, kT0);
    auto r = m.feed("GARBAGE\r\n\r\nmore", kT0);
    EXPECT_NE(r.bytes.find("400 Bad Request"), std::string::npos);
    EXPECT_TRUE(r.close);
    EXPECT_TRUE(r.lingering);
    EXPECT_FALSE(r.quiet);
    EXPECT_FALSE(m.closed());
    EXPECT_EQ(m.deadline(), kT0 + seconds(5));
    r = m.feed("still talking", kT0 + seconds(3));
    EXPECT_FALSE(r.close);
    EXPECT_EQ(m.deadline(), kT0 + seconds(8));
    r = m.on_timeout(kT0 + seconds(8));
    EXPECT_TRUE(r.close);
    EXPECT_FALSE(r.lingering);
    EXPECT_TRUE(m.closed());
}

TEST(NginxMimic, EofClosesQuietlyEverywhere) {
    for (std::string_view before :
         {"", "GET / HT", "GET / HTTP/1.1\r\nHost: x\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"}) {
        NginxMimic m(Port::tls, kT0);
        if (!before.empty()) m.feed(before, kT0);
        auto r = m.eof(kT0 + seconds(1));
        EXPECT_TRUE(r.bytes.empty()) << before;
        EXPECT_TRUE(r.close) << before;
        EXPECT_TRUE(r.quiet) << before;
        EXPECT_TRUE(m.closed()) << before;
    }
}

TEST(NginxMimic, HttpDate) {
    EXPECT_EQ(http_date(kT0), "Mon, 23 Nov 2026 00:05:02 GMT");
    EXPECT_EQ(http_date(Clock::from_time_t(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(http_date(kT0 + milliseconds(999)), "Mon, 23 Nov 2026 00:05:02 GMT");
}

TEST(NginxMimic, DateComesFromTheEventTime) {
    NginxMimic m(Port::tls, kT0);
    auto r = m.feed(get("/"), kT0 + seconds(60 * 60 * 24));
    EXPECT_NE(r.bytes.find("\r\nDate: Tue, 24 Nov 2026 00:05:02 GMT\r\n"), std::string::npos);
}

}  // namespace
}  // namespace ghost::stealth
