// Ported from nginx 1.22.1 (src/http/ngx_http_parse.c, ngx_http_request.c, ngx_string.c,
// ngx_http_core_module.c). Copyright (C) Igor Sysoev, Copyright (C) Nginx, Inc.
// BSD-2-Clause. The state machines keep nginx's structure (one switch per parser) so that
// they can be compared with the original line by line; only pointers became offsets.

#include "common/stealth/nginx_parse.hpp"

#include <strings.h>

#include <cstring>
#include <string>
#include <utility>

namespace ghost::stealth::nginx {

namespace {

constexpr char CR = '\r';
constexpr char LF = '\n';
constexpr int64_t kMaxOff = INT64_MAX;

// Characters that need no special care in a URI (nginx's `usual` bitmap).
constexpr uint32_t kUsual[] = {
    0x00000000, 0x7fff37d6, 0xffffffff, 0x7fffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
};

bool usual(unsigned char ch) {
    return (kUsual[ch >> 5] & (1U << (ch & 0x1f))) != 0;
}

// Characters nginx accepts in a header name (its `lowcase` table is non-zero for them).
bool header_name_char(unsigned char ch) {
    return ch == '-' || (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= 'a' && ch <= 'z');
}

bool is_alpha(unsigned char ch) {
    unsigned char c = ch | 0x20;
    return c >= 'a' && c <= 'z';
}

Method method_of(std::string_view m) {
    static constexpr std::pair<std::string_view, Method> kMethods[] = {
        {"GET", Method::get},           {"PUT", Method::put},
        {"POST", Method::post},         {"COPY", Method::copy},
        {"MOVE", Method::move},         {"LOCK", Method::lock},
        {"HEAD", Method::head},         {"MKCOL", Method::mkcol},
        {"PATCH", Method::patch},       {"TRACE", Method::trace},
        {"DELETE", Method::delete_},    {"UNLOCK", Method::unlock},
        {"OPTIONS", Method::options},   {"CONNECT", Method::connect},
        {"PROPFIND", Method::propfind}, {"PROPPATCH", Method::proppatch},
    };
    for (const auto& [name, method] : kMethods) {
        if (name == m) return method;
    }
    return Method::unknown;
}

void move_back(size_t& offset, size_t old) {
    if (offset != npos) offset -= old;
}

}  // namespace

void RequestLine::relocate(size_t old) {
    for (size_t* p :
         {&request_start, &request_end, &method_end, &uri_start, &uri_end, &uri_ext, &args_start,
          &schema_start, &schema_end, &host_start, &host_end, &port_end, &http_protocol}) {
        move_back(*p, old);
    }
}

void HeaderLine::relocate(size_t old) {
    for (size_t* p : {&name_start, &name_end, &value_start, &value_end}) move_back(*p, old);
}

Parse parse_request_line(RequestLine& r, const char* buf, size_t& pos, size_t last) {
    enum {
        sw_start = 0,
        sw_method,
        sw_spaces_before_uri,
        sw_schema,
        sw_schema_slash,
        sw_schema_slash_slash,
        sw_host_start,
        sw_host,
        sw_host_end,
        sw_host_ip_literal,
        sw_port,
        sw_after_slash_in_uri,
        sw_check_uri,
        sw_uri,
        sw_http_09,
        sw_http_H,
        sw_http_HT,
        sw_http_HTT,
        sw_http_HTTP,
        sw_first_major_digit,
        sw_major_digit,
        sw_first_minor_digit,
        sw_minor_digit,
        sw_spaces_after_digit,
        sw_almost_done
    };
    int state = r.state;
    size_t p = pos;

    for (; p < last; p++) {
        const auto ch = static_cast<unsigned char>(buf[p]);

        switch (state) {
            case sw_start:
                r.request_start = p;
                if (ch == CR || ch == LF) break;
                if ((ch < 'A' || ch > 'Z') && ch != '_' && ch != '-') return Parse::invalid_method;
                state = sw_method;
                break;

            case sw_method:
                if (ch == ' ') {
                    r.method_end = p - 1;
                    r.method =
                        method_of(std::string_view(buf + r.request_start, p - r.request_start));
                    state = sw_spaces_before_uri;
                    break;
                }
                if ((ch < 'A' || ch > 'Z') && ch != '_' && ch != '-') return Parse::invalid_method;
                break;

            case sw_spaces_before_uri:
                if (ch == '/') {
                    r.uri_start = p;
                    state = sw_after_slash_in_uri;
                    break;
                }
                if (is_alpha(ch)) {
                    r.schema_start = p;
                    state = sw_schema;
                    break;
                }
                if (ch == ' ') break;
                return Parse::invalid_request;

            case sw_schema:
                if (is_alpha(ch)) break;
                if ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.') break;
                if (ch == ':') {
                    r.schema_end = p;
                    state = sw_schema_slash;
                    break;
                }
                return Parse::invalid_request;

            case sw_schema_slash:
                if (ch != '/') return Parse::invalid_request;
                state = sw_schema_slash_slash;
                break;

            case sw_schema_slash_slash:
                if (ch != '/') return Parse::invalid_request;
                state = sw_host_start;
                break;

            case sw_host_start:
                r.host_start = p;
                if (ch == '[') {
                    state = sw_host_ip_literal;
                    break;
                }
                state = sw_host;
                [[fallthrough]];

            case sw_host:
                if (is_alpha(ch)) break;
                if ((ch >= '0' && ch <= '9') || ch == '.' || ch == '-') break;
                [[fallthrough]];

            case sw_host_end:
                r.host_end = p;
                switch (ch) {
                    case ':':
                        state = sw_port;
                        break;
                    case '/':
                        r.uri_start = p;
                        state = sw_after_slash_in_uri;
                        break;
                    case '?':
                        r.uri_start = p;
                        r.args_start = p + 1;
                        r.empty_path_in_uri = true;
                        state = sw_uri;
                        break;
                    case ' ':
                        // a single "/" from the request line ("http:/"), as nginx does
                        r.uri_start = r.schema_end + 1;
                        r.uri_end = r.schema_end + 2;
                        state = sw_http_09;
                        break;
                    default:
                        return Parse::invalid_request;
                }
                break;

            case sw_host_ip_literal:
                if (ch >= '0' && ch <= '9') break;
                if (is_alpha(ch)) break;
                switch (ch) {
                    case ':':
                        break;
                    case ']':
                        state = sw_host_end;
                        break;
                    case '-':
                    case '.':
                    case '_':
                    case '~':  // unreserved
                    case '!':
                    case '$':
                    case '&':
                    case '\'':
                    case '(':
                    case ')':  // sub-delims
                    case '*':
                    case '+':
                    case ',':
                    case ';':
                    case '=':
                        break;
                    default:
                        return Parse::invalid_request;
                }
                break;

            case sw_port:
                if (ch >= '0' && ch <= '9') break;
                switch (ch) {
                    case '/':
                        r.port_end = p;
                        r.uri_start = p;
                        state = sw_after_slash_in_uri;
                        break;
                    case '?':
                        r.port_end = p;
                        r.uri_start = p;
                        r.args_start = p + 1;
                        r.empty_path_in_uri = true;
                        state = sw_uri;
                        break;
                    case ' ':
                        r.port_end = p;
                        r.uri_start = r.schema_end + 1;
                        r.uri_end = r.schema_end + 2;
                        state = sw_http_09;
                        break;
                    default:
                        return Parse::invalid_request;
                }
                break;

            // check "/.", "//", "%" in URI
            case sw_after_slash_in_uri:
                if (usual(ch)) {
                    state = sw_check_uri;
                    break;
                }
                switch (ch) {
                    case ' ':
                        r.uri_end = p;
                        state = sw_http_09;
                        break;
                    case CR:
                        r.uri_end = p;
                        r.http_minor = 9;
                        state = sw_almost_done;
                        break;
                    case LF:
                        r.uri_end = p;
                        r.http_minor = 9;
                        goto done;
                    case '.':
                        r.complex_uri = true;
                        state = sw_uri;
                        break;
                    case '%':
                        r.quoted_uri = true;
                        state = sw_uri;
                        break;
                    case '/':
                        r.complex_uri = true;
                        state = sw_uri;
                        break;
                    case '?':
                        r.args_start = p + 1;
                        state = sw_uri;
                        break;
                    case '#':
                        r.complex_uri = true;
                        state = sw_uri;
                        break;
                    case '+':
                        r.plus_in_uri = true;
                        break;
                    default:
                        if (ch < 0x20 || ch == 0x7f) return Parse::invalid_request;
                        state = sw_check_uri;
                        break;
                }
                break;

            // check "/" and "%" in URI
            case sw_check_uri:
                if (usual(ch)) break;
                switch (ch) {
                    case '/':
                        r.uri_ext = npos;
                        state = sw_after_slash_in_uri;
                        break;
                    case '.':
                        r.uri_ext = p + 1;
                        break;
                    case ' ':
                        r.uri_end = p;
                        state = sw_http_09;
                        break;
                    case CR:
                        r.uri_end = p;
                        r.http_minor = 9;
                        state = sw_almost_done;
                        break;
                    case LF:
                        r.uri_end = p;
                        r.http_minor = 9;
                        goto done;
                    case '%':
                        r.quoted_uri = true;
                        state = sw_uri;
                        break;
                    case '?':
                        r.args_start = p + 1;
                        state = sw_uri;
                        break;
                    case '#':
                        r.complex_uri = true;
                        state = sw_uri;
                        break;
                    case '+':
                        r.plus_in_uri = true;
                        break;
                    default:
                        if (ch < 0x20 || ch == 0x7f) return Parse::invalid_request;
                        break;
                }
                break;

            case sw_uri:
                if (usual(ch)) break;
                switch (ch) {
                    case ' ':
                        r.uri_end = p;
                        state = sw_http_09;
                        break;
                    case CR:
                        r.uri_end = p;
                        r.http_minor = 9;
                        state = sw_almost_done;
                        break;
                    case LF:
                        r.uri_end = p;
                        r.http_minor = 9;
                        goto done;
                    case '#':
                        r.complex_uri = true;
                        break;
                    default:
                        if (ch < 0x20 || ch == 0x7f) return Parse::invalid_request;
                        break;
                }
                break;

            // space+ after URI
            case sw_http_09:
                switch (ch) {
                    case ' ':
                        break;
                    case CR:
                        r.http_minor = 9;
                        state = sw_almost_done;
                        break;
                    case LF:
                        r.http_minor = 9;
                        goto done;
                    case 'H':
                        r.http_protocol = p;
                        state = sw_http_H;
                        break;
                    default:
                        return Parse::invalid_request;
                }
                break;

            case sw_http_H:
                if (ch != 'T') return Parse::invalid_request;
                state = sw_http_HT;
                break;

            case sw_http_HT:
                if (ch != 'T') return Parse::invalid_request;
                state = sw_http_HTT;
                break;

            case sw_http_HTT:
                if (ch != 'P') return Parse::invalid_request;
                state = sw_http_HTTP;
                break;

            case sw_http_HTTP:
                if (ch != '/') return Parse::invalid_request;
                state = sw_first_major_digit;
                break;

            case sw_first_major_digit:
                if (ch < '1' || ch > '9') return Parse::invalid_request;
                r.http_major = ch - '0';
                if (r.http_major > 1) return Parse::invalid_version;
                state = sw_major_digit;
                break;

            case sw_major_digit:
                if (ch == '.') {
                    state = sw_first_minor_digit;
                    break;
                }
                if (ch < '0' || ch > '9') return Parse::invalid_request;
                r.http_major = r.http_major * 10 + (ch - '0');
                if (r.http_major > 1) return Parse::invalid_version;
                break;

            case sw_first_minor_digit:
                if (ch < '0' || ch > '9') return Parse::invalid_request;
                r.http_minor = ch - '0';
                state = sw_minor_digit;
                break;

            case sw_minor_digit:
                if (ch == CR) {
                    state = sw_almost_done;
                    break;
                }
                if (ch == LF) goto done;
                if (ch == ' ') {
                    state = sw_spaces_after_digit;
                    break;
                }
                if (ch < '0' || ch > '9') return Parse::invalid_request;
                if (r.http_minor > 99) return Parse::invalid_request;
                r.http_minor = r.http_minor * 10 + (ch - '0');
                break;

            case sw_spaces_after_digit:
                switch (ch) {
                    case ' ':
                        break;
                    case CR:
                        state = sw_almost_done;
                        break;
                    case LF:
                        goto done;
                    default:
                        return Parse::invalid_request;
                }
                break;

            case sw_almost_done:
                r.request_end = p - 1;
                if (ch == LF) goto done;
                return Parse::invalid_request;
        }
    }

    pos = p;
    r.state = state;
    return Parse::again;

done:
    pos = p + 1;
    if (r.request_end == npos) r.request_end = p;
    r.http_version = r.http_major * 1000 + r.http_minor;
    r.state = sw_start;
    if (r.http_version == 9 && r.method != Method::get) return Parse::invalid_09_method;
    return Parse::ok;
}

Parse parse_header_line(HeaderLine& h, const char* buf, size_t& pos, size_t last) {
    enum {
        sw_start = 0,
        sw_name,
        sw_space_before_value,
        sw_value,
        sw_space_after_value,
        sw_ignore_line,
        sw_almost_done,
        sw_header_almost_done
    };
    int state = h.state;
    size_t p = pos;

    for (; p < last; p++) {
        const auto ch = static_cast<unsigned char>(buf[p]);

        switch (state) {
            case sw_start:
                h.name_start = p;
                h.invalid = false;
                switch (ch) {
                    case CR:
                        h.value_end = p;
                        state = sw_header_almost_done;
                        break;
                    case LF:
                        h.value_end = p;
                        goto header_done;
                    default:
                        state = sw_name;
                        if (header_name_char(ch)) break;
                        if (ch == '_') {  // underscores_in_headers off
                            h.invalid = true;
                            break;
                        }
                        if (ch <= 0x20 || ch == 0x7f || ch == ':') {
                            h.value_end = p;
                            return Parse::invalid_header;
                        }
                        h.invalid = true;
                        break;
                }
                break;

            case sw_name:
                if (header_name_char(ch)) break;
                if (ch == '_') {
                    h.invalid = true;
                    break;
                }
                if (ch == ':') {
                    h.name_end = p;
                    state = sw_space_before_value;
                    break;
                }
                if (ch == CR) {
                    h.name_end = h.value_start = h.value_end = p;
                    state = sw_almost_done;
                    break;
                }
                if (ch == LF) {
                    h.name_end = h.value_start = h.value_end = p;
                    goto done;
                }
                if (ch <= 0x20 || ch == 0x7f) {
                    h.value_end = p;
                    return Parse::invalid_header;
                }
                h.invalid = true;
                break;

            case sw_space_before_value:
                switch (ch) {
                    case ' ':
                        break;
                    case CR:
                        h.value_start = h.value_end = p;
                        state = sw_almost_done;
                        break;
                    case LF:
                        h.value_start = h.value_end = p;
                        goto done;
                    case '\0':
                        h.value_end = p;
                        return Parse::invalid_header;
                    default:
                        h.value_start = p;
                        state = sw_value;
                        break;
                }
                break;

            case sw_value:
                switch (ch) {
                    case ' ':
                        h.value_end = p;
                        state = sw_space_after_value;
                        break;
                    case CR:
                        h.value_end = p;
                        state = sw_almost_done;
                        break;
                    case LF:
                        h.value_end = p;
                        goto done;
                    case '\0':
                        h.value_end = p;
                        return Parse::invalid_header;
                }
                break;

            case sw_space_after_value:
                switch (ch) {
                    case ' ':
                        break;
                    case CR:
                        state = sw_almost_done;
                        break;
                    case LF:
                        goto done;
                    case '\0':
                        h.value_end = p;
                        return Parse::invalid_header;
                    default:
                        state = sw_value;
                        break;
                }
                break;

            case sw_ignore_line:  // only for upstream responses in nginx
                if (ch == LF) state = sw_start;
                break;

            case sw_almost_done:
                if (ch == LF) goto done;
                if (ch == CR) break;
                return Parse::invalid_header;

            case sw_header_almost_done:
                if (ch == LF) goto header_done;
                return Parse::invalid_header;
        }
    }

    pos = p;
    h.state = state;
    return Parse::again;

done:
    pos = p + 1;
    h.state = sw_start;
    return Parse::ok;

header_done:
    pos = p + 1;
    h.state = sw_start;
    return Parse::header_done;
}

bool complex_uri_valid(const RequestLine& r, const char* buf) {
    enum { sw_usual = 0, sw_slash, sw_dot, sw_dot_dot, sw_quoted, sw_quoted_second };
    int state = sw_usual;
    int quoted_state = sw_usual;
    unsigned char decoded = 0;

    // The decoded URI never gets longer than the raw one (plus the "/" of an empty path).
    std::string out(r.uri_end - r.uri_start + 2, '\0');
    ptrdiff_t u = 0;
    auto put = [&](unsigned char c) { out[static_cast<size_t>(u++)] = static_cast<char>(c); };
    // ".." walks back to the previous "/"; above the root the URI is invalid.
    auto up = [&]() {
        u -= 4;
        for (;;) {
            if (u < 0) return false;
            if (out[static_cast<size_t>(u)] == '/') {
                u++;
                return true;
            }
            u--;
        }
    };

    if (r.empty_path_in_uri) put('/');

    size_t p = r.uri_start;
    auto ch = static_cast<unsigned char>(buf[p++]);

    while (p <= r.uri_end) {
        switch (state) {
            case sw_usual:
                if (usual(ch)) {
                    put(ch);
                    ch = static_cast<unsigned char>(buf[p++]);
                    break;
                }
                switch (ch) {
                    case '/':
                        state = sw_slash;
                        put(ch);
                        break;
                    case '%':
                        quoted_state = state;
                        state = sw_quoted;
                        break;
                    case '?':
                    case '#':
                        return true;
                    default:
                        put(ch);
                        break;
                }
                ch = static_cast<unsigned char>(buf[p++]);
                break;

            case sw_slash:
                if (usual(ch)) {
                    state = sw_usual;
                    put(ch);
                    ch = static_cast<unsigned char>(buf[p++]);
                    break;
                }
                switch (ch) {
                    case '/':  // merge_slashes on
                        break;
                    case '.':
                        state = sw_dot;
                        put(ch);
                        break;
                    case '%':
                        quoted_state = state;
                        state = sw_quoted;
                        break;
                    case '?':
                    case '#':
                        return true;
                    default:
                        state = sw_usual;
                        put(ch);
                        break;
                }
                ch = static_cast<unsigned char>(buf[p++]);
                break;

            case sw_dot:
                if (usual(ch)) {
                    state = sw_usual;
                    put(ch);
                    ch = static_cast<unsigned char>(buf[p++]);
                    break;
                }
                switch (ch) {
                    case '/':
                        state = sw_slash;
                        u--;
                        break;
                    case '.':
                        state = sw_dot_dot;
                        put(ch);
                        break;
                    case '%':
                        quoted_state = state;
                        state = sw_quoted;
                        break;
                    case '?':
                    case '#':
                        return true;
                    default:
                        state = sw_usual;
                        put(ch);
                        break;
                }
                ch = static_cast<unsigned char>(buf[p++]);
                break;

            case sw_dot_dot:
                if (usual(ch)) {
                    state = sw_usual;
                    put(ch);
                    ch = static_cast<unsigned char>(buf[p++]);
                    break;
                }
                switch (ch) {
                    case '/':
                    case '?':
                    case '#':
                        if (!up()) return false;
                        if (ch != '/') return true;
                        state = sw_slash;
                        break;
                    case '%':
                        quoted_state = state;
                        state = sw_quoted;
                        break;
                    default:
                        state = sw_usual;
                        put(ch);
                        break;
                }
                ch = static_cast<unsigned char>(buf[p++]);
                break;

            case sw_quoted:
                if (ch >= '0' && ch <= '9') {
                    decoded = static_cast<unsigned char>(ch - '0');
                    state = sw_quoted_second;
                    ch = static_cast<unsigned char>(buf[p++]);
                    break;
                }
                if (unsigned char c = ch | 0x20; c >= 'a' && c <= 'f') {
                    decoded = static_cast<unsigned char>(c - 'a' + 10);
                    state = sw_quoted_second;
                    ch = static_cast<unsigned char>(buf[p++]);
                    break;
                }
                return false;

            case sw_quoted_second:
                if (ch >= '0' && ch <= '9') {
                    ch = static_cast<unsigned char>((decoded << 4) + (ch - '0'));
                    if (ch == '%' || ch == '#') {
                        state = sw_usual;
                        put(ch);
                        ch = static_cast<unsigned char>(buf[p++]);
                        break;
                    }
                    if (ch == '\0') return false;
                    state = quoted_state;
                    break;
                }
                if (unsigned char c = ch | 0x20; c >= 'a' && c <= 'f') {
                    ch = static_cast<unsigned char>((decoded << 4) + (c - 'a') + 10);
                    if (ch == '?') {
                        state = sw_usual;
                        put(ch);
                        ch = static_cast<unsigned char>(buf[p++]);
                        break;
                    }
                    state = quoted_state;
                    break;
                }
                return false;
        }
    }

    if (state == sw_quoted || state == sw_quoted_second) return false;
    if (state == sw_dot_dot) return up();
    return true;
}

bool host_valid(std::string_view host) {
    enum { sw_usual = 0, sw_literal, sw_rest };
    int state = sw_usual;
    size_t dot_pos = host.size();
    size_t host_len = host.size();

    for (size_t i = 0; i < host.size(); i++) {
        const auto ch = static_cast<unsigned char>(host[i]);
        switch (ch) {
            case '.':
                if (dot_pos == i - 1) return false;
                dot_pos = i;
                break;
            case ':':
                if (state == sw_usual) {
                    host_len = i;
                    state = sw_rest;
                }
                break;
            case '[':
                if (i == 0) state = sw_literal;
                break;
            case ']':
                if (state == sw_literal) {
                    host_len = i + 1;
                    state = sw_rest;
                }
                break;
            default:
                if (ch == '/') return false;  // ngx_path_separator
                if (ch <= 0x20 || ch == 0x7f) return false;
                break;
        }
    }
    if (dot_pos == host_len - 1) host_len--;
    return host_len != 0;
}

int64_t parse_content_length(std::string_view value) {
    if (value.empty()) return -1;
    const int64_t cutoff = kMaxOff / 10;
    const int64_t cutlim = kMaxOff % 10;
    int64_t v = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return -1;
        if (v >= cutoff && (v > cutoff || c - '0' > cutlim)) return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

namespace {

// ngx_http_gzip_quantity: the quality value times 100, 0 when invalid.
unsigned gzip_quantity(std::string_view s) {
    size_t p = 0;
    char c = s[p++];
    if (c != '0' && c != '1') return 0;
    unsigned q = (c - '0') * 100;
    if (p == s.size()) return q;
    c = s[p++];
    if (c == ',' || c == ' ') return q;
    if (c != '.') return 0;
    unsigned n = 0;
    while (p < s.size()) {
        c = s[p++];
        if (c == ',' || c == ' ') break;
        if (c >= '0' && c <= '9') {
            q += c - '0';
            n++;
            continue;
        }
        return 0;
    }
    if (q > 100 || n > 3) return 0;
    return q;
}

size_t find_gzip(std::string_view s, size_t from) {
    for (size_t i = from; i + 4 <= s.size(); i++) {
        if (strncasecmp(s.data() + i, "gzip", 4) == 0) return i;
    }
    return npos;
}

}  // namespace

bool accepts_gzip(std::string_view ae) {
    if (ae.size() < 4) return false;
    if (ae.substr(0, 5) == "gzip,") return true;

    // ngx_http_gzip_accept_encoding
    size_t p = 0;
    for (size_t start = 0;;) {
        p = find_gzip(ae, start);
        if (p == npos) return false;
        if (p == 0 || ae[p - 1] == ',' || ae[p - 1] == ' ') break;
        start = p + 4;
    }
    p += 4;
    while (p < ae.size()) {
        switch (ae[p++]) {
            case ',':
                return true;
            case ';':
                goto quantity;
            case ' ':
                continue;
            default:
                return false;
        }
    }
    return true;

quantity:
    while (p < ae.size()) {
        switch (ae[p++]) {
            case 'q':
            case 'Q':
                goto equal;
            case ' ':
                continue;
            default:
                return false;
        }
    }
    return true;

equal:
    if (p + 2 > ae.size() || ae[p++] != '=') return false;
    return gzip_quantity(ae.substr(p)) != 0;
}

Parse parse_chunked(Chunked& ctx, const char* buf, size_t& pos, size_t last) {
    enum {
        sw_chunk_start = 0,
        sw_chunk_size,
        sw_chunk_extension,
        sw_chunk_extension_almost_done,
        sw_chunk_data,
        sw_after_data,
        sw_after_data_almost_done,
        sw_last_chunk_extension,
        sw_last_chunk_extension_almost_done,
        sw_trailer,
        sw_trailer_almost_done,
        sw_trailer_header,
        sw_trailer_header_almost_done
    };
    int state = ctx.state;
    if (state == sw_chunk_data && ctx.size == 0) state = sw_after_data;

    Parse rc = Parse::again;
    size_t p = pos;

    for (; p < last; p++) {
        const auto ch = static_cast<unsigned char>(buf[p]);
        const unsigned char c = ch | 0x20;

        switch (state) {
            case sw_chunk_start:
                if (ch >= '0' && ch <= '9') {
                    state = sw_chunk_size;
                    ctx.size = ch - '0';
                    break;
                }
                if (c >= 'a' && c <= 'f') {
                    state = sw_chunk_size;
                    ctx.size = c - 'a' + 10;
                    break;
                }
                return Parse::invalid_request;

            case sw_chunk_size:
                if (ctx.size > kMaxOff / 16) return Parse::invalid_request;
                if (ch >= '0' && ch <= '9') {
                    ctx.size = ctx.size * 16 + (ch - '0');
                    break;
                }
                if (c >= 'a' && c <= 'f') {
                    ctx.size = ctx.size * 16 + (c - 'a' + 10);
                    break;
                }
                if (ctx.size == 0) {
                    switch (ch) {
                        case CR:
                            state = sw_last_chunk_extension_almost_done;
                            break;
                        case LF:
                            state = sw_trailer;
                            break;
                        case ';':
                        case ' ':
                        case '\t':
                            state = sw_last_chunk_extension;
                            break;
                        default:
                            return Parse::invalid_request;
                    }
                    break;
                }
                switch (ch) {
                    case CR:
                        state = sw_chunk_extension_almost_done;
                        break;
                    case LF:
                        state = sw_chunk_data;
                        break;
                    case ';':
                    case ' ':
                    case '\t':
                        state = sw_chunk_extension;
                        break;
                    default:
                        return Parse::invalid_request;
                }
                break;

            case sw_chunk_extension:
                if (ch == CR) state = sw_chunk_extension_almost_done;
                if (ch == LF) state = sw_chunk_data;
                break;

            case sw_chunk_extension_almost_done:
                if (ch != LF) return Parse::invalid_request;
                state = sw_chunk_data;
                break;

            case sw_chunk_data:
                rc = Parse::ok;
                goto data;

            case sw_after_data:
                if (ch == CR) {
                    state = sw_after_data_almost_done;
                } else if (ch == LF) {
                    state = sw_chunk_start;
                } else {
                    return Parse::invalid_request;
                }
                break;

            case sw_after_data_almost_done:
                if (ch != LF) return Parse::invalid_request;
                state = sw_chunk_start;
                break;

            case sw_last_chunk_extension:
                if (ch == CR) state = sw_last_chunk_extension_almost_done;
                if (ch == LF) state = sw_trailer;
                break;

            case sw_last_chunk_extension_almost_done:
                if (ch != LF) return Parse::invalid_request;
                state = sw_trailer;
                break;

            case sw_trailer:
                if (ch == CR) {
                    state = sw_trailer_almost_done;
                } else if (ch == LF) {
                    goto done;
                } else {
                    state = sw_trailer_header;
                }
                break;

            case sw_trailer_almost_done:
                if (ch == LF) goto done;
                return Parse::invalid_request;

            case sw_trailer_header:
                if (ch == CR) state = sw_trailer_header_almost_done;
                if (ch == LF) state = sw_trailer;
                break;

            case sw_trailer_header_almost_done:
                if (ch != LF) return Parse::invalid_request;
                state = sw_trailer;
                break;
        }
    }

data:
    ctx.state = state;
    pos = p;

    if (ctx.size > kMaxOff - 5) return Parse::invalid_request;

    switch (state) {
        case sw_chunk_start:
            ctx.length = 3;  // "0" LF LF
            break;
        case sw_chunk_size:
            ctx.length = 1 + (ctx.size ? ctx.size + 4 : 1);
            break;
        case sw_chunk_extension:
        case sw_chunk_extension_almost_done:
            ctx.length = 1 + ctx.size + 4;
            break;
        case sw_chunk_data:
            ctx.length = ctx.size + 4;
            break;
        case sw_after_data:
        case sw_after_data_almost_done:
            ctx.length = 4;
            break;
        case sw_last_chunk_extension:
        case sw_last_chunk_extension_almost_done:
            ctx.length = 2;
            break;
        case sw_trailer:
        case sw_trailer_almost_done:
            ctx.length = 1;
            break;
        case sw_trailer_header:
        case sw_trailer_header_almost_done:
            ctx.length = 2;
            break;
    }
    return rc;

done:
    ctx.state = 0;
    pos = p + 1;
    return Parse::done;
}

}  // namespace ghost::stealth::nginx
