#!/usr/bin/env bash
# Proves that `gg infer` on a recorded GNU hello build gives one producing thunk per
# artifact, link thunks wired to the objects they link, compile thunks holding their
# source, every header gcc reported, cc1, as and their libraries, no dangling
# thunk, and a graph that Graphviz renders.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/hello
setup "fetch GNU hello" corpus hello "$src"
setup "./configure" configure_cached "$src" ./configure
setup "gg record -- make -j2" in_dir "$src" "$GG" record -- make -j2

tap_run "gg infer exits 0" "$T/infer.log" in_dir "$src" "$GG" infer --stats
tap_check "gg infer: no thunk of the hello build is local-only" \
	grep -qE '^  local-only   0$' "$T/infer.log"

# What gcc itself says each object depends on (its -MD files), one line each.
deps_of_po() {
	local po
	for po in "$src"/lib/.deps/*.Po "$src"/src/.deps/*.Po; do
		grep -q ':' "$po" || continue # placeholder of a file not compiled
		# the first rule, continuation lines joined
		sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$po" | head -n 1
	done >"$T/deps.txt"
	[[ -s "$T/deps.txt" ]]
}
setup "collect gcc's dependency files" deps_of_po

# check_graph.py prints its own TAP lines
TAP_COUNT=$((TAP_COUNT + 1))
python3 "$TOP/tests/e2e/check_graph.py" "$GG" "$src" "$T/deps.txt" hello ||
	TAP_FAILED=$((TAP_FAILED + 1))

dot_renders() {
	in_dir "$src" "$GG" graph --dot >"$T/graph.dot" &&
		dot -Tsvg "$T/graph.dot" >"$T/graph.svg" && grep -q '<svg' "$T/graph.svg"
}
tap_check "gg graph --dot | dot -Tsvg renders" dot_renders

shows_hello() {
	in_dir "$src" "$GG" show hello >"$T/show.txt" && grep -q 'src/hello.o' "$T/show.txt" &&
		grep -q 'lib/libhello.a' "$T/show.txt"
}
tap_check "gg show hello names its command and inputs" shows_hello

tap_finish
