#include "common/stealth/websocket.hpp"

#include <algorithm>
#include <cstring>

namespace ghost::stealth {

size_t ws_header_size(uint64_t len, bool masked) {
    size_t n = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
    return n + (masked ? 4 : 0);
}

void ws_write_header(uint8_t* out, WsOpcode op, uint64_t len, const uint8_t* mask) {
    out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(op));
    const uint8_t m = mask ? 0x80 : 0;
    size_t i = 2;
    if (len < 126) {
        out[1] = static_cast<uint8_t>(m | len);
    } else if (len <= 0xffff) {
        out[1] = m | 126;
        out[2] = static_cast<uint8_t>(len >> 8);
        out[3] = static_cast<uint8_t>(len);
        i = 4;
    } else {
        out[1] = m | 127;
        for (int b = 0; b < 8; ++b) out[2 + b] = static_cast<uint8_t>(len >> (8 * (7 - b)));
        i = 10;
    }
    if (mask) std::memcpy(out + i, mask, 4);
}

size_t ws_mask(uint8_t* data, size_t len, const uint8_t mask[4], size_t offset) {
    size_t i = 0;
    // Align to the mask so the bulk can go 8 bytes at a time.
    while (i < len && offset != 0) {
        data[i++] ^= mask[offset];
        offset = (offset + 1) & 3;
    }
    uint8_t m8[8];
    for (int k = 0; k < 8; ++k) m8[k] = mask[k & 3];
    uint64_t m;
    std::memcpy(&m, m8, 8);
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        std::memcpy(&v, data + i, 8);
        v ^= m;
        std::memcpy(data + i, &v, 8);
    }
    while (i < len) {
        data[i++] ^= mask[offset];
        offset = (offset + 1) & 3;
    }
    return offset;
}

std::string ws_control_frame(WsOpcode op, const std::string& payload, const uint8_t* mask) {
    std::string out(ws_header_size(payload.size(), mask != nullptr) + payload.size(), '\0');
    auto* p = reinterpret_cast<uint8_t*>(out.data());
    size_t h = ws_header_size(payload.size(), mask != nullptr);
    ws_write_header(p, op, payload.size(), mask);
    std::memcpy(p + h, payload.data(), payload.size());
    if (mask) ws_mask(p + h, payload.size(), mask, 0);
    return out;
}

size_t WsDecoder::decode(uint8_t* buf, size_t len, Events& ev) {
    size_t in = 0, out = 0;
    while (in < len && !done_) {
        if (!in_payload_) {
            // Assemble the header: 2 bytes, then the extended length and the mask.
            hdr_[hdr_len_++] = buf[in++];
            if (hdr_len_ < 2) continue;
            const uint8_t len7 = hdr_[1] & 0x7f;
            const size_t need = 2 +
                                (len7 == 126   ? 2
                                 : len7 == 127 ? 8
                                               : 0) +
                                ((hdr_[1] & 0x80) ? 4 : 0);
            if (hdr_len_ < need) continue;
            fin_ = hdr_[0] & 0x80;
            opcode_ = hdr_[0] & 0x0f;
            masked_ = hdr_[1] & 0x80;
            if (hdr_[0] & 0x70) {
                ev.error = "WebSocket frame with reserved bits set";
            } else if (masked_ != expect_masked_) {
                ev.error = expect_masked_ ? "unmasked WebSocket frame from client"
                                          : "masked WebSocket frame from server";
            }
            uint64_t n = len7;
            if (len7 == 126) n = (uint64_t{hdr_[2]} << 8) | hdr_[3];
            if (len7 == 127) {
                n = 0;
                for (int b = 0; b < 8; ++b) n = (n << 8) | hdr_[2 + b];
                if (n >> 63) ev.error = "WebSocket frame length out of range";
            }
            if (masked_) std::memcpy(mask_, hdr_ + need - 4, 4);
            const bool control = opcode_ & 0x08;
            if (ev.error.empty()) {
                if (control && (n > 125 || !fin_)) {
                    ev.error = "fragmented or oversized WebSocket control frame";
                } else if (!control && opcode_ != 0 && opcode_ != 2) {
                    ev.error = "WebSocket frame with opcode " + std::to_string(opcode_) +
                               " (only binary frames carry the stream)";
                } else if (opcode_ == 0 && !in_fragmented_msg_) {
                    ev.error = "WebSocket continuation frame without a message";
                } else if (opcode_ == 2 && in_fragmented_msg_) {
                    ev.error = "WebSocket binary frame inside a fragmented message";
                } else if (control && opcode_ != 8 && opcode_ != 9 && opcode_ != 10) {
                    ev.error = "WebSocket frame with opcode " + std::to_string(opcode_);
                }
            }
            if (!ev.error.empty()) {
                done_ = true;
                break;
            }
            if (!control) in_fragmented_msg_ = !fin_;
            hdr_len_ = 0;
            remaining_ = n;
            mask_off_ = 0;
            control_.clear();
            in_payload_ = true;
        }
        // Payload (possibly empty).
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(remaining_, static_cast<uint64_t>(len - in)));
        if (take > 0) {
            if (masked_) mask_off_ = ws_mask(buf + in, take, mask_, mask_off_);
            if (opcode_ & 0x08) {
                control_.append(reinterpret_cast<char*>(buf + in), take);
            } else {
                if (out != in) std::memmove(buf + out, buf + in, take);
                out += take;
            }
            in += take;
            remaining_ -= take;
        }
        if (remaining_ != 0) break;
        in_payload_ = false;
        if (opcode_ == 9) {
            ev.ping = true;
            ev.ping_payload = control_;
        } else if (opcode_ == 8) {
            ev.close = true;
            ev.close_code = control_.size() >= 2
                                ? static_cast<uint16_t>((static_cast<uint8_t>(control_[0]) << 8) |
                                                        static_cast<uint8_t>(control_[1]))
                                : 1005;
            done_ = true;
        }
    }
    return out;
}

}  // namespace ghost::stealth
