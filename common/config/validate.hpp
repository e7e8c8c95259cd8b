#pragma once
/// Table-driven validation: walks a JSON document with a key table (keys.hpp).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config/keys.hpp"
#include "common/config/schema.hpp"

namespace ghost::config {

/// Checks doc (an object) against keys: unknown keys, types, ranges, formats, role scope,
/// required keys. role is nullopt for ghostd.json. Appends to errors; returns the sorted
/// distinct feature names of the keys present.
std::vector<std::string> validate_document(const nlohmann::json& doc, const std::vector<Key>& keys,
                                           std::optional<Role> role, const std::string& file,
                                           std::vector<Error>& errors);

/// Rules between keys of a profile that passed validate_document (pairs, required-if).
void check_profile_rules(const nlohmann::json& doc, Role role, const std::string& file,
                         std::vector<Error>& errors);

/// A value as compact JSON text for error messages, shortened when long.
std::string value_text(const nlohmann::json& value);

/// The closest of candidates to word (edit distance), or empty when none is close.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace ghost::config
