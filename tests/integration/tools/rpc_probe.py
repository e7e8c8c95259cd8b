#!/usr/bin/env python3
"""Raw JSON-RPC socket client for feeding ghostd bad input in integration tests.

usage: rpc_probe.py SOCKET SCENARIO
Each scenario prints what it observed and exits 0 when ghostd behaved as expected.
"""
import json
import socket
import sys
import time


def connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def call(path, method, params=None, rid=1):
    s = connect(path)
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    s.sendall((json.dumps(msg) + "\n").encode())
    line = read_line(s)
    s.close()
    return json.loads(line)


def expect_error(reply, code, needle=""):
    err = reply.get("error")
    if not err or err.get("code") != code or needle not in err.get("message", ""):
        print("unexpected reply:", reply)
        sys.exit(1)
    print("ok:", err["message"])


def not_json(path):
    s = connect(path)
    s.sendall(b"this is not json\n")
    expect_error(json.loads(read_line(s)), -32700)
    # The same connection still works afterwards.
    s.sendall(b'{"jsonrpc":"2.0","id":2,"method":"profile.list"}\n')
    r = json.loads(read_line(s))
    assert r["id"] == 2 and isinstance(r["result"], list), r


def huge_line(path):
    s = connect(path, timeout=30)
    payload = b'{"jsonrpc":"2.0","id":1,"method":"profile.list","params":{"x":"' + b"A" * (10 << 20)
    try:
        s.sendall(payload + b'"}}\n')
    except (BrokenPipeError, ConnectionResetError):
        pass  # ghostd may close before we finish sending
    reply = read_line(s)
    if reply:
        expect_error(json.loads(reply), -32006, "too large")
    # And the connection is closed.
    try:
        rest = s.recv(10)
    except ConnectionResetError:
        rest = b""
    assert rest == b"", rest
    print("ok: connection closed after oversized request")


def unknown_method(path):
    expect_error(call(path, "profile.fly"), -32601, "profile.fly")


def wrong_params(path):
    expect_error(call(path, "profile.status", {"name": 5}), -32602, "name")
    expect_error(call(path, "profile.status", {"nmae": "x"}), -32602, "nmae")
    expect_error(call(path, "profile.up", {"name": "x", "wait": "yes"}), -32602, "wait")
    s = connect(path)
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"profile.status","params":[1]}\n')
    expect_error(json.loads(read_line(s)), -32602)


def silent_clients(path, count):
    """Opens `count` clients that never send; a real call must still be answered."""
    held = []
    for _ in range(count):
        try:
            held.append(connect(path))
        except OSError:
            break
    start = time.time()
    r = call(path, "profile.list")
    assert "result" in r or r.get("error", {}).get("code") == -32007, r
    print("ok: call answered with %d silent clients in %.2fs: %s" % (
        len(held), time.time() - start, "result" if "result" in r else r["error"]["message"]))
    for s in held:
        s.close()
    # Once they are gone, normal service.
    for _ in range(50):
        r = call(path, "profile.list")
        if "result" in r:
            print("ok: served after silent clients left")
            return
        time.sleep(0.1)
    sys.exit("still refused after silent clients left")


def many_clients(path, count):
    socks = [connect(path) for _ in range(count)]
    for i, s in enumerate(socks):
        try:
            s.sendall(json.dumps({"jsonrpc": "2.0", "id": i, "method": "daemon.info"}).encode() + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed at once: the refusal is still there to read
    answered = refused = 0
    for s in socks:
        r = json.loads(read_line(s))
        if "result" in r:
            answered += 1
        elif r["error"]["code"] == -32007:
            refused += 1
        else:
            sys.exit("unexpected: %r" % r)
    for s in socks:  # all stay connected until every one was answered
        s.close()
    print("ok: %d answered, %d refused as too many clients" % (answered, refused))
    assert answered > 0 and answered + refused == count


def disconnect_mid_request(path):
    s = connect(path)
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"prof')
    s.close()
    s = connect(path)
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"profile.up","params":{"name":"slow","wait":true}}\n')
    s.close()  # leave while the daemon works on it
    r = call(path, "daemon.info")
    assert "result" in r, r
    print("ok: daemon fine after clients left mid-request")


def idle_timeout(path, seconds):
    s = connect(path, timeout=seconds + 10)
    start = time.time()
    data = s.recv(10)
    assert data == b"", data
    print("ok: idle client closed after %.1fs" % (time.time() - start))


def deep_request(path):
    """100,000 nested arrays in params (issue 13): refused while parsing, connection kept."""
    def request(levels):
        return (b'{"jsonrpc":"2.0","id":1,"method":"profile.status","params":{"name":' +
                b"[" * levels + b"]" * levels + b"}}\n")
    s = connect(path)
    s.sendall(request(100000))
    r = json.loads(read_line(s))
    expect_error(r, -32600, "nesting deeper than 64 levels")
    assert r["id"] is None, r
    # Exactly at the limit (envelope 2 + 62 arrays) the line parses; the method refuses it.
    s.sendall(request(62))
    expect_error(json.loads(read_line(s)), -32602, '"name" (string) is required')
    s.sendall(request(63))
    expect_error(json.loads(read_line(s)), -32600, "nesting deeper than 64 levels")
    s.sendall(b'{"jsonrpc":"2.0","id":2,"method":"profile.list"}\n')
    r = json.loads(read_line(s))
    assert r["id"] == 2 and isinstance(r["result"], list), r
    print("ok: the same connection still works")


def deep_config_check(path):
    """config.check of a profile nested 100,000 deep: a config error naming depth and line."""
    text = '{"server": "127.0.0.1:22",\n "x": ' + "[" * 100000 + "]" * 100000 + "}"
    r = call(path, "config.check", {"file": "/home/u/deep.json", "text": text})
    res = r.get("result")
    assert res and res["ok"] is False and len(res["errors"]) == 1, r
    want = "/home/u/deep.json: nesting deeper than 64 levels (arrays and objects) at line 2"
    assert res["errors"][0].startswith(want), res
    print("ok:", res["errors"][0])


def config_check_no_oracle(path):
    """config.check takes content, never a path: no answer depends on the caller's path."""
    expect_error(call(path, "config.check", {"path": "/etc/shadow"}), -32602, '"path"')
    answers = []
    for name in ("/etc/shadow", "/nonexistent/shadow"):
        r = call(path, "config.check", {"file": name, "text": "{}"})
        answers.append([e.replace(name, "FILE") for e in r["result"]["errors"]])
    assert answers[0] == answers[1] and answers[0], answers
    print("ok: same answer for an existing and a missing path:", answers[0])


def reload_events(path):
    """Subscribes, then reloads on the same connection; prints each event line and the
    reload result. The subscription is confirmed before the reload, so none is missed."""
    s = connect(path, timeout=30)
    f = s.makefile("rb")
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"events.subscribe"}\n')
    assert json.loads(f.readline())["result"]["subscribed"] is True
    s.sendall(b'{"jsonrpc":"2.0","id":2,"method":"daemon.reload"}\n')
    while True:
        msg = json.loads(f.readline())
        if msg.get("id") == 2:
            print(json.dumps(msg["result"]))
            return
        print(json.dumps(msg["params"]))


if __name__ == "__main__":
    sock, scenario = sys.argv[1], sys.argv[2]
    args = [int(a) for a in sys.argv[3:]]
    globals()[scenario](sock, *args)
