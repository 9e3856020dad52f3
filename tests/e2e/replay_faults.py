#!/usr/bin/env python3
"""replay_faults.py - helpers for tests/e2e/replay-faults.sh.

    replay_faults.py outputs GRAPH                 every output path of the graph
    replay_faults.py value GRAPH PATH              the recorded value of PATH's final version
    replay_faults.py thunk GRAPH PATH              the hash of the thunk producing PATH
    replay_faults.py blob GGDIR HASH               the blob file of a V... or T... hash
    replay_faults.py flip FILE                     invert one byte in the middle of FILE
    replay_faults.py flippack GGDIR HASH           invert one byte in the middle of thunk
                                                   HASH's encoding in GGDIR/thunks.pack
    replay_faults.py findblob GGDIR FILE           the blob holding FILE's bytes (exit 1: none)
    replay_faults.py where GGDIR HASH              where value HASH is, as `gg cache verify`
                                                   names it: its file, else "PACK (value HASH)"
    replay_faults.py has GGDIR HASH                exit 0 if the store holds value HASH (loose
                                                   or packed), else 1
    replay_faults.py drop GGDIR HASH               remove value HASH from the store: its file,
                                                   and its entry of every value pack (written
                                                   again, trailer and all)
    replay_faults.py corrupt GGDIR HASH            invert one byte of value HASH where it is
                                                   (its file, else its bytes in a pack)
    replay_faults.py descendants PID               "pid starttime" of PID's descendants
    replay_faults.py strays LIST TREE              exit 1 (saying which) if a process of LIST
                                                   still lives, or any process runs with
                                                   PWD=TREE in its environment
    replay_faults.py tree OUTPUTS BUILT TREE GGDIR every output is absent in TREE, equal to
                                                   its copy in BUILT (the recorded build),
                                                   or a whole value from GGDIR's store (a
                                                   path several thunks write); and no
                                                   materialization temporary (*.gg-*.tmp)
                                                   is anywhere in TREE
    replay_faults.py counts LOG [--json]           the summary of a `gg build` in LOG (its
                                                   text line, or with --json its last line)
                                                   counts every thunk once: total = cached +
                                                   ran + re-recorded + failed + skipped, with
                                                   a failure and a skipped dependent

GRAPH is the output of `gg graph --json`.
"""
import json
import os
import re
import sys


def load(graph):
    with open(graph) as f:
        return json.load(f)


def outputs(graph):
    seen = set()
    for t in load(graph)["thunks"]:
        for o in t["outputs"]:
            if o["path"] not in seen:
                seen.add(o["path"])
                print(o["path"])


def final_output(graph, path):
    for t in load(graph)["thunks"]:
        for o in t["outputs"]:
            if o["path"] == path and o.get("final", True):
                return t, o
    sys.exit("no thunk produces %s" % path)


def blob(ggdir, h):
    return os.path.join(ggdir, "blobs", h[1:3], h[3:] + (".t" if h[0] == "T" else ""))


def flip(path):
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        data = f.read()
        off = len(data) // 2
        f.seek(off)
        f.write(bytes([data[off] ^ 0xFF]))
    os.chmod(path, 0o444)


def flippack(ggdir, h):
    path = os.path.join(ggdir, "thunks.pack")
    with open(path, "r+b") as f:
        data = f.read()
        count = int.from_bytes(data[12:16], "little")
        for i in range(count):
            e = data[16 + 28 * i:16 + 28 * (i + 1)]
            if e[:16].hex() == h[1:]:
                off = int.from_bytes(e[16:24], "little") + int.from_bytes(e[24:28], "little") // 2
                f.seek(off)
                f.write(bytes([data[off] ^ 0xFF]))
                return
    sys.exit(f"{h} is not in {path}")


def packs(ggdir):
    """[(path, [(hash, offset, len)])] of GGDIR's value packs (runtime/store/blobpack.h)."""
    out = []
    top = os.path.join(ggdir, "packs")
    for name in sorted(os.listdir(top)) if os.path.isdir(top) else []:
        p = os.path.join(top, name)
        with open(p, "rb") as f:
            data = f.read()
        if data[:8] != b"GGVPACK\0":
            continue
        count = int.from_bytes(data[12:16], "little")
        ents = []
        for i in range(count):
            e = data[16 + 28 * i:16 + 28 * (i + 1)]
            ents.append(("V" + e[:16].hex(), int.from_bytes(e[16:24], "little"),
                         int.from_bytes(e[24:28], "little")))
        out.append((p, ents))
    return out


def where(ggdir, h):
    loose = blob(ggdir, h)
    if os.path.exists(loose):
        return loose
    for p, ents in packs(ggdir):
        if any(e[0] == h for e in ents):
            return "%s (value %s)" % (p, h)
    return None


def drop(ggdir, h):
    loose = blob(ggdir, h)
    if os.path.exists(loose):
        os.unlink(loose)
    for p, ents in packs(ggdir):
        if not any(e[0] == h for e in ents):
            continue
        with open(p, "rb") as f:
            data = f.read()
        kept = [e for e in ents if e[0] != h]
        base = 16 + 28 * len(kept)
        index, body = b"", b""
        for name, off, n in kept:
            index += bytes.fromhex(name[1:]) + (base + len(body)).to_bytes(8, "little") + n.to_bytes(4, "little")
            body += data[off:off + n]
        head = data[:12] + len(kept).to_bytes(4, "little") + index + body
        with open(p, "wb") as f:  # (the trailer: XXH3-128 of the rest, as gg writes it)
            f.write(head + xxh128(head))


def xxh128(data):
    """The digest gg's trailer holds, from `gg cache put` of the bytes (its own hash)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "bytes"), "wb") as f:
            f.write(data)
        env = dict(os.environ, GG_DIR=os.path.join(d, "gg"))
        out = subprocess.run([os.environ["GG"], "cache", "put", os.path.join(d, "bytes")],
                             env=env, check=True, capture_output=True, text=True).stdout.split()[0]
    return bytes.fromhex(out[1:])


def corrupt(ggdir, h):
    loose = blob(ggdir, h)
    if os.path.exists(loose):
        flip(loose)
        return
    for p, ents in packs(ggdir):
        for name, off, n in ents:
            if name == h:
                with open(p, "r+b") as f:
                    f.seek(off + n // 2)
                    b = f.read(1)
                    f.seek(off + n // 2)
                    f.write(bytes([b[0] ^ 0xFF]))
                return
    sys.exit(f"{h} is not in {ggdir}")


def read(path):
    if os.path.islink(path):
        return os.readlink(path).encode()
    with open(path, "rb") as f:
        return f.read()


class Store:
    """Blob files of a store by size, to find a file's bytes among them."""

    def __init__(self, ggdir):
        self.by_size = {}
        top = os.path.join(ggdir, "blobs")
        for shard in os.listdir(top) if os.path.isdir(top) else []:
            d = os.path.join(top, shard)
            for name in os.listdir(d):
                p = os.path.join(d, name)
                if not name.endswith(".t") and os.path.isfile(p):
                    self.by_size.setdefault(os.path.getsize(p), []).append((p, None))
        for p, ents in packs(ggdir):
            for name, off, n in ents:
                self.by_size.setdefault(n, []).append((p, (name, off)))

    def find(self, data):
        for p, packed in self.by_size.get(len(data), []):
            if packed is None and read(p) == data:
                return p
            if packed is not None:
                with open(p, "rb") as f:
                    f.seek(packed[1])
                    if f.read(len(data)) == data:
                        return "%s (value %s)" % (p, packed[0])
        return None


def proc_stat(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    after = s[s.rindex(")") + 2:].split()
    return {"state": after[0], "ppid": int(after[1]), "start": after[19]}


def all_procs():
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(name)
            if st:
                yield int(name), st


def descendants(root):
    children = {}
    for pid, st in all_procs():
        children.setdefault(st["ppid"], []).append((pid, st["start"]))
    todo = [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            print(pid, start)
            todo.append(pid)


def strays(listfile, tree):
    bad = []
    with open(listfile) as f:
        for line in f:
            pid, start = line.split()
            st = proc_stat(pid)
            if st and st["start"] == start and st["state"] not in ("Z", "X"):
                bad.append("pid %s (%s) still runs" % (pid, cmdline(pid)))
    want = b"PWD=" + tree.encode()
    for pid, st in all_procs():
        if pid == os.getpid() or st["state"] in ("Z", "X"):
            continue
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if want in env:
            bad.append("pid %d (%s) runs in the tree" % (pid, cmdline(pid)))
    for b in bad:
        print(b)
    sys.exit(1 if bad else 0)


def cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def tree(outputs_file, built, root, ggdir):
    store = Store(ggdir)
    bad = []
    n = 0
    with open(outputs_file) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    for p in paths:
        if not os.path.lexists(p):
            continue
        n += 1
        rel = os.path.relpath(p, root)
        data = read(p)
        ref = os.path.join(built, rel)
        if os.path.lexists(ref) and read(ref) == data:
            continue
        if store.find(data):
            continue  # a whole version gg produced (an earlier writer's)
        bad.append("'%s' is neither the recorded version nor a stored value (%d bytes)" % (rel, len(data)))
    for d, _, files in os.walk(root):
        for name in files:
            if ".gg-" in name and name.endswith(".tmp"):
                bad.append("temporary left in the tree: '%s'" % os.path.relpath(os.path.join(d, name), root))
    for b in bad:
        print(b)
    print("%d outputs present, %d of %d checked bad" % (n, len(bad), len(paths)))
    sys.exit(1 if bad else 0)


def counts(log, *opts):
    with open(log) as f:
        lines = f.read().splitlines()
    if "--json" in opts:
        d = json.loads(lines[-1])
        parts = [d["total"], d["cached"], d["ran"], d["corrected"], d["failed"], d["skipped"]]
    else:
        pat = re.compile(r"^gg: (\d+) thunks: (\d+) cached, (\d+) ran, (\d+) re-recorded, "
                         r"(\d+) failed, (\d+) skipped \(")
        found = [m for m in map(pat.match, lines) if m]
        if len(found) != 1:
            sys.exit("no summary line (or several) in %s" % log)
        parts = [int(x) for x in found[0].groups()]
    total, rest = parts[0], parts[1:]
    print("total %d = cached %d + ran %d + re-recorded %d + failed %d + skipped %d" % (total, *rest))
    sys.exit(0 if total == sum(rest) and rest[3] >= 1 and rest[4] >= 1 else 1)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "outputs":
        outputs(*args)
    elif cmd == "value":
        print(final_output(*args)[1]["value"])
    elif cmd == "thunk":
        print(final_output(*args)[0]["hash"])
    elif cmd == "blob":
        print(blob(*args))
    elif cmd == "flip":
        flip(*args)
    elif cmd == "flippack":
        flippack(*args)
    elif cmd == "findblob":
        p = Store(args[0]).find(read(args[1]))
        if not p:
            sys.exit(1)
        print(p)
    elif cmd == "where":
        w = where(*args)
        if not w:
            sys.exit(f"{args[1]} is not in {args[0]}")
        print(w)
    elif cmd == "has":
        sys.exit(0 if where(*args) else 1)
    elif cmd == "drop":
        drop(*args)
    elif cmd == "corrupt":
        corrupt(*args)
    elif cmd == "descendants":
        descendants(int(args[0]))
    elif cmd == "strays":
        strays(*args)
    elif cmd == "tree":
        tree(*args)
    elif cmd == "counts":
        counts(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
