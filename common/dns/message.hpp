#pragma once
/// DNS messages (RFC 1035 §4.1) as far as TUN mode needs them: the header, the first
/// question, and the two answers ghost writes itself. Pure: bytes in, bytes out.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ghost::dns {

/// Size of the fixed header (ID, flags and the four section counts).
inline constexpr size_t kHeaderSize = 12;

/// The big-endian 16-bit field at `at`; m must hold at + 2 bytes.
uint16_t get16(const std::vector<uint8_t>& m, size_t at);
/// Writes `v` big-endian at `at`; m must hold at + 2 bytes.
void put16(std::vector<uint8_t>& m, size_t at, uint16_t v);

/// SERVFAIL for `query` (header and question copied, QR/RA set, no records); empty when
/// the query is too short to have a header.
std::vector<uint8_t> servfail(const std::vector<uint8_t>& query);

/// `answer` cut to its header and question with TC set (the client retries over TCP), for
/// answers too large for one UDP datagram; empty when shorter than a header.
std::vector<uint8_t> truncated(const std::vector<uint8_t>& answer);

}  // namespace ghost::dns
