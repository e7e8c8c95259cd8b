// libFuzzer target for the datagram channel's frame codec (common/udp/frame).
// Input: byte 0 = flags, byte 1 = chunk seed, rest = the channel's bytes from the peer.
//   flags bit 0: encoder mode: the rest describes datagrams to encode (see build_stream)
//   flags bit 1: the stream is repeated 1 + (flags >> 2) times, or until it is kMaxStream
//   long (reaches kCapacity); bits 2..7: the repeat count
// Reading the stream in pieces must give exactly what reading it all at once gives: the
// same frames, the same error, the same count of skipped frames. Every frame read encodes
// again and reads back the same; a reader that refuses bytes always has a frame or an
// error to give (it never stalls), and a failed reader takes everything.

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/udp/frame.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
using ghost::udp::Datagram;
using ghost::udp::FrameReader;
using ghost::udp::FrameType;
using ghost::udp::Hello;

// Streams stop growing past this (well over kCapacity), so a run stays fast.
constexpr size_t kMaxStream = 3 * ghost::udp::FrameReader::kCapacity / 2;

struct Outcome {
    std::vector<FrameReader::Frame> frames;
    std::string error;
    uint64_t skipped = 0;
};

bool same(const FrameReader::Frame& a, const FrameReader::Frame& b) {
    return a.type == b.type && a.hello == b.hello && a.datagram == b.datagram;
}

bool same(const Outcome& a, const Outcome& b) {
    if (a.frames.size() != b.frames.size()) return false;
    for (size_t i = 0; i < a.frames.size(); ++i) {
        if (!same(a.frames[i], b.frames[i])) return false;
    }
    return true;
}

// Checks what one frame must satisfy, and appends its encoding to `again`.
void check_frame(const FrameReader::Frame& f, std::vector<uint8_t>& again) {
    if (f.type == FrameType::hello) {
        check(f.hello && !f.datagram, "hello frame without exactly a Hello");
        check(f.hello->version != 0, "hello version 0 accepted");
        ghost::udp::encode(*f.hello, again);
        return;
    }
    check(f.datagram && !f.hello, "datagram frame without exactly a Datagram");
    const Datagram& d = *f.datagram;
    check(d.type == f.type, "frame type and datagram type differ");
    check(d.client.ip.v6 == d.remote.ip.v6, "addresses of two families");
    check(d.payload.size() <= ghost::udp::kMaxPayload, "payload over kMaxPayload");
    check(d.type != FrameType::icmp_error || d.payload.empty(), "icmp_error with a payload");
    if (!d.client.ip.v6) {
        for (size_t i = 4; i < 16; ++i) {
            check(d.client.ip.bytes[i] == 0 && d.remote.ip.bytes[i] == 0,
                  "IPv4 address with bytes past the fourth");
        }
    }
    const size_t size = ghost::udp::encoded_size(d);
    check(size > 4 && size <= 4 + ghost::udp::kMaxFrameBody, "encoded size out of bounds");
    const size_t before = again.size();
    check(ghost::udp::encode(d, again), "a decoded datagram does not encode");
    check(again.size() - before == size, "encoded_size differs from what encode appends");
}

// Offers `piece` until the reader took all of it, taking frames whenever it is full.
void feed(FrameReader& r, std::span<const uint8_t> piece, Outcome& out) {
    while (!piece.empty()) {
        const size_t n = r.feed(piece);
        check(n <= piece.size() && n <= FrameReader::kCapacity, "feed took too much");
        check(r.error().empty() || n == piece.size(), "a failed reader refused bytes");
        piece = piece.subspan(n);
        size_t got = 0;
        for (; auto f = r.next(); ++got) out.frames.push_back(std::move(*f));
        // kCapacity holds a whole largest frame: a full reader has a frame or an error.
        check(n > 0 || got > 0 || !r.error().empty(), "reader full yet gives nothing");
    }
}

// Reads `stream` with a fresh reader: all at once (max_piece 0) or in pieces of
// 1..max_piece bytes as the channel would deliver them.
Outcome read_stream(const std::vector<uint8_t>& stream, uint32_t seed, size_t max_piece) {
    FrameReader r;
    Outcome out;
    if (max_piece == 0) {
        feed(r, stream, out);
    } else {
        ghost::fuzz::Chunker chunks(ghost::fuzz::as_text(stream.data(), stream.size()), seed,
                                    max_piece);
        while (!chunks.done()) {
            const std::string_view piece = chunks.next();
            feed(r, {reinterpret_cast<const uint8_t*>(piece.data()), piece.size()}, out);
        }
    }
    while (auto f = r.next()) out.frames.push_back(std::move(*f));
    out.error = r.error();
    out.skipped = r.skipped();
    return out;
}

// Encoder mode: reads datagram descriptions from `in` and encodes them, with unknown
// frames in between. Each description: type byte (low 2 bits: udp, icmp_echo, icmp_error,
// unknown; bit 2: IPv6), then 40 address/port/ICMP bytes, then a length byte (payload
// length = 37 * byte, taken from the rest of `in` repeated).
std::vector<uint8_t> build_stream(std::string_view in, std::vector<Datagram>& sent) {
    std::vector<uint8_t> stream;
    constexpr size_t kFixed = 1 + 40 + 1;
    while (in.size() >= kFixed && stream.size() < kMaxStream) {
        const auto* p = reinterpret_cast<const uint8_t*>(in.data());
        in.remove_prefix(kFixed);
        const int kind = p[0] & 3;
        if (kind == 3) {
            const uint8_t body[] = {0, 0, 0, 3, static_cast<uint8_t>(5 + p[1] % 251), p[2], p[3]};
            stream.insert(stream.end(), std::begin(body), std::end(body));
            continue;
        }
        Datagram d;
        d.type = kind == 0   ? FrameType::udp
                 : kind == 1 ? FrameType::icmp_echo
                             : FrameType::icmp_error;
        d.client.ip.v6 = d.remote.ip.v6 = (p[0] & 4) != 0;
        const size_t n = d.client.ip.v6 ? 16 : 4;
        std::copy(p + 1, p + 1 + n, d.client.ip.bytes.begin());
        std::copy(p + 17, p + 17 + n, d.remote.ip.bytes.begin());
        d.client.port = static_cast<uint16_t>(p[33] << 8 | p[34]);
        d.remote.port = static_cast<uint16_t>(p[35] << 8 | p[36]);
        if (d.type == FrameType::icmp_error) {
            d.icmp_type = p[37];
            d.icmp_code = p[38];
            d.mtu = static_cast<uint32_t>(p[39] << 8 | p[40]);
        } else {
            const size_t len = size_t{p[41]} * 37;
            for (size_t i = 0; i < len; ++i)
                d.payload.push_back(in.empty() ? 0 : static_cast<uint8_t>(in[i % in.size()]));
        }
        check(ghost::udp::encode(d, stream), "a valid datagram does not encode");
        sent.push_back(std::move(d));
    }
    return stream;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t flags = data[0];
    const uint32_t seed = data[1];
    const std::string_view rest = ghost::fuzz::as_text(data + 2, size - 2);
    std::vector<Datagram> sent;
    std::vector<uint8_t> once;
    if (flags & 1) {
        once = build_stream(rest, sent);
    } else {
        once.assign(rest.begin(), rest.end());
    }
    std::vector<uint8_t> stream;
    size_t reps = 0;
    const size_t max_reps = (flags & 2) ? 1 + (flags >> 2) : 1;
    while (reps < max_reps && (reps == 0 || stream.size() < kMaxStream)) {
        stream.insert(stream.end(), once.begin(), once.end());
        ++reps;
    }

    const Outcome whole = read_stream(stream, 0, 0);
    // Pieces of 1 up to about seed/256 of the stream (at least seed + 1) bytes, so large
    // streams are not cut into single bytes for every input.
    const Outcome pieces = read_stream(stream, seed, 1 + seed * (1 + stream.size() / 256));
    check(same(whole, pieces), "frames depend on how the stream was split");
    check(whole.error == pieces.error, "error depends on how the stream was split");
    check(whole.skipped == pieces.skipped, "skipped count depends on how the stream was split");

    std::vector<uint8_t> again;
    for (const auto& f : whole.frames) check_frame(f, again);
    const Outcome reread = read_stream(again, seed, 4096);
    check(reread.error.empty(), "re-encoded frames do not read back");
    check(same(reread, whole), "re-encoded frames read back different");

    if (flags & 1) {
        check(whole.error.empty(), "encoded datagrams refused");
        check(whole.frames.size() == sent.size() * reps, "encoded datagrams lost");
        for (size_t i = 0; i < whole.frames.size(); ++i) {
            check(whole.frames[i].datagram == sent[i % sent.size()], "encoded datagram changed");
        }
    }
    return 0;
}
