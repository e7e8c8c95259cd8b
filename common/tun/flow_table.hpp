#pragma once
/// The NAT's bounded flow table: one record per TCP flow entering the TUN, keyed both by
/// the application's 4-tuple and by the port `n` the flow was given toward the listener.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>

#include "common/tun/packet.hpp"

namespace ghost::tun {

using Clock = std::chrono::steady_clock;

/// The application's view of a flow: its socket (src) and where it wanted to go (dst).
struct FlowTuple {
    SocketAddr src;
    SocketAddr dst;
    bool operator==(const FlowTuple&) const = default;
};

/// Hash of a FlowTuple for the lookup map.
struct FlowTupleHash {
    size_t operator()(const FlowTuple& t) const;
};

/// TCP progress as seen by the NAT (enough to pick a timeout, not a full state machine).
enum class FlowState : uint8_t {
    syn_sent,     // SYN seen, no answer from the listener yet
    established,  // the listener answered
    half_closed,  // a FIN in one direction
    closed,       // FIN both ways, or a RST: kept for a grace time
};

/// One translated flow.
struct Flow {
    FlowTuple tuple;
    uint16_t port = 0;  // n: the flow's source port toward the listener
    FlowState state = FlowState::syn_sent;
    bool fin_from_app = false;
    bool fin_from_listener = false;
    bool accepted = false;        // the engine accepted it (set by FlowTable::mark_accepted)
    bool handshake_done = false;  // the application ACKed the listener's SYN-ACK
    Clock::time_point created{};
    Clock::time_point last_seen{};
};

/// Limits and timeouts of the table.
struct FlowTableConfig {
    size_t max_flows = 16384;
    uint16_t port_min = 1024;  // range n is drawn from
    uint16_t port_max = 65535;
    uint16_t reserved_port = 0;            // never handed out (the listener's own port)
    std::chrono::seconds syn_timeout{60};  // also any flow the engine has not accepted
    std::chrono::seconds idle_timeout{7200};
    std::chrono::seconds half_closed_timeout{600};
    std::chrono::seconds closed_grace{30};
    // A full table evicts a flow the engine has not accepted this long after its SYN: the
    // kernel's listener answers every SYN, so only accept() tells a real connection.
    std::chrono::seconds accept_grace{1};
};

/// Bounded map n <-> flow. Ports are handed out round-robin so a port is reused as late
/// as possible (the listener's side of an old flow may still sit in TIME_WAIT).
class FlowTable {
  public:
    /// Told of each accepted flow as it leaves the table (expired, evicted or erased), with
    /// the flow as it was; runs once the flow is gone and must not change the table.
    using EndHandler = std::function<void(const Flow&)>;

    explicit FlowTable(FlowTableConfig config);
    FlowTable(const FlowTable&) = delete;  // its queues point into its own map
    FlowTable& operator=(const FlowTable&) = delete;

    /// The flow for the application's 4-tuple, or nullptr.
    Flow* find(const FlowTuple& tuple);
    /// The flow that was given port n, or nullptr.
    Flow* find_port(uint16_t n);
    const Flow* find_port(uint16_t n) const;

    /// Creates a flow for `tuple` (which must not exist). When the table is full, a flow
    /// that is closed, or else the oldest one whose handshake the application never
    /// completed (no ACK of the SYN-ACK) and that was not accepted within accept_grace,
    /// makes room (found in constant time), so a flood of SYNs cannot lock new connections
    /// out until it expires; nullptr when there is no such flow or no port in the range is
    /// free.
    Flow* create(const FlowTuple& tuple, Clock::time_point now);

    /// Marks a flow of this table accepted by the engine: it is never evicted from now on
    /// and times out by its TCP state instead of syn_timeout.
    void mark_accepted(Flow& flow);

    /// Flows evicted by create() to make room.
    uint64_t evicted() const { return evicted_; }

    /// Removes the flow with port n (no-op if none).
    void erase(uint16_t n);

    /// Removes flows whose timeout for their state has passed; returns how many.
    size_t expire(Clock::time_point now);

    /// Sets who is told when an accepted flow leaves (the owner of its socket).
    void on_accepted_end(EndHandler h) { on_accepted_end_ = std::move(h); }

    /// Updates a flow's state for a segment with `tcp_flags`, from the app or the listener.
    void observe(Flow& flow, uint8_t tcp_flags, bool from_app, Clock::time_point now);

    size_t size() const { return by_port_.size(); }
    const FlowTableConfig& config() const { return config_; }

  private:
    // Eviction candidates wait in two queues, oldest first: flows not accepted yet (in
    // order of creation) and closed flows (in order of closing).
    enum class Queue : uint8_t { none, unaccepted, closed };
    struct Entry {
        Flow flow;
        Queue queue = Queue::none;
        Entry* prev = nullptr;  // neighbours in its queue (map nodes never move)
        Entry* next = nullptr;
    };
    struct List {
        Entry* head = nullptr;
        Entry* tail = nullptr;
    };

    bool allocate_port(uint16_t* out);
    std::chrono::seconds timeout_of(const Flow& flow) const;
    Entry* entry_of(const Flow& flow);
    List& list(Queue q) { return q == Queue::closed ? closed_ : unaccepted_; }
    void link(Entry& e, Queue q);
    void unlink(Entry& e);
    using Ports = std::unordered_map<uint16_t, Entry>;
    void on_closed(Flow& flow);
    void leave_unaccepted(Flow& flow);
    /// Takes the flow out of the table and its queue, tells on_accepted_end_ of an
    /// accepted one; returns the next entry.
    Ports::iterator remove(Ports::iterator it);
    bool evict_one(Clock::time_point now);

    FlowTableConfig config_;
    uint16_t cursor_;
    uint64_t evicted_ = 0;
    List unaccepted_;
    List closed_;
    Ports by_port_;
    std::unordered_map<FlowTuple, uint16_t, FlowTupleHash> by_tuple_;
    EndHandler on_accepted_end_;
};

}  // namespace ghost::tun
