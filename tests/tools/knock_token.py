#!/usr/bin/env python3
"""Prints a knock token as a ghost client makes it (common/stealth/knock.hpp), for tests.

  knock_token.py SECRET_FILE PATH [--age SECONDS]

--age makes the token that many seconds old (negative: from the future).
"""
import argparse
import base64
import hashlib
import hmac
import os
import struct
import time

p = argparse.ArgumentParser()
p.add_argument("secret_file")
p.add_argument("path")
p.add_argument("--age", type=int, default=0)
a = p.parse_args()
secret = open(a.secret_file, "rb").read().strip()
ts_nonce = struct.pack(">Q", int(time.time()) - a.age) + os.urandom(16)
mac = hmac.new(secret, b"ghost-knock-v1" + ts_nonce + a.path.encode(), hashlib.sha256).digest()
print(base64.urlsafe_b64encode(ts_nonce + mac).decode().rstrip("="))
