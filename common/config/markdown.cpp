// schema_markdown(): the key reference in docs/profiles.md, generated from the key table.

#include <string>

#include "common/config/keys.hpp"
#include "common/config/schema.hpp"

namespace ghost::config {
namespace {

std::string choices_text(std::string_view choices) {
    std::string out = "`";
    for (char c : choices) out += c == '|' ? std::string("`, `") : std::string(1, c);
    return out + "`";
}

std::string type_text(const std::vector<Key>& keys, const Key& key) {
    switch (key.type) {
        case KeyType::string:
            return "string";
        case KeyType::boolean:
            return "bool";
        case KeyType::uint:
            return "integer " + std::to_string(key.min) + "–" + std::to_string(key.max);
        case KeyType::endpoint:
            return "`host:port`";
        case KeyType::listen:
            return "`ip:port` or `port`";
        case KeyType::remote_listen:
            return "`[host:]port`";
        case KeyType::resolver:
            return "`ip` or `ip:port`";
        case KeyType::cidr:
            return "CIDR";
        case KeyType::enumeration:
            return "one of " + choices_text(key.choices);
        case KeyType::path:
            return "absolute path";
        case KeyType::object:
            return "object";
        case KeyType::array: {
            const Key* element = find_key(keys, key.path + "[]");
            return "array of " + (element ? type_text(keys, *element) : std::string("?"));
        }
    }
    return "?";
}

std::string default_text(const Key& key) {
    if (key.flags & kRequired) return "**required**";
    if (key.def.empty()) return "—";
    return "`" + key.def + "`";
}

std::string feature_text(const Key& key) {
    std::string out = "`" + std::string(key.feature) + "`";
    if (!key.when_feature.empty()) {
        out += ", `" + std::string(key.when_feature) + "` for " + choices_text(key.when);
    }
    return out;
}

std::string scope_text(Scope scope) {
    switch (scope) {
        case Scope::client:
            return "client";
        case Scope::server:
            return "server";
        case Scope::any:
            break;
    }
    return "any";
}

}  // namespace

std::string schema_markdown() {
    std::string out;
    out += "### Profile keys\n\n";
    out += "| Key | Type | Default | Role | Feature | Description |\n";
    out += "|-----|------|---------|------|---------|-------------|\n";
    const auto& keys = profile_keys();
    for (const auto& key : keys) {
        if (key.path.ends_with("[]")) continue;  // shown as "array of ..." on the array row
        out += "| `" + key.path + "` | " + type_text(keys, key) + " | " + default_text(key) +
               " | " + scope_text(key.scope) + " | " + feature_text(key) + " | " +
               std::string(key.doc) + " |\n";
    }
    out += "\n### ghostd.json keys\n\n";
    out += "| Key | Type | Default | Description |\n";
    out += "|-----|------|---------|-------------|\n";
    for (const auto& key : daemon_keys()) {
        out += "| `" + key.path + "` | " + type_text(daemon_keys(), key) + " | " +
               default_text(key) + " | " + std::string(key.doc) + " |\n";
    }
    return out;
}

}  // namespace ghost::config
