#pragma once
/// The key table: one row per configuration key, in the spirit of networkd's gperf tables.
/// Paths use '.' between object members and "[]" for array elements ("tun.routes[]").

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ghost::config {

/// Value type of a key; drives validation and the documentation column.
enum class KeyType {
    string,
    boolean,
    uint,           // min..max
    endpoint,       // "host:port" (IP literal or DNS name)
    listen,         // local listen address "ip:port" or bare "port" (host 127.0.0.1)
    remote_listen,  // listen address on the server: "[host:]port", host may be a name
    resolver,       // DNS server "ip" or "ip:port" (port 53)
    cidr,           // "a.b.c.d/n", "v6/n" or a bare address (host prefix)
    enumeration,    // one of `choices` ("tcp|tls")
    path,           // absolute file system path
    object,
    array,  // elements described by the "PATH[]" row
};

/// Which profile role may use a key.
enum class Scope { any, client, server };

/// Extra check for a value already known to have the right JSON type; sets why on failure.
using ValueCheck = bool (*)(const nlohmann::json& value, std::string& why);

inline constexpr unsigned kRequired = 1;  // must be present in its parent object
inline constexpr unsigned kTlsOnly = 2;   // only valid with transport type "tls"

/// One configuration key.
struct Key {
    std::string path{};
    KeyType type = KeyType::string;
    std::string def{};  // default as JSON text; empty = no default
    Scope scope = Scope::any;
    std::string_view feature{};  // see all_features(); empty for ghostd.json keys
    std::string_view doc{};      // one line
    uint64_t min = 0;            // uint: value range; array: element count; string: length
    uint64_t max = 0;
    std::string_view choices{};  // enumeration: "a|b|c"
    unsigned flags = 0;
    ValueCheck check = nullptr;
    std::string_view when{};          // "a|b": the value(s) that switch the feature ...
    std::string_view when_feature{};  // ... to this one (e.g. transport.type "tls" -> "tls")
};

/// Every profile key, in documentation order.
const std::vector<Key>& profile_keys();

/// Every ghostd.json key, in documentation order.
const std::vector<Key>& daemon_keys();

/// Finds the row for a schema path ("forward[].listen") in keys; nullptr if unknown.
const Key* find_key(const std::vector<Key>& keys, std::string_view path);

/// The parent schema path of a row ("tun.routes[]" -> "tun.routes", "tun" -> "").
std::string_view parent_path(std::string_view path);

/// The last component of a schema path ("tun.routes" -> "routes").
std::string_view leaf_name(std::string_view path);

/// The row's default parsed as JSON, or null when it has none.
nlohmann::json default_value(const Key& key);

}  // namespace ghost::config
