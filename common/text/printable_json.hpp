#pragma once
/// JSON whose strings are safe to show: text::printable() applied to every string and
/// object key, so nothing ghost serialises carries raw control bytes, and dump() cannot
/// throw on bytes that are not UTF-8 (nlohmann's does: type_error 316).

#include <string>

#include <nlohmann/json.hpp>

namespace ghost::text {

/// True when every string and object key in `value` is printable.
bool all_printable(const nlohmann::json& value);

/// Escapes every string and object key of `value` in place. Iterative, so a deep tree
/// cannot overflow the stack.
void make_printable(nlohmann::json& value);

/// Serialises `value` (compact for indent < 0) with every string printable. Never throws.
std::string dump_printable(const nlohmann::json& value, int indent = -1);

}  // namespace ghost::text
