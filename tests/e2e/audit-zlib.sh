#!/usr/bin/env bash
# Proves that on a recorded zlib build (CMake + Ninja, out of tree) `gg audit edges` finds every edge declared by ninja's graph and exits 0, `gg audit compile-commands` equals bear's database for the same build as a set of (file, directory, arguments), and `gg audit system` finds the source tree from CMakeCache.txt and lists only files from outside both trees.
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

src=$T/zlib
build=$src/build
setup "fetch zlib" corpus zlib "$src"
setup "cmake -G Ninja" configure_cached "$src" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
snapshot "$src" "$T/pristine"
setup "bear -- ninja -j2" in_dir "$build" bear --output "$T/bear.json" -- ninja -j2
restore "$T/pristine" "$src"
setup "gg record -- ninja -j2" in_dir "$build" "$GG" record -- ninja -j2
setup "gg infer" in_dir "$build" "$GG" infer

# zlib's build.ninja (CMake) is right: objects are explicit inputs of the
# libraries and programs, the library an implicit input of the programs.
tap_run "gg audit edges exits 0" "$T/edges.txt" in_dir "$build" "$GG" audit edges
in_dir "$build" "$GG" audit edges --json --all >"$T/edges.json"
tap_check "gg audit edges: ninja queried, every edge declared" \
	json_check "$T/edges.json" 'd["drivers"] and all(x["queried"] for x in d["drivers"] if x["commands"]) and d["checked"] >= 30 and d["counts"]["ok"] == d["checked"]'

in_dir "$build" "$GG" audit compile-commands >"$T/gg-cc.json"
TAP_COUNT=$((TAP_COUNT + 1))
if python3 "$TOP/tests/e2e/audit_compare.py" "$T/gg-cc.json" "$T/bear.json" >"$T/cc.diff"; then
	echo "ok - gg audit compile-commands equals bear's database (file, directory, arguments)"
	tap_diag "$T/cc.diff" 3
else
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok - gg audit compile-commands equals bear's database (file, directory, arguments)"
	tap_diag "$T/cc.diff" 40
fi

in_dir "$build" "$GG" audit system --json >"$T/system.json"
tap_check "gg audit system: the source tree comes from CMakeCache.txt and is not listed" \
	json_check "$T/system.json" 'd["sources"] == ["'"$src"'"] and not any(f["path"].startswith("'"$src"'/") for f in d["files"])'
tap_check "gg audit system: libc6-dev, gcc-12 and ninja-build among the packages" \
	json_check "$T/system.json" '{"libc6-dev", "gcc-12", "ninja-build"} <= {p["package"] for p in d["packages"]}'
tap_run "gg audit (summary) exits 0" "$T/summary.txt" in_dir "$build" "$GG" audit

tap_finish
