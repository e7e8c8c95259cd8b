// libFuzzer target for the authorized_keys parser (common/auth/authorized_keys) and the
// checks a connecting client's requests go through (from=, permitopen=, permitlisten=,
// expiry-time=). Input: the file's text. A comment line "#peer HOST PORT" adds a request
// (its host as a direct-tcpip / tcpip-forward target, and as a client address when it
// parses as one) to the built-in ones.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/auth/authorized_keys.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
namespace auth = ghost::auth;
namespace net = ghost::net;

struct Peer {
    std::string host;
    uint16_t port;
};

std::vector<Peer> peers_in(std::string_view text) {
    std::vector<Peer> peers = {{"10.1.2.3", 443}, {"::ffff:192.0.2.1", 0}, {"Example.COM", 65535}};
    size_t at = 0;
    while ((at = text.find("#peer ", at)) != std::string_view::npos) {
        std::string_view line = text.substr(at + 6, text.find('\n', at) - at - 6);
        at += 6;
        const size_t sp = line.find(' ');
        uint32_t port = 0;
        for (char c : line.substr(sp == std::string_view::npos ? line.size() : sp + 1))
            port = (port * 10 + static_cast<uint8_t>(c)) & 0xffff;
        peers.push_back({std::string(line.substr(0, sp)), static_cast<uint16_t>(port)});
        if (peers.size() > 16) break;
    }
    return peers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text = ghost::fuzz::as_text(data, size);
    const auth::AuthorizedKeys keys = auth::parse_authorized_keys(text, "fuzz");
    const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    check(keys.entries.size() + keys.errors.size() <= lines, "more results than lines");
    for (const auto& err : keys.errors) {
        check(err.where.rfind("fuzz:", 0) == 0 && !err.reason.empty(),
              "error without place or reason");
    }
    const std::vector<Peer> peers = peers_in(text);
    for (const auto& e : keys.entries) {
        check(!e.type.empty() && !e.blob.empty() && !e.name.empty(),
              "entry without type, blob or name");
        check(keys.find(e.blob) != nullptr, "entry not found by its own blob");
        check(e.port_forwarding || (!e.permits_open("a", 1) && !e.permits_listen("a", 1)),
              "forwarding allowed after no-port-forwarding");
        for (const auto& p : peers) {
            if (auto ip = net::IpAddress::parse(p.host)) (void)e.from_allows(*ip);
            (void)e.permits_open(p.host, p.port);
            (void)e.permits_listen(p.host, p.port);
        }
        (void)e.expired(0);
        (void)e.expired(INT64_MAX);
    }
    // The same text as one line, as a line of a larger file would be seen.
    std::string why;
    (void)auth::parse_key_line(text.substr(0, text.find('\n')), "fuzz:1", &why);
    return 0;
}
