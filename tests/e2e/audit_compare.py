#!/usr/bin/env python3
"""Compare two compilation databases as sets of (file, directory, arguments).

usage: audit_compare.py GG_JSON BEAR_JSON

Prints `# ` diagnostics (entries only one side has) and exits 0 when the sets are
equal, 1 when they differ, 2 when a file cannot be read.  Both sides must also have
no entry twice.
"""
import json
import sys


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print("# cannot read %s: %s" % (path, e))
        sys.exit(2)


def key(e):
    return (e["file"], e["directory"], tuple(e["arguments"]))


def main():
    gg, bear = load(sys.argv[1]), load(sys.argv[2])
    g, b = {key(e) for e in gg}, {key(e) for e in bear}
    bad = 0
    for side, entries, s in (("gg", gg, g), ("bear", bear, b)):
        if len(s) != len(entries):
            print("# %s has %d entries, %d distinct" % (side, len(entries), len(s)))
    for k in sorted(g - b):
        print("# only gg:   %s in %s: %s" % (k[0], k[1], " ".join(k[2])))
        bad = 1
    for k in sorted(b - g):
        print("# only bear: %s in %s: %s" % (k[0], k[1], " ".join(k[2])))
        bad = 1
    print("# %d entries from gg, %d from bear" % (len(g), len(b)))
    return bad


if __name__ == "__main__":
    sys.exit(main())
