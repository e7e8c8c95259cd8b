#include "common/config/schema.hpp"

#include <algorithm>

#include "common/config/build.hpp"
#include "common/config/keys.hpp"
#include "common/config/validate.hpp"
#include "common/json/bounded_json.hpp"

namespace ghost::config {
namespace {

using nlohmann::json;

/// Parses JSON with comments into an object; reports syntax errors and too deep nesting
/// with line and column, and duplicate keys with their path.
std::optional<json> parse_object(std::string_view text, const std::string& file,
                                 std::vector<Error>& errors) {
    bounded_json::Result parsed = bounded_json::parse(text, {.allow_comments = true});
    if (!parsed.ok()) {
        bool deep = parsed.failure == bounded_json::Failure::too_deep;
        errors.push_back({file, "", "", (deep ? "" : "malformed JSON: ") + parsed.message});
        return std::nullopt;
    }
    for (const auto& dup : parsed.duplicate_keys)
        errors.push_back({file, dup.path, "", "duplicate key '" + dup.key + "'"});
    if (parsed.duplicate_count > parsed.duplicate_keys.size()) {
        errors.push_back({file, "", "",
                          std::to_string(parsed.duplicate_count - parsed.duplicate_keys.size()) +
                              " more duplicate keys"});
    }
    if (!parsed.value.is_object()) {
        errors.push_back({file, "", value_text(parsed.value), "expected a JSON object { ... }"});
        return std::nullopt;
    }
    return std::move(parsed.value);
}

/// The last component of `file` without its extension, as std::filesystem::path::stem
/// gives it ("/etc/ghost/profiles/work.json" -> "work"; ".json" and ".." stay whole).
std::string_view file_stem(std::string_view file) {
    const size_t slash = file.rfind('/');
    const std::string_view name = slash == std::string_view::npos ? file : file.substr(slash + 1);
    if (name == "." || name == "..") return name;
    const size_t dot = name.rfind('.');
    return dot == std::string_view::npos || dot == 0 ? name : name.substr(0, dot);
}

}  // namespace

std::string Error::str() const {
    std::string out;
    if (!file.empty()) out += file + ": ";
    if (!path.empty()) out += path + ": ";
    out += message;
    if (!value.empty()) out += " (got " + value + ")";
    return out;
}

bool is_valid_profile_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_or_digit(name[0])) return false;
    return std::all_of(name.begin(), name.end(),
                       [&](char c) { return lower_or_digit(c) || c == '_' || c == '-'; });
}

std::optional<Profile> parse_profile(std::string_view name, std::string_view text,
                                     const std::string& file, std::vector<Error>& errors) {
    size_t before = errors.size();
    if (!is_valid_profile_name(name)) {
        errors.push_back({file, "", value_text(json(std::string(name))),
                          "invalid profile name: use 1-64 characters from a-z, 0-9, '_' and '-', "
                          "starting with a letter or digit (the name is the file name without "
                          ".json)"});
    }
    auto doc = parse_object(text, file, errors);
    if (!doc) return std::nullopt;
    Role role = doc->value("role", json()) == "server" ? Role::server : Role::client;
    auto features = validate_document(*doc, profile_keys(), role, file, errors);
    if (errors.size() == before) check_profile_rules(*doc, role, file, errors);
    if (errors.size() != before) return std::nullopt;
    Profile profile = build_profile(*doc);
    profile.name = std::string(name);
    profile.file = file;
    profile.features = std::move(features);
    return profile;
}

std::optional<Profile> check_profile_text(const std::string& file, std::string_view text,
                                          std::vector<Error>& errors) {
    if (text.size() > kMaxConfigBytes) {
        errors.push_back(
            {file, "", "", "file too large (limit " + std::to_string(kMaxConfigBytes) + " bytes)"});
        return std::nullopt;
    }
    return parse_profile(file_stem(file), text, file, errors);
}

std::optional<DaemonConfig> parse_daemon_config(std::string_view text, const std::string& file,
                                                std::vector<Error>& errors) {
    size_t before = errors.size();
    auto doc = parse_object(text, file, errors);
    if (!doc) return std::nullopt;
    validate_document(*doc, daemon_keys(), std::nullopt, file, errors);
    if (errors.size() != before) return std::nullopt;
    return build_daemon_config(*doc);
}

std::vector<std::string> all_features() {
    std::vector<std::string> out;
    auto add = [&](std::string_view f) {
        if (!f.empty() && std::find(out.begin(), out.end(), f) == out.end()) out.emplace_back(f);
    };
    for (const auto& key : profile_keys()) {
        add(key.feature);
        add(key.when_feature);
    }
    return out;
}

}  // namespace ghost::config
