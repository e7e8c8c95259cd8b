#pragma once
/// nginx 1.22.1's HTTP/1 parsers, ported byte for byte so that the fallback responder
/// (nginx_mimic.hpp) accepts and rejects exactly what nginx does, at the same byte.
///
/// Ported from nginx 1.22.1 src/http/ngx_http_parse.c and ngx_http_request.c
/// (Copyright (C) Igor Sysoev, Copyright (C) Nginx, Inc.; BSD-2-Clause). Positions are
/// offsets into the caller's header buffer (npos where nginx has a NULL pointer); the
/// parsers never read outside [pos, last).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ghost::stealth::nginx {

inline constexpr size_t npos = static_cast<size_t>(-1);

/// Request methods nginx tells apart (NGX_HTTP_*); anything else is `unknown`.
enum class Method {
    unknown,
    get,
    head,
    post,
    put,
    delete_,
    mkcol,
    copy,
    move,
    options,
    propfind,
    proppatch,
    lock,
    unlock,
    patch,
    trace,
    connect
};

/// Outcome of one parser call (NGX_OK, NGX_AGAIN, NGX_HTTP_PARSE_*).
enum class Parse {
    ok,
    again,
    invalid_method,
    invalid_request,
    invalid_version,
    invalid_09_method,
    invalid_header,
    header_done,
    done
};

/// The request-line parser's state and the positions nginx records in ngx_http_request_t.
struct RequestLine {
    int state = 0;
    size_t request_start = npos, request_end = npos, method_end = npos;
    size_t uri_start = npos, uri_end = npos, uri_ext = npos, args_start = npos;
    size_t schema_start = npos, schema_end = npos, host_start = npos, host_end = npos;
    size_t port_end = npos, http_protocol = npos;
    bool complex_uri = false, quoted_uri = false, empty_path_in_uri = false, plus_in_uri = false;
    unsigned http_major = 0, http_minor = 0;
    unsigned http_version = 1000;  ///< major * 1000 + minor, set when the line is complete
    Method method = Method::unknown;

    /// The line moved from offset `old` to offset 0 of a new buffer (large header buffer).
    void relocate(size_t old);
};

/// ngx_http_parse_request_line: parses buf[pos, last); advances pos except on errors.
Parse parse_request_line(RequestLine& r, const char* buf, size_t& pos, size_t last);

/// A header line's state and positions (r->header_name_start ... r->header_end).
struct HeaderLine {
    int state = 0;
    size_t name_start = npos, name_end = npos, value_start = npos, value_end = npos;
    bool invalid = false;  ///< r->invalid_header: a name with characters nginx ignores

    /// The partial line moved from offset `old` to offset 0 of a new buffer.
    void relocate(size_t old);
};

/// ngx_http_parse_header_line with underscores_in_headers off.
Parse parse_header_line(HeaderLine& h, const char* buf, size_t& pos, size_t last);

/// ngx_http_parse_complex_uri's verdict (merge_slashes on) for the URI the request line
/// recorded; buf[r.uri_end] must exist (nginx relies on the byte after the URI).
bool complex_uri_valid(const RequestLine& r, const char* buf);

/// ngx_http_validate_host: false where nginx answers 400 for a Host value.
bool host_valid(std::string_view host);

/// ngx_atoof: a Content-Length value, or -1 when nginx rejects it.
int64_t parse_content_length(std::string_view value);

/// ngx_http_gzip_ok's Accept-Encoding test ("gzip" accepted with a non-zero quality).
bool accepts_gzip(std::string_view accept_encoding);

/// State of ngx_http_parse_chunked (ngx_http_chunked_t).
struct Chunked {
    int state = 0;
    int64_t size = 0;    ///< bytes left in the current chunk
    int64_t length = 0;  ///< bytes nginx still expects at least
};

/// ngx_http_parse_chunked: `ok` when chunk data starts at pos (ctx.size bytes of it), `done`
/// at the end of the body, `again` for more input, `invalid_request` when invalid.
Parse parse_chunked(Chunked& ctx, const char* buf, size_t& pos, size_t last);

}  // namespace ghost::stealth::nginx
