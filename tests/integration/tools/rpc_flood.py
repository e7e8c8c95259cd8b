#!/usr/bin/env python3
"""Floods ghostd's control socket the way a hostile local user would, and reports what it saw.

usage: rpc_flood.py SOCKET MODE ARGS...
  hold N REPORT     open N connections, each sends events.subscribe; keep every one ghostd
                    kept; write a JSON summary to REPORT, then hold until REPORT.release
                    exists (at most 300 s) and print how many ghostd kept open
  churn SECONDS     connect, read the answer, close, again, for SECONDS; print a summary
  subscribe N REPORT EVENTS
                    open N subscribers, write REPORT when all are subscribed, then read until
                    each has EVENTS events (or 120 s); print a summary with timings
  slow REQUESTS     pipeline REQUESTS profile.list calls without reading any answer; print
                    whether ghostd dropped the connection
  idle N SECONDS    open N connections that say nothing, hold them SECONDS, close them
"""
import json
import os
import resource
import selectors
import socket
import sys
import time

SUBSCRIBE = b'{"jsonrpc":"2.0","id":1,"method":"events.subscribe"}\n'


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def read_line(s, timeout=10):
    s.settimeout(timeout)
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return buf


def open_one(path):
    """Connects and subscribes. Returns (socket or None if ghostd closed it, reply dict)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    try:
        s.sendall(SUBSCRIBE)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before we spoke: the answer is still waiting to be read
    line = read_line(s)
    reply = json.loads(line) if line.strip() else {"error": {"code": 0, "message": "no answer"}}
    if reply.get("id") is None and "error" in reply:  # refused at the door: ghostd closed it
        rest = read_line(s, timeout=5)
        reply["closed"] = rest == b""
        s.close()
        return None, reply
    return s, reply


def write_report(path, report):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f)
    os.rename(tmp, path)


def hold(path, n, report_path):
    raise_fd_limit()
    held, report = [], {"connections": n, "held": 0, "subscribed": 0, "refused_connection": 0,
                        "refused_closed": 0, "refused_subscription": 0, "connection_errors": [],
                        "subscription_errors": []}
    for _ in range(n):
        s, reply = open_one(path)
        if s is None:
            report["refused_connection"] += 1
            report["refused_closed"] += 1 if reply.get("closed") else 0
            msg = "%d %s" % (reply["error"]["code"], reply["error"]["message"])
            if msg not in report["connection_errors"]:
                report["connection_errors"].append(msg)
            continue
        held.append(s)
        if reply.get("result", {}).get("subscribed"):
            report["subscribed"] += 1
        else:
            report["refused_subscription"] += 1
            msg = "%d %s" % (reply["error"]["code"], reply["error"]["message"])
            if msg not in report["subscription_errors"]:
                report["subscription_errors"].append(msg)
    report["held"] = len(held)
    write_report(report_path, report)
    deadline = time.time() + 300
    while time.time() < deadline and not os.path.exists(report_path + ".release"):
        time.sleep(0.1)
    alive = 0
    for s in held:  # ghostd kept every connection it accepted (nothing dropped)
        s.setblocking(False)
        try:
            alive += 1 if s.recv(1, socket.MSG_PEEK) else 0
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print(json.dumps({"held": len(held), "still_open": alive}))


def churn(path, seconds):
    raise_fd_limit()
    end = time.time() + seconds
    counts = {}
    while time.time() < end:
        s, reply = open_one(path)
        key = "accepted" if s is not None else reply["error"]["message"]
        counts[key] = counts.get(key, 0) + 1
        if s is not None:
            s.close()
    print(json.dumps(counts))


def subscribe(path, n, report_path, events):
    raise_fd_limit()
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(n):
        s, reply = open_one(path)
        if s is None or not reply.get("result", {}).get("subscribed"):
            sys.exit("subscriber %d refused: %r" % (i, reply))
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    write_report(report_path, {"subscribers": n})
    seen, bufs, first_at, done_at = [0] * n, [b""] * n, [None] * events, [None] * n
    deadline = time.time() + 120
    while time.time() < deadline and sum(1 for c in seen if c >= events) < n:
        for key, _ in sel.select(timeout=1):
            i = key.data
            chunk = key.fileobj.recv(65536)
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            bufs[i] += chunk
            while b"\n" in bufs[i]:
                line, bufs[i] = bufs[i].split(b"\n", 1)
                if json.loads(line).get("method") != "event":
                    continue
                now = time.time()
                if seen[i] < events and first_at[seen[i]] is None:
                    first_at[seen[i]] = now
                seen[i] += 1
                if seen[i] == events:
                    done_at[i] = now
    complete = [t for t in done_at if t is not None]
    spread = max(complete) - first_at[events - 1] if complete and first_at[events - 1] else None
    print(json.dumps({"subscribers": n, "complete": len(complete),
                      "last_event_spread_ms": round(spread * 1000, 1) if spread is not None else None}))


def slow(path, requests):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(30)
    req = b'{"jsonrpc":"2.0","id":1,"method":"profile.list"}\n'
    sent = 0
    try:
        for _ in range(requests // 100):
            s.sendall(req * 100)
            sent += 100
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    # Now read: whatever was queued in the kernel, then the end ghostd gave us.
    got, end = 0, None
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                end = "eof"
                break
            got += chunk.count(b"\n")
    except ConnectionResetError:
        end = "reset"
    except socket.timeout:
        end = "still open"
    print(json.dumps({"sent": sent, "answers_read": got, "end": end}))


def idle(path, n, seconds):
    raise_fd_limit()
    held = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)  # completes from the listen backlog even when ghostd cannot accept
        held.append(s)
    time.sleep(seconds)
    for s in held:
        s.close()
    print(json.dumps({"held": len(held)}))


if __name__ == "__main__":
    sock, mode = sys.argv[1], sys.argv[2]
    if mode == "hold":
        hold(sock, int(sys.argv[3]), sys.argv[4])
    elif mode == "churn":
        churn(sock, float(sys.argv[3]))
    elif mode == "subscribe":
        subscribe(sock, int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif mode == "slow":
        slow(sock, int(sys.argv[3]))
    elif mode == "idle":
        idle(sock, int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)
