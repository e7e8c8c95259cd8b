#include "common/proxy/detect.hpp"

namespace ghost::proxy {

Detection detect_front_door(uint8_t first_byte) {
    Detection d;
    if (first_byte == 0x05) {
        d.protocol = FrontDoorProtocol::socks5;
    } else if ((first_byte >= 'A' && first_byte <= 'Z') ||
               (first_byte >= 'a' && first_byte <= 'z')) {
        d.protocol = FrontDoorProtocol::http;
    } else if (first_byte == 0x04) {
        d.reason = "SOCKS4 is not supported (configure the client for SOCKS5)";
        d.reply = {0x00, 0x5b, 0, 0, 0, 0, 0, 0};  // SOCKS4 "request rejected or failed"
    } else {
        static constexpr char kHex[] = "0123456789abcdef";
        d.reason = std::string("first byte 0x") + kHex[first_byte >> 4] + kHex[first_byte & 0xf] +
                   " is neither SOCKS5 (0x05) nor the start of an HTTP request";
        if (first_byte == 0x16) d.reason += " (looks like TLS: this port speaks plain SOCKS/HTTP)";
    }
    return d;
}

}  // namespace ghost::proxy
