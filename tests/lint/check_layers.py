#!/usr/bin/env python3
"""Fails when an #include points up the layer order of DESIGN.md section 3:

    common/ (pure) <- io/ (files) <- core/ <- transport/, ssh/ <- proxy/, tun/, stealth/
                   <- client/, server/ <- profile/ <- control/ <- main

A file may include its own directory and anything in a lower layer; directories of the
same layer do not include each other. ctl/ (ghostctl) may include only common/ and io/.
Usage: tests/lint/check_layers.py [REPO_ROOT]"""

import pathlib
import re
import sys

RANK = {
    "common": 0,
    "io": 1,
    "core": 2, "systemd": 2,
    "transport": 3, "ssh": 3,
    "proxy": 4, "tun": 4, "stealth": 4,
    "client": 5, "server": 5,
    "profile": 6,
    "control": 7,
    "main": 8,
}
INCLUDE = re.compile(r'\s*#\s*include\s+"([^"]+)"')


def layer_of(path: pathlib.PurePosixPath) -> str:
    """The layer of a file (source) or an include path (target)."""
    parts = path.parts
    if parts[0] in ("common", "io"):
        return parts[0]
    if parts[0] == "ctl":
        return "ctl"
    if parts[0] == "daemon":
        return parts[1] if len(parts) > 2 else "main"
    return ""


def allowed(src: str, dst: str) -> bool:
    if src == dst or dst == "":
        return True
    if src == "ctl":
        return dst in ("common", "io")
    if src not in RANK or dst not in RANK:
        return False
    return RANK[dst] < RANK[src]


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    bad = []
    for top in ("common", "io", "daemon", "ctl"):
        for f in sorted((root / top).rglob("*")):
            if f.suffix not in (".cpp", ".hpp", ".h"):
                continue
            rel = pathlib.PurePosixPath(f.relative_to(root).as_posix())
            src = layer_of(rel)
            if src not in RANK and src != "ctl":
                bad.append(f"{rel}: directory '{src}' has no layer (add it to {__file__})")
                continue
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                dst = layer_of(pathlib.PurePosixPath(m.group(1)))
                if not allowed(src, dst):
                    bad.append(f"{rel}:{n}: {src}/ includes {m.group(1)} ({dst}/ is not below it)")
    for b in bad:
        print(b)
    if bad:
        print(f"{len(bad)} include(s) point up the layers (DESIGN.md section 3)")
        return 1
    print("layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
