#include "common/auth/authorized_keys.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <sstream>

#include "common/text/base64.hpp"

namespace ghost::auth {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

/// Key type as written -> type string expected inside the blob; "" when unsupported.
std::string blob_type_for(std::string_view type) {
    if (type == "ssh-ed25519" || type == "ssh-rsa" || type == "ecdsa-sha2-nistp256" ||
        type == "ecdsa-sha2-nistp384" || type == "ecdsa-sha2-nistp521") {
        return std::string(type);
    }
    if (type == "rsa-sha2-256" || type == "rsa-sha2-512") return "ssh-rsa";
    return {};
}

/// Why a key type that looks like one is refused; "" when it does not look like a type.
std::string unsupported_type_reason(std::string_view type) {
    std::string t(type);
    if (t.rfind("sk-", 0) == 0) return "security-key type '" + t + "' is not supported";
    if (t.find("-cert-v01@openssh.com") != std::string::npos)
        return "certificate type '" + t + "' is not supported";
    if (t == "ssh-dss") return "DSA keys (ssh-dss) are not supported";
    if (t.rfind("ssh-", 0) == 0 || t.rfind("ecdsa-", 0) == 0)
        return "unsupported key type '" + t + "'";
    return {};
}

/// The first token, honouring double quotes (options may contain quoted spaces).
/// Returns false when a quote is left open.
bool split_token(std::string_view line, std::string_view* token, std::string_view* rest) {
    bool quoted = false;
    size_t i = 0;
    for (; i < line.size(); ++i) {
        char c = line[i];
        if (quoted && c == '\\' && i + 1 < line.size()) {
            ++i;
            continue;
        }
        if (c == '"')
            quoted = !quoted;
        else if (!quoted && is_space(c))
            break;
    }
    if (quoted) return false;
    *token = line.substr(0, i);
    *rest = trim(line.substr(i));
    return true;
}

/// Checks that the blob starts with the SSH string `type`.
bool blob_has_type(const std::vector<uint8_t>& blob, const std::string& type) {
    if (blob.size() < 4 + type.size()) return false;
    uint32_t n = (uint32_t{blob[0]} << 24) | (uint32_t{blob[1]} << 16) | (uint32_t{blob[2]} << 8) |
                 uint32_t{blob[3]};
    return n == type.size() && std::equal(type.begin(), type.end(), blob.begin() + 4);
}

std::optional<uint16_t> parse_port_or_star(std::string_view s, bool* star, bool allow0) {
    *star = s == "*";
    if (*star) return std::nullopt;
    if (s.empty() || s.size() > 5 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    unsigned v = static_cast<unsigned>(std::stoul(std::string(s)));
    if (v > 65535 || (v == 0 && !allow0)) return std::nullopt;
    return static_cast<uint16_t>(v);
}

/// Splits "host:port" / "[v6]:port" / (when host_optional) "port".
bool split_host_port(std::string_view v, bool host_optional, std::string* host,
                     std::string_view* port) {
    if (!v.empty() && v.front() == '[') {
        size_t close = v.find(']');
        if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != ':')
            return false;
        *host = std::string(v.substr(1, close - 1));
        *port = v.substr(close + 2);
        return !host->empty();
    }
    size_t colon = v.rfind(':');
    if (colon == std::string_view::npos) {
        if (!host_optional) return false;
        *host = "*";
        *port = v;
        return true;
    }
    *host = std::string(v.substr(0, colon));
    *port = v.substr(colon + 1);
    return !host->empty() && host->find(':') == std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------- helpers

std::optional<std::vector<uint8_t>> decode_key_blob(std::string_view b64) {
    auto bytes = text::base64_decode(b64, text::Base64Alphabet::standard, text::Base64Padding::any);
    if (!bytes) return std::nullopt;
    return std::vector<uint8_t>(bytes->begin(), bytes->end());
}

bool wildcard_match(std::string_view text, std::string_view pattern) {
    size_t t = 0, p = 0, star = std::string_view::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++t;
            ++p;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

std::optional<int64_t> parse_expiry_time(std::string_view text) {
    bool utc = !text.empty() && (text.back() == 'Z' || text.back() == 'z');
    if (utc) text.remove_suffix(1);
    if ((text.size() != 8 && text.size() != 12 && text.size() != 14) ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
    auto num = [&](size_t pos, size_t len) {
        return pos + len <= text.size() ? std::stoi(std::string(text.substr(pos, len))) : 0;
    };
    std::tm tm{};
    tm.tm_year = num(0, 4) - 1900;
    tm.tm_mon = num(4, 2) - 1;
    tm.tm_mday = num(6, 2);
    tm.tm_hour = num(8, 2);
    tm.tm_min = num(10, 2);
    tm.tm_sec = num(12, 2);
    tm.tm_isdst = -1;
    std::tm want = tm;
    time_t t = utc ? timegm(&tm) : std::mktime(&tm);
    // mktime/timegm normalise out-of-range fields: a changed field means a bad date.
    if (t == static_cast<time_t>(-1) || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon ||
        tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min ||
        tm.tm_sec != want.tm_sec)
        return std::nullopt;
    return static_cast<int64_t>(t);
}

// ---------------------------------------------------------------- matching

bool KeyEntry::from_allows(const net::IpAddress& client) const {
    if (from.empty()) return true;
    net::IpAddress ip = client;
    if (ip.v6 &&
        std::all_of(ip.bytes.begin(), ip.bytes.begin() + 10, [](uint8_t b) { return b == 0; }) &&
        ip.bytes[10] == 0xff && ip.bytes[11] == 0xff) {
        net::IpAddress v4;
        std::copy(ip.bytes.begin() + 12, ip.bytes.end(), v4.bytes.begin());
        ip = v4;
    }
    std::string text = ip.str();
    bool positive = false;
    for (const auto& pat : from) {
        bool neg = pat.front() == '!';
        std::string_view p = neg ? std::string_view(pat).substr(1) : std::string_view(pat);
        bool hit;
        if (p.find('/') != std::string_view::npos) {
            auto cidr = net::Cidr::parse(p);
            hit = cidr && cidr->address.v6 == ip.v6 && cidr->contains(ip);
        } else {
            hit = wildcard_match(text, p);
        }
        if (hit && neg) return false;  // a negated match always wins
        positive = positive || hit;
    }
    return positive;
}

bool KeyEntry::permits_open(std::string_view host, uint16_t port) const {
    if (!port_forwarding) return false;
    if (permit_open.empty()) return true;
    std::string h = lower(host);
    return std::any_of(permit_open.begin(), permit_open.end(), [&](const PermitOpen& p) {
        return (p.host == "*" || p.host == h) && (!p.port || *p.port == port);
    });
}

bool KeyEntry::permits_listen(std::string_view host, uint16_t port) const {
    if (!port_forwarding) return false;
    if (permit_listen.empty()) return true;
    std::string h = lower(host);
    return std::any_of(permit_listen.begin(), permit_listen.end(), [&](const PermitListen& p) {
        return wildcard_match(h, p.host_pattern) && (!p.port || *p.port == port);
    });
}

const KeyEntry* AuthorizedKeys::find(const std::vector<uint8_t>& blob) const {
    for (const auto& e : entries)
        if (e.blob == blob) return &e;
    return nullptr;
}

// ---------------------------------------------------------------- options

namespace {

/// Removes the quotes of an option value and its backslash escapes; false when unquoted.
bool dequote(std::string_view v, std::string* out) {
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') return false;
    out->clear();
    for (size_t i = 1; i + 1 < v.size(); ++i) {
        if (v[i] == '\\' && i + 2 < v.size() && v[i + 1] == '"') ++i;
        out->push_back(v[i]);
    }
    return true;
}

bool apply_permitopen(const std::string& v, KeyEntry* e, std::string* why) {
    std::string host;
    std::string_view port;
    bool star = false;
    auto p = split_host_port(v, false, &host, &port) ? parse_port_or_star(port, &star, false)
                                                     : std::nullopt;
    if (!p && !star) {
        *why = "permitopen=\"" + v + "\": expected \"host:port\" (port 1..65535 or *)";
        return false;
    }
    e->permit_open.push_back({lower(host), p});
    return true;
}

bool apply_permitlisten(const std::string& v, KeyEntry* e, std::string* why) {
    std::string host;
    std::string_view port;
    bool star = false;
    auto p = split_host_port(v, true, &host, &port) ? parse_port_or_star(port, &star, true)
                                                    : std::nullopt;
    if (!p && !star) {
        *why = "permitlisten=\"" + v + "\": expected \"[host:]port\" (port 0..65535 or *)";
        return false;
    }
    e->permit_listen.push_back({lower(host), p});
    return true;
}

bool apply_from(const std::string& v, KeyEntry* e, std::string* why) {
    if (!e->from.empty()) {
        *why = "from= given twice";
        return false;
    }
    std::stringstream ss(v);
    std::string pat;
    while (std::getline(ss, pat, ',')) {
        std::string_view body = trim(pat);
        std::string_view core = !body.empty() && body.front() == '!' ? body.substr(1) : body;
        std::string cidr_why;
        if (core.empty() ||
            (core.find('/') != std::string_view::npos && !net::Cidr::parse(core, &cidr_why))) {
            *why = "from=\"" + v + "\": bad pattern '" + std::string(body) + "'" +
                   (cidr_why.empty() ? "" : " (" + cidr_why + ")");
            return false;
        }
        e->from.push_back(lower(body));
    }
    if (e->from.empty()) {
        *why = "from= is empty";
        return false;
    }
    return true;
}

bool apply_expiry(const std::string& v, KeyEntry* e, std::string* why) {
    auto t = parse_expiry_time(v);
    if (e->expiry || !t) {
        *why = e->expiry ? "expiry-time= given twice"
                         : "expiry-time=\"" + v + "\": expected YYYYMMDD[HHMM[SS]][Z]";
        return false;
    }
    e->expiry = t;
    return true;
}

/// Options that only restrict features this server never offers (pty, X11, agent, rc).
bool is_noop_option(const std::string& name) {
    static const char* kNoops[] = {"no-pty",
                                   "no-x11-forwarding",
                                   "no-agent-forwarding",
                                   "no-user-rc",
                                   "pty",
                                   "x11-forwarding",
                                   "agent-forwarding",
                                   "user-rc",
                                   "no-touch-required"};
    return std::any_of(std::begin(kNoops), std::end(kNoops),
                       [&](const char* n) { return name == n; });
}

bool apply_option(std::string_view opt, KeyEntry* e, std::string* why) {
    size_t eq = opt.find('=');
    std::string name = lower(opt.substr(0, eq));
    bool has_value = eq != std::string_view::npos;
    if (name == "restrict" || name == "no-port-forwarding" || name == "port-forwarding" ||
        is_noop_option(name)) {
        if (has_value) {
            *why = "option " + name + " takes no value";
            return false;
        }
        if (name == "restrict" || name == "no-port-forwarding") e->port_forwarding = false;
        if (name == "port-forwarding") e->port_forwarding = true;
        return true;
    }
    using Fn = bool (*)(const std::string&, KeyEntry*, std::string*);
    Fn fn = name == "permitopen"     ? apply_permitopen
            : name == "permitlisten" ? apply_permitlisten
            : name == "from"         ? apply_from
            : name == "expiry-time"  ? apply_expiry
                                     : nullptr;
    if (!fn) {
        static const char* kRefused[] = {"command", "environment",    "principals",
                                         "tunnel",  "cert-authority", "verify-required"};
        bool known = std::any_of(std::begin(kRefused), std::end(kRefused),
                                 [&](const char* n) { return name == n; });
        *why = known ? "option " + name + " is not supported by this server (line ignored)"
                     : "unknown option '" + std::string(opt.substr(0, eq)) + "'";
        return false;
    }
    std::string value;
    if (!has_value || !dequote(opt.substr(eq + 1), &value)) {
        *why = "option " + name + " needs a quoted value, e.g. " + name + "=\"...\"";
        return false;
    }
    return fn(value, e, why);
}

bool apply_options(std::string_view opts, KeyEntry* e, std::string* why) {
    bool quoted = false;
    size_t start = 0;
    for (size_t i = 0; i <= opts.size(); ++i) {
        if (i < opts.size()) {
            if (quoted && opts[i] == '\\' && i + 1 < opts.size()) {
                ++i;
                continue;
            }
            if (opts[i] == '"') quoted = !quoted;
            if (quoted || opts[i] != ',') continue;
        }
        std::string_view one = opts.substr(start, i - start);
        if (one.empty()) {
            *why = "empty option in '" + std::string(opts) + "'";
            return false;
        }
        if (!apply_option(one, e, why)) return false;
        start = i + 1;
    }
    return true;
}

}  // namespace

// ---------------------------------------------------------------- lines and files

std::optional<KeyEntry> parse_key_line(std::string_view line, const std::string& where,
                                       std::string* why) {
    why->clear();
    line = trim(line);
    if (line.empty() || line.front() == '#') return std::nullopt;
    if (line.size() > kMaxLineLength) {
        *why = "line longer than " + std::to_string(kMaxLineLength) + " bytes";
        return std::nullopt;
    }
    std::string_view tok, rest;
    if (!split_token(line, &tok, &rest)) {
        *why = "unterminated quote";
        return std::nullopt;
    }
    KeyEntry e;
    e.where = where;
    if (blob_type_for(tok).empty() && unsupported_type_reason(tok).empty()) {
        if (!apply_options(tok, &e, why)) return std::nullopt;
        if (!split_token(rest, &tok, &rest)) {
            *why = "unterminated quote";
            return std::nullopt;
        }
    }
    std::string blob_type = blob_type_for(tok);
    if (blob_type.empty()) {
        std::string r = unsupported_type_reason(tok);
        *why = !r.empty()    ? r
               : tok.empty() ? "missing key type"
                             : "unknown key type '" + std::string(tok.substr(0, 40)) + "'";
        return std::nullopt;
    }
    e.type = std::string(tok);
    std::string_view b64;
    split_token(rest, &b64, &rest);
    auto blob = decode_key_blob(b64);
    if (b64.empty() || !blob || !blob_has_type(*blob, blob_type)) {
        *why = b64.empty() ? "missing key data after " + e.type
                           : "key data is not a valid base64 " + blob_type + " key";
        return std::nullopt;
    }
    e.base64 = std::string(b64);
    e.blob = std::move(*blob);
    e.name = rest.empty() ? where : std::string(rest);
    return e;
}

AuthorizedKeys parse_authorized_keys(std::string_view text, const std::string& source) {
    AuthorizedKeys out;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        std::string where = source + ":" + std::to_string(line_no);
        std::string why;
        auto entry = parse_key_line(line, where, &why);
        if (entry)
            out.entries.push_back(std::move(*entry));
        else if (!why.empty())
            out.errors.push_back({where, why});
    }
    return out;
}

}  // namespace ghost::auth
