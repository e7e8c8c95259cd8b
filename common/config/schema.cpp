#include "common/config/schema.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/config/build.hpp"
#include "common/config/keys.hpp"
#include "common/config/validate.hpp"

namespace ghost::config {
namespace {

using nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;

/// Tracks the path being parsed so duplicate keys can be reported with it.
class DuplicateKeyFinder {
  public:
    DuplicateKeyFinder(const std::string& file, std::vector<Error>& errors)
        : file_(file), errors_(errors) {}

    bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
        using E = json::parse_event_t;
        switch (event) {
            case E::object_start:
            case E::array_start:
                frames_.push_back({event == E::array_start, 0, {}, {}});
                break;
            case E::key:
                on_key(parsed.get<std::string>());
                break;
            case E::object_end:
            case E::array_end:
                if (!frames_.empty()) frames_.pop_back();
                next_element();
                break;
            case E::value:
                next_element();
                break;
        }
        return true;
    }

  private:
    struct Frame {
        bool array;
        size_t index;
        std::string key;
        std::set<std::string> seen;
    };

    void next_element() {
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    }

    void on_key(const std::string& key) {
        if (frames_.empty()) return;
        frames_.back().key = key;
        if (frames_.back().seen.insert(key).second) return;
        std::string path;
        for (const auto& f : frames_) {
            if (f.array) {
                path += "[" + std::to_string(f.index) + "]";
            } else {
                path += (path.empty() ? "" : ".") + f.key;
            }
        }
        errors_.push_back({file_, path, "", "duplicate key '" + key + "'"});
    }

    const std::string& file_;
    std::vector<Error>& errors_;
    std::vector<Frame> frames_;
};

/// Parses JSON with comments into an object; reports syntax errors with line and column.
std::optional<json> parse_object(std::string_view text, const std::string& file,
                                 std::vector<Error>& errors) {
    json doc;
    try {
        DuplicateKeyFinder finder(file, errors);
        doc = json::parse(text.begin(), text.end(), std::ref(finder), true, true);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for huge numbers
        std::string what = e.what();
        auto bracket = what.find("] ");
        if (bracket != std::string::npos) what = what.substr(bracket + 2);
        errors.push_back({file, "", "", "malformed JSON: " + what});
        return std::nullopt;
    }
    if (!doc.is_object()) {
        errors.push_back({file, "", value_text(doc), "expected a JSON object { ... }"});
        return std::nullopt;
    }
    return doc;
}

/// Reads a whole file (bounded); nullopt with an Error when it cannot.
std::optional<std::string> read_file(const std::string& path, std::vector<Error>& errors) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        errors.push_back({path, "", "", std::string("cannot read file: ") + std::strerror(errno)});
        return std::nullopt;
    }
    std::string text(kMaxConfigBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
        errors.push_back(
            {path, "", "", "file too large (limit " + std::to_string(kMaxConfigBytes) + " bytes)"});
        return std::nullopt;
    }
    return text;
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

std::optional<Profile> load_profile_file(const std::string& path, std::vector<Error>& errors) {
    auto text = read_file(path, errors);
    if (!text) return std::nullopt;
    std::string stem = std::filesystem::path(path).stem().string();
    return parse_profile(stem, *text, path, errors);
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

std::optional<DaemonConfig> load_daemon_config(const std::string& path,
                                               std::vector<Error>& errors) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) return DaemonConfig{};
    auto text = read_file(path, errors);
    if (!text) return std::nullopt;
    return parse_daemon_config(*text, path, errors);
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
