// The request life cycle of nginx 1.22.1 (src/http/ngx_http_request.c,
// ngx_http_request_body.c, ngx_http_special_response.c, the header, chunked and gzip
// filters) for one server { location / { return 404; } } with Debian 12's nginx.conf.
// Function names follow nginx's so that each step can be checked against the original
// (Copyright (C) Igor Sysoev, Copyright (C) Nginx, Inc.; BSD-2-Clause).

#include "common/stealth/nginx_mimic.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/stealth/nginx_parse.hpp"

namespace ghost::stealth {

namespace {

namespace ngx = nginx;
using Clock = NginxMimic::Clock;
using std::chrono::seconds;

// nginx defaults (nginx.conf on Debian sets none of these).
constexpr size_t kClientHeaderBuffer = 1024;  // client_header_buffer_size 1k
constexpr size_t kLargeHeaderBuffer = 8192;   // large_client_header_buffers 4 8k
constexpr size_t kLargeHeaderBuffers = 4;
// One more large buffer than the limit: nginx takes it without checking when a pipelined
// request follows a discarded body (ngx_http_copy_pipelined_header).
constexpr size_t kLargeSlots = kLargeHeaderBuffers + 1;
constexpr int64_t kClientMaxBodySize = 1024 * 1024;  // client_max_body_size 1m
constexpr size_t kDiscardBuffer = 4096;              // NGX_HTTP_DISCARD_BUFFER_SIZE
constexpr size_t kLingeringBuffer = 4096;            // NGX_HTTP_LINGERING_BUFFER_SIZE
constexpr seconds kClientHeaderTimeout{60};
constexpr seconds kKeepaliveTimeout{75};
constexpr seconds kLingeringTime{30};
constexpr seconds kLingeringTimeout{5};
constexpr std::chrono::hours kKeepaliveTime{1};
constexpr unsigned kKeepaliveRequests = 1000;

// Statuses nginx uses internally.
constexpr int kBadRequest = 400;
constexpr int kNotFound = 404;
constexpr int kNotAllowed = 405;
constexpr int kEntityTooLarge = 413;
constexpr int kUriTooLarge = 414;
constexpr int kHeaderTooLarge = 494;
constexpr int kToHttps = 497;
constexpr int kNotImplemented = 501;
constexpr int kVersionNotSupported = 505;

// Read results (NGX_AGAIN, EOF) besides a byte count.
constexpr ptrdiff_t kAgain = -2;

constexpr std::string_view kServer = "nginx/1.22.1";
constexpr std::string_view kTail = "<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
constexpr std::string_view kMsiePadding =
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n";

// The 404 page (+ kTail, with and without kMsiePadding) as nginx's gzip filter compresses it
// (gzip_comp_level 1, zlib 1.2.13; recorded from nginx, see tests/unit/data/nginx_1.22/).
constexpr std::string_view kGzip404{
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03\xb3\xc9\x28\xc9\xcd\xb1\xe3\xe5\xb2\xc9\x48\x4d"
    "\x4c\xb1\xb3\x29\xc9\x2c\xc9\x49\xb5\x33\x31\x30\x51\xf0\xcb\x2f\x51\x70\xcb\x2f\xcd\x4b"
    "\xb1\xd1\x87\x08\xda\xe8\x83\x95\x00\x95\x26\xe5\xa7\x54\x82\xb4\x24\xa7\xe6\x95\xa4\x16"
    "\xd9\xd9\x64\x18\xa2\xeb\x00\x8a\xd8\xe8\x43\xa5\x41\x66\x03\x15\x41\x79\x79\xe9\x99\x79"
    "\x15\xfa\x86\x7a\x46\x46\x7a\x86\xc8\x4a\xf4\x61\x86\xea\x43\x1d\x04\x00\x97\x8d\x7f\xbd"
    "\x99\x00\x00\x00",
    114};
constexpr std::string_view kGzip404Padded{
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03\xed\x90\xc1\x0a\xc2\x30\x10\x44\xef\x82\xff\xb0"
    "\x7e\x40\x1a\x5b\x7a\x5c\x72\x11\x05\x0f\x7a\xf1\x0b\x52\x77\x6d\x02\x69\x22\x31\x82\xfd"
    "\x7b\x13\x6d\x41\x3c\x7b\xf4\xb8\xb3\x6f\x86\x61\xd0\xa4\xc1\xa9\xe5\x02\x0d\x6b\x52\x98"
    "\x6c\x72\xac\xda\x75\x0b\xc7\x90\x60\x17\xee\x9e\x50\xbe\x45\x94\x2f\x24\xa3\x5d\xa0\xb1"
    "\x58\xce\xec\x13\x47\x85\xa6\xfe\x76\x64\x05\xe5\xf4\x2e\xd9\x19\x9a\x2e\xdf\x5b\xff\x90"
    "\x75\xd5\x34\x55\xfd\x89\xc8\x39\x54\xce\x85\x56\x42\x80\x86\xab\x26\xb2\xbe\x87\x14\x80"
    "\xec\x4d\x77\x8e\xe1\x70\xda\x6f\x41\x7b\x82\x8d\x89\x61\x60\xb8\x44\xcb\x9e\xdc\x08\x1c"
    "\x63\x88\xd9\xd1\x33\x08\x51\x0a\xfe\x23\x7e\xb9\xc5\x13\xe2\x75\x26\x80\x2b\x02\x00\x00",
    176};

/// An nginx error page: the status line it is sent with and the page before kTail.
struct ErrorPage {
    int status;
    std::string_view status_line;
    std::string_view page;
};

#define GHOST_NGX_PAGE(code, text)                                                          \
    ErrorPage {                                                                             \
        code, text,                                                                         \
            "<html>\r\n<head><title>" text "</title></head>\r\n<body>\r\n<center><h1>" text \
            "</h1></center>\r\n"                                                            \
    }

constexpr ErrorPage kPages[] = {
    GHOST_NGX_PAGE(400, "400 Bad Request"),
    GHOST_NGX_PAGE(404, "404 Not Found"),
    GHOST_NGX_PAGE(405, "405 Not Allowed"),
    GHOST_NGX_PAGE(413, "413 Request Entity Too Large"),
    GHOST_NGX_PAGE(414, "414 Request-URI Too Large"),
    GHOST_NGX_PAGE(501, "501 Not Implemented"),
    GHOST_NGX_PAGE(505, "505 HTTP Version Not Supported"),
    {kHeaderTooLarge, "400 Bad Request",
     "<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n"
     "<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
     "<center>Request Header Or Cookie Too Large</center>\r\n"},
    {kToHttps, "400 Bad Request",
     "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n"
     "<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n"
     "<center>The plain HTTP request was sent to HTTPS port</center>\r\n"},
};

#undef GHOST_NGX_PAGE

const ErrorPage& error_page(int status) {
    for (const auto& p : kPages) {
        if (p.status == status) return p;
    }
    return kPages[0];
}

/// ngx_strcasestrn on a header value.
bool contains_nocase(std::string_view hay, std::string_view needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) ==
                      std::tolower(static_cast<unsigned char>(b));
           }) != hay.end();
}

bool lower_equals(std::string_view name, std::string_view lower) {
    return name.size() == lower.size() &&
           std::equal(name.begin(), name.end(), lower.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == b;
           });
}

// Request headers nginx refuses to see twice (ngx_http_process_unique_header_line, Host).
constexpr std::string_view kUniqueHeaders[] = {
    "host",          "if-modified-since", "if-unmodified-since",
    "if-match",      "if-none-match",     "content-length",
    "content-range", "if-range",          "transfer-encoding",
    "expect",        "authorization",
};

/// One of nginx's header buffers: c->buffer (1 KiB) or a large one (8 KiB), allocated lazily.
struct Buf {
    std::unique_ptr<char[]> data;
    size_t end = 0;
    size_t pos = 0;
    size_t last = 0;

    void allocate(size_t size) {
        if (!data) data = std::make_unique<char[]>(size);
        end = size;
        pos = last = 0;
    }
};

enum class ConnectionType { none, close, keep_alive };

/// The part of ngx_http_request_t this server looks at; reset for every request.
struct Request {
    ngx::RequestLine line;
    ngx::HeaderLine header;
    uint32_t seen = 0;  // bit i: kUniqueHeaders[i] was sent
    ConnectionType connection = ConnectionType::none;
    bool user_agent = false, msie = false, msie6 = false, opera = false, chrome = false;
    bool gzip_accepted = false, accept_encoding = false, via = false;
    bool has_content_length = false, transfer_encoding = false, te_chunked = false;
    int64_t content_length = -1;  // parsed value of the header; -1 when invalid
    int64_t content_length_n = -1;
    bool chunked = false;
    bool keepalive = false;
    bool lingering_close = false;
    bool discard_body = false;
    bool request_body = false;  // r->request_body exists (chunked discarding started)
    ngx::Chunked chunk;
    int count = 1;
    bool lingering_time_set = false;
    Clock::time_point lingering_time;
};

}  // namespace

class NginxMimic::Machine {
  public:
    Machine(Port port, Clock::time_point accepted)
        : tls_(port == Port::tls), accepted_(accepted), deadline_(accepted + kClientHeaderTimeout) {
        small_.allocate(kClientHeaderBuffer);
    }

    void plain_on_tls() { plain_on_tls_ = tls_; }

    Reply feed(std::string_view in, Clock::time_point now) {
        begin(now);
        input_ = in;
        if (!in.empty()) run();
        return take();
    }

    Reply eof(Clock::time_point now) {
        begin(now);
        peer_eof_ = true;
        run();
        return take();
    }

    Clock::time_point deadline() const {
        return phase_ != Phase::closed && timer_set_ ? deadline_ : Clock::time_point::max();
    }

    Reply on_timeout(Clock::time_point now) {
        begin(now);
        switch (phase_) {
            case Phase::wait:       // ngx_http_wait_request_handler: close, with close_notify
            case Phase::keepalive:  // ngx_http_keepalive_handler
                close(false);
                break;
            case Phase::request_line:  // c->timedout: no close_notify
            case Phase::headers:
            case Phase::discarding:
            case Phase::lingering:  // close_notify was sent when lingering started
                close(true);
                break;
            case Phase::closed:
                break;
        }
        return take();
    }

    bool closed() const { return phase_ == Phase::closed; }

    size_t buffered_bytes() const {
        size_t n = small_.data ? kClientHeaderBuffer : 0;
        for (const Buf& b : large_) n += b.data ? kLargeHeaderBuffer : 0;
        return n;
    }

  private:
    enum class Phase { wait, keepalive, request_line, headers, discarding, lingering, closed };

    // --- event plumbing ------------------------------------------------------------------

    void begin(Clock::time_point now) {
        now_ = now;
        input_ = {};
        in_pos_ = 0;
        ready_ = true;  // an event: the socket is readable
        available_ = -1;
        post_next_ = false;
        reply_ = Reply{};
    }

    Reply take() {
        Reply r = std::move(reply_);
        reply_ = Reply{};
        return r;
    }

    // Runs the read handler, then whatever nginx posts (pipelined requests, keepalive reads).
    void run() {
        do {
            if (post_next_) {  // ngx_posted_next_events (a posted read event waits there too)
                ready_ = true;
                available_ = -1;
            }
            posted_ = post_next_ = false;
            switch (phase_) {
                case Phase::wait:
                    wait_request_handler();
                    break;
                case Phase::keepalive:
                    keepalive_handler();
                    break;
                case Phase::request_line:
                    process_request_line();
                    break;
                case Phase::headers:
                    process_request_headers();
                    break;
                case Phase::discarding:
                    discarded_request_body_handler();
                    break;
                case Phase::lingering:
                    lingering_close_handler();
                    break;
                case Phase::closed:
                    return;
            }
        } while ((posted_ || post_next_) && phase_ != Phase::closed);
    }

    // c->recv: bytes read, 0 on EOF, kAgain when nothing is there. A short read clears
    // `ready` (epoll: nginx stops reading until the next event). A full read keeps it set on
    // a plain socket; through TLS (ngx_ssl_recv) only the first full read after an event
    // does, a second one clears it and nginx reads on in its next event loop iteration.
    // The model assumes TLS records are already off the socket (FIONREAD 0).
    ptrdiff_t recv(char* dst, size_t size) {
        const size_t avail = input_.size() - in_pos_;
        if (avail == 0) {
            ready_ = false;
            if (!peer_eof_) return kAgain;
            eof_seen_ = true;
            return 0;
        }
        const size_t n = std::min(size, avail);
        std::memcpy(dst, input_.data() + in_pos_, n);
        in_pos_ += n;
        if (n < size) {
            ready_ = false;
        } else if (tls_ && !plain_on_tls_) {
            ready_ = true;
            if (available_ < 0) {
                available_ = 0;
            } else {
                ready_ = false;
                post_next_ = true;
            }
        }
        return static_cast<ptrdiff_t>(n);
    }

    void set_timer(Clock::duration d) {
        timer_set_ = true;
        deadline_ = now_ + d;
    }

    Clock::time_point now_seconds() const {
        return std::chrono::floor<seconds>(now_);  // ngx_time()
    }

    void close(bool quiet) {
        if (phase_ == Phase::closed) return;
        phase_ = Phase::closed;
        timer_set_ = false;
        reply_.close = true;
        reply_.lingering = false;
        reply_.quiet = quiet;
        release_large_buffers();
    }

    // --- header buffers ------------------------------------------------------------------

    Buf& header_in() { return header_in_ == 0 ? small_ : large_[header_in_ - 1]; }
    Buf& buffer(int index) { return index == 0 ? small_ : large_[index - 1]; }

    // A large buffer from the free list, else a new one (-1 when all slots are in use).
    int take_large_buffer() {
        if (nfree_ > 0) {
            const int b = free_[0];
            std::copy(free_.begin() + 1, free_.begin() + nfree_, free_.begin());
            nfree_--;
            return b;
        }
        for (size_t i = 0; i < kLargeSlots; i++) {
            const int b = static_cast<int>(i) + 1;
            if (!in_list(busy_, nbusy_, b) && !in_list(free_, nfree_, b)) {
                large_[i].allocate(kLargeHeaderBuffer);
                return b;
            }
        }
        return -1;
    }

    static bool in_list(const std::array<int, kLargeSlots>& list, size_t n, int b) {
        return std::find(list.begin(), list.begin() + n, b) != list.begin() + n;
    }

    void push_busy(int b) {
        std::copy_backward(busy_.begin(), busy_.begin() + nbusy_, busy_.begin() + nbusy_ + 1);
        busy_[0] = b;
        nbusy_++;
    }

    void release_large_buffers() {
        for (auto& b : large_) b = Buf{};
        nbusy_ = nfree_ = 0;
    }

    enum class Alloc { ok, declined };

    // ngx_http_alloc_large_header_buffer
    Alloc alloc_large_header_buffer(bool request_line) {
        Buf& hin = header_in();
        const int state = request_line ? r_.line.state : r_.header.state;
        if (request_line && state == 0) {
            hin.pos = hin.last = 0;  // the client fills the buffer with "\r\n"
            return Alloc::ok;
        }
        const size_t old = request_line ? r_.line.request_start : r_.header.name_start;
        if (state != 0 && hin.pos - old >= kLargeHeaderBuffer) return Alloc::declined;

        int b = -1;
        if (nfree_ > 0 || nbusy_ < kLargeHeaderBuffers) b = take_large_buffer();
        if (b < 0) return Alloc::declined;
        push_busy(b);
        Buf& nb = buffer(b);
        if (state == 0) {
            header_in_ = b;
            return Alloc::ok;
        }
        const size_t n = hin.pos - old;
        std::memcpy(nb.data.get(), hin.data.get() + old, n);
        nb.pos = nb.last = n;
        if (request_line) {
            r_.line.relocate(old);
        } else {
            r_.header.relocate(old);
        }
        header_in_ = b;
        return Alloc::ok;
    }

    // --- reading a request ----------------------------------------------------------------

    // ngx_http_create_request
    void create_request() {
        requests_++;
        r_ = Request{};
        header_in_ = nbusy_ > 0 ? busy_[0] : 0;
    }

    // ngx_http_wait_request_handler: the first request on the connection.
    void wait_request_handler() {
        Buf& b = small_;
        b.pos = b.last = 0;
        const ptrdiff_t n = recv(b.data.get(), b.end);
        if (n == kAgain) return;  // the accept timer keeps running
        if (n == 0) {
            close(true);
            return;
        }
        b.last = static_cast<size_t>(n);
        create_request();
        phase_ = Phase::request_line;
        process_request_line();
    }

    // ngx_http_keepalive_handler
    void keepalive_handler() {
        Buf& b = small_;
        b.pos = b.last = 0;
        const ptrdiff_t n = recv(b.data.get(), b.end);
        if (n == kAgain) return;
        if (n == 0) {
            close(true);
            return;
        }
        b.last = static_cast<size_t>(n);
        create_request();
        timer_set_ = false;
        phase_ = Phase::request_line;
        process_request_line();
    }

    // ngx_http_read_request_header: bytes available in header_in, kAgain, or -1 after an error.
    ptrdiff_t read_request_header() {
        Buf& hin = header_in();
        if (hin.last > hin.pos) return static_cast<ptrdiff_t>(hin.last - hin.pos);
        const ptrdiff_t n = ready_ ? recv(hin.data.get() + hin.last, hin.end - hin.last) : kAgain;
        if (n == kAgain) {
            if (!timer_set_) set_timer(kClientHeaderTimeout);
            return kAgain;
        }
        if (n == 0) {  // "client prematurely closed connection"
            c_error_ = true;
            finalize_request(kBadRequest);
            return -1;
        }
        hin.last += static_cast<size_t>(n);
        return n;
    }

    // ngx_http_process_request_line
    void process_request_line() {
        ngx::Parse rc = ngx::Parse::again;
        for (;;) {
            if (rc == ngx::Parse::again && read_request_header() < 0) return;
            Buf& hin = header_in();
            rc = ngx::parse_request_line(r_.line, hin.data.get(), hin.pos, hin.last);
            if (rc == ngx::Parse::ok) {
                request_line_done();
                return;
            }
            if (rc != ngx::Parse::again) {
                finalize_request(rc == ngx::Parse::invalid_version ? kVersionNotSupported
                                                                   : kBadRequest);
                return;
            }
            if (hin.pos == hin.end && alloc_large_header_buffer(true) == Alloc::declined) {
                finalize_request(kUriTooLarge);
                return;
            }
        }
    }

    // The rest of ngx_http_process_request_line once the line is complete.
    void request_line_done() {
        const ngx::RequestLine& l = r_.line;
        const char* buf = header_in().data.get();
        // ngx_http_process_request_uri
        if ((l.complex_uri || l.quoted_uri || l.empty_path_in_uri) &&
            !ngx::complex_uri_valid(l, buf)) {
            finalize_request(kBadRequest);
            return;
        }
        if (l.host_end != ngx::npos &&
            !ngx::host_valid(std::string_view(buf + l.host_start, l.host_end - l.host_start))) {
            finalize_request(kBadRequest);
            return;
        }
        if (l.http_version < 1000) {
            process_request();
            return;
        }
        phase_ = Phase::headers;
        process_request_headers();
    }

    // ngx_http_process_request_headers
    void process_request_headers() {
        ngx::Parse rc = ngx::Parse::again;
        for (;;) {
            if (rc == ngx::Parse::again) {
                if (header_in().pos == header_in().end &&
                    alloc_large_header_buffer(false) == Alloc::declined) {
                    r_.lingering_close = true;
                    finalize_request(kHeaderTooLarge);
                    return;
                }
                const ptrdiff_t n = read_request_header();
                if (n == kAgain || n < 0) return;
            }
            Buf& hin = header_in();
            rc = ngx::parse_header_line(r_.header, hin.data.get(), hin.pos, hin.last);
            if (rc == ngx::Parse::ok) {
                if (r_.header.invalid) continue;  // ignore_invalid_headers on
                const ngx::HeaderLine& h = r_.header;
                const char* buf = hin.data.get();
                if (!header(std::string_view(buf + h.name_start, h.name_end - h.name_start),
                            std::string_view(buf + h.value_start, h.value_end - h.value_start))) {
                    return;
                }
                continue;
            }
            if (rc == ngx::Parse::header_done) {
                if (process_request_header()) process_request();
                return;
            }
            if (rc == ngx::Parse::again) continue;
            finalize_request(kBadRequest);  // invalid header line
            return;
        }
    }

    // The handlers of ngx_http_headers_in that matter here; false after an error response.
    bool header(std::string_view name, std::string_view value) {
        for (size_t i = 0; i < std::size(kUniqueHeaders); i++) {
            if (!lower_equals(name, kUniqueHeaders[i])) continue;
            if (r_.seen & (1U << i)) {
                finalize_request(kBadRequest);  // duplicate header line
                return false;
            }
            r_.seen |= 1U << i;
            break;
        }
        if (lower_equals(name, "host")) {
            if (!ngx::host_valid(value)) {
                finalize_request(kBadRequest);
                return false;
            }
        } else if (lower_equals(name, "connection")) {
            if (contains_nocase(value, "close")) {
                r_.connection = ConnectionType::close;
            } else if (contains_nocase(value, "keep-alive")) {
                r_.connection = ConnectionType::keep_alive;
            }
        } else if (lower_equals(name, "user-agent")) {
            user_agent(value);
        } else if (lower_equals(name, "content-length")) {
            r_.has_content_length = true;
            r_.content_length = ngx::parse_content_length(value);
        } else if (lower_equals(name, "transfer-encoding")) {
            r_.transfer_encoding = true;
            r_.te_chunked = value.size() == 7 && lower_equals(value, "chunked");
        } else if (lower_equals(name, "accept-encoding")) {
            if (!r_.accept_encoding) r_.gzip_accepted = ngx::accepts_gzip(value);
            r_.accept_encoding = true;
        } else if (lower_equals(name, "via")) {
            r_.via = true;
        }
        return true;
    }

    // ngx_http_process_user_agent: the browser quirks nginx cares about.
    void user_agent(std::string_view ua) {
        if (r_.user_agent) return;
        r_.user_agent = true;
        const size_t msie = ua.find("MSIE ");
        if (msie != std::string_view::npos && msie + 7 < ua.size()) {
            r_.msie = true;
            if (ua[msie + 6] == '.') {
                const char v = ua[msie + 5];
                if (v == '4' || v == '5') r_.msie6 = true;
                if (v == '6' && ua.find("SV1", msie + 8) == std::string_view::npos) {
                    r_.msie6 = true;
                }
            }
        }
        if (ua.find("Opera") != std::string_view::npos) {
            r_.opera = true;
            r_.msie = r_.msie6 = false;
        }
        if (!r_.msie && !r_.opera && ua.find("Gecko/") == std::string_view::npos) {
            r_.chrome = ua.find("Chrome/") != std::string_view::npos;
        }
    }

    // ngx_http_process_request_header: false after an error response.
    bool process_request_header() {
        const unsigned version = r_.line.http_version;
        if (!(r_.seen & 1U) && version > 1000) {  // no Host in HTTP/1.1
            finalize_request(kBadRequest);
            return false;
        }
        if (r_.has_content_length) {
            if (r_.content_length < 0) {
                finalize_request(kBadRequest);
                return false;
            }
            r_.content_length_n = r_.content_length;
        }
        if (r_.transfer_encoding) {
            if (version < 1001 || (r_.te_chunked && r_.has_content_length)) {
                finalize_request(kBadRequest);
                return false;
            }
            if (!r_.te_chunked) {
                finalize_request(kNotImplemented);
                return false;
            }
            r_.chunked = true;
        }
        if (r_.line.method == ngx::Method::connect || r_.line.method == ngx::Method::trace) {
            finalize_request(kNotAllowed);
            return false;
        }
        return true;
    }

    // ngx_http_process_request + ngx_http_handler + the phases of `return 404`.
    void process_request() {
        if (plain_on_tls_) {
            finalize_request(kToHttps);
            return;
        }
        timer_set_ = false;
        switch (r_.connection) {
            case ConnectionType::none:
                r_.keepalive = r_.line.http_version > 1000;
                break;
            case ConnectionType::close:
                r_.keepalive = false;
                break;
            case ConnectionType::keep_alive:
                r_.keepalive = true;
                break;
        }
        r_.lingering_close = r_.content_length_n > 0 || r_.chunked;
        // ngx_http_update_location_config (keepalive_disable msie6)
        if (r_.keepalive && (requests_ >= kKeepaliveRequests || now_ - accepted_ > kKeepaliveTime ||
                             (r_.msie6 && r_.line.method == ngx::Method::post))) {
            r_.keepalive = false;
        }
        // ngx_http_core_find_config_phase
        if (r_.content_length_n != -1 && !r_.discard_body &&
            kClientMaxBodySize < r_.content_length_n) {
            discard_request_body();
            finalize_request(kEntityTooLarge);
            return;
        }
        finalize_request(kNotFound);  // return 404
    }

    // --- discarding a request body ---------------------------------------------------------

    // ngx_http_discard_request_body_filter: 0 or an error status.
    int discard_filter(const char* data, size_t& pos, size_t last) {
        if (!r_.chunked) {
            const auto size = static_cast<int64_t>(last - pos);
            if (size > r_.content_length_n) {
                pos += static_cast<size_t>(r_.content_length_n);
                r_.content_length_n = 0;
            } else {
                pos = last;
                r_.content_length_n -= size;
            }
            return 0;
        }
        if (!r_.request_body) {
            r_.request_body = true;
            r_.chunk = ngx::Chunked{};
        }
        for (;;) {
            const ngx::Parse rc = ngx::parse_chunked(r_.chunk, data, pos, last);
            if (rc == ngx::Parse::ok) {
                const auto size = static_cast<int64_t>(last - pos);
                if (size > r_.chunk.size) {
                    pos += static_cast<size_t>(r_.chunk.size);
                    r_.chunk.size = 0;
                } else {
                    r_.chunk.size -= size;
                    pos = last;
                }
                continue;
            }
            if (rc == ngx::Parse::done) {
                r_.content_length_n = 0;
                return 0;
            }
            if (rc == ngx::Parse::again) {
                r_.content_length_n =
                    std::max<int64_t>(r_.chunk.length, static_cast<int64_t>(kLargeHeaderBuffer));
                return 0;
            }
            return kBadRequest;  // "client sent invalid chunked body"
        }
    }

    // ngx_http_discard_request_body: 0 (done or continuing after the response) or a status.
    int discard_request_body() {
        if (r_.discard_body || r_.request_body) return 0;
        timer_set_ = false;
        if (r_.content_length_n <= 0 && !r_.chunked) return 0;
        Buf& hin = header_in();
        if (hin.last > hin.pos || r_.chunked) {
            if (const int rc = discard_filter(hin.data.get(), hin.pos, hin.last)) return rc;
            if (r_.content_length_n == 0) return 0;
        }
        const int rc = read_discarded_request_body();
        if (rc == 0) {
            r_.lingering_close = false;
            return 0;
        }
        if (rc > 0) return rc;
        r_.count++;  // kAgain: the rest of the body is read after the response
        r_.discard_body = true;
        return 0;
    }

    // ngx_http_read_discarded_request_body: 0 when done, kAgain, or an error status.
    int read_discarded_request_body() {
        std::array<char, kDiscardBuffer> buffer;
        size_t pos = 0;
        size_t last = 0;
        while (r_.content_length_n != 0) {
            if (!ready_) return static_cast<int>(kAgain);
            const auto size = static_cast<size_t>(
                std::min<int64_t>(r_.content_length_n, static_cast<int64_t>(kDiscardBuffer)));
            const ptrdiff_t n = recv(buffer.data(), size);
            if (n == kAgain) return static_cast<int>(kAgain);
            if (n == 0) return 0;
            pos = 0;
            last = static_cast<size_t>(n);
            if (const int rc = discard_filter(buffer.data(), pos, last)) return rc;
        }
        copy_pipelined_header(buffer.data() + pos, last - pos);
        return 0;
    }

    // ngx_http_copy_pipelined_header: bytes read past the body start the next request.
    void copy_pipelined_header(const char* data, size_t n) {
        if (n == 0) return;
        if (n > header_in().end - header_in().last) {
            const int b = take_large_buffer();
            if (b < 0) return;  // cannot happen: at most kLargeSlots buffers are taken
            push_busy(b);
            header_in_ = b;
        }
        Buf& hin = header_in();
        std::memcpy(hin.data.get() + hin.last, data, n);
        hin.last += n;
    }

    // ngx_http_discarded_request_body_handler: the body goes on after the response.
    void discarded_request_body_handler() {
        seconds timer{0};
        if (r_.lingering_time_set) {
            timer = std::chrono::duration_cast<seconds>(r_.lingering_time - now_seconds());
            if (timer <= seconds{0}) {
                close(false);
                return;
            }
        }
        const int rc = read_discarded_request_body();
        if (rc == 0) {
            r_.discard_body = false;
            r_.lingering_close = false;
            r_.lingering_time_set = false;
            finalize_connection();
            return;
        }
        if (rc > 0) {
            c_error_ = true;
            close(true);
            return;
        }
        if (timer > seconds{0}) set_timer(std::min<Clock::duration>(timer, kLingeringTimeout));
    }

    // --- responding ----------------------------------------------------------------------

    // ngx_http_finalize_request with a status (ngx_http_special_response_handler) and, after
    // the response, ngx_http_finalize_connection.
    void finalize_request(int status) {
        if (c_error_) {  // ngx_http_terminate_request
            close(true);
            return;
        }
        timer_set_ = false;
        if (r_.keepalive &&
            (status == kBadRequest || status == kEntityTooLarge || status == kUriTooLarge ||
             status == kToHttps || status == kNotImplemented)) {
            r_.keepalive = false;
        }
        if (r_.lingering_close && (status == kBadRequest || status == kToHttps)) {
            r_.lingering_close = false;
        }
        if (discard_request_body() != 0) r_.keepalive = false;
        send_special_response(status);
        finalize_connection();
    }

    // ngx_http_send_special_response through the gzip, chunked and header filters.
    void send_special_response(int status) {
        const ErrorPage& page = error_page(status);
        const unsigned version = r_.line.http_version;
        const bool padding = (r_.msie || r_.chrome) && version >= 1000;
        std::string body;
        body.reserve(page.page.size() + kTail.size() + kMsiePadding.size());
        body.append(page.page).append(kTail);
        if (padding) body.append(kMsiePadding);

        if (version < 1000) {  // HTTP/0.9: no header
            reply_.bytes += body;
            return;
        }
        const bool head = r_.line.method == ngx::Method::head;
        // ngx_http_gzip_header_filter + ngx_http_gzip_ok (gzip on, gzip_http_version 1.1,
        // gzip_proxied off); HEAD requests get the header only.
        const bool gzip = status == kNotFound && r_.gzip_accepted && version >= 1001 && !r_.via;

        std::string& out = reply_.bytes;
        out.append("HTTP/1.1 ").append(page.status_line).append("\r\n");
        out.append("Server: ").append(kServer).append("\r\n");
        out.append("Date: ").append(http_date(now_)).append("\r\n");
        out.append("Content-Type: text/html\r\n");
        if (!gzip) {
            out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
        } else if (!head) {
            out.append("Transfer-Encoding: chunked\r\n");
        }
        out.append(r_.keepalive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
        if (gzip) out.append("Content-Encoding: gzip\r\n");
        out.append("\r\n");
        if (head) return;
        if (!gzip) {
            out.append(body);
            return;
        }
        const std::string_view z = padding ? kGzip404Padded : kGzip404;
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", z.size());
        out.append(size).append(z).append("\r\n0\r\n\r\n");
    }

    // ngx_http_finalize_connection
    void finalize_connection() {
        if (r_.count != 1) {
            if (r_.discard_body) {
                phase_ = Phase::discarding;
                set_timer(kLingeringTimeout);
                if (!r_.lingering_time_set) {
                    r_.lingering_time = now_seconds() + kLingeringTime;
                    r_.lingering_time_set = true;
                }
            }
            r_.count--;
            return;
        }
        if (eof_seen_) {
            close(true);
            return;
        }
        if (r_.keepalive) {
            set_keepalive();
            return;
        }
        const Buf& hin = header_in();
        if (r_.lingering_close || hin.pos < hin.last || ready_) {
            set_lingering_close();
            return;
        }
        close(false);
    }

    // ngx_http_set_keepalive
    void set_keepalive() {
        const int b = header_in_;
        Buf& hin = header_in();
        if (hin.pos < hin.last) {  // a pipelined request
            if (b != 0) {
                // keep only the buffer holding it; the other large buffers become free
                for (size_t i = 0; i < nbusy_; i++) {
                    if (busy_[i] == b) continue;
                    Buf& f = buffer(busy_[i]);
                    f.pos = f.last = 0;
                    std::copy_backward(free_.begin(), free_.begin() + nfree_,
                                       free_.begin() + nfree_ + 1);
                    free_[0] = busy_[i];
                    nfree_++;
                }
                busy_[0] = b;
                nbusy_ = 1;
            }
            create_request();
            timer_set_ = false;
            phase_ = Phase::request_line;
            posted_ = true;
            return;
        }
        small_.pos = small_.last = 0;
        header_in_ = 0;
        release_large_buffers();
        r_ = Request{};
        phase_ = Phase::keepalive;
        set_timer(kKeepaliveTimeout);
        if (ready_) posted_ = true;
    }

    // ngx_http_set_lingering_close: shut down writing, read and discard for a while.
    void set_lingering_close() {
        if (!r_.lingering_time_set) {
            r_.lingering_time = now_seconds() + kLingeringTime;
            r_.lingering_time_set = true;
        }
        phase_ = Phase::lingering;
        reply_.close = true;
        reply_.lingering = true;
        release_large_buffers();
        set_timer(kLingeringTimeout);
        if (ready_) lingering_close_handler();
    }

    // ngx_http_lingering_close_handler
    void lingering_close_handler() {
        const auto timer = std::chrono::duration_cast<seconds>(r_.lingering_time - now_seconds());
        if (timer <= seconds{0}) {
            close(true);
            return;
        }
        std::array<char, kLingeringBuffer> sink;
        do {
            const ptrdiff_t n = recv(sink.data(), sink.size());
            if (n == kAgain) break;
            if (n == 0) {
                close(true);
                return;
            }
        } while (ready_);
        set_timer(std::min<Clock::duration>(timer, kLingeringTimeout));
    }

    const bool tls_;
    bool plain_on_tls_ = false;
    const Clock::time_point accepted_;
    Clock::time_point now_;

    Phase phase_ = Phase::wait;
    bool posted_ = false;
    bool timer_set_ = true;  // client_header_timeout from accept
    Clock::time_point deadline_;

    std::string_view input_;
    size_t in_pos_ = 0;
    bool ready_ = false;      // c->read->ready
    int64_t available_ = -1;  // c->read->available
    bool post_next_ = false;  // the read handler is in ngx_posted_next_events
    bool peer_eof_ = false;
    bool eof_seen_ = false;  // c->read->eof
    bool c_error_ = false;   // c->error

    Buf small_;  // c->buffer
    std::array<Buf, kLargeSlots> large_;
    std::array<int, kLargeSlots> busy_{};  // hc->busy, most recent first (1-based slots)
    std::array<int, kLargeSlots> free_{};  // hc->free
    size_t nbusy_ = 0;
    size_t nfree_ = 0;
    int header_in_ = 0;  // 0: small_, else large_[header_in_ - 1]

    unsigned requests_ = 0;  // c->requests
    Request r_;
    Reply reply_;
};

NginxMimic::NginxMimic(Port port, Clock::time_point accepted)
    : m_(std::make_unique<Machine>(port, accepted)) {}
NginxMimic::~NginxMimic() = default;
NginxMimic::NginxMimic(NginxMimic&&) noexcept = default;
NginxMimic& NginxMimic::operator=(NginxMimic&&) noexcept = default;

void NginxMimic::plain_on_tls() {
    m_->plain_on_tls();
}
NginxMimic::Reply NginxMimic::feed(std::string_view in, Clock::time_point now) {
    return m_->feed(in, now);
}
NginxMimic::Reply NginxMimic::eof(Clock::time_point now) {
    return m_->eof(now);
}
NginxMimic::Clock::time_point NginxMimic::deadline() const {
    return m_->deadline();
}
NginxMimic::Reply NginxMimic::on_timeout(Clock::time_point now) {
    return m_->on_timeout(now);
}
bool NginxMimic::closed() const {
    return m_->closed();
}
size_t NginxMimic::buffered_bytes() const {
    return m_->buffered_bytes();
}

std::string http_date(NginxMimic::Clock::time_point t) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t secs = NginxMimic::Clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %4d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                  tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

}  // namespace ghost::stealth
