#!/usr/bin/env python3
"""SOCKS5 load tool for client_bench.sh. Prints one JSON object per run.

  socks_load.py server PORT
      target: on accept sends one byte, then holds the connection until the client
      closes it (so "first byte received" means the tunnel really reached the target).
  socks_load.py connect PROXY TARGET COUNT PARALLEL
      COUNT SOCKS5 CONNECTs, PARALLEL at a time; each is timed from TCP connect to the
      target's first byte, then closed. {"ok","failed","seconds","rate","p50_ms","p99_ms"}
  socks_load.py idle PROXY TARGET FLOWS PID
      opens FLOWS tunnels (200 opening at a time) and holds them all; reads PID's RSS
      before and with the flows open. {"ok","failed","rss_before_kb","rss_after_kb",
      "kb_per_1000"}

PROXY and TARGET are host:port (PROXY "direct": no proxy, for TUN mode and sshuttle); the SOCKS5 client sends TARGET's host as an address.
The greeting and the CONNECT request go out in one write unless SOCKS_LOCKSTEP=1, which
waits for the method reply first (trojan's SOCKS5 front end drops a pipelined request).
"""
import asyncio
import json
import os
import socket
import statistics
import struct
import sys
import time

TIMEOUT_S = 30
LOCKSTEP = os.environ.get("SOCKS_LOCKSTEP") == "1"


def split(hostport):
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def connect_request(target):
    host, port = split(target)
    return b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port)


async def open_tunnel(proxy, request):
    """Returns (reader, writer) once the target's first byte arrived; raises otherwise.
    PROXY "direct" connects straight to the target (TUN mode, sshuttle)."""
    direct = proxy == "direct"
    if direct:
        host, port = socket.inet_ntoa(request[4:8]), struct.unpack(">H", request[8:10])[0]
    else:
        host, port = split(proxy)
    r, w = await asyncio.open_connection(host, port)
    try:
        if not direct and LOCKSTEP:
            w.write(b"\x05\x01\x00")
            if await r.readexactly(2) != b"\x05\x00":
                raise ConnectionError("SOCKS method refused")
            w.write(request)
            head = await r.readexactly(10)
            if head[:2] != b"\x05\x00":
                raise ConnectionError(f"SOCKS reply {head[:2].hex()}")
        elif not direct:
            w.write(b"\x05\x01\x00" + request)
            head = await r.readexactly(2 + 10)
            if head[:2] != b"\x05\x00" or head[3] != 0:
                raise ConnectionError(f"SOCKS reply {head[2:4].hex()}")
        if await r.readexactly(1) != b"!":
            raise ConnectionError("wrong first byte")
        return r, w
    except BaseException:
        w.close()
        raise


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def run_connect(proxy, target, count, parallel):
    request = connect_request(target)
    latencies, failed = [], 0
    queue = iter(range(count))

    async def worker():
        nonlocal failed
        for _ in queue:
            start = time.perf_counter()
            try:
                _, w = await asyncio.wait_for(open_tunnel(proxy, request), TIMEOUT_S)
                latencies.append((time.perf_counter() - start) * 1000)
                w.close()
            except Exception:
                failed += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    seconds = time.perf_counter() - start
    return {"ok": len(latencies), "failed": failed, "seconds": round(seconds, 3),
            "rate": round(len(latencies) / seconds, 1),
            "p50_ms": round(percentile(latencies, 50) or 0, 3),
            "p99_ms": round(percentile(latencies, 99) or 0, 3)}


async def run_idle(proxy, target, flows, pid):
    request = connect_request(target)
    before = rss_kb(pid)
    gate = asyncio.Semaphore(200)
    writers, failed, reasons = [], 0, {}

    async def one():
        nonlocal failed
        async with gate:
            try:
                _, w = await asyncio.wait_for(open_tunnel(proxy, request), TIMEOUT_S)
                writers.append(w)
            except Exception as e:
                failed += 1
                why = str(e) or type(e).__name__
                reasons[why] = reasons.get(why, 0) + 1

    await asyncio.gather(*(one() for _ in range(flows)))
    await asyncio.sleep(1)
    after = rss_kb(pid)
    for w in writers:
        w.close()
    await asyncio.sleep(0.5)
    per = (after - before) * 1000 / max(1, len(writers))
    return {"ok": len(writers), "failed": failed, "rss_before_kb": before,
            "rss_after_kb": after, "kb_per_1000": round(per), "errors": reasons}


async def run_server(port):
    async def handle(r, w):
        try:
            w.write(b"!")
            await w.drain()
            while await r.read(4096):
                pass
        except Exception:
            pass
        w.close()

    srv = await asyncio.start_server(handle, "0.0.0.0", port, backlog=8192)
    async with srv:
        await srv.serve_forever()


def main(argv):
    if len(argv) >= 3 and argv[1] == "server":
        return asyncio.run(run_server(int(argv[2])))
    if len(argv) == 6 and argv[1] == "connect":
        out = asyncio.run(run_connect(argv[2], argv[3], int(argv[4]), int(argv[5])))
    elif len(argv) == 6 and argv[1] == "idle":
        out = asyncio.run(run_idle(argv[2], argv[3], int(argv[4]), int(argv[5])))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
