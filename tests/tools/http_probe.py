#!/usr/bin/env python3
"""Active-probing battery for ghost's TLS port: what does a prober see without the knock?

  http_probe.py HOST PORT [--tls] [--sni NAME] [--only NAME,...] [--save DIR]
                [--timeouts SECONDS]

Runs every probe on a fresh connection (TLS when --tls, except the probes that send
plain bytes to a TLS port on purpose) and prints one normalized transcript per probe:

    ### name
    ~ no tls                             (plain bytes to a TLS port)
    > bytes sent, one line per "\\n"     (a line "~ pause" separates writes, "~ eof"
    ~ pause                              means the probe half-closed its side)
    < bytes received, the value of the Date header replaced by DATE
    = how the connection ended

The end line is one of
    = open              nothing more within the read deadline, connection still up
    = reset             the peer reset the connection
    = closed            the peer closed; more data from us afterwards was answered by RST
    = closed, lingering the peer closed its side but still read (and discarded) our data
TLS runs add ", close_notify" when the peer sent a TLS close_notify alert. With
--timeouts the end line also says after how many seconds the peer closed.

Escapes: \\r \\n \\t \\\\ \\xHH, and "X\\{N}" means X followed by N more copies of X.
Run it against real nginx and against ghost and diff the outputs: they must be equal.
Only meant for servers you run yourself (127.0.0.1).
"""
import argparse
import errno
import os
import re
import select
import socket
import ssl
import sys
import time

HOST = b"Host: example.com\r\n"
UA_CURL = b"User-Agent: curl/7.88.1\r\nAccept: */*\r\n"
UA_CHROME = (b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
             b"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n")
WS_HEADERS = (b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\nCookie: sid=abc\r\n")


def req(line, *headers, body=b""):
    """A request: request line, headers (bytes, each ending in CRLF), blank line, body."""
    return line + b"\r\n" + b"".join(headers) + b"\r\n" + body


def many_headers(count, size):
    return b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * size) for i in range(count))


class Probe:
    """One probe: the writes to send (pausing between them) and what to do afterwards."""

    def __init__(self, name, *writes, eof=False, plain=False, tls_only=False, wait=None):
        self.name = name
        self.writes = list(writes)
        self.eof = eof            # half-close our side after the last write
        self.plain = plain        # never wrap in TLS (plain bytes to a TLS port)
        self.tls_only = tls_only  # only meaningful against a TLS port
        self.wait = wait          # timeout probes: seconds to wait for the peer


def probes():
    get = req(b"GET / HTTP/1.1", HOST, UA_CURL)
    post_len = req(b"POST /submit HTTP/1.1", HOST, UA_CURL,
                   b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n",
                   body=b"a=1&b=hello")
    chunked = req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked\r\n",
                  body=b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    return [
        # ordinary requests
        Probe("get_root", get),
        Probe("get_path", req(b"GET /some/path/index.php?id=1&x=%20 HTTP/1.1", HOST, UA_CURL)),
        Probe("get_ws_no_upgrade", req(b"GET /ws HTTP/1.1", HOST, UA_CURL)),
        Probe("head_root", req(b"HEAD / HTTP/1.1", HOST, UA_CURL)),
        Probe("head_x", req(b"HEAD /x HTTP/1.1", HOST)),
        Probe("post_content_length", post_len),
        Probe("post_chunked", chunked),
        Probe("options", req(b"OPTIONS / HTTP/1.1", HOST)),
        Probe("options_star", req(b"OPTIONS * HTTP/1.1", HOST)),
        Probe("unknown_method", req(b"FOO / HTTP/1.1", HOST)),
        Probe("put_delete_patch", req(b"PUT /x HTTP/1.1", HOST, b"Content-Length: 0\r\n")
              + req(b"DELETE /x HTTP/1.1", HOST) + req(b"PATCH /x HTTP/1.1", HOST)),
        Probe("trace", req(b"TRACE / HTTP/1.1", HOST)),
        Probe("connect", req(b"CONNECT example.com:443 HTTP/1.1", HOST)),
        Probe("lowercase_method", req(b"get / HTTP/1.1", HOST)),
        Probe("websocket_upgrade", req(b"GET /ws HTTP/1.1", HOST, WS_HEADERS)),
        Probe("gzip", req(b"GET / HTTP/1.1", HOST, b"Accept-Encoding: gzip, deflate, br\r\n")),
        Probe("gzip_q0", req(b"GET / HTTP/1.1", HOST, b"Accept-Encoding: br;q=1, gzip;q=0\r\n")),
        Probe("gzip_head", req(b"HEAD / HTTP/1.1", HOST, b"Accept-Encoding: gzip\r\n")),
        Probe("gzip_via", req(b"GET / HTTP/1.1", HOST, b"Accept-Encoding: gzip\r\nVia: 1.1 proxy\r\n")),
        Probe("browser_chrome", req(b"GET / HTTP/1.1", HOST, UA_CHROME,
                                    b"Accept-Encoding: gzip, deflate, br\r\n")),
        Probe("browser_chrome_http10", req(b"GET / HTTP/1.0", UA_CHROME)),
        Probe("browser_msie_bad_request", req(b"GET / HTTP/1.1",
                                              b"User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\n")),
        # versions and request-line forms
        Probe("http10_host", req(b"GET / HTTP/1.0", HOST)),
        Probe("http10_no_host", req(b"GET / HTTP/1.0")),
        Probe("http11_no_host", req(b"GET / HTTP/1.1")),
        Probe("absolute_uri", req(b"GET http://example.com/a/b HTTP/1.1", HOST)),
        Probe("absolute_uri_no_path", req(b"GET http://example.com:8080 HTTP/1.1", b"Host: other\r\n")),
        Probe("absolute_uri_bad_host", req(b"GET http://exa..mple.com/ HTTP/1.1", HOST)),
        Probe("http2_version", req(b"GET / HTTP/2.0", HOST)),
        Probe("http_version_1_9", req(b"GET / HTTP/1.9", HOST)),
        Probe("http_version_garbage", req(b"GET / HTTP/1.x", HOST)),
        Probe("http09", b"GET /\r\n"),
        Probe("http09_head", b"HEAD /\r\n"),
        Probe("h2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Probe("absolute_uri_ipv6", req(b"GET http://[::1]:8443/x?y HTTP/1.1", HOST)),
        Probe("request_line_tab", req(b"GET\t/ HTTP/1.1", HOST)),
        Probe("two_uris", req(b"GET / / HTTP/1.1", HOST)),
        Probe("trailing_space_version", req(b"GET / HTTP/1.1  ", HOST)),
        Probe("dot_dot", req(b"GET /a/../../etc/passwd HTTP/1.1", HOST)),
        Probe("bad_percent", req(b"GET /%zz HTTP/1.1", HOST)),
        Probe("percent_nul", req(b"GET /a%00b HTTP/1.1", HOST)),
        Probe("lf_only", b"GET / HTTP/1.1\nHost: example.com\n\n"),
        # headers
        Probe("bad_host", req(b"GET / HTTP/1.1", b"Host: a/b\r\n")),
        Probe("empty_host", req(b"GET / HTTP/1.1", b"Host: \r\n")),
        Probe("host_trailing_dot_port", req(b"GET / HTTP/1.1", b"Host: Example.COM.:443\r\n")),
        Probe("duplicate_host", req(b"GET / HTTP/1.1", HOST, HOST)),
        Probe("duplicate_content_length", req(b"POST / HTTP/1.1", HOST,
                                              b"Content-Length: 1\r\nContent-Length: 1\r\n", body=b"x")),
        Probe("bad_content_length", req(b"POST / HTTP/1.1", HOST, b"Content-Length: 1x\r\n")),
        Probe("content_length_and_chunked", req(b"POST / HTTP/1.1", HOST,
                                                b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                                                body=b"0\r\n\r\n")),
        Probe("transfer_encoding_gzip", req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: gzip\r\n")),
        Probe("http10_chunked", req(b"POST / HTTP/1.0", b"Transfer-Encoding: chunked\r\n",
                                    body=b"0\r\n\r\n")),
        Probe("body_too_large", req(b"POST / HTTP/1.1", HOST, b"Content-Length: 1048577\r\n",
                                    body=b"x" * 1000)),
        Probe("expect_continue", req(b"POST / HTTP/1.1", HOST,
                                     b"Content-Length: 5\r\nExpect: 100-continue\r\n")),
        Probe("body_incomplete", req(b"POST / HTTP/1.1", HOST, b"Content-Length: 100\r\n",
                                     body=b"x" * 10)),
        Probe("chunked_invalid", req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: chunked\r\n",
                                     body=b"zz\r\nhello\r\n")),
        Probe("post_http10_no_length", req(b"POST / HTTP/1.0", body=b"abc")),
        Probe("chunked_trailer", req(b"POST / HTTP/1.1", HOST, b"Transfer-Encoding: Chunked\r\n",
                                     body=b"3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n")),
        Probe("h2c_upgrade", req(b"GET / HTTP/1.1", HOST,
                                 b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                 b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")),
        Probe("keep_alive_and_close", req(b"GET / HTTP/1.1", HOST, b"Connection: keep-alive, close\r\n")),
        Probe("tab_and_spaces_in_value", req(b"GET / HTTP/1.1", HOST, b"X-A:\tv  w  \r\n")),
        Probe("underscore_header", req(b"GET / HTTP/1.1", HOST, b"X_Bad: 1\r\nContent_Length: 5\r\n")),
        Probe("space_before_colon", req(b"GET / HTTP/1.1", HOST, b"X-Foo : bar\r\n")),
        Probe("folded_header", req(b"GET / HTTP/1.1", HOST, b"X-Foo: bar\r\n baz\r\n")),
        Probe("header_without_colon", req(b"GET / HTTP/1.1", HOST, b"NoColonHere\r\n")),
        Probe("nul_in_header", req(b"GET / HTTP/1.1", HOST, b"X-Foo: a\x00b\r\n")),
        Probe("many_headers", req(b"GET / HTTP/1.1", HOST, many_headers(200, 20))),
        Probe("long_uri", req(b"GET /" + b"a" * 9000 + b" HTTP/1.1", HOST)),
        Probe("uri_8k", req(b"GET /" + b"a" * 8170 + b" HTTP/1.1", HOST)),
        # request line of exactly 8192 bytes (CRLF included) fits a large buffer, 8193 does not
        Probe("request_line_8192", req(b"GET /" + b"a" * 8176 + b" HTTP/1.1", HOST)),
        Probe("request_line_8193", req(b"GET /" + b"a" * 8177 + b" HTTP/1.1", HOST)),
        Probe("header_line_8192", req(b"GET / HTTP/1.1", HOST, b"X-L: " + b"c" * 8185 + b"\r\n")),
        Probe("header_line_8193", req(b"GET / HTTP/1.1", HOST, b"X-L: " + b"c" * 8186 + b"\r\n")),
        Probe("long_header_line", req(b"GET / HTTP/1.1", HOST, b"X-Long: " + b"b" * 9000 + b"\r\n")),
        Probe("long_cookie", req(b"GET / HTTP/1.1", HOST, b"Cookie: c=" + b"b" * 8200 + b"\r\n")),
        Probe("headers_too_large", req(b"GET / HTTP/1.1", HOST, many_headers(5, 7000))),
        Probe("headers_just_fit", req(b"GET / HTTP/1.1", HOST, many_headers(4, 7000))),
        # connection management
        Probe("pipelined", get + req(b"GET /second HTTP/1.1", HOST)),
        Probe("pipelined_after_body", post_len + chunked + req(b"HEAD /third HTTP/1.1", HOST)),
        Probe("connection_close", req(b"GET / HTTP/1.1", HOST, b"Connection: close\r\n")),
        Probe("connection_close_then_more", req(b"GET / HTTP/1.1", HOST, b"Connection: close\r\n")
              + b"GET / HTTP/1.1\r\n"),
        Probe("http10_keep_alive", req(b"GET / HTTP/1.0", HOST, b"Connection: keep-alive\r\n")),
        Probe("sequential", get, req(b"GET /two HTTP/1.1", HOST),
              req(b"GET /three HTTP/1.1", HOST, b"Connection: close\r\n")),
        Probe("request_then_eof", get, eof=True),
        # junk
        Probe("garbage", bytes(range(0x80, 0xA0)) + b"\x01\x02\xff\xfe"),
        Probe("ssh_banner", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
        Probe("nul_bytes", b"\x00" * 64),
        Probe("leading_crlf", b"\r\n\r\n" + get),
        Probe("only_crlf", b"\r\n" * 600),
        Probe("split_request_line", b"GE", b"T /sp", b"lit HTTP/1", b".1\r\nHo", b"st: example.com\r\n\r\n"),
        Probe("half_request_silence", b"GET / HTTP/1.1\r\nHost: exa"),
        Probe("eof_mid_headers", b"GET / HTTP/1.1\r\nHost: exa", eof=True),
        Probe("eof_mid_request_line", b"GET /ab", eof=True),
        Probe("eof_before_anything", eof=True),
        # plain bytes to a TLS port
        Probe("plain_http_on_tls", get, plain=True, tls_only=True),
        Probe("plain_http10_on_tls", req(b"GET / HTTP/1.0"), plain=True, tls_only=True),
        Probe("plain_http09_on_tls", b"GET /\r\n", plain=True, tls_only=True),
        Probe("plain_bad_request_on_tls", req(b"GET / HTTP/1.1"), plain=True, tls_only=True),
        Probe("plain_ssh_banner_on_tls", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", plain=True, tls_only=True),
        Probe("plain_garbage_on_tls", b"\x01\x02\x03\x04hello\r\n\r\n", plain=True, tls_only=True),
    ]


def timeout_probes(wait):
    return [
        Probe("timeout_idle", wait=wait),
        Probe("timeout_mid_request", b"GET / HTTP/1.1\r\nHost: exa", wait=wait),
        Probe("timeout_keepalive", req(b"GET / HTTP/1.1", HOST), wait=wait),
        Probe("timeout_body", req(b"POST / HTTP/1.1", HOST, b"Content-Length: 100\r\n", body=b"x"),
              wait=wait),
        Probe("timeout_plain_on_tls", b"GET / HT", plain=True, tls_only=True, wait=wait),
    ]


# ---------------------------------------------------------------------------------------
# connections


class Conn:
    """A TCP connection, optionally carrying TLS through memory BIOs (so that the raw
    socket stays usable after the peer's close_notify)."""

    def __init__(self, host, port, tls, sni, deadline):
        # Connecting and the handshake are not what is compared: give a loaded machine
        # (sanitizer builds, parallel tests) more than the per-probe read deadline.
        deadline = max(deadline, 15.0)
        self.sock = socket.create_connection((host, port), timeout=deadline)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.tls = None
        self.close_notify = False
        self.tcp_eof = False
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["http/1.1"])
            self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname=sni)
            end = time.monotonic() + deadline
            while True:
                try:
                    self.tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._flush()
                    if not self._pull(end - time.monotonic()):
                        raise ConnectionError("TLS handshake: no answer")
            self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.sock.setblocking(True)
            self.sock.sendall(data)
            self.sock.setblocking(False)

    def _pull(self, timeout):
        """Moves raw bytes from the socket into the TLS input BIO; False on EOF/timeout."""
        if timeout <= 0 or not select.select([self.sock], [], [], timeout)[0]:
            return False
        data = self.sock.recv(65536)
        if not data:
            self.tcp_eof = True
            self.inc.write_eof()
            return False
        self.inc.write(data)
        return True

    def send(self, data):
        if self.tls:
            self.tls.write(data)
            self._flush()
        else:
            self.sock.setblocking(True)
            self.sock.sendall(data)
            self.sock.setblocking(False)

    def shutdown_write(self):
        if self.tls:
            try:
                self.tls.unwrap()
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass
            self._flush()
        self.sock.shutdown(socket.SHUT_WR)

    def recv(self, timeout):
        """Bytes from the peer; b"" on EOF; None when nothing came within timeout.
        Raises ConnectionResetError on RST."""
        if not self.tls:
            if not select.select([self.sock], [], [], timeout)[0]:
                return None
            return self.sock.recv(65536)
        end = time.monotonic() + timeout
        while True:
            try:
                data = self.tls.read(65536)
                if not data:  # the peer's close_notify
                    self.close_notify = True
                return data
            except ssl.SSLZeroReturnError:
                self.close_notify = True
                return b""
            except ssl.SSLWantReadError:
                if self.tcp_eof:
                    return b""
                if not self._pull(end - time.monotonic()) and not self.tcp_eof:
                    return None
            except ssl.SSLError:
                return b""

    def probe_after_close(self):
        """The peer closed: does it still read what we send (lingering close) or reset?"""
        try:
            for _ in range(3):
                self.sock.send(b"\x17\x03\x03\x00\x05hello" if self.tls else b"more data")
                time.sleep(0.15)
                if select.select([self.sock], [], [], 0)[0]:
                    self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE):
                return "closed"
            raise
        return "closed, lingering"

    def close(self):
        self.sock.close()


def run_probe(p, args):
    tls = args.tls and not p.plain
    conn = Conn(args.host, args.port, tls, args.sni, args.deadline)
    received = bytearray()
    start = time.monotonic()
    end = None
    try:
        for i, chunk in enumerate(p.writes):
            if i:
                time.sleep(args.pause)
            conn.send(chunk)
        if p.eof:
            conn.shutdown_write()
        deadline = time.monotonic() + (p.wait if p.wait else args.deadline)
        while end is None:
            left = deadline - time.monotonic()
            if left <= 0:
                end = "open"
                break
            if received and not p.wait:
                left = min(left, args.quiet)
            data = conn.recv(left)
            if data is None:
                end = "open"
            elif data == b"":
                end = "eof"
            else:
                received += data
    except (ConnectionResetError, BrokenPipeError):
        end = "reset"
    elapsed = time.monotonic() - start
    if end == "eof":
        end = "closed" if p.eof else conn.probe_after_close()
    conn.close()
    if tls and conn.close_notify:
        end += ", close_notify"
    if p.wait and end != "open":
        end += ", after %ds" % round(elapsed)
    return bytes(received), end


# ---------------------------------------------------------------------------------------
# transcript


DATE_RE = re.compile(rb"\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n")


def normalize(data):
    """Replaces the value of every HTTP Date header (in each pipelined response)."""
    return DATE_RE.sub(b"\r\nDate: DATE\r\n", data)


def escape_lines(data):
    """Escaped text of data, split into lines after each newline."""
    lines, cur, i = [], [], 0
    while i < len(data):
        b = data[i]
        run = 1
        while i + run < len(data) and data[i + run] == b:
            run += 1
        if b == 0x5C:
            tok = "\\\\"
        elif b == 0x0D:
            tok = "\\r"
        elif b == 0x0A:
            tok = "\\n"
        elif b == 0x09:
            tok = "\\t"
        elif 0x20 <= b < 0x7F:
            tok = chr(b)
        else:
            tok = "\\x%02x" % b
        if run >= 16:
            tok += "\\{%d}" % (run - 1)
            i += run
        else:
            i += 1
        cur.append(tok)
        if b == 0x0A:
            lines.append("".join(cur))
            cur = []
    if cur:
        lines.append("".join(cur))
    return lines


def transcript(p, received, end, tls):
    out = ["### " + p.name]
    if tls and p.plain:
        out.append("~ no tls")
    for i, chunk in enumerate(p.writes):
        if i:
            out.append("~ pause")
        out += ["> " + line for line in escape_lines(chunk)]
    if p.eof:
        out.append("~ eof")
    out += ["< " + line for line in escape_lines(normalize(received))]
    out.append("= " + end)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--tls", action="store_true", help="the port speaks TLS")
    ap.add_argument("--sni", default="example.com", help="TLS server name (default example.com)")
    ap.add_argument("--only", help="comma-separated probe names")
    ap.add_argument("--save", help="also write DIR/<probe>.txt per probe")
    ap.add_argument("--timeouts", type=float, metavar="SECONDS",
                    help="run only the timeout probes, waiting up to SECONDS each")
    ap.add_argument("--deadline", type=float, default=3.0, help="per-probe read deadline (s)")
    ap.add_argument("--quiet", type=float, default=0.6,
                    help="stop reading this long after the last byte (s)")
    ap.add_argument("--pause", type=float, default=0.2, help="pause between writes (s)")
    args = ap.parse_args()

    todo = timeout_probes(args.timeouts) if args.timeouts else probes()
    if not args.tls:
        todo = [p for p in todo if not p.tls_only]
    if args.only:
        names = set(args.only.split(","))
        todo = [p for p in todo if p.name in names]
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    for p in todo:
        received, end = run_probe(p, args)
        text = transcript(p, received, end, args.tls)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        if args.save:
            with open(os.path.join(args.save, p.name + ".txt"), "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
