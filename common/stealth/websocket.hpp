#pragma once
/// RFC 6455 framing for the SSH stream after the knock: SSH bytes travel as binary frames.
/// The encoder writes a frame header in front of a payload already in place (no copy);
/// the decoder is streaming and works in place: frame headers and masks are stripped
/// from a buffer as it arrives, frames may be split anywhere across reads, and payload
/// size is never buffered (only control-frame payloads, ≤ 125 bytes).

#include <cstddef>
#include <cstdint>
#include <string>

namespace ghost::stealth {

enum class WsOpcode : uint8_t {
    continuation = 0,
    text = 1,
    binary = 2,
    close = 8,
    ping = 9,
    pong = 10
};

/// Largest frame header: 2 + 8 (length) + 4 (mask).
inline constexpr size_t kWsMaxHeader = 14;

/// Size of the header for a frame of `len` payload bytes.
size_t ws_header_size(uint64_t len, bool masked);
/// Writes a FIN frame header for `len` payload bytes into `out` (ws_header_size bytes).
/// `mask` non-null: the header carries it (client → server frames).
void ws_write_header(uint8_t* out, WsOpcode op, uint64_t len, const uint8_t* mask);
/// XORs `data` with `mask` starting at mask position `offset` (0..3); returns the next offset.
size_t ws_mask(uint8_t* data, size_t len, const uint8_t mask[4], size_t offset);
/// A whole control frame (close/ping/pong) with payload ≤ 125 bytes, masked when `mask`.
std::string ws_control_frame(WsOpcode op, const std::string& payload, const uint8_t* mask);

/// Streaming, in-place decoder.
class WsDecoder {
  public:
    /// `expect_masked`: server side (client frames must be masked, RFC 6455 §5.1).
    explicit WsDecoder(bool expect_masked) : expect_masked_(expect_masked) {}

    /// What happened while decoding a chunk, besides payload.
    struct Events {
        bool ping = false;  // answer with pong(ping_payload)
        std::string ping_payload;
        bool close = false;  // peer sent close: answer close and end
        uint16_t close_code = 0;
        std::string error;  // protocol error: end the connection
    };

    /// Decodes `len` bytes at `buf`, moving payload of data frames to the front of `buf`
    /// in order. Returns the payload byte count. Stops at a close frame or an error.
    size_t decode(uint8_t* buf, size_t len, Events& ev);

  private:
    bool expect_masked_;
    // header being assembled
    uint8_t hdr_[kWsMaxHeader]{};
    size_t hdr_len_ = 0;
    // current frame
    bool in_payload_ = false;
    uint8_t opcode_ = 0;
    bool fin_ = false;
    bool masked_ = false;
    uint8_t mask_[4]{};
    size_t mask_off_ = 0;
    uint64_t remaining_ = 0;
    std::string control_;             // control frame payload being collected
    bool in_fragmented_msg_ = false;  // a data message continues in the next frame
    bool done_ = false;
};

}  // namespace ghost::stealth
