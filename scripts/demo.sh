#!/usr/bin/env bash
# demo.sh - record GNU hello's build under the shim and show what gg saw.
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

step "./hello (built under the shim)"
./hello
