#include "common/tun/checksum.hpp"

namespace ghost::tun {

uint32_t checksum_add(std::span<const uint8_t> data, uint32_t sum) {
    // Fold as we go so a packet of any length cannot overflow the accumulator.
    size_t i = 0;
    for (; i + 1 < data.size(); i += 2) {
        sum += load_be16(data.data() + i);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if (i < data.size()) {
        sum += uint32_t{data[i]} << 8;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

uint16_t checksum_finish(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

uint16_t internet_checksum(std::span<const uint8_t> data) {
    return checksum_finish(checksum_add(data));
}

uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
    // HC' = ~(~HC + ~m + m')
    uint32_t sum = static_cast<uint16_t>(~checksum);
    sum += static_cast<uint16_t>(~old_word);
    sum += new_word;
    return checksum_finish(sum);
}

uint16_t checksum_update(uint16_t checksum, std::span<const uint8_t> old_bytes,
                         std::span<const uint8_t> new_bytes) {
    uint32_t sum = static_cast<uint16_t>(~checksum);
    for (size_t i = 0; i + 1 < old_bytes.size() && i + 1 < new_bytes.size(); i += 2) {
        sum += static_cast<uint16_t>(~load_be16(old_bytes.data() + i));
        sum += load_be16(new_bytes.data() + i);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return checksum_finish(sum);
}

}  // namespace ghost::tun
