// delay_line: a userspace WAN emulator between two TUN devices, for tests/bench/wan_bench.sh
// (this kernel has no netem). Not part of ghostd.
//
//   delay_line --a TUN_A --b TUN_B --delay-ms MS [--rate-mbit MBIT] [--loss P]
//              [--queue-bytes N] [--seed N] [--rt PRIO]
//
// Every packet read from TUN_A is written into TUN_B and every packet read from TUN_B into
// TUN_A (IFF_TUN | IFF_NO_PI; an existing device is attached, a missing one created). Each
// direction is a link of its own, run by its own thread:
//   - serialisation at --rate-mbit (IP bytes; 0 = unlimited):
//       departure = max(arrival, previous departure) + bytes * 8 / rate
//   - propagation: release = departure + --delay-ms (one way, so RTT = 2 * delay)
//   - drop-tail: a packet is dropped when the bytes still waiting for serialisation plus
//     its own exceed --queue-bytes (default: what the rate carries in 2 * delay, the
//     round trip, plus 256 KiB)
//   - random loss with probability --loss (0..1), decided on arrival, as netem does.
// Packets are held in a ring sized for the queue plus what is in flight (and 100 ms of
// slack), so memory is bounded whatever arrives; a packet that finds it full is counted in
// drop_ring. SIGUSR1 prints the counters to stderr; SIGINT and SIGTERM print
// them and exit. "ready" on stderr means both devices are open.

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr size_t kMaxPacket = 65536;  // larger than any IPv4/IPv6 packet without jumbograms
constexpr int kReadBurst = 64;        // packets read per wake-up before releasing again
constexpr int kLateBuckets = 32;      // log2 histogram of release lateness, in microseconds

struct Options {
    std::string a, b;
    double delay_ms = -1;
    double rate_mbit = 0;
    double loss = 0;
    int64_t queue_bytes = -1;
    uint64_t seed = 0;
    bool seeded = false;
    int rt_prio = 0;
};

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "delay_line: %s\n", message.c_str());
    std::_Exit(2);
}

[[noreturn]] void die_errno(const std::string& what) {
    std::fprintf(stderr, "delay_line: %s: %s\n", what.c_str(), std::strerror(errno));
    std::_Exit(1);
}

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void usage(FILE* to) {
    std::fprintf(
        to,
        "usage: delay_line --a TUN_A --b TUN_B --delay-ms MS [--rate-mbit MBIT] [--loss P]\n"
        "                  [--queue-bytes N] [--seed N] [--rt PRIO]\n"
        "  --delay-ms     one-way delay per direction (RTT = 2 x MS), 0..10000\n"
        "  --rate-mbit    serialisation rate per direction in Mbit/s of IP bytes; 0 = "
        "unlimited (default 0)\n"
        "  --loss         random loss probability per packet, 0 <= P < 1 (default 0)\n"
        "  --queue-bytes  drop-tail limit of the bytes waiting for serialisation\n"
        "                 (default rate x 2 x delay + 256 KiB; with no rate, the bytes "
        "held in all)\n"
        "  --seed         seed of the loss generator (default: random)\n"
        "  --rt           run both directions SCHED_FIFO at PRIO 1..99 (default: normal)\n");
}

double parse_number(std::string_view opt, const char* text, double lo, double hi) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || errno != 0 || !std::isfinite(v) || v < lo || v > hi) {
        char range[96];
        std::snprintf(range, sizeof range, "between %g and %g", lo, hi);
        die(std::string(opt) + ": `" + text + "' must be a number " + range);
    }
    return v;
}

Options parse_args(int argc, char** argv) {
    Options o;
    if (argc < 2) {
        usage(stderr);
        std::exit(2);
    }
    for (int i = 1; i < argc; ++i) {
        std::string_view opt = argv[i];
        if (opt == "-h" || opt == "--help") {
            usage(stdout);
            std::exit(0);
        }
        static constexpr std::array<std::string_view, 8> kKnown = {
            "--a", "--b", "--delay-ms", "--rate-mbit", "--loss", "--queue-bytes", "--seed", "--rt"};
        if (std::find(kKnown.begin(), kKnown.end(), opt) == kKnown.end()) {
            usage(stderr);
            die("unknown option `" + std::string(opt) + "'");
        }
        if (i + 1 >= argc) die(std::string(opt) + ": missing value");
        const char* v = argv[++i];
        if (opt == "--a") {
            o.a = v;
        } else if (opt == "--b") {
            o.b = v;
        } else if (opt == "--delay-ms") {
            o.delay_ms = parse_number(opt, v, 0, 10000);
        } else if (opt == "--rate-mbit") {
            o.rate_mbit = parse_number(opt, v, 0, 1e6);
        } else if (opt == "--loss") {
            o.loss = parse_number(opt, v, 0, 0.999999);
        } else if (opt == "--queue-bytes") {
            o.queue_bytes = static_cast<int64_t>(parse_number(opt, v, 1, 1e11));
        } else if (opt == "--seed") {
            o.seed = static_cast<uint64_t>(parse_number(opt, v, 0, 1e18));
            o.seeded = true;
        } else {  // --rt
            o.rt_prio = static_cast<int>(parse_number(opt, v, 1, 99));
        }
    }
    for (const auto* name : {&o.a, &o.b}) {
        if (name->empty()) die("--a and --b (the two TUN device names) are required");
        if (name->size() >= IFNAMSIZ)
            die("TUN device name `" + *name + "' is longer than 15 characters");
    }
    if (o.a == o.b) die("--a and --b name the same device `" + o.a + "'");
    if (o.delay_ms < 0) die("--delay-ms is required (one-way delay, 0 for none)");
    return o;
}

/// Opens (creating if missing) TUN device NAME without packet information, non-blocking.
int open_tun(const std::string& name) {
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) die_errno("open /dev/net/tun");
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0)
        die_errno("TUNSETIFF " + name + " (is it a TAP or multi-queue device?)");
    return fd;
}

/// What one direction has done; written by its thread only, read by the signal thread.
struct Counters {
    std::atomic<uint64_t> rx_packets{0}, rx_bytes{0}, tx_packets{0}, tx_bytes{0};
    std::atomic<uint64_t> drop_queue{0}, drop_loss{0}, drop_ring{0}, write_errors{0};
    std::atomic<uint64_t> max_backlog{0};
    std::array<std::atomic<uint64_t>, kLateBuckets> late{};  // bucket k: < 2^k us late
    std::atomic<uint64_t> late_max_ns{0};
};

/// Packets held by one direction: a byte ring that packets are read straight into, and
/// their records in release order.
class Ring {
  public:
    explicit Ring(size_t capacity) : buf_(capacity) {}

    /// Room for a packet of up to kMaxPacket bytes, or nullptr when the ring is full.
    uint8_t* reserve() {
        if (recs_.empty()) head_ = tail_ = 0;
        if (recs_.empty() || tail_ > head_) {
            if (buf_.size() - tail_ >= kMaxPacket) return &buf_[tail_];
            if (head_ >= kMaxPacket) return &buf_[0];  // wrap; the end stays unused
            return nullptr;
        }
        return head_ - tail_ >= kMaxPacket ? &buf_[tail_] : nullptr;
    }
    /// Keeps the LEN bytes just read at P (from reserve()) until RELEASE.
    void commit(uint8_t* p, size_t len, int64_t release) {
        size_t off = static_cast<size_t>(p - buf_.data());
        recs_.push_back({release, off, len});
        tail_ = off + len;
    }
    bool empty() const { return recs_.empty(); }
    int64_t next_release() const { return recs_.front().release; }
    const uint8_t* front_data() const { return &buf_[recs_.front().off]; }
    size_t front_len() const { return recs_.front().len; }
    void pop() {
        recs_.pop_front();
        if (!recs_.empty()) head_ = recs_.front().off;
    }

  private:
    struct Rec {
        int64_t release;
        size_t off, len;
    };
    std::vector<uint8_t> buf_;
    std::deque<Rec> recs_;
    size_t head_ = 0, tail_ = 0;  // oldest packet's start; where the next one goes
};

/// One direction of the line: reads `from`, writes `to`.
class Direction {
  public:
    Direction(const Options& o, int from, int to, uint64_t seed)
        : from_(from),
          to_(to),
          delay_ns_(static_cast<int64_t>(std::llround(o.delay_ms * 1e6))),
          ns_per_byte_(o.rate_mbit > 0 ? 8e3 / o.rate_mbit : 0),
          queue_bytes_(o.queue_bytes),
          loss_(o.loss),
          rng_(seed),
          ring_(ring_size(o)) {}

    /// The queue, what the rate carries in one delay, and 100 ms of it more for packets
    /// released late (when the thread gets no CPU in time); with no rate the queue limit
    /// bounds everything held.
    static size_t ring_size(const Options& o) {
        double bytes_per_ms = o.rate_mbit * 1e3 / 8;
        return static_cast<size_t>(static_cast<double>(o.queue_bytes) +
                                   bytes_per_ms * (o.delay_ms + 100)) +
               4 * kMaxPacket;
    }

    [[noreturn]] void run() {
        prctl(PR_SET_TIMERSLACK, 1UL);  // wake within a microsecond, not the default 50
        for (;;) {
            int64_t now = release_due();
            timespec ts{}, *timeout = nullptr;
            if (!ring_.empty()) {
                int64_t wait = std::max<int64_t>(ring_.next_release() - now, 0);
                ts.tv_sec = wait / 1'000'000'000;
                ts.tv_nsec = wait % 1'000'000'000;
                timeout = &ts;
            }
            pollfd p{from_, POLLIN, 0};
            int r = ::ppoll(&p, 1, timeout, nullptr);
            if (r < 0 && errno != EINTR) die_errno("ppoll");
            if (r > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
                die("a TUN device went away");
            if (r > 0) read_burst();
        }
    }

    Counters counters;

  private:
    /// Writes every packet whose release time has come; returns the time now.
    int64_t release_due() {
        int64_t now = now_ns();
        while (!ring_.empty() && ring_.next_release() <= now) {
            int64_t late = now - ring_.next_release();
            ssize_t n = ::write(to_, ring_.front_data(), ring_.front_len());
            if (n == static_cast<ssize_t>(ring_.front_len())) {
                bump(counters.tx_packets, 1);
                bump(counters.tx_bytes, ring_.front_len());
            } else {
                bump(counters.write_errors, 1);
            }
            record_lateness(late);
            held_ -= ring_.front_len();
            ring_.pop();
            now = now_ns();
        }
        return now;
    }

    void read_burst() {
        for (int i = 0; i < kReadBurst; ++i) {
            uint8_t* slot = ring_.reserve();
            uint8_t* into = slot ? slot : scratch_.data();
            ssize_t n = ::read(from_, into, kMaxPacket);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) return;
                die_errno("read from TUN");
            }
            if (n == 0) continue;
            bump(counters.rx_packets, 1);
            bump(counters.rx_bytes, static_cast<uint64_t>(n));
            admit(slot, static_cast<size_t>(n));
        }
    }

    /// Loss, drop-tail and the timing of one packet that arrived now (at SLOT, or dropped
    /// for want of ring space when SLOT is null).
    void admit(uint8_t* slot, size_t len) {
        if (loss_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < loss_) {
            bump(counters.drop_loss, 1);
            return;
        }
        int64_t now = now_ns();
        int64_t start = std::max(now, last_departure_);
        int64_t backlog = ns_per_byte_ > 0 ? static_cast<int64_t>((start - now) / ns_per_byte_) : 0;
        if (ns_per_byte_ == 0) {  // no rate: the limit is on everything held
            backlog = static_cast<int64_t>(held_);
        }
        if (backlog + static_cast<int64_t>(len) > queue_bytes_) {
            bump(counters.drop_queue, 1);
            return;
        }
        if (slot == nullptr) {
            bump(counters.drop_ring, 1);
            return;
        }
        last_departure_ = start + static_cast<int64_t>(std::llround(len * ns_per_byte_));
        ring_.commit(slot, len, last_departure_ + delay_ns_);
        held_ += len;
        uint64_t queued = static_cast<uint64_t>(backlog) + len;
        if (queued > counters.max_backlog.load(std::memory_order_relaxed))
            counters.max_backlog.store(queued, std::memory_order_relaxed);
    }

    void record_lateness(int64_t late_ns) {
        uint64_t us = static_cast<uint64_t>(std::max<int64_t>(late_ns, 0)) / 1000;
        int k = 0;
        while (k < kLateBuckets - 1 && (uint64_t{1} << k) <= us) ++k;
        bump(counters.late[static_cast<size_t>(k)], 1);
        if (late_ns > 0 &&
            static_cast<uint64_t>(late_ns) > counters.late_max_ns.load(std::memory_order_relaxed))
            counters.late_max_ns.store(static_cast<uint64_t>(late_ns), std::memory_order_relaxed);
    }

    static void bump(std::atomic<uint64_t>& c, uint64_t by) {
        c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }

    int from_, to_;
    int64_t delay_ns_;
    double ns_per_byte_;
    int64_t queue_bytes_;
    double loss_;
    std::mt19937_64 rng_;
    Ring ring_;
    int64_t last_departure_ = 0;
    size_t held_ = 0;  // bytes in the ring
    std::array<uint8_t, kMaxPacket> scratch_{};
};

/// The upper bound of the lateness bucket holding quantile Q, in microseconds.
uint64_t late_quantile_us(const Counters& c, double q) {
    uint64_t total = 0;
    for (const auto& b : c.late) total += b.load(std::memory_order_relaxed);
    if (total == 0) return 0;
    uint64_t want = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))), seen = 0;
    for (int k = 0; k < kLateBuckets; ++k) {
        seen += c.late[static_cast<size_t>(k)].load(std::memory_order_relaxed);
        if (seen >= want) return uint64_t{1} << k;
    }
    return uint64_t{1} << (kLateBuckets - 1);
}

void print_counters(const char* name, const Counters& c) {
    auto get = [](const std::atomic<uint64_t>& v) {
        return static_cast<unsigned long long>(v.load(std::memory_order_relaxed));
    };
    std::fprintf(stderr,
                 "delay_line %s: rx_packets %llu rx_bytes %llu tx_packets %llu tx_bytes %llu "
                 "drop_queue %llu drop_loss %llu drop_ring %llu write_errors %llu "
                 "max_backlog_bytes %llu late_us_p50_below %llu late_us_p99_below %llu "
                 "late_us_max %llu\n",
                 name, get(c.rx_packets), get(c.rx_bytes), get(c.tx_packets), get(c.tx_bytes),
                 get(c.drop_queue), get(c.drop_loss), get(c.drop_ring), get(c.write_errors),
                 get(c.max_backlog), static_cast<unsigned long long>(late_quantile_us(c, 0.5)),
                 static_cast<unsigned long long>(late_quantile_us(c, 0.99)),
                 get(c.late_max_ns) / 1000);
}

void start(Direction& d, int rt_prio, std::vector<std::thread>& threads) {
    threads.emplace_back([&d] { d.run(); });
    if (rt_prio > 0) {
        sched_param sp{};
        sp.sched_priority = rt_prio;
        int err = pthread_setschedparam(threads.back().native_handle(), SCHED_FIFO, &sp);
        if (err != 0) {
            errno = err;
            die_errno("SCHED_FIFO");
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o = parse_args(argc, argv);
    if (o.queue_bytes < 0) {
        o.queue_bytes =
            static_cast<int64_t>(o.rate_mbit * 1e6 / 8 * 2 * o.delay_ms / 1e3) + 256 * 1024;
        if (o.rate_mbit == 0) o.queue_bytes = int64_t{64} << 20;
    }
    if (!o.seeded) o.seed = std::random_device{}();

    // Only this thread takes the signals; the two directions never see them.
    sigset_t sigs;
    sigemptyset(&sigs);
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaddset(&sigs, s);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    int fa = open_tun(o.a), fb = open_tun(o.b);
    Direction ab(o, fa, fb, o.seed), ba(o, fb, fa, o.seed ^ 0x9e3779b97f4a7c15ULL);
    std::vector<std::thread> threads;
    start(ab, o.rt_prio, threads);
    start(ba, o.rt_prio, threads);
    std::fprintf(stderr,
                 "delay_line: %s <-> %s, delay %.3f ms each way, rate %g Mbit/s%s, loss %g, "
                 "queue %lld bytes, ring %zu bytes per direction%s\nready\n",
                 o.a.c_str(), o.b.c_str(), o.delay_ms, o.rate_mbit,
                 o.rate_mbit == 0 ? " (unlimited)" : "", o.loss,
                 static_cast<long long>(o.queue_bytes), Direction::ring_size(o),
                 o.rt_prio > 0 ? ", SCHED_FIFO" : "");

    const std::string ab_name = o.a + "->" + o.b, ba_name = o.b + "->" + o.a;
    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0) continue;
        print_counters(ab_name.c_str(), ab.counters);
        print_counters(ba_name.c_str(), ba.counters);
        if (sig != SIGUSR1) std::_Exit(0);
    }
}
