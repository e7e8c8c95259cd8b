#!/usr/bin/env python3
"""SOCKS5 / HTTP CONNECT probes for client_socks*.sh (ghost front-door tests).

  socks_probe.py probe PROXY_PORT ECHO_PORT       malformed-input cases, asserts replies
  socks_probe.py stall PROXY_PORT                 sends a truncated greeting, prints the
                                                 seconds until the proxy closed
  socks_probe.py pipe PROXY_PORT HOST PORT        SOCKS5 CONNECT, then stdin -> tunnel and
                                                 tunnel -> stdout until both sides end
  socks_probe.py reply PROXY_PORT HOST PORT       SOCKS5 CONNECT; prints the reply code (REP)
                                                 or "closed" when the proxy closed instead
  socks_probe.py many PROXY_PORT ECHO_PORT N      N clients at once through SOCKS5 to an echo
                                                 server; prints "ok=.. error=.. broken=.."
  socks_probe.py echo PORT                        asyncio echo server on 127.0.0.1
"""
import asyncio
import os
import socket
import struct
import sys
import threading
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_until_close(s, timeout=5):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False
    except ConnectionResetError:
        return data, True


def socks_connect_request(host, port, cmd=1):
    if ":" in host:
        addr = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
    else:
        try:
            addr = b"\x01" + socket.inet_aton(host)
        except OSError:
            addr = b"\x03" + bytes([len(host)]) + host.encode()
    return b"\x05" + bytes([cmd]) + b"\x00" + addr + struct.pack(">H", port)


def socks_open(port, host, tport, creds=None):
    """Returns (socket, REP)."""
    s = connect(port)
    if creds:
        s.sendall(b"\x05\x01\x02")
        assert recv_exact(s, 2) == b"\x05\x02", "method choice"
        u, p = creds
        s.sendall(b"\x01" + bytes([len(u)]) + u.encode() + bytes([len(p)]) + p.encode())
        if recv_exact(s, 2) != b"\x01\x00":
            return s, -1
    else:
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00", "method choice"
    s.sendall(socks_connect_request(host, tport))
    head = recv_exact(s, 4)
    if len(head) < 4:
        return s, -2
    alen = {1: 4, 4: 16}.get(head[3])
    if alen is None:
        alen = recv_exact(s, 1)[0]
    recv_exact(s, alen + 2)
    return s, head[1]


# ---------------------------------------------------------------- probe

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def expect_reply(port, send, want_prefix, what, want_close=True):
    s = connect(port)
    s.sendall(send)
    data, closed = read_until_close(s)
    s.close()
    if not data.startswith(want_prefix):
        raise AssertionError(f"{what}: got {data[:40].hex()} want prefix {want_prefix.hex()}")
    if want_close and not closed:
        raise AssertionError(f"{what}: connection not closed after the error reply")
    return data


@case
def wrong_version(port, echo):
    s = connect(port)
    s.sendall(b"\x06\x01\x00")
    data, closed = read_until_close(s)
    assert data == b"" and closed, f"version 6: got {data.hex()} closed={closed}"
    # SOCKS4 gets a SOCKS4 "rejected" reply.
    expect_reply(port, b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00", b"\x00\x5b", "SOCKS4")


@case
def zero_methods(port, echo):
    data = expect_reply(port, b"\x05\x00", b"", "0 methods")
    assert data in (b"", b"\x05\xff"), f"0 methods: got {data.hex()}"


@case
def no_acceptable_method(port, echo):
    expect_reply(port, b"\x05\x01\x02", b"\x05\xff", "only username/password offered")


@case
def domain_length_zero(port, echo):
    expect_reply(port, b"\x05\x01\x00" + b"\x05\x01\x00\x03\x00\x00\x50", b"\x05\x00\x05\x01",
                 "domain length 0")


@case
def port_zero(port, echo):
    req = b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00"
    expect_reply(port, b"\x05\x01\x00" + req, b"\x05\x00\x05\x01", "port 0")


@case
def bind_and_udp(port, echo):
    for cmd in (2, 3):
        req = socks_connect_request("127.0.0.1", echo, cmd)
        expect_reply(port, b"\x05\x01\x00" + req, b"\x05\x00\x05\x07", f"command {cmd}")


@case
def bad_atyp(port, echo):
    expect_reply(port, b"\x05\x01\x00\x05\x01\x00\x09\x01\x02", b"\x05\x00\x05\x08", "ATYP 9")


@case
def garbage_after_request(port, echo):
    # Bytes after the request are early data: they reach the target, in order.
    s = connect(port)
    s.sendall(b"\x05\x01\x00" + socks_connect_request("127.0.0.1", echo) + b"early-bytes\xff\x00")
    head = recv_exact(s, 2 + 10)  # method choice + reply with an IPv4 bound address
    assert head[:4] == b"\x05\x00\x05\x00", f"garbage after request: reply {head.hex()}"
    s.sendall(b"-more")
    got = recv_exact(s, 18)
    assert got == b"early-bytes\xff\x00-more", f"early data echoed as {got!r}"
    s.close()


@case
def http_no_host(port, echo):
    data = expect_reply(port, f"CONNECT 127.0.0.1:{echo} HTTP/1.1\r\n\r\n".encode(),
                        b"HTTP/1.1 400", "CONNECT without Host")
    assert b"Connection: close" in data


@case
def http_absurd_header(port, echo):
    req = f"CONNECT 127.0.0.1:{echo} HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 20000}\r\n\r\n"
    expect_reply(port, req.encode(), b"HTTP/1.1 431", "20 KB header")


@case
def http_get_not_allowed(port, echo):
    expect_reply(port, b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
                 b"HTTP/1.1 405", "GET through a CONNECT proxy")


@case
def http_early_data(port, echo):
    s = connect(port)
    s.sendall(f"CONNECT 127.0.0.1:{echo} HTTP/1.1\r\nHost: 127.0.0.1:{echo}\r\n\r\nhello".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, "closed before the 200"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    assert recv_exact(s, 5) == b"hello"
    s.close()


def probe(port, echo):
    failed = 0
    for fn in CASES:
        try:
            fn(port, echo)
            print(f"ok {fn.__name__}")
        except Exception as e:  # report every case, not just the first
            failed += 1
            print(f"FAIL {fn.__name__}: {e}")
    return 1 if failed else 0


# ---------------------------------------------------------------- stall, pipe

def stall(port):
    s = connect(port)
    s.sendall(b"\x05\x02")  # promises 2 methods, sends none
    start = time.monotonic()
    s.settimeout(60)
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    print(f"{time.monotonic() - start:.1f} {data.hex() or 'closed'}")
    return 0


def pipe(port, host, tport, creds=None):
    s, rep = socks_open(port, host, tport, creds)
    if rep != 0:
        print(f"SOCKS reply {rep}", file=sys.stderr)
        return 10 + max(rep, 0)
    s.settimeout(None)

    def upload():
        while True:
            chunk = os.read(0, 1 << 16)
            if not chunk:
                break
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=upload, daemon=True)
    t.start()
    out = sys.stdout.buffer
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        out.write(chunk)
    out.flush()
    t.join()
    return 0


def reply(port, host, tport):
    try:
        s, rep = socks_open(port, host, tport)
        s.close()
    except OSError:
        rep = -2
    print("closed" if rep < 0 else rep)
    return 0


# ---------------------------------------------------------------- many, echo

async def one_client(port, echo, results, go):
    await go.wait()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"\x05\x01\x00" + socks_connect_request("127.0.0.1", echo))
        head = await asyncio.wait_for(r.readexactly(12), 60)
        if head[:2] != b"\x05\x00" or head[2:4] != b"\x05\x00":
            results["error"] += 1  # a proper SOCKS error reply
            w.close()
            return
        w.write(b"ping-0123456789")
        got = await asyncio.wait_for(r.readexactly(15), 60)
        results["ok" if got == b"ping-0123456789" else "broken"] += 1
        w.close()
    except Exception as e:
        results["broken"] += 1
        results.setdefault("why", str(e))


async def many(port, echo, n):
    results = {"ok": 0, "error": 0, "broken": 0}
    go = asyncio.Event()
    tasks = [asyncio.create_task(one_client(port, echo, results, go)) for _ in range(n)]
    await asyncio.sleep(0.05)
    go.set()
    await asyncio.gather(*tasks)
    print(" ".join(f"{k}={v}" for k, v in results.items()))
    return 0


async def echo_server(port):
    async def handle(r, w):
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except Exception:
            pass
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with srv:
        await srv.serve_forever()


def main(argv):
    cmd = argv[1]
    if cmd == "probe":
        return probe(int(argv[2]), int(argv[3]))
    if cmd == "stall":
        return stall(int(argv[2]))
    if cmd == "pipe":
        creds = tuple(argv[5].split(":", 1)) if len(argv) > 5 else None
        return pipe(int(argv[2]), argv[3], int(argv[4]), creds)
    if cmd == "reply":
        return reply(int(argv[2]), argv[3], int(argv[4]))
    if cmd == "many":
        return asyncio.run(many(int(argv[2]), int(argv[3]), int(argv[4])))
    if cmd == "echo":
        return asyncio.run(echo_server(int(argv[2])))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
