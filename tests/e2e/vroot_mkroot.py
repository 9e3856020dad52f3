#!/usr/bin/env python3
"""vroot_mkroot.py DUMP R [EXCLUDE...] - build a level-3 root from a recording.

DUMP is `gg trace dump --json` (one JSON object per process).  Every path the
recorded processes used and found (their executables and execfn, loader, shared
objects, the files they opened, the paths they stat'ed or resolved) is replicated
under R at its absolute path, the way the kernel resolves it: each symlink met on
the way is created under R as recorded (same target) and followed, directories are
created (empty), the last component is copied if it is a file.  Paths under /proc,
/dev and the EXCLUDE prefixes are left out, and so is anything that no longer
exists on the host (temporaries).  Prints the number of files copied.
"""
import json
import os
import shutil
import sys

SKIP = ("/proc", "/dev")


def under(p, prefixes):
    return any(p == x or p.startswith(x.rstrip("/") + "/") for x in prefixes)


class Root:
    def __init__(self, root):
        self.root = root
        self.files = 0
        self.seen = set()

    def host(self, p):
        return self.root + p

    def put(self, path, depth=0):
        """Replicate absolute `path` (may hold '..' and symlinks) under the root."""
        if depth > 40:
            return
        cur = "/"
        comps = [c for c in path.split("/") if c not in ("", ".")]
        for i, c in enumerate(comps):
            last = i == len(comps) - 1
            if c == "..":
                cur = os.path.dirname(cur) if cur != "/" else "/"
                continue
            nxt = os.path.join(cur, c)
            if os.path.islink(nxt):
                dst = self.host(nxt)
                if not os.path.lexists(dst):
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    os.symlink(os.readlink(nxt), dst)
                target = os.readlink(nxt)
                base = target if target.startswith("/") else os.path.join(cur, target)
                rest = "/".join(comps[i + 1:])
                self.put(base + ("/" + rest if rest else ""), depth + 1)
                return
            if not os.path.exists(nxt):
                return
            if os.path.isdir(nxt):
                os.makedirs(self.host(nxt), exist_ok=True)
            elif last:
                dst = self.host(nxt)
                if not os.path.exists(dst):
                    shutil.copy2(nxt, dst)
                    self.files += 1
            else:
                return
            cur = nxt


def paths(dump):
    with open(dump) as f:
        for line in f:
            im = json.loads(line)
            for k in ("exe", "execfn", "interp"):
                if im.get(k):
                    yield im[k], im.get("cwd") or "/"
            for o in im.get("objects") or []:
                yield o, "/"
            for ev in im.get("events", []):
                op = ev.get("op")
                if op == "open" and ev.get("flags", 0) & 3:
                    continue  # written: an output, not an input
                if op in ("open", "stat") and ev.get("ret", -1) >= 0:
                    yield ev["path"], im.get("cwd") or "/"
                    if op == "stat" and ev.get("fn") == "realpath" and ev.get("target"):
                        yield ev["target"], "/"
                elif op in ("exec", "spawn"):
                    yield ev["path"], im.get("cwd") or "/"


def main():
    dump, root, excl = sys.argv[1], sys.argv[2], sys.argv[3:]
    r = Root(os.path.abspath(root))
    os.makedirs(r.root, exist_ok=True)
    for p, cwd in paths(dump):
        p = os.path.join(cwd, p)
        if under(p, SKIP) or under(p, excl) or p in r.seen:
            continue
        r.seen.add(p)
        r.put(p)
    print(r.files)


if __name__ == "__main__":
    main()
