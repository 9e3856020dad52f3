#!/usr/bin/env python3
"""Check that every compile command bear saw was recorded by gg.

usage: compare_bear.py COMPILE_COMMANDS_JSON TRACE_DUMP_JSONL

COMPILE_COMMANDS_JSON is bear's output; TRACE_DUMP_JSONL is `gg trace dump --json`
(one object per process image).  Each compile command must match a recorded
process image with the same working directory and the same arguments, where:

- argv[0] is compared loosely: bear writes the compiler it resolved
  (/usr/bin/gcc) where the build ran `gcc` or `cc`: the names match if their
  basenames are equal or they resolve to the same file (through the image's
  PATH, or the recorded exe);
- bear 3 does not write argv as it was run: it parses the command and writes
  it back as [compiler, flags..., "-c", "-o", OUTPUT, SOURCE], dropping the
  dependency-file options (-MD, -MMD, -MP, -MG, -MF F, -MT T, -MQ Q, -M, -MM).
  So both sides are put in that form: dependency options and "-c" dropped, the
  output of "-o" taken out and compared on its own;
- what is left of argv[1:] (the flags and the source, in order) must be equal.

Prints `# ` diagnostics and exits 0 when every command was found, 1 otherwise,
2 when an input cannot be read.
"""
import json
import os
import shlex
import shutil
import sys

DEP_FLAGS_WITH_ARG = {"-MF", "-MT", "-MQ"}
DEP_FLAGS = {"-M", "-MM", "-MD", "-MMD", "-MP", "-MG"}


def canonical(args):
    """argv[1:] in the form bear writes: (flags and sources in order, output)."""
    out = []
    output = None
    it = iter(args)
    for a in it:
        if a in DEP_FLAGS or a == "-c":
            continue
        if a in DEP_FLAGS_WITH_ARG:
            next(it, None)
            continue
        if a[:3] in DEP_FLAGS_WITH_ARG:  # joined form: -MFfile
            continue
        if a == "-o":
            output = next(it, None)
            continue
        if a.startswith("-o"):
            output = a[2:]
            continue
        out.append(a)
    return (tuple(out), output)


def norm_dir(d):
    return os.path.normpath(d) if d else d


def real(path):
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def resolve(arg0, env, cwd):
    """The file argv[0] names, searched like execvp would with the image's PATH."""
    if "/" in arg0:
        return real(os.path.join(cwd or "/", arg0))
    path = None
    for kv in env or []:
        if kv.startswith("PATH="):
            path = kv[5:]
    found = shutil.which(arg0, path=path)
    return real(found) if found else None


def same_compiler(bear0, proc, cwd):
    argv0 = proc["argv"][0]
    if os.path.basename(bear0) == os.path.basename(argv0):
        return True
    want = real(bear0 if os.path.isabs(bear0) else os.path.join(cwd, bear0))
    for cand in (proc.get("exe"), proc.get("execfn"),
                 resolve(argv0, proc.get("env"), cwd)):
        if cand and real(cand) == want:
            return True
    return False


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            commands = json.load(f)
    except (OSError, ValueError) as e:
        print(f"# cannot read compile commands '{sys.argv[1]}': {e}")
        return 2
    procs = []
    try:
        with open(sys.argv[2], encoding="utf-8", errors="surrogateescape") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    procs.append(json.loads(line))
                except ValueError as e:
                    print(f"# trace dump line {n} is not JSON: {e}: {line[:200]!r}")
                    return 2
    except OSError as e:
        print(f"# cannot read trace dump '{sys.argv[2]}': {e}")
        return 2

    # Index recorded images by (cwd, canonical argv[1:]).
    index = {}
    for p in procs:
        argv = p.get("argv") or []
        if not argv:
            continue  # a fork image: same program as its parent
        key = (norm_dir(p.get("cwd")), canonical(argv[1:]))
        index.setdefault(key, []).append(p)

    if not commands:
        print("# bear recorded no compile command")
        return 1
    missing = 0
    for c in commands:
        args = c.get("arguments")
        if args is None:
            args = shlex.split(c["command"])
        cwd = norm_dir(c["directory"])
        key = (cwd, canonical(args[1:]))
        cands = index.get(key, [])
        if any(same_compiler(args[0], p, cwd) for p in cands):
            continue
        missing += 1
        if missing <= 10:
            print(f"# not in the trace: (cd {shlex.quote(cwd)} && {shlex.join(args)})")
            if cands:
                print(f"#   same arguments recorded with argv[0] "
                      f"{[p['argv'][0] for p in cands]!r} exe {[p.get('exe') for p in cands]!r}")
            else:
                near = [p for k, ps in index.items() if k[1] == key[1] for p in ps]
                if near:
                    print(f"#   same arguments recorded in cwd {[p.get('cwd') for p in near]!r}")
    print(f"# {len(commands) - missing} of {len(commands)} compile commands found "
          f"among {len(procs)} recorded process images")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
