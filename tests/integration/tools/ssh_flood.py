#!/usr/bin/python3
"""Floods an SSH server with channel requests (server_request_flood.sh).

  ssh_flood.py PORT KEY HOST_FP TARGET_PORT N

Logs in with KEY (host key fingerprint SHA256:... must be HOST_FP), opens a direct-tcpip
channel to 127.0.0.1:TARGET_PORT, sends N "env" channel requests without want-reply (a
server answers none of them; each is a request libssh hands to the application), then
one HTTP request through the same channel and prints "ok N SECONDS" once the answer came.
Needs paramiko (Debian python3-paramiko), hence /usr/bin/python3.
"""
import base64
import hashlib
import socket
import sys
import time

import paramiko


def main(argv):
    port, key_file, host_fp, target, n = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
    t = paramiko.Transport(sock)
    t.start_client(timeout=30)
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(t.get_remote_server_key().asbytes()).digest()).decode().rstrip("=")
    if fp != host_fp:
        print(f"host key {fp}, want {host_fp}", file=sys.stderr)
        return 2
    t.auth_publickey("ghost", paramiko.Ed25519Key.from_private_key_file(key_file))
    chan = t.open_channel("direct-tcpip", ("127.0.0.1", target), ("127.0.0.1", 0), timeout=30)
    start = time.monotonic()
    for i in range(n):
        chan.set_environment_variable(f"V{i % 1000}", "x")  # want-reply false
    chan.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    chan.settimeout(120)
    data = b""
    while chunk := chan.recv(65536):
        data += chunk
    if not data.startswith(b"HTTP/1.0 200"):
        print(f"answer after the flood: {data[:60]!r}", file=sys.stderr)
        return 1
    print(f"ok {n} {time.monotonic() - start:.1f}")
    t.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
