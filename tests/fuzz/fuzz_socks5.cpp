// libFuzzer target for the SOCKS5 handshake parser.
// Input: byte 0 = flags (bit 0: credentials configured), byte 1 = chunk size seed,
// rest = bytes from the client, fed in chunks to exercise incremental parsing.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "common/proxy/socks5.hpp"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace ghost::proxy;
    if (size < 2) return 0;
    std::optional<Credentials> creds;
    if (data[0] & 1) creds = Credentials{"user", "pass"};
    const std::size_t chunk = static_cast<std::size_t>(data[1] % 32) + 1;
    const std::span<const uint8_t> stream(data + 2, size - 2);

    Socks5Server server(creds);
    std::size_t total_reply = 0;
    for (std::size_t pos = 0; pos < stream.size();) {
        const auto piece = stream.subspan(pos, std::min(chunk, stream.size() - pos));
        const auto step = server.feed(piece);
        check(step.consumed <= piece.size());
        total_reply += step.reply.size();
        check(total_reply <= 2 + 2 + 262);  // method choice + auth status + error reply
        if (step.status == ParseStatus::need_more) {
            check(step.consumed == piece.size());
            check(step.error.empty() && !step.request);
        } else if (step.status == ParseStatus::done) {
            check(step.request && step.request->port != 0 && !step.request->host.empty());
            check(step.request->host.size() <= 255);
            return 0;
        } else {
            check(!step.error.empty());
            return 0;
        }
        pos += piece.size();
    }
    return 0;
}
