#include "common/udp/frame.hpp"

#include <algorithm>
#include <cstring>

#include "common/tun/checksum.hpp"

namespace ghost::udp {
namespace {

using tun::load_be16;
using tun::load_be32;
using tun::store_be16;
using tun::store_be32;

constexpr size_t kLengthSize = 4;
constexpr size_t kHelloBody = 1 + 1 + 1 + 2 + 4;  // type, version, features, max_payload, ...
constexpr size_t kIcmpErrorTail = 1 + 1 + 4;      // icmp_type, icmp_code, mtu

size_t addr_size(bool v6) {
    return v6 ? 16 : 4;
}

/// Body bytes (type included) of a datagram frame before its payload / icmp_error tail.
size_t datagram_head(bool v6) {
    return 1 + 1 + 2 * (addr_size(v6) + 2);
}

const char* type_name(FrameType t) {
    switch (t) {
        case FrameType::hello:
            return "hello";
        case FrameType::udp:
            return "udp";
        case FrameType::icmp_echo:
            return "icmp_echo";
        case FrameType::icmp_error:
            return "icmp_error";
    }
    return "unknown";
}

bool is_datagram_type(FrameType t) {
    return t == FrameType::udp || t == FrameType::icmp_echo || t == FrameType::icmp_error;
}

void put_addr(uint8_t*& p, const tun::SocketAddr& a) {
    const size_t n = addr_size(a.ip.v6);
    std::memcpy(p, a.ip.bytes.data(), n);
    store_be16(p + n, a.port);
    p += n + 2;
}

tun::SocketAddr get_addr(const uint8_t*& p, bool v6) {
    tun::SocketAddr a;
    a.ip.v6 = v6;
    const size_t n = addr_size(v6);
    std::memcpy(a.ip.bytes.data(), p, n);
    a.port = load_be16(p + n);
    p += n + 2;
    return a;
}

/// Decodes a hello body (`body` starts at the type byte); empty `why` on success.
std::optional<Hello> decode_hello(std::span<const uint8_t> body, std::string& why) {
    // Longer is fine: a later version may append fields, which version 1 ignores.
    if (body.size() < kHelloBody) {
        why = "datagram hello frame of " + std::to_string(body.size()) + " bytes (at least " +
              std::to_string(kHelloBody) + " expected)";
        return std::nullopt;
    }
    Hello h;
    h.version = body[1];
    h.features = body[2];
    h.max_payload = load_be16(&body[3]);
    h.max_flows = load_be32(&body[5]);
    if (h.version == 0) {
        why = "datagram hello frame with version 0";
        return std::nullopt;
    }
    return h;
}

/// Decodes a udp / icmp_echo / icmp_error body (`body` starts at the type byte).
std::optional<Datagram> decode_datagram(FrameType type, std::span<const uint8_t> body,
                                        std::string& why) {
    const std::string what = std::string("datagram ") + type_name(type) + " frame";
    if (body.size() < 2) {
        why = what + " of " + std::to_string(body.size()) + " bytes has no family";
        return std::nullopt;
    }
    const uint8_t family = body[1];
    if (family != 4 && family != 6) {
        why = what + " with family " + std::to_string(family) + " (4 or 6 expected)";
        return std::nullopt;
    }
    const bool v6 = family == 6;
    const size_t head = datagram_head(v6);
    if (body.size() < head) {
        why = what + " of " + std::to_string(body.size()) + " bytes is shorter than its IPv" +
              std::to_string(family) + " addresses (" + std::to_string(head) + ")";
        return std::nullopt;
    }
    Datagram d;
    d.type = type;
    const uint8_t* p = body.data() + 2;
    d.client = get_addr(p, v6);
    d.remote = get_addr(p, v6);
    const size_t rest = body.size() - head;
    if (type == FrameType::icmp_error) {
        if (rest != kIcmpErrorTail) {
            why = what + " of " + std::to_string(body.size()) + " bytes (" +
                  std::to_string(head + kIcmpErrorTail) + " expected for IPv" +
                  std::to_string(family) + ")";
            return std::nullopt;
        }
        d.icmp_type = p[0];
        d.icmp_code = p[1];
        d.mtu = load_be32(p + 2);
        return d;
    }
    if (rest > kMaxPayload) {
        why = what + " with a payload of " + std::to_string(rest) + " bytes (at most " +
              std::to_string(kMaxPayload) + ")";
        return std::nullopt;
    }
    d.payload.assign(p, p + rest);
    return d;
}

}  // namespace

void encode(const Hello& h, std::vector<uint8_t>& out) {
    const size_t at = out.size();
    out.resize(at + kLengthSize + kHelloBody);
    uint8_t* p = out.data() + at;
    store_be32(p, kHelloBody);
    p[4] = static_cast<uint8_t>(FrameType::hello);
    p[5] = h.version;
    p[6] = h.features;
    store_be16(p + 7, h.max_payload);
    store_be32(p + 9, h.max_flows);
}

size_t encoded_size(const Datagram& d) {
    if (!is_datagram_type(d.type) || d.client.ip.v6 != d.remote.ip.v6) return 0;
    if (d.payload.size() > kMaxPayload) return 0;
    if (d.type == FrameType::icmp_error && !d.payload.empty()) return 0;
    const size_t tail = d.type == FrameType::icmp_error ? kIcmpErrorTail : d.payload.size();
    return kLengthSize + datagram_head(d.client.ip.v6) + tail;
}

bool encode(const Datagram& d, std::vector<uint8_t>& out) {
    const size_t size = encoded_size(d);
    if (size == 0) return false;
    const size_t at = out.size();
    out.resize(at + size);
    uint8_t* p = out.data() + at;
    store_be32(p, static_cast<uint32_t>(size - kLengthSize));
    p[4] = static_cast<uint8_t>(d.type);
    p[5] = d.client.ip.v6 ? 6 : 4;
    p += 6;
    put_addr(p, d.client);
    put_addr(p, d.remote);
    if (d.type == FrameType::icmp_error) {
        p[0] = d.icmp_type;
        p[1] = d.icmp_code;
        store_be32(p + 2, d.mtu);
    } else if (!d.payload.empty()) {
        std::memcpy(p, d.payload.data(), d.payload.size());
    }
    return true;
}

size_t FrameReader::feed(std::span<const uint8_t> bytes) {
    // A failed stream is over: take (and drop) everything so no caller loops on it.
    if (!error_.empty()) return bytes.size();
    const size_t held = buf_.size() - start_;
    const size_t take = std::min(bytes.size(), kCapacity - held);
    if (take == 0) return 0;
    // Drop consumed bytes once they are at least half the buffer (amortised O(1) per
    // byte), or when appending would hold more than kCapacity in all.
    if (start_ > 0 && (start_ >= held || buf_.size() + take > kCapacity)) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
        start_ = 0;
    }
    buf_.insert(buf_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(take));
    return take;
}

std::optional<FrameReader::Frame> FrameReader::next() {
    while (error_.empty()) {
        const size_t held = buf_.size() - start_;
        if (held < kLengthSize) break;
        const uint32_t length = load_be32(buf_.data() + start_);
        // Checked before the body arrives: a bad length must not make the reader wait.
        if (length == 0) {
            error_ = "datagram frame length 0";
            break;
        }
        if (length > kMaxFrameBody) {
            error_ = "datagram frame length " + std::to_string(length) + " (at most " +
                     std::to_string(kMaxFrameBody) + ")";
            break;
        }
        if (held < kLengthSize + length) break;
        const std::span<const uint8_t> body(buf_.data() + start_ + kLengthSize, length);
        start_ += kLengthSize + length;
        const auto type = static_cast<FrameType>(body[0]);
        Frame f;
        f.type = type;
        if (type == FrameType::hello) {
            f.hello = decode_hello(body, error_);
        } else if (is_datagram_type(type)) {
            f.datagram = decode_datagram(type, body, error_);
        } else {
            ++skipped_;
            continue;
        }
        if (!error_.empty()) break;
        if (start_ == buf_.size()) release();
        return f;
    }
    if (!error_.empty()) release();
    return std::nullopt;
}

void FrameReader::release() {
    buf_.clear();
    start_ = 0;
    // Keep a buffer for one largest frame; give back what a burst grew beyond it.
    if (buf_.capacity() > kLengthSize + kMaxFrameBody) std::vector<uint8_t>().swap(buf_);
}

}  // namespace ghost::udp
