// libFuzzer target for the HTTP CONNECT request parser.
// Input: byte 0 = flags (bit 0: credentials configured), byte 1 = chunk size seed,
// rest = bytes from the client, fed in chunks to exercise incremental parsing.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/proxy/http_connect.hpp"

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
    const std::size_t chunk = std::size_t{data[1]} * 4 + 1;
    const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

    HttpConnectParser parser(creds);
    std::size_t taken = 0;
    for (std::size_t pos = 0; pos < stream.size();) {
        const auto piece = stream.substr(pos, chunk);
        const auto step = parser.feed(piece);
        check(step.consumed <= piece.size());
        taken += step.consumed;
        check(taken <= HttpConnectParser::kMaxHeadBytes);
        if (step.status == ParseStatus::need_more) {
            check(step.consumed == piece.size());
        } else if (step.status == ParseStatus::done) {
            check(step.request && step.request->port != 0 && !step.request->host.empty());
            check(!creds || step.request->username == "user");
            return 0;
        } else {
            check(step.http_status >= 400 && step.http_status < 600);
            check(!step.error.empty() && step.response.rfind("HTTP/1.1 ", 0) == 0);
            return 0;
        }
        pos += piece.size();
    }
    return 0;
}
