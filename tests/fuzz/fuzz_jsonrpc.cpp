// libFuzzer target for JSON-RPC framing and request parsing (common/rpc/jsonrpc) as the
// control socket's server uses them on what any local user sends: LineFramer fed in
// pieces, every non-blank line through parse_request, and the answer serialised with
// to_line (the request's params echoed back as a result, or the error response).
// Input: byte 0 = line limit (16 + 16 x byte 0; 255: the daemon's default of 1 MiB),
// byte 1 = chunk seed, rest = bytes from the client.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/rpc/jsonrpc.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
namespace rpc = ghost::rpc;

// An answer is one line of JSON naming JSON-RPC 2.0.
void check_answer(const std::string& line) {
    check(!line.empty() && line.back() == '\n' && line.find('\n') == line.size() - 1,
          "answer is not exactly one line");
    const auto j = nlohmann::json::parse(line, nullptr, false);
    check(j.is_object() && j.value("jsonrpc", "") == "2.0", "answer is not JSON-RPC 2.0");
    check(j.contains("result") != j.contains("error"),
          "answer with both or neither result and error");
}

void handle(const std::string& line) {
    rpc::ParseOutcome parsed = rpc::parse_request(line);
    if (!parsed.request) {
        const auto& e = parsed.error_response;
        const int code = e.at("error").at("code").get<int>();
        check(code == -32700 || code == -32600 || code == -32602, "unexpected error code");
        return check_answer(rpc::to_line(e));
    }
    rpc::Request& req = *parsed.request;
    check(req.params.is_object(), "params that are not an object");
    check(!req.is_notification || req.id.is_null(), "notification with an id");
    check_answer(rpc::to_line(rpc::make_result(req.id, std::move(req.params))));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t limit = data[0] == 255 ? size_t{1} << 20 : 16 + size_t{data[0]} * 16;
    rpc::LineFramer framer(limit);
    ghost::fuzz::Chunker chunks(ghost::fuzz::as_text(data + 2, size - 2), data[1],
                                1 + data[1] % 64);
    while (!chunks.done()) {
        if (!framer.feed(chunks.next())) {
            check(framer.overflowed(), "refused without overflow");
            check_answer(rpc::to_line(rpc::make_error(nullptr, -32001, "request too large")));
            return 0;
        }
        while (auto line = framer.next_line()) {
            check(line->find('\n') == std::string::npos, "line with a newline");
            if (line->find_first_not_of(" \t") == std::string::npos) continue;
            handle(*line);
        }
        if (framer.overflowed()) return 0;
        check(framer.pending() <= limit, "more pending than a line may hold");
    }
    return 0;
}
