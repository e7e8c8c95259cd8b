#pragma once
/// Reads the profiles directory: every NAME.json, parsed and validated, with the
/// conflicts between profiles checked. What to do with the result is the manager's.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config/schema.hpp"

namespace ghost::daemon {

/// One NAME.json as read: its profile (nullopt when invalid), its errors and its text.
struct LoadedProfile {
    std::optional<config::Profile> profile;
    std::vector<config::Error> errors;
    std::string text;  // "" when the file cannot be read
};

/// A profiles directory as read.
struct LoadedProfiles {
    std::map<std::string, LoadedProfile> profiles;  // by name
    std::vector<config::Error> errors;              // about the directory (bad names, too many)
};

/// Reads, parses and validates every NAME.json in `dir`; a profile in conflict with
/// another is invalid. A file that cannot be read (a FIFO, a directory, a dangling link,
/// too large) is kept with its error, so it shows up as an invalid profile instead of
/// vanishing. Never throws.
LoadedProfiles load_profiles(const std::filesystem::path& dir);

/// The errors as a JSON array of strings.
nlohmann::json errors_json(const std::vector<config::Error>& errs);

/// True when both lists say the same things in the same order.
bool same_errors(const std::vector<config::Error>& a, const std::vector<config::Error>& b);

}  // namespace ghost::daemon
