#pragma once
/// Reading small files that a user or an administrator names (profiles, ghostd.json,
/// authorized_keys): only regular files, never blocking, bounded. No other side effects.

#include <cstddef>
#include <optional>
#include <string>

namespace ghost::io {

/// Reads the whole of `path` when it is (or links to) a regular file of at most
/// `max_bytes`. Never blocks on a FIFO or a device and never opens one for reading: the
/// file is checked before opening, opened with O_NONBLOCK, and checked again with fstat on
/// the opened descriptor. Never throws. On failure returns nullopt and sets *why to what
/// is wrong, e.g. "not a regular file: it is a FIFO (named pipe)", "cannot read file:
/// dangling symbolic link (its target does not exist)", "file too large (limit 1048576 bytes)".
std::optional<std::string> read_regular_file(const std::string& path, size_t max_bytes,
                                             std::string* why);

}  // namespace ghost::io
