// Rules that involve more than one key; run only on documents that passed the table walk,
// so every value present already has the right type.

#include "common/config/validate.hpp"

namespace ghost::config {
namespace {

using nlohmann::json;

const json& member(const json& obj, const char* name) {
    static const json kNull;
    auto it = obj.find(name);
    return it == obj.end() ? kNull : *it;
}

/// obj.name, or the table default of spath when absent.
uint64_t uint_or_default(const json& obj, const char* name, const char* spath) {
    if (obj.contains(name)) return obj[name].get<uint64_t>();
    return default_value(*find_key(profile_keys(), spath)).get<uint64_t>();
}

void add(std::vector<Error>& errors, const std::string& file, std::string path, const json* value,
         std::string message) {
    errors.push_back({file, std::move(path), value ? value_text(*value) : "", std::move(message)});
}

/// username and password must come together.
void check_credentials(const json& doc, const char* section, const std::string& file,
                       std::vector<Error>& errors) {
    const json& obj = member(doc, section);
    if (!obj.is_object()) return;
    bool user = obj.contains("username");
    bool pass = obj.contains("password");
    if (user == pass) return;
    std::string have = user ? "username" : "password";
    std::string need = user ? "password" : "username";
    add(errors, file, std::string(section) + "." + have, nullptr,
        "'" + have + "' needs '" + need + "' as well");
}

void check_outbound(const json& doc, const std::string& file, std::vector<Error>& errors) {
    const json& out = member(doc, "outbound");
    if (!out.is_object()) return;
    const json& type = member(out, "type");
    bool proxied = type == "socks5" || type == "http";
    if (proxied && !out.contains("proxy")) {
        add(errors, file, "outbound.proxy", nullptr,
            "missing required key 'proxy' (needed for type " + type.dump() + ")");
    }
    if (!proxied) {
        for (const char* name : {"proxy", "username", "password"}) {
            if (out.contains(name)) {
                add(errors, file, std::string("outbound.") + name, &out[name],
                    "only used with outbound type \"socks5\" or \"http\"");
            }
        }
    }
}

void check_tun(const json& doc, const std::string& file, std::vector<Error>& errors) {
    const json& tun = member(doc, "tun");
    if (!tun.is_object()) return;
    bool full = member(tun, "full") == true;
    const json& routes = member(tun, "routes");
    if (!full && (!routes.is_array() || routes.empty())) {
        add(errors, file, "tun", nullptr,
            "needs 'routes' (split tunnel) or \"full\": true (full tunnel)");
    }
}

void check_reconnect(const json& doc, const std::string& file, std::vector<Error>& errors) {
    const json& rc = member(doc, "reconnect");
    if (!rc.is_object() || !rc.contains("initial_delay")) return;
    uint64_t max = uint_or_default(rc, "max_delay", "reconnect.max_delay");
    if (rc["initial_delay"].get<uint64_t>() > max) {
        add(errors, file, "reconnect.initial_delay", &rc["initial_delay"],
            "must not exceed reconnect.max_delay (" + std::to_string(max) + ")");
    }
}

/// A channel starts at window.initial and grows up to window.max.
void check_window(const json& doc, const std::string& file, std::vector<Error>& errors) {
    const json& win = member(doc, "window");
    if (!win.is_object() || (!win.contains("initial") && !win.contains("max"))) return;
    uint64_t initial = uint_or_default(win, "initial", "window.initial");
    uint64_t max = uint_or_default(win, "max", "window.max");
    if (initial > max) {
        const char* at = win.contains("initial") ? "initial" : "max";
        add(errors, file, std::string("window.") + at, &win[at],
            "window.initial (" + std::to_string(initial) + ") must not exceed window.max (" +
                std::to_string(max) + ")");
    }
}

/// A penalty never outstanding for more than `max` seconds must be able to exceed `min`.
void check_penalties(const json& limits, const std::string& file, std::vector<Error>& errors) {
    const json& pen = member(limits, "penalties");
    if (!pen.is_object() || (!pen.contains("min") && !pen.contains("max"))) return;
    uint64_t min = uint_or_default(pen, "min", "limits.penalties.min");
    uint64_t max = uint_or_default(pen, "max", "limits.penalties.max");
    if (min >= max) {
        const char* at = pen.contains("min") ? "min" : "max";
        add(errors, file, std::string("limits.penalties.") + at, &pen[at],
            "limits.penalties.min (" + std::to_string(min) + ") must be less than max (" +
                std::to_string(max) + "), else no source is ever refused");
    }
}

void check_limits(const json& doc, const std::string& file, std::vector<Error>& errors) {
    const json& limits = member(doc, "limits");
    if (!limits.is_object()) return;
    check_penalties(limits, file, errors);
    if (!limits.contains("max_startups")) return;
    uint64_t total = uint_or_default(limits, "max_startups_total", "limits.max_startups_total");
    if (limits["max_startups"].get<uint64_t>() > total) {
        add(errors, file, "limits.max_startups", &limits["max_startups"],
            "must not exceed limits.max_startups_total (" + std::to_string(total) + ")");
    }
}

/// A TLS server listener has a certificate and its key, or neither (ghostd then makes a
/// self-signed one), and serves somebody: a knock, or bare SSH.
void check_listeners(const json& doc, const std::string& file, std::vector<Error>& errors) {
    const json& listen = member(doc, "listen");
    if (!listen.is_array()) return;
    for (size_t i = 0; i < listen.size(); ++i) {
        const json& transport = member(listen[i], "transport");
        if (!transport.is_object() || member(transport, "type") != "tls") continue;
        const std::string at = "listen[" + std::to_string(i) + "].transport.";
        const bool cert = transport.contains("cert_file"), key = transport.contains("key_file");
        if (cert != key) {
            const char* missing = cert ? "key_file" : "cert_file";
            add(errors, file, at + missing, nullptr,
                std::string("missing '") + missing + "': cert_file and key_file go together");
        }
        if (!transport.contains("knock") && member(transport, "allow_bare_ssh") != true &&
            member(transport, "sniff") != true) {
            add(errors, file, at + "knock", nullptr,
                "a tls listener needs 'knock' (or allow_bare_ssh / sniff: true), else it serves "
                "nobody");
        }
    }
}

}  // namespace

void check_profile_rules(const json& doc, Role role, const std::string& file,
                         std::vector<Error>& errors) {
    check_window(doc, file, errors);
    if (role == Role::client) {
        check_credentials(doc, "socks5", file, errors);
        check_credentials(doc, "http_connect", file, errors);
        check_tun(doc, file, errors);
        check_reconnect(doc, file, errors);
    } else {
        check_credentials(doc, "outbound", file, errors);
        check_outbound(doc, file, errors);
        check_limits(doc, file, errors);
        check_listeners(doc, file, errors);
    }
}

}  // namespace ghost::config
