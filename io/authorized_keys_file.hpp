#pragma once
/// Reading authorized_keys files (a file, or a directory of them) for the pure parser in
/// common/auth/authorized_keys.

#include <cstddef>
#include <string>

#include "common/auth/authorized_keys.hpp"

namespace ghost::io {

/// Largest authorized_keys file read; more is an error, not a truncation.
inline constexpr size_t kMaxKeysFileBytes = 4 * 1024 * 1024;
/// Most files read from an authorized_keys directory.
inline constexpr size_t kMaxKeysFiles = 1024;

/// Reads a file, or every file of a directory (sorted by name; names starting with '.' or
/// ending with '~' skipped), with read_regular_file: never blocks, never throws, and parses
/// each with auth::parse_authorized_keys. Unreadable files, and entries that are not
/// regular files (FIFOs, devices, subdirectories, broken links), are errors (where = path)
/// naming what is wrong.
auth::AuthorizedKeys load_authorized_keys(const std::string& path);

}  // namespace ghost::io
