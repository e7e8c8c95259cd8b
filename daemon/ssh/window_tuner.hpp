#pragma once
/// Receive-window auto-tuning for one SSH channel (DESIGN.md §6 "Windows sized to the
/// path"). libssh 0.10 keeps a fixed 1,280,000-byte receive window and tops it up only
/// below half of that, which caps one channel at about 51 Mbit/s over a 100 ms path.
/// libssh's public API can grow a window: ssh_channel_read_timeout() with a `count`
/// larger than what is buffered plus the current window sends a WINDOW_ADJUST that makes
/// the window `count` (on the stderr stream of a forwarding channel, which is always
/// empty, nothing is copied). libssh never tells how large the window is, so this class
/// keeps its own account of what was granted and received, mirroring libssh's own
/// top-ups, and decides when a grant is due and how large the target window is.
///
/// The target starts at `initial` and doubles, up to `max` and as far as the session's
/// budget allows, after every round trip in which the local side drained data at a rate
/// that would have used at least three quarters of the window in one round trip
/// (window-limited and draining); after 16 round trips in a row that used less than a
/// quarter of it, it halves again (not below `initial`) and gives the growth back. What
/// is granted is the target minus what was received and not yet delivered locally, so a
/// local reader that stops also stops the sender.
///
/// The round trip is the SSH path's own, measured by the grants: the first byte beyond
/// the window a grant raised can only arrive one round trip after the grant left (sooner
/// than that is impossible, later when the sender had nothing to send), so the lowest
/// such delay is the round trip, through proxies and TLS front ends alike.
/// Pure bookkeeping: no libssh calls, no clocks of its own (unit-tested alone).

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ghost::daemon::ssh {

/// Window sizes and caps (profile/ghostd.json `ssh.window.*`).
struct WindowSettings {
    uint32_t initial = 2 * 1024 * 1024;             // granted to every channel at once
    uint32_t max = 16 * 1024 * 1024;                // one channel's target never exceeds this
    uint64_t session_budget = 64ull * 1024 * 1024;  // sum of growth beyond `initial`
};

/// What the channels of one session may grow their windows by, together.
class WindowBudget {
  public:
    explicit WindowBudget(uint64_t limit) : limit_(limit) {}
    /// Takes up to `want` bytes; returns what was taken (0 when exhausted).
    uint64_t take(uint64_t want);
    /// Returns bytes taken earlier.
    void give(uint64_t n) { used_ = n >= used_ ? 0 : used_ - n; }
    uint64_t used() const { return used_; }
    uint64_t limit() const { return limit_; }

  private:
    uint64_t limit_;
    uint64_t used_ = 0;
};

/// One channel's receive-window account. Use on the session's worker only.
class WindowTuner {
  public:
    using Clock = std::chrono::steady_clock;
    /// libssh's own receive window: topped up to kLibsshBase when below kLibsshLow.
    static constexpr uint32_t kLibsshBase = 1280000;
    static constexpr uint32_t kLibsshLow = kLibsshBase / 2;
    /// What libssh announces for a channel it opens, and for one it accepts.
    static constexpr uint32_t kOpenedWindow = 64000;
    static constexpr uint32_t kAcceptedWindow = 32000;
    /// Tolerance before overrun(): libssh's largest packet (256 KiB).
    static constexpr uint64_t kOverrunSlack = 256 * 1024;

    /// `announced`: the window libssh announced when the channel was opened or accepted
    /// (64,000 for channels we open, 32,000 for channels a peer opens to us).
    explicit WindowTuner(uint32_t announced) : granted_(announced) {}

    /// A data packet of `bytes` arrived at `now`; `left` bytes stay buffered in libssh's
    /// stream buffer after the data callback took what it could. Returns a round-trip
    /// sample when this packet is the first beyond a granted window, else zero.
    std::chrono::microseconds on_packet(uint64_t bytes, uint64_t left, Clock::time_point now);
    /// Buffered bytes were pulled out of libssh (ssh_channel_read_nonblocking) at `now`.
    void on_pulled(Clock::time_point now);
    /// The peer sent more than it was ever granted (a protocol violation: libssh keeps
    /// such data all the same, so the channel must end).
    bool overrun() const { return overrun_; }
    /// `bytes` were delivered to the local side at `now`. Grows the target when the last
    /// round trip (`rtt`; zero = unknown, no growth) was window-limited.
    void on_delivered(uint64_t bytes, Clock::time_point now, std::chrono::microseconds rtt,
                      const WindowSettings& s, WindowBudget& budget);
    /// The `count` to pass to ssh_channel_read_timeout now, or 0 when no grant is due.
    /// `unconsumed`: received bytes not yet delivered locally (libssh's buffer and ours).
    uint32_t grant_due(uint64_t unconsumed) const;
    /// A read with `count` is made at `now`: libssh raises the window to at least `count`.
    void granted(uint32_t count, Clock::time_point now);
    /// Sets the target (>= the current one, e.g. `initial` at open); no budget involved.
    void start_at(uint32_t target);
    /// Gives the growth back to the budget (the channel is gone).
    void release(WindowBudget& budget);

    uint32_t target() const { return target_; }
    /// The window the peer may still fill, as far as this account knows.
    uint64_t window() const { return granted_ > received_ ? granted_ - received_ : 0; }
    uint64_t received() const { return received_; }

  private:
    void grow(const WindowSettings& s, WindowBudget& budget);
    void shrink(const WindowSettings& s, WindowBudget& budget);
    /// The window grows now: time the first byte beyond the current one.
    void start_sample(Clock::time_point now);
    /// Raises the window as libssh does (grow_window): to max(count, base), if larger.
    void raise_to(uint64_t count, Clock::time_point now);

    uint64_t granted_;       // every byte of window granted, including the first
    uint64_t received_ = 0;  // every data byte the peer sent (stdout and stderr)
    uint32_t target_ = 0;    // 0 until start_at: libssh's own window only
    uint64_t grown_ = 0;     // taken from the budget
    Clock::time_point epoch_{};
    uint64_t epoch_bytes_ = 0;
    unsigned quiet_epochs_ = 0;  // in a row, each using under a quarter of the window
    bool overrun_ = false;
    bool sampling_ = false;      // a round-trip sample is running
    uint64_t sample_limit_ = 0;  // the window's end before the grant
    Clock::time_point sample_at_{};
};

}  // namespace ghost::daemon::ssh
