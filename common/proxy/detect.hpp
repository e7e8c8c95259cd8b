#pragma once
/// Tells SOCKS5 from HTTP CONNECT on a shared front-door port by the first byte.

#include <cstdint>
#include <string>
#include <vector>

namespace ghost::proxy {

/// Which parser a connection on a shared port goes to.
enum class FrontDoorProtocol { socks5, http, unknown };

/// Outcome of detect_front_door().
struct Detection {
    FrontDoorProtocol protocol = FrontDoorProtocol::unknown;
    /// Why, when unknown; names the byte.
    std::string reason;
    /// Bytes to send before closing when unknown (a SOCKS4 rejection for 0x04).
    std::vector<uint8_t> reply;
};

/// 0x05 is SOCKS5, an ASCII letter starts an HTTP method, anything else is refused.
Detection detect_front_door(uint8_t first_byte);

}  // namespace ghost::proxy
