#pragma once
/// The one JSON parser for everything ghost reads (control-socket lines, profiles,
/// ghostd.json, the replies ghostctl reads): nesting is bounded while parsing, so no
/// input can build a tree whose copy, comparison, dump or destruction runs deep enough
/// to overflow the stack. Pure: no I/O, never throws on bad input.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ghost::bounded_json {

/// Deepest nesting of arrays and objects accepted anywhere (docs/security.md). The
/// deepest ghost document (a profile: listen[].transport.alpn[]) uses 5 levels.
inline constexpr size_t kMaxDepth = 64;
/// Duplicate keys reported per document (more are counted, not listed).
inline constexpr size_t kMaxDuplicateKeys = 16;

/// How to parse.
struct Options {
    size_t max_depth = kMaxDepth;
    bool allow_comments = false;  // `// line` and `/* block */`, as in configuration files
};

/// A key that appeared twice in one object.
struct DuplicateKey {
    std::string path;  // where, key included: "ssh.user", "forward[1].listen"
    std::string key;
};

/// Why a parse failed.
enum class Failure { none, syntax, too_deep };

/// The document, or why there is none and where parsing stopped.
struct Result {
    nlohmann::json value;  // null unless ok()
    Failure failure = Failure::none;
    /// "parse error at line 1, column 5: syntax error ..." or "nesting deeper than 64
    /// levels (arrays and objects) at line 3, column 17"; empty when ok().
    std::string message;
    size_t line = 0, column = 0;  // 1-based, where parsing stopped (failures only)
    /// Keys repeated within one object, the first kMaxDuplicateKeys only (all are
    /// counted). The last value is kept, as nlohmann does.
    std::vector<DuplicateKey> duplicate_keys;
    size_t duplicate_count = 0;

    bool ok() const { return failure == Failure::none; }
};

/// Parses `text` as exactly one JSON document. An array or object that would open level
/// max_depth + 1 stops the parse there: the refused part is never built, and what was
/// built (at most max_depth deep) is freed.
Result parse(std::string_view text, const Options& options = {});

}  // namespace ghost::bounded_json
