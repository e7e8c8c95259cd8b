#include "common/dns/message.hpp"

namespace ghost::dns {
namespace {

// End of the first question (QNAME + QTYPE + QCLASS), or 0 when it does not parse.
size_t question_end(const std::vector<uint8_t>& m) {
    if (m.size() < kHeaderSize || get16(m, 4) == 0) return 0;
    size_t i = kHeaderSize;
    while (i < m.size()) {
        uint8_t len = m[i];
        if (len == 0) return i + 5 <= m.size() ? i + 5 : 0;
        if ((len & 0xc0) != 0) return 0;  // no compression pointers in a query's QNAME
        i += 1 + len;
    }
    return 0;
}

}  // namespace

uint16_t get16(const std::vector<uint8_t>& m, size_t at) {
    return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

void put16(std::vector<uint8_t>& m, size_t at, uint16_t v) {
    m[at] = static_cast<uint8_t>(v >> 8);
    m[at + 1] = static_cast<uint8_t>(v);
}

std::vector<uint8_t> servfail(const std::vector<uint8_t>& query) {
    if (query.size() < kHeaderSize) return {};
    size_t end = question_end(query);
    std::vector<uint8_t> r(query.begin(),
                           query.begin() + static_cast<ptrdiff_t>(end ? end : kHeaderSize));
    r[2] = static_cast<uint8_t>(0x80 | (query[2] & 0x79));  // QR, keep opcode and RD
    r[3] = 0x80 | 0x02;                                     // RA, RCODE 2 (SERVFAIL)
    put16(r, 4, end ? 1 : 0);
    put16(r, 6, 0);
    put16(r, 8, 0);
    put16(r, 10, 0);
    return r;
}

std::vector<uint8_t> truncated(const std::vector<uint8_t>& answer) {
    if (answer.size() < kHeaderSize) return {};
    size_t end = question_end(answer);
    std::vector<uint8_t> r(answer.begin(),
                           answer.begin() + static_cast<ptrdiff_t>(end ? end : kHeaderSize));
    r[2] |= 0x02;  // TC
    put16(r, 4, end ? 1 : 0);
    put16(r, 6, 0);
    put16(r, 8, 0);
    put16(r, 10, 0);
    return r;
}

}  // namespace ghost::dns
