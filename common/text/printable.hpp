#pragma once
/// Text that is safe to show to a human or hand to a JSON encoder: the one place where
/// bytes from configs, authorized_keys and peers are escaped before they leave ghost
/// (logs, ghostctl output, JSON-RPC and D-Bus answers).

#include <string>
#include <string_view>

namespace ghost::text {

/// Returns `in` with every byte a terminal or a JSON encoder could choke on escaped C-style:
/// \t \n \r for those, \xNN for the other C0 controls, DEL and each byte that is not part of
/// well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated sequences), \u0080..
/// \u009f for the C1 controls. Valid non-ASCII UTF-8 is kept. Backslashes are not doubled,
/// so applying it twice changes nothing.
std::string printable(std::string_view in);

/// True when printable(in) == in, without allocating.
bool is_printable(std::string_view in);

}  // namespace ghost::text
