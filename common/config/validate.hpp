#pragma once
/// Table-driven validation: walks a JSON document with a key table (keys.hpp).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config/keys.hpp"
#include "common/config/schema.hpp"

namespace ghost::config {

/// Errors listed per document; past it they are counted ("N more errors not listed"), so
/// a hostile file cannot make an answer or a log grow with its size.
inline constexpr size_t kMaxErrorsPerDocument = 100;

/// Checks doc (an object) against keys: unknown keys, types, ranges, formats, role scope,
/// required keys. role is nullopt for ghostd.json. Appends to errors (at most
/// kMaxErrorsPerDocument, then one line counting the rest); returns the sorted distinct
/// feature names of the keys present.
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
