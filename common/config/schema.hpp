#pragma once
/// The one table of every configuration key (profiles and ghostd.json): type, default,
/// validator, feature, documentation. Validation and the docs reference are driven by it.
/// Pure: text in, results out; io/config_file reads the files.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config/model.hpp"

namespace ghost::config {

/// One validation problem, naming the file, the key path ("tun.routes[2]") and the value.
struct Error {
    std::string file;
    std::string path;     // empty for whole-file problems (e.g. malformed JSON)
    std::string value;    // the offending value as JSON text; may be empty
    std::string message;  // human reason, e.g. "invalid CIDR: host bits set"

    /// "FILE: PATH: MESSAGE (got VALUE)"
    std::string str() const;
};

/// True for `[a-z0-9][a-z0-9_-]{0,63}` (so never contains '/' or "..").
bool is_valid_profile_name(std::string_view name);

/// Parses and validates profile JSON (comments allowed; nesting deeper than
/// bounded_json::kMaxDepth is an error naming line and column). `name` is the profile name
/// (file stem), `file` is used in error messages. Returns nullopt when errors were added.
std::optional<Profile> parse_profile(std::string_view name, std::string_view text,
                                     const std::string& file, std::vector<Error>& errors);

/// Largest profile or ghostd.json accepted, in bytes.
inline constexpr size_t kMaxConfigBytes = 1 << 20;

/// Validates `text` as the content of profile file `file`, which is only named (in errors
/// and as the profile name, its stem), never opened. Text over kMaxConfigBytes is refused.
std::optional<Profile> check_profile_text(const std::string& file, std::string_view text,
                                          std::vector<Error>& errors);

/// Parses ghostd.json.
std::optional<DaemonConfig> parse_daemon_config(std::string_view text, const std::string& file,
                                                std::vector<Error>& errors);

/// Cross-profile checks (e.g. two profiles listening on the same address). Errors name the
/// later profile (by name order); the caller rejects the profiles named in errors.
std::vector<Error> check_conflicts(const std::vector<Profile>& profiles);

/// Why TUN profile `p` cannot be up while TUN profile `running` is (same device name, two
/// full tunnels, or split routes that overlap), or "" when both can. Checked at `up`:
/// profiles that are never up together may share a device name or routes.
std::string tun_conflict(const Profile& p, const Profile& running);

/// Markdown reference of every key (path, type, default, feature, description).
std::string schema_markdown();

/// All feature names used in the schema's `feature` column.
std::vector<std::string> all_features();

}  // namespace ghost::config
