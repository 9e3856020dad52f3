#!/usr/bin/env python3
"""Checks gg's inferred graph of a real build against the build's own knowledge.

usage: check_graph.py GG TREE DEPS PRODUCT...

With STAMP=FILE in the environment, only files modified after FILE count as the
build's artifacts (configure steps before the recording leave binaries too).

GG      the gg binary; run in TREE (which holds .gg/ with an inferred graph)
DEPS    a file of "object: source header header ..." lines, one per compiled object,
        as the compiler itself reported them (gcc -MD files, `ninja -t deps`)
PRODUCT the build's final products (relative to TREE): executables and libraries

Prints TAP lines, one per property, and exits 1 if any failed:
  - every .o, library and executable of the tree has exactly one producing thunk;
  - each link thunk references the thunks of the objects and libraries it linked;
  - each compile thunk's inputs include its source and every header the compiler
    reported, and its objects include cc1 and as and all their shared objects;
  - every thunk producing an object, library or header has an output some other
    thunk reads, unless it produces a final product.
"""
import json
import os
import subprocess
import sys


def run(gg, tree, *args):
    out = subprocess.run([gg, *args], cwd=tree, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"gg {' '.join(args)}: exit {out.returncode}: {out.stderr}")
    return out.stdout


def ldd(path):
    """The shared objects a binary loads, by real path."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    libs = set()
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            i = parts.index("=>")
            if i + 1 < len(parts) and parts[i + 1].startswith("/"):
                libs.add(os.path.realpath(parts[i + 1]))
        elif parts and parts[0].startswith("/"):
            libs.add(os.path.realpath(parts[0]))
    return libs


def is_artifact(path):
    base = os.path.basename(path)
    return (base.endswith(".o") or base.endswith(".a") or ".so" in base
            or (os.path.isfile(path) and os.access(path, os.X_OK)
                and open(path, "rb").read(4) == b"\x7fELF"))


def main():
    gg, tree, depsfile, products = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    tree = os.path.realpath(tree)
    failed = 0

    def check(ok, what, details=()):
        nonlocal failed
        print(("ok - " if ok else "not ok - ") + what)
        if not ok:
            failed += 1
            for d in list(details)[:20]:
                print("# " + str(d))

    graph = json.loads(run(gg, tree, "graph", "--json"))
    thunks = graph["thunks"]
    by_hash = {t["hash"]: t for t in thunks}
    finals = {}
    for t in thunks:
        for o in t["outputs"]:
            if o["final"]:
                finals.setdefault(o["path"], []).append(t["hash"])

    # 1. artifacts: exactly one producer
    artifacts = []
    since = os.stat(os.environ["STAMP"]).st_mtime if os.environ.get("STAMP") else 0
    for root, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if d != ".gg"]
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p) and is_artifact(p) and os.stat(p).st_mtime >= since:
                artifacts.append(p)
    bad = [f"{os.path.relpath(p, tree)}: {len(finals.get(p, []))} producers"
           for p in artifacts if len(finals.get(p, [])) != 1]
    check(artifacts and not bad,
          f"each of the {len(artifacts)} objects, libraries and executables has exactly one producing thunk",
          bad)

    shows = {}

    def show(path):
        if path not in shows:
            shows[path] = json.loads(run(gg, tree, "show", "--json", path))
        return shows[path]

    # 2. link thunks reference the thunks of what they linked
    bad = []
    for prod in products:
        if os.path.islink(os.path.join(tree, prod)):
            continue
        s = show(os.path.join(tree, prod))
        linked = [i for i in s["inputs"]
                  if i["path"].endswith((".o", ".a")) or ".so" in os.path.basename(i["path"])]
        if not linked:
            bad.append(f"{prod}: links no object")
        for i in linked:
            want = finals.get(i["path"])
            if want and i["hash"] != want[0]:
                bad.append(f"{prod}: input {i['path']} is {i['hash']}, its producer is {want[0]}")
            if not want and i["path"].startswith(tree + "/"):
                bad.append(f"{prod}: input {i['path']} has no producing thunk")
    check(not bad, f"the link thunks of {', '.join(products)} reference the thunks of what they linked", bad)

    # 3. compile thunks: source, headers, cc1, as and their shared objects
    deps = []
    with open(depsfile) as f:
        for line in f:
            if ":" in line:
                obj, rest = line.split(":", 1)
                deps.append((obj.strip(), rest.split()))
    bad = []
    tools_seen = set()
    for obj, files in deps:
        objpath = os.path.join(tree, obj) if not obj.startswith("/") else obj
        try:
            s = show(objpath)
        except RuntimeError as e:
            bad.append(str(e))
            continue
        inputs = {os.path.normpath(i["path"]) for i in s["inputs"]}
        objects = {os.path.realpath(o["path"]) for o in s["objects"]}
        for f in files:
            fp = os.path.normpath(f if f.startswith("/") else os.path.join(s["cwd"], f))
            if fp not in inputs:
                bad.append(f"{obj}: {fp} not among the inputs")
        for tool in ("cc1", "as"):
            found = [o for o in s["objects"] if os.path.basename(o["path"]) in
                     (tool, "x86_64-linux-gnu-" + tool)]
            if not found:
                bad.append(f"{obj}: no {tool} among the objects")
                continue
            tools_seen.add(tool)
            missing = ldd(found[0]["path"]) - objects
            if missing:
                bad.append(f"{obj}: shared objects of {tool} missing: {sorted(missing)}")
    check(deps and not bad,
          f"the {len(deps)} compile thunks hold their source, every header gcc reported, cc1, as and their shared objects",
          bad)

    # 4. no thunk whose output nobody uses, but the final products
    read = set()
    for t in thunks:
        for d in t["deps"]:
            read.add(d)
    prod_paths = {os.path.join(tree, p) for p in products}
    bad = []
    for t in thunks:
        outs = [o["path"] for o in t["outputs"]]
        if not any(is_artifact(p) or p.endswith(".h") for p in outs):
            continue
        if t["hash"] in read or prod_paths & set(outs):
            continue
        bad.append(f"{t['label']}: nothing reads its outputs {outs}")
    check(not bad, "every thunk producing an object, library or header feeds another thunk or is a final product", bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
