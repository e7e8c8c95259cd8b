#pragma once
/// Opening a TUN device (layer 3, no packet-info header, a virtio-net offload header on
/// every packet). The device is not persistent: the kernel removes it, with its addresses
/// and routes, when the fd is closed.

#include <cstddef>
#include <string>
#include <system_error>

#include "daemon/core/unique_fd.hpp"

namespace ghost::daemon::tun {

/// Bytes of the offload header (struct virtio_net_hdr) before each packet on the fd.
inline constexpr size_t kVnetHeaderLen = 10;

/// An open TUN device.
struct TunDevice {
    core::UniqueFd fd;  // non-blocking, close-on-exec
    std::string name;   // as the kernel named it
    int ifindex = 0;
    bool checksum_offload = false;  // packets may come with partial TCP/UDP checksums
};

/// Creates the TUN device `name` (IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL | IFF_VNET_HDR: an
/// existing device of that name is an error, never attached to) and asks for checksum
/// offload. *why names the device and the cause.
std::error_code open_tun(const std::string& name, TunDevice* out, std::string* why);

}  // namespace ghost::daemon::tun
