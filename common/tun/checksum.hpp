#pragma once
/// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), as used by
/// IPv4 headers, TCP, UDP and ICMP. Values are the big-endian 16-bit words as integers.

#include <cstddef>
#include <cstdint>
#include <span>

namespace ghost::tun {

/// Adds `data` (big-endian 16-bit words, an odd tail padded with zero) to `sum`, unfolded.
uint32_t checksum_add(std::span<const uint8_t> data, uint32_t sum = 0);

/// Folds a partial sum to 16 bits and complements it: the checksum field value.
uint16_t checksum_finish(uint32_t sum);

/// Internet checksum of `data` from scratch.
uint16_t internet_checksum(std::span<const uint8_t> data);

/// RFC 1624 eqn. 3: the checksum after one 16-bit word changed from old_word to new_word.
uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word);

/// The checksum after an even-length run of bytes (at an even offset) changed.
uint16_t checksum_update(uint16_t checksum, std::span<const uint8_t> old_bytes,
                         std::span<const uint8_t> new_bytes);

/// Reads a big-endian 16-bit value at p.
inline uint16_t load_be16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

/// Reads a big-endian 32-bit value at p.
inline uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

/// Writes v big-endian at p.
inline void store_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

/// Writes v big-endian at p.
inline void store_be32(uint8_t* p, uint32_t v) {
    store_be16(p, static_cast<uint16_t>(v >> 16));
    store_be16(p + 2, static_cast<uint16_t>(v));
}

}  // namespace ghost::tun
