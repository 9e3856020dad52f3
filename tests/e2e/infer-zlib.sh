#!/usr/bin/env bash
# Proves that `gg infer` on a recorded zlib build (CMake + Ninja) gives one
# producing thunk per artifact, link thunks wired to the objects they link, compile
# thunks holding their source, every header ninja's deps log names, cc1, as and
# their libraries, and no dangling thunk.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/zlib
build=$src/build
setup "fetch zlib" corpus zlib "$src"
setup "cmake -G Ninja" configure_cached "$src" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
touch "$T/stamp"
sleep 0.01
setup "gg record -- ninja" in_dir "$build" "$GG" record -- ninja -j2

tap_run "gg infer exits 0" "$T/infer.log" in_dir "$build" "$GG" infer --stats

# What the compiler reported to ninja for each object (ninja -t deps).
ninja_deps() {
	in_dir "$build" ninja -t deps | awk '
		/^[^ ].*: #deps/ { if (obj) print line; obj = $1; sub(/:$/, "", obj); line = obj ":"; next }
		/^    / { line = line " " $1 }
		END { if (obj) print line }' >"$T/deps.txt"
	[[ -s "$T/deps.txt" ]]
}
setup "ninja -t deps" ninja_deps

products=()
for p in libz.a example minigzip example64 minigzip64; do
	[[ -e "$build/$p" ]] && products+=("$p")
done
so=$(cd "$build" && ls libz.so.*.* | head -n 1)
products+=("$so" libz.so libz.so.1)

TAP_COUNT=$((TAP_COUNT + 1))
STAMP=$T/stamp python3 "$TOP/tests/e2e/check_graph.py" "$GG" "$build" "$T/deps.txt" "${products[@]}" ||
	TAP_FAILED=$((TAP_FAILED + 1))

tap_finish
