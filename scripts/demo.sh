#!/usr/bin/env bash
# demo.sh - record GNU hello's build under the shim, infer its thunks, wipe the
# build outputs and replay them in the sandbox with the embedded local engine.
# Run by `make demo` (which installs missing dependencies and builds gg first).
# Environment: BUILD (build directory, default build), GG_KEEP=1 keeps the tree.
set -euo pipefail

cd "$(dirname "$0")/.."
top=$(pwd -P)
BUILD=${BUILD:-build}
case "$BUILD" in
/*) ;;
*) BUILD=$top/$BUILD ;;
esac
gg=$BUILD/bin/gg
[[ -x "$gg" && -f "$BUILD/lib/libggshim.so" ]] ||
	{ echo "demo: gg is not built: run 'make demo' (or 'make')" >&2; exit 1; }
unset LD_PRELOAD GG_DIR GG_TRACE_DIR GG_SHIM_OFF

work=$(mktemp -d "${TMPDIR:-/tmp}/gg-demo.XXXXXX")
cleanup() {
	if [[ "${GG_KEEP:-}" == 1 ]]; then
		echo
		echo "The tree and its trace are kept in $work/hello (try: cd $work/hello && $gg trace dump | less)"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

step() {
	echo
	echo "==> $*"
}

step "Fetching GNU hello 2.10 (Debian bookworm source package, cached after the first time)"
"$top/scripts/corpus.sh" hello "$work/hello"
cd "$work/hello"
echo "$PWD"

step "./configure (not recorded)"
./configure >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
tail -n 3 "$work/configure.log"

step "gg init && gg record -- make -j2"
"$gg" init
rc=0
"$gg" record -- make -j2 >"$work/make.log" 2>&1 || rc=$?
echo "... $(wc -l <"$work/make.log") lines of make output, the last ones:"
tail -n 4 "$work/make.log"
echo "exit status: $rc"
((rc == 0)) || { cat "$work/make.log"; exit "$rc"; }

step "gg trace summary"
"$gg" trace summary

step "Compile commands found in the trace (from gg trace dump --json)"
"$gg" trace dump --json >"$work/dump.jsonl"
python3 - "$work/dump.jsonl" <<'PY'
import json, os, re, sys
compiler = re.compile(r"(^|-)(cc|gcc|clang|c\+\+|g\+\+|clang\+\+)(-[0-9.]+)?$")
procs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
found = [p for p in procs
         if p.get("argv") and "-c" in p["argv"]
         and compiler.search(os.path.basename(p["argv"][0]))]
print(f"{len(procs)} process images recorded, {len(found)} of them compile commands")
if found:
    print("the first one, in full:")
    print(f"  cwd  {found[0].get('cwd')}")
    print(f"  argv {json.dumps(found[0]['argv'])}")
    print("all of them, as source -> object:")
for p in found:
    argv = p["argv"]
    out = argv[argv.index("-o") + 1] if "-o" in argv[:-1] else "?"
    srcs = [a for a in argv[1:] if re.search(r"\.(c|cc|cpp|cxx|S|s)$", a)]
    print(f"  {argv[0]}: {' '.join(srcs) or '?'} -> {out}")
PY

step "gg infer --stats: the recording cut into thunks, their inputs hashed into .gg/"
"$gg" infer --stats

step "gg show hello: the thunk that linked it"
"$gg" show hello | sed -n '1,12p'

step "Deleting every build output (every file a thunk produced) and the results cache"
"$gg" graph --json | python3 -c '
import json, os, sys
n = 0
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"]); n += 1
print(f"{n} files deleted")'
rm -rf .gg/cache
ls hello 2>/dev/null || echo "(no ./hello any more)"

step "gg build -j2: every thunk runs in the sandbox (namespaces + seccomp)"
time "$gg" build -j2

step "./hello (rebuilt by gg)"
./hello

step "gg cache: what the store holds"
"$gg" cache stats 2>/dev/null || du -sh .gg/blobs .gg/cache

step "gg build again: everything is cached, nothing runs"
time "$gg" build

step "gg verify --all: every thunk re-executed, outputs compared with the known result of its inputs"
"$gg" verify --all | tail -n 1
