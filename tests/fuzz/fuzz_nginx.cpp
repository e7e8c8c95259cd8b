// libFuzzer target for the built-in web responder that answers probes like nginx 1.22.1
// (common/stealth/nginx_mimic, and through it every parser of nginx_parse: request line,
// headers, complex URI, Host, Content-Length, chunked bodies). It faces the internet.
// Input: byte 0 = flags (bit 0: TLS port, bit 1: plain bytes on the TLS port, bit 2: the
// peer sends EOF at the end), byte 1 = chunk seed, byte 2 = delay seed (seconds between
// reads), rest = bytes from the peer. Time passes between reads; deadlines fire as the
// responder's timer would; every connection must end closed.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/stealth/nginx_mimic.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
using ghost::stealth::NginxMimic;

// 1 KiB client_header_buffer + 5 x 8 KiB large buffers (see NginxMimic::buffered_bytes).
constexpr size_t kMaxBuffered = 1024 + 5 * 8192;

void check_reply(const NginxMimic::Reply& r, const NginxMimic& m) {
    check(m.buffered_bytes() <= kMaxBuffered, "buffers beyond nginx's");
    if (!r.bytes.empty()) {
        check(r.bytes.rfind("HTTP/1.1 ", 0) == 0 || r.bytes.rfind("<html>", 0) == 0,
              "answer that is neither a response nor an HTTP/0.9 page");
    }
    check(!r.lingering || r.close, "lingering without close");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    const auto port = data[0] & 1 ? NginxMimic::Port::tls : NginxMimic::Port::plain;
    auto now = NginxMimic::Clock::time_point{std::chrono::seconds{1'700'000'000}};
    NginxMimic m(port, now);
    if (port == NginxMimic::Port::tls && (data[0] & 2)) m.plain_on_tls();
    ghost::fuzz::Chunker chunks(ghost::fuzz::as_text(data + 3, size - 3), data[1],
                                1 + data[1] % 128);
    const uint32_t max_delay = data[2];
    while (!chunks.done() && !m.closed()) {
        now += std::chrono::seconds{chunks.draw() % (max_delay + 1)};
        if (now >= m.deadline()) {
            check_reply(m.on_timeout(now), m);
            check(m.closed(), "still open after its deadline");
            break;
        }
        const std::string piece(chunks.next());
        const auto r = m.feed(piece, now);
        check_reply(r, m);
        if (r.close && !r.lingering) check(m.closed(), "close without closing");
    }
    if (!m.closed() && (data[0] & 4)) check_reply(m.eof(now), m);
    if (!m.closed()) {
        check(m.deadline() != NginxMimic::Clock::time_point::max(), "open without a deadline");
        now = m.deadline();
        check_reply(m.on_timeout(now), m);
    }
    check(m.closed(), "connection never ends");
    check(m.deadline() == NginxMimic::Clock::time_point::max(), "deadline after close");
    return 0;
}
