#!/usr/bin/env bash
# Proves that on a recorded GNU hello build (make -j2, automake) `gg audit edges` finds every edge declared and exits 0, `gg audit compile-commands` equals bear's database for the same build as a set of (file, directory, arguments), `gg audit system --json` lists libc6-dev and gcc-12 (and caches dpkg), and the why, rdeps, local-only, graph and summary reports answer.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

json_check() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
ok = eval(sys.argv[2])
if not ok:
    print(json.dumps(d, indent=1)[:3000])
sys.exit(0 if ok else 1)
EOF
}

src=$T/hello
setup "fetch GNU hello" corpus hello "$src"
setup "./configure" configure_cached "$src" ./configure
# bear and gg see the same build at the same path (compilers embed it)
snapshot "$src" "$T/pristine"
setup "bear -- make -j2" in_dir "$src" bear --output "$T/bear.json" -- make -j2
restore "$T/pristine" "$src"
setup "gg record -- make -j2" in_dir "$src" "$GG" record -- make -j2
setup "gg infer" in_dir "$src" "$GG" infer

# hello's Makefile is right: its generated headers (gnulib's lib/*.h) are
# BUILT_SOURCES, made by the top make before it runs `make all-recursive`, and
# the objects name them in their .deps/*.Po files.
tap_run "gg audit edges exits 0" "$T/edges.txt" in_dir "$src" "$GG" audit edges
in_dir "$src" "$GG" audit edges --json --all >"$T/edges.json"
tap_check "gg audit edges: every edge declared, none missing, by luck or unchecked" \
	json_check "$T/edges.json" 'd["checked"] > 50 and d["counts"]["missing"] == 0 and d["counts"]["order-only"] == 0 and d["counts"]["depfile-only"] == 0 and d["counts"]["unchecked"] == 0'
tap_check "gg audit edges: generated headers are ordered by the recursive make of 'all'" \
	json_check "$T/edges.json" 'any(e["reads"] == "lib/stdio.h" and e["target"] == "src/hello.o" and "recursive make of '"'"'all'"'"'" in (e["why"] or "") for e in d["edges"])'

in_dir "$src" "$GG" audit compile-commands >"$T/gg-cc.json"
TAP_COUNT=$((TAP_COUNT + 1))
if python3 "$TOP/tests/e2e/audit_compare.py" "$T/gg-cc.json" "$T/bear.json" >"$T/cc.diff"; then
	echo "ok - gg audit compile-commands equals bear's database (file, directory, arguments)"
	tap_diag "$T/cc.diff" 3
else
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok - gg audit compile-commands equals bear's database (file, directory, arguments)"
	tap_diag "$T/cc.diff" 40
fi

in_dir "$src" "$GG" audit system --json >"$T/system.json"
tap_check "gg audit system --json lists libc6-dev, gcc-12 and make among the packages" \
	json_check "$T/system.json" '{"libc6-dev", "gcc-12", "make"} <= {p["package"] for p in d["packages"]}'
tap_check "gg audit system: versions known, no file of the tree listed" \
	json_check "$T/system.json" 'all(p["version"] for p in d["packages"]) and not any(f["path"].startswith(d["tree"] + "/") for f in d["files"])'
in_dir "$src" "$GG" audit system --json >"$T/system2.json"
tap_check "gg audit system: the second run asks dpkg nothing (cache)" \
	json_check "$T/system2.json" 'd["dpkg_runs"] == 0 and d["cached"] > 0'

why_ok() {
	in_dir "$src" "$GG" audit why hello >"$T/why.txt" &&
		grep -q 'src/hello.o  <- ' "$T/why.txt" && grep -q 'src/hello.c' "$T/why.txt" &&
		grep -q 'lib/libhello.a  <- ' "$T/why.txt"
}
tap_check "gg audit why hello: objects, sources and generated headers" why_ok
rdeps_ok() {
	in_dir "$src" "$GG" audit rdeps src/hello.c --json >"$T/rdeps.json" &&
		json_check "$T/rdeps.json" '[a["label"] for a in d["affected"]] == ["src/hello.o", "hello"]'
}
tap_check "gg audit rdeps src/hello.c: src/hello.o, then hello" rdeps_ok
tap_check "gg audit local-only: none" \
	bash -c "cd '$src' && '$GG' audit local-only | grep -q '^gg audit local-only: 0 of'"
graph_ok() {
	in_dir "$src" "$GG" audit graph >"$T/graph.dot" &&
		dot -Tsvg "$T/graph.dot" >"$T/graph.svg" && grep -q 'label="lib"' "$T/graph.dot"
}
tap_check "gg audit graph: clusters by directory, renders" graph_ok
tap_run "gg audit (summary) exits 0" "$T/summary.txt" in_dir "$src" "$GG" audit

tap_finish
