// libFuzzer target for the WebSocket frame decoder (common/stealth/websocket), both roles.
// Input: byte 0 = flags (bit 0: server side, client frames must be masked; bit 1: encoder
// round trip instead), byte 1 = chunk seed, rest = bytes from the peer.
// Decoding in pieces must give exactly what decoding all at once gives: the same payload,
// the same error, the same close.

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/stealth/websocket.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
using ghost::stealth::WsDecoder;
using ghost::stealth::WsOpcode;

struct Outcome {
    std::string payload;
    std::string error;
    bool close = false;
    uint16_t close_code = 0;
    size_t pings = 0;
};

// Feeds `stream` to a fresh decoder in pieces as a socket would deliver them.
Outcome decode(std::string_view stream, bool server, uint32_t seed, size_t max_piece) {
    WsDecoder dec(server);
    Outcome out;
    ghost::fuzz::Chunker chunks(stream, seed, max_piece);
    while (!chunks.done()) {
        std::string piece(chunks.next());
        WsDecoder::Events ev;
        const size_t n = dec.decode(reinterpret_cast<uint8_t*>(piece.data()), piece.size(), ev);
        check(n <= piece.size(), "payload larger than the input");
        check(ev.ping_payload.size() <= 125, "control payload over 125 bytes");
        out.payload.append(piece.data(), n);
        out.pings += ev.ping ? 1 : 0;
        if (!ev.error.empty()) {
            check(!ev.close, "error and close at once");
            out.error = ev.error;
            break;
        }
        if (ev.close) {
            out.close = true;
            out.close_code = ev.close_code;
            break;
        }
    }
    return out;
}

// Frames `payload` as the peer would (binary, then continuations; masked when `mask`),
// with pings in between, and checks that the decoder gives the payload back.
void round_trip(std::string_view payload, bool server, uint32_t seed) {
    ghost::fuzz::Chunker sizes(payload, seed, 300);
    std::string wire;
    bool first = true;
    const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    while (!sizes.done()) {
        const std::string_view part = sizes.next();
        const bool fin = sizes.done();
        const size_t h = ghost::stealth::ws_header_size(part.size(), server);
        std::string frame(h + part.size(), '\0');
        auto* p = reinterpret_cast<uint8_t*>(frame.data());
        ghost::stealth::ws_write_header(p, first ? WsOpcode::binary : WsOpcode::continuation,
                                        part.size(), server ? mask : nullptr);
        if (!fin) p[0] &= 0x7f;
        std::memcpy(p + h, part.data(), part.size());
        if (server) ghost::stealth::ws_mask(p + h, part.size(), mask, 0);
        wire += frame;
        if (sizes.draw() % 4 == 0) {
            wire += ghost::stealth::ws_control_frame(WsOpcode::ping, std::string(part.substr(0, 9)),
                                                     server ? mask : nullptr);
        }
        first = false;
    }
    const Outcome got = decode(wire, server, seed >> 3, 1 + seed % 64);
    check(got.error.empty(), "well-formed frames refused");
    check(got.payload == payload, "round trip changed the payload");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const bool server = data[0] & 1;
    const uint32_t seed = data[1];
    const std::string_view stream = ghost::fuzz::as_text(data + 2, size - 2);
    if (data[0] & 2) {
        round_trip(stream, server, seed);
        return 0;
    }
    const Outcome whole = decode(stream, server, 0, stream.size() + 1);
    const Outcome pieces = decode(stream, server, seed, 1 + seed % 32);
    check(whole.payload == pieces.payload, "payload depends on how the input was split");
    check(whole.error == pieces.error, "error depends on how the input was split");
    check(whole.close == pieces.close && whole.close_code == pieces.close_code,
          "close depends on how the input was split");
    return 0;
}
