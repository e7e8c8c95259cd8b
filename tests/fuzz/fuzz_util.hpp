#pragma once
/// Helpers shared by the libFuzzer targets: an invariant check that crashes (so libFuzzer
/// keeps the input) and a splitter that cuts a byte stream into pieces of varying size,
/// the way reads from a socket arrive.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ghost::fuzz {

/// Aborts with `what` when `ok` is false.
inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
}

/// Cuts a stream into pieces of 1..max bytes, sizes drawn from a generator seeded by the
/// input, so one input always splits the same way.
class Chunker {
  public:
    /// `seed` picks the sequence of sizes; pieces are at most `max` bytes (>= 1).
    Chunker(std::string_view stream, uint32_t seed, size_t max)
        : rest_(stream), state_(seed * 2654435761u + 1), max_(max == 0 ? 1 : max) {}

    /// True when the whole stream was handed out.
    bool done() const { return rest_.empty(); }

    /// The next piece (empty when done).
    std::string_view next() {
        const size_t n = std::min(rest_.size(), 1 + static_cast<size_t>(draw() % max_));
        const std::string_view piece = rest_.substr(0, n);
        rest_.remove_prefix(n);
        return piece;
    }

    /// A pseudo-random number from the same sequence (for delays and choices).
    uint32_t draw() {
        state_ = state_ * 1103515245u + 12345u;
        return state_ >> 8;
    }

  private:
    std::string_view rest_;
    uint32_t state_;
    size_t max_;
};

/// The input as text.
inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace ghost::fuzz
