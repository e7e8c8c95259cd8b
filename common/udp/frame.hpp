#pragma once
/// The datagram channel between ghost peers (docs/protocol.md "Datagram channel"): the
/// frames it carries and their encoding. Pure; the channel itself is daemon/ssh/.
///
/// The channel is an SSH "session" channel on which the client requests the subsystem
/// kSubsystem (want-reply). A server that does not speak it answers failure (stock sshd
/// answers failure for an unknown subsystem), which is how a client learns that UDP is not
/// available. A server that does answers success and then sends one `hello` frame before
/// anything else. Every datagram of every flow of the session travels on this one channel.
///
/// Encoding (all integers big-endian):
///
///   uint32  length        bytes that follow, 1 .. kMaxFrameBody
///   uint8   type          FrameType
///   ... type-specific body:
///
///   hello       (server -> client, first frame only)
///     uint8   version       kVersion
///     uint8   features      FeatureBits
///     uint16  max_payload   largest payload the server relays
///     uint32  max_flows     flows one session may hold
///   udp         (both ways)
///     uint8   family        4 or 6 (both addresses are of this family)
///     addr    client        4 or 16 bytes: the application's own address (flow key)
///     uint16  client_port
///     addr    remote        the peer on the far side: destination (client -> server) or
///     uint16  remote_port   source (server -> client)
///     ...     payload       the rest of the frame (may be empty)
///   icmp_echo   (client -> server: a request to `remote`; server -> client: its reply)
///     uint8   family
///     addr    client        the pinging application's address
///     uint16  ident         its echo identifier (the flow key with `client`)
///     addr    remote        the host pinged
///     uint16  sequence
///     ...     payload       the echo data
///   icmp_error  (server -> client: a UDP flow's datagram could not be delivered)
///     uint8   family
///     addr    client, uint16 client_port   the flow
///     addr    remote, uint16 remote_port   where its datagram went
///     uint8   icmp_type     ICMP (family 4) or ICMPv6 (family 6) type and code, as the
///     uint8   icmp_code     client should report them to the application
///     uint32  mtu           "fragmentation needed" / "packet too big": the next-hop MTU
///
/// Unknown frame types are skipped (their length says how far): a later version may add
/// some. A malformed frame of a known type ends the channel. A later version may also
/// append fields to hello: a longer hello is read, the extra bytes ignored.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/tun/packet.hpp"

namespace ghost::udp {

inline constexpr const char* kSubsystem = "datagram@ghost";
inline constexpr uint8_t kVersion = 1;
/// Largest payload a frame carries (an IPv4 UDP datagram's largest payload).
inline constexpr size_t kMaxPayload = 65507;
/// Largest body (after `length`): a udp frame over IPv6 with kMaxPayload bytes.
inline constexpr size_t kMaxFrameBody = 1 + 1 + 2 * (16 + 2) + kMaxPayload;

enum class FrameType : uint8_t { hello = 1, udp = 2, icmp_echo = 3, icmp_error = 4 };

/// hello `features`.
enum FeatureBits : uint8_t {
    kFeatureIcmpEcho4 = 1 << 0,  // the server can send ICMP echo requests to IPv4 hosts
    kFeatureIcmpEcho6 = 1 << 1,  // ... and ICMPv6 echo requests to IPv6 hosts
};

struct Hello {
    uint8_t version = kVersion;
    uint8_t features = 0;
    uint16_t max_payload = 0;
    uint32_t max_flows = 0;
    bool operator==(const Hello&) const = default;
};

/// A udp, icmp_echo or icmp_error frame. For icmp_echo, client.port is the echo
/// identifier and remote.port the sequence number.
struct Datagram {
    FrameType type = FrameType::udp;
    tun::SocketAddr client;
    tun::SocketAddr remote;
    uint8_t icmp_type = 0;  // icmp_error only
    uint8_t icmp_code = 0;  // icmp_error only
    uint32_t mtu = 0;       // icmp_error only
    std::vector<uint8_t> payload;
    bool operator==(const Datagram&) const = default;
};

/// Appends the encoding of `h` to `out`.
void encode(const Hello& h, std::vector<uint8_t>& out);
/// Appends the encoding of `d` to `out`. False (nothing appended) when the addresses are
/// of different families, the payload is longer than kMaxPayload, `d.type` is not udp,
/// icmp_echo or icmp_error, or an icmp_error carries a payload (it has none on the wire).
bool encode(const Datagram& d, std::vector<uint8_t>& out);
/// Bytes encode(d) appends (0 when it would refuse).
size_t encoded_size(const Datagram& d);

/// Splits the channel's byte stream back into frames. Buffers at most kCapacity bytes.
class FrameReader {
  public:
    static constexpr size_t kCapacity = 2 * (4 + kMaxFrameBody);

    /// One decoded frame.
    struct Frame {
        FrameType type = FrameType::udp;
        std::optional<Hello> hello;        // type hello
        std::optional<Datagram> datagram;  // types udp, icmp_echo, icmp_error
    };

    /// Appends received bytes; returns how many it took (fewer than offered only when
    /// kCapacity is reached: take frames with next(), then feed the rest). A failed reader
    /// takes and drops everything.
    size_t feed(std::span<const uint8_t> bytes);
    /// The next whole frame, or nullopt when more bytes are needed or the stream is bad
    /// (then error() says why and the reader stays failed). Unknown types are skipped.
    std::optional<Frame> next();
    /// Set once the stream broke the encoding: "datagram frame length 0", ...
    const std::string& error() const { return error_; }
    /// Frames of unknown type skipped so far.
    uint64_t skipped() const { return skipped_; }

  private:
    void release();  // empties the buffer, giving back memory a burst grew

    std::vector<uint8_t> buf_;
    size_t start_ = 0;
    std::string error_;
    uint64_t skipped_ = 0;
};

}  // namespace ghost::udp
