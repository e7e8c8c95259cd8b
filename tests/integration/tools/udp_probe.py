#!/usr/bin/env python3
"""UDP checks for the integration tests (prints one JSON line; exit 0 = check passed).

  udp_probe.py echo-server ADDR PORT      echo every datagram; "whoami" is answered with
                                          the sender's address and port instead
  udp_probe.py exact HOST PORT COUNT MAX  COUNT datagrams of sizes 1..MAX (cycling), each
                                          sent after the previous one came back, compared
                                          byte for byte
  udp_probe.py mapping HOST:PORT HOST:PORT one socket asks both "whoami": the source
                                          address and port each saw must be the same
  udp_probe.py refused HOST PORT [ERRNO]  a datagram must be answered within 2 s by the
                                          ICMP error the kernel reports as ERRNO
                                          (default ECONNREFUSED: port unreachable)
  udp_probe.py flows HOST PORT COUNT      COUNT datagrams, each from a new source port
                                          (a raw socket writes the IPv4/UDP headers), then
                                          one normal round trip must still work
"""
import errno
import json
import os
import random
import socket
import struct
import sys
import time


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def split_hp(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def echo_server(addr, port):
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(65535)
        if data == b"whoami":
            data = f"{peer[0]} {peer[1]}".encode()
        s.sendto(data, peer)


def exact(host, port, count, max_size):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(2.0)
    rng = random.Random(7)
    lost = bad = 0
    started = time.monotonic()
    for i in range(count):
        # Every size of 1..max_size once per max_size datagrams (7919 is prime), in an
        # order that also spreads short runs over the whole range; the last is max_size.
        size = max_size if i == count - 1 else 1 + (i * 7919) % max_size
        data = rng.randbytes(size)
        got = None
        for _ in range(3):  # a lost datagram is counted, then sent again
            s.send(data)
            try:
                got = s.recv(65535)
                break
            except socket.timeout:
                lost += 1
        if got != data:
            bad += 1
    secs = time.monotonic() - started
    ok = lost == 0 and bad == 0
    print(json.dumps({"ok": ok, "count": count, "max_size": max_size, "lost": lost,
                      "bad": bad, "seconds": round(secs, 2)}))
    return ok


def mapping(a, b):
    ha, pa = split_hp(a)
    hb, pb = split_hp(b)
    s = socket.socket(family_of(ha), socket.SOCK_DGRAM)
    s.settimeout(2.0)
    seen = []
    for h, p in ((ha, pa), (hb, pb)):
        for _ in range(3):
            s.sendto(b"whoami", (h, p))
            try:
                data, _ = s.recvfrom(200)
                seen.append(data.decode())
                break
            except socket.timeout:
                continue
    ok = len(seen) == 2 and seen[0] == seen[1]
    print(json.dumps({"ok": ok, "seen": seen}))
    return ok


def refused(host, port, expect="ECONNREFUSED"):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(2.0)
    started = time.monotonic()
    result = "timeout"
    try:
        s.send(b"anyone there?")
        s.recv(100)
        result = "answered"
    except socket.timeout:
        pass
    except OSError as e:  # the ICMP error the kernel turned into an errno
        result = errno.errorcode.get(e.errno, str(e.errno))
    ms = round((time.monotonic() - started) * 1000, 1)
    print(json.dumps({"ok": result == expect, "result": result, "ms": ms}))
    return result == expect


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def flows(host, port, count):
    # The source address the kernel would pick for this destination.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((host, port))
    src = probe.getsockname()[0]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(host)
    payload = b"flood"
    started = time.monotonic()
    base = struct.unpack("!I", saddr)[0]
    for i in range(count):
        # Past 60,000 flows the source address moves on too (src+1, src+2, ...).
        sport = 1024 + i % 60000
        saddr = struct.pack("!I", base + i // 60000)
        udp_len = 8 + len(payload)
        pseudo = saddr + daddr + struct.pack("!BBH", 0, 17, udp_len)
        header = struct.pack("!HHHH", sport, port, udp_len, 0)
        csum = checksum(pseudo + header + payload) or 0xFFFF
        udp = struct.pack("!HHHH", sport, port, udp_len, csum) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, i & 0xFFFF, 0, 64, 17, 0,
                         saddr, daddr)
        try:
            raw.sendto(ip + udp, (host, 0))
        except OSError:
            time.sleep(0.001)  # the TUN queue is full: let the daemon drain it
    secs = time.monotonic() - started
    # The daemon must still carry a normal round trip afterwards.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(2.0)
    answered = False
    for _ in range(5):
        s.send(b"still there?")
        try:
            answered = s.recv(100) == b"still there?"
            break
        except socket.timeout:
            continue
    print(json.dumps({"ok": answered, "sent": count, "seconds": round(secs, 2),
                      "answered_after": answered}))
    return answered


def main(argv):
    cmd = argv[1]
    if cmd == "echo-server":
        echo_server(argv[2], int(argv[3]))
        return 0
    if cmd == "exact":
        return 0 if exact(argv[2], int(argv[3]), int(argv[4]), int(argv[5])) else 1
    if cmd == "mapping":
        return 0 if mapping(argv[2], argv[3]) else 1
    if cmd == "refused":
        return 0 if refused(argv[2], int(argv[3]), *argv[4:5]) else 1
    if cmd == "flows":
        return 0 if flows(argv[2], int(argv[3]), int(argv[4])) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
