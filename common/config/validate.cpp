#include "common/config/validate.hpp"

#include <algorithm>
#include <set>

#include "common/net/endpoint.hpp"

namespace ghost::config {
namespace {

using nlohmann::json;

constexpr size_t kMaxValueText = 80;
constexpr uint64_t kDefaultMaxString = 4096;

std::string join(const std::string& parent, std::string_view key) {
    return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

const char* role_name(Scope scope) {
    return scope == Scope::client ? "client" : "server";
}

bool in_choices(std::string_view choices, std::string_view value) {
    size_t start = 0;
    while (true) {
        auto bar = choices.find('|', start);
        if (choices.substr(start, bar - start) == value) return true;
        if (bar == std::string_view::npos) return false;
        start = bar + 1;
    }
}

std::string quoted_choices(std::string_view choices) {
    std::string out = "\"";
    for (char c : choices) out += c == '|' ? std::string("\", \"") : std::string(1, c);
    return out + "\"";
}

/// One walk over a document; collects errors and features.
class Walker {
  public:
    Walker(const std::vector<Key>& keys, std::optional<Role> role, const std::string& file,
           std::vector<Error>& errors)
        : keys_(keys), role_(role), file_(file), errors_(errors), first_(errors.size()) {}

    void walk_object(const json& obj, const std::string& spath, const std::string& jpath, bool tls);
    std::vector<std::string> features() const { return {features_.begin(), features_.end()}; }
    size_t unlisted() const { return unlisted_; }

  private:
    void error(const std::string& jpath, const json* value, std::string message) {
        if (errors_.size() - first_ >= kMaxErrorsPerDocument) {
            ++unlisted_;
            return;
        }
        errors_.push_back({file_, jpath, value ? value_text(*value) : "", std::move(message)});
    }
    void walk_member(const json& value, const Key& key, const std::string& jpath, bool tls);
    void walk_value(const json& value, const Key& key, const std::string& jpath, bool tls);
    bool check_type(const json& value, const Key& key, const std::string& jpath);
    void check_leaf(const json& value, const Key& key, const std::string& jpath);
    bool check_string(const std::string& s, const Key& key, std::string& why);
    void unknown_key(const std::string& spath, const std::string& jpath, const std::string& name,
                     const json& value);
    void check_required(const json& obj, const std::string& spath, const std::string& jpath,
                        bool tls);
    void add_feature(const Key& key, const json& value);
    bool in_scope(const Key& key) const {
        if (!role_ || key.scope == Scope::any) return true;
        return (key.scope == Scope::client) == (*role_ == Role::client);
    }

    const std::vector<Key>& keys_;
    std::optional<Role> role_;
    const std::string& file_;
    std::vector<Error>& errors_;
    size_t first_;         // errors_ holds other documents' errors before this index
    size_t unlisted_ = 0;  // errors past kMaxErrorsPerDocument, counted only
    std::set<std::string> features_;
};

void Walker::walk_object(const json& obj, const std::string& spath, const std::string& jpath,
                         bool tls) {
    for (const auto& [name, value] : obj.items()) {
        std::string child = join(spath, name);
        const Key* key = find_key(keys_, child);
        if (!key) {
            unknown_key(spath, join(jpath, name), name, value);
            continue;
        }
        walk_member(value, *key, join(jpath, name), tls);
    }
    check_required(obj, spath, jpath, tls);
}

void Walker::walk_member(const json& value, const Key& key, const std::string& jpath, bool tls) {
    if (!in_scope(key)) {
        error(jpath, nullptr,
              "'" + std::string(leaf_name(key.path)) + "' is a " + role_name(key.scope) +
                  " key but role is " + (*role_ == Role::client ? "client" : "server"));
        return;
    }
    if ((key.flags & kTlsOnly) && !tls) {
        error(
            jpath, nullptr,
            "'" + std::string(leaf_name(key.path)) + "' is only valid with transport type \"tls\"");
        return;
    }
    walk_value(value, key, jpath, tls);
}

void Walker::walk_value(const json& value, const Key& key, const std::string& jpath, bool tls) {
    if (!check_type(value, key, jpath)) return;
    add_feature(key, value);
    if (key.type == KeyType::object) {
        if (key.path.ends_with("transport")) {
            auto type = value.find("type");
            tls = type != value.end() && *type == "tls";
        }
        walk_object(value, key.path, jpath, tls);
    } else if (key.type == KeyType::array) {
        const Key* element = find_key(keys_, key.path + "[]");
        uint64_t max = key.max ? key.max : 1024;
        if (value.size() < key.min || value.size() > max) {
            error(jpath, nullptr,
                  "needs " + std::to_string(key.min) + ".." + std::to_string(max) +
                      " elements, has " + std::to_string(value.size()));
        }
        for (size_t i = 0; i < value.size() && i < max && element; ++i)
            walk_value(value[i], *element, jpath + "[" + std::to_string(i) + "]", tls);
    } else {
        check_leaf(value, key, jpath);
    }
}

bool Walker::check_type(const json& value, const Key& key, const std::string& jpath) {
    const char* expected = nullptr;
    switch (key.type) {
        case KeyType::boolean:
            if (!value.is_boolean()) expected = "expected true or false";
            break;
        case KeyType::uint:
            if (!value.is_number_integer()) expected = "expected a whole number";
            break;
        case KeyType::object:
            if (!value.is_object()) expected = "expected an object";
            break;
        case KeyType::array:
            if (!value.is_array()) expected = "expected an array";
            break;
        default:
            if (!value.is_string()) expected = "expected a string";
            break;
    }
    if (expected) error(jpath, &value, expected);
    return expected == nullptr;
}

bool Walker::check_string(const std::string& s, const Key& key, std::string& why) {
    uint64_t max = key.max ? key.max : kDefaultMaxString;
    if (s.size() < key.min || s.size() > max) {
        why = key.min > 0 && s.empty() ? "must not be empty"
                                       : "length must be " + std::to_string(key.min) + ".." +
                                             std::to_string(max) + " bytes";
        return false;
    }
    if (s.find('\0') != std::string::npos) {
        why = "must not contain NUL characters";
        return false;
    }
    return true;
}

/// Checks a value already known to have the row's JSON type; reports via why.
bool check_format(const json& value, const Key& key, std::string& why) {
    if (key.type == KeyType::uint) {
        bool negative =
            value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() < 0;
        if (negative || value.get<uint64_t>() < key.min || value.get<uint64_t>() > key.max) {
            why = "out of range (" + std::to_string(key.min) + ".." + std::to_string(key.max) + ")";
            return false;
        }
        return true;
    }
    if (key.type == KeyType::boolean) return true;
    const auto& s = value.get_ref<const std::string&>();
    switch (key.type) {
        case KeyType::path:
            if (s.starts_with('/')) return true;
            why = "must be an absolute path";
            return false;
        case KeyType::enumeration:
            if (in_choices(key.choices, s)) return true;
            why = "must be one of " + quoted_choices(key.choices);
            return false;
        case KeyType::endpoint:
            if (net::parse_endpoint(s, &why)) return true;
            why = "invalid address: " + why;
            return false;
        case KeyType::remote_listen:
            if (net::parse_listen(s, "", &why)) return true;
            why = "invalid listen address: " + why;
            return false;
        case KeyType::listen: {
            auto ep = net::parse_listen(s, "127.0.0.1", &why);
            if (ep && net::IpAddress::parse(ep->host)) return true;
            why = ep ? "listen address must be an IP address (e.g. 127.0.0.1:" +
                           std::to_string(ep->port) + "), not a host name"
                     : "invalid listen address: " + why;
            return false;
        }
        case KeyType::resolver: {
            if (net::IpAddress::parse(s)) return true;
            auto ep = net::parse_endpoint(s, &why);
            if (ep && net::IpAddress::parse(ep->host)) return true;
            why = ep ? "DNS server must be an IP address" : "invalid DNS server: " + why;
            return false;
        }
        case KeyType::cidr:
            if (net::Cidr::parse(s, &why)) return true;
            why = "invalid CIDR: " + why;
            return false;
        default:
            return true;
    }
}

void Walker::check_leaf(const json& value, const Key& key, const std::string& jpath) {
    std::string why;
    bool ok = true;
    if (value.is_string()) ok = check_string(value.get_ref<const std::string&>(), key, why);
    if (ok) ok = check_format(value, key, why);
    if (ok && key.check) ok = key.check(value, why);
    if (!ok) error(jpath, &value, why);
}

void Walker::unknown_key(const std::string& spath, const std::string& jpath,
                         const std::string& name, const json& value) {
    std::vector<std::string> siblings;
    for (const auto& key : keys_) {
        if (parent_path(key.path) == spath && !key.path.ends_with("[]"))
            siblings.emplace_back(leaf_name(key.path));
    }
    std::string message = "unknown key '" + name + "'";
    auto best = closest_match(name, siblings);
    if (!best.empty()) message += " (did you mean '" + best + "'?)";
    error(jpath, &value, message);
}

void Walker::check_required(const json& obj, const std::string& spath, const std::string& jpath,
                            bool tls) {
    for (const auto& key : keys_) {
        if (!(key.flags & kRequired) || parent_path(key.path) != spath) continue;
        if (key.path.ends_with("[]") || !in_scope(key)) continue;
        if ((key.flags & kTlsOnly) && !tls) continue;
        auto name = std::string(leaf_name(key.path));
        if (!obj.contains(name))
            error(join(jpath, name), nullptr, "missing required key '" + name + "'");
    }
}

void Walker::add_feature(const Key& key, const json& value) {
    std::string feature(key.feature);
    if (!key.when.empty()) {
        std::string text = value.is_string() ? value.get<std::string>() : value.dump();
        if (in_choices(key.when, text)) feature = key.when_feature;
    }
    // The core of a server profile is the server, not the client session.
    if (feature == "ssh" && role_ == Role::server) feature = "server";
    if (!feature.empty()) features_.insert(feature);
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
            diag = up;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string value_text(const json& value) {
    std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.size() > kMaxValueText) text = text.substr(0, kMaxValueText - 3) + "...";
    return text;
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
    if (word.size() > 64) return {};
    std::string best;
    size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
    for (const auto& candidate : candidates) {
        size_t d = edit_distance(word, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    return best;
}

std::vector<std::string> validate_document(const json& doc, const std::vector<Key>& keys,
                                           std::optional<Role> role, const std::string& file,
                                           std::vector<Error>& errors) {
    Walker walker(keys, role, file, errors);
    walker.walk_object(doc, "", "", false);
    if (walker.unlisted() > 0)
        errors.push_back(
            {file, "", "", std::to_string(walker.unlisted()) + " more errors not listed"});
    return walker.features();
}

}  // namespace ghost::config
