#!/usr/bin/env bash
# Proves that a Meson build through a warm ccache (pkgconf) is recorded with ccache passing through: every compile is a pure thunk whose inputs hold every header the compiler read, no ccache file is an input or output, and a cold replay, a second build, a new #include then an edit of that header, gg verify and ninja -n all agree with plain ninja.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

# ccache's default cache, $XDG_CACHE_HOME/ccache, private to this run: gg must find
# it by what it is (the wrapper's settings, CACHEDIR.TAG), not by CCACHE_DIR.
export XDG_CACHE_HOME=$T/xdg-cache XDG_CONFIG_HOME=$T/xdg-config
unset CCACHE_DIR CCACHE_DISABLE CCACHE_NODISABLE CCACHE_CONFIGPATH CCACHE_RECACHE
export GG_DIR=$T/gg
ccdir=$XDG_CACHE_HOME/ccache
src=$T/pkgconf
build=$src/build
pristine=$T/pkgconf-pristine
# (not './libpkgconf.so*': it would match the .d files below libpkgconf.so.3.0.0.p/)
artifacts=('./*.o' './pkgconf' './libpkgconf.so' './libpkgconf.so.3' './libpkgconf.so.3.0.0')

setup "meson and ccache are installed" command -v meson ccache
setup "fetch pkgconf" corpus pkgconf "$src"
setup "meson setup" in_dir "$src" meson setup build --buildtype=release -Dtests=false
tap_check "meson compiles through ccache (build.ninja)" grep -q '^ command = ccache ' "$build/build.ninja"
snapshot "$src" "$pristine"

# The point-2 edits: a source gains #include "new.h" (a header that did not exist),
# then that header changes.  The value ends up in the pkgconf binary.
edit_include() {
	printf '#define GG_NEW_VALUE "gg-new-value-1"\n' >"$src/cli/new.h"
	printf '#include "new.h"\n__attribute__((used)) const char gg_new_value[] = GG_NEW_VALUE;\n' \
		>>"$src/cli/main.c"
}
edit_header() {
	printf '#define GG_NEW_VALUE "gg-new-value-2"\n' >"$src/cli/new.h"
}

# Plain ninja, same path, same steps: the full build (it warms ccache), then each
# edit.  Its artifacts are the reference of every comparison below.
setup "plain ninja (fills ccache)" in_dir "$build" ninja -j2
# The depfiles a plain build leaves (ninja deletes those of deps = gcc edges).
depfiles() { (cd "$src" && find . -name '*.d' -type f | sort); }
depfiles >"$T/plain.depfiles"
same_depfiles() { diff <(depfiles) "$T/plain.depfiles"; }
save_artifacts "$build" "$T/plain" "${artifacts[@]}"
setup "ccache's cache holds results" test -n "$(find "$ccdir" -name '*R' -type f -print -quit)"
edit_include
setup "plain ninja after the new #include" in_dir "$build" ninja -j2
save_artifacts "$build" "$T/plain-include" "${artifacts[@]}"
edit_header
setup "plain ninja after the header edit" in_dir "$build" ninja -j2
save_artifacts "$build" "$T/plain-header" "${artifacts[@]}"

# Record the full build from the pristine tree, with the cache warm.
restore "$pristine" "$src"
setup "zero ccache's statistics" ccache -z
tap_run "gg record -- ninja -C build -j2 exits 0" "$T/record.log" \
	in_dir "$src" "$GG" record -- ninja -C build -j2
ccache_count() { # the sum of ccache's counters named $@
	ccache --print-stats | awk -v want=" $* " 'index(want, " " $1 " ") { n += $2 } END { print n + 0 }'
}
tap_check "ccache passed through while recording (no hit, no miss)" \
	test "$(ccache_count direct_cache_hit preprocessed_cache_hit cache_miss)" = 0
tap_run "gg infer" "$T/infer.log" in_dir "$src" "$GG" infer --stats
tap_check "the recorded build is byte-identical to plain ninja's" \
	same_artifacts "$T/plain" "$build" "${artifacts[@]}"

in_dir "$src" "$GG" graph --json >"$T/graph.json"
# every compile thunk: pure, and its inputs hold each header ninja's deps log has
# for its object (what gcc -MD reported, stored by ninja in .ninja_deps)
check_compiles() {
	python3 - "$T/graph.json" "$build" "$GG" <<-'EOF'
	import json, os, subprocess, sys
	graph, build, gg = sys.argv[1:4]
	compiles = [t for t in json.load(open(graph))["thunks"] if t["command"].startswith("ccache ")]
	bad = 0
	if len(compiles) < 17:
	    print("only %d compile thunks" % len(compiles)); bad = 1
	for t in compiles:
	    obj = next(o["path"] for o in t["outputs"] if o["path"].endswith(".o"))
	    if t["local_only"] or not t["pure"]:
	        print("local-only:", obj, t["local_only"]); bad = 1
	    show = json.loads(subprocess.run([gg, "show", "--json", t["hash"]], check=True,
	                                     capture_output=True, text=True).stdout)
	    inputs = {i["path"] for i in show["inputs"]}
	    deps = subprocess.run(["ninja", "-C", build, "-t", "deps", os.path.relpath(obj, build)],
	                          check=True, capture_output=True, text=True).stdout.splitlines()
	    headers = [os.path.normpath(os.path.join(build, d.strip())) for d in deps[1:] if d.strip()]
	    if len(headers) < 5:
	        print("ninja has no deps for", obj); bad = 1
	    missing = [h for h in headers if h not in inputs]
	    if missing:
	        print(obj, "lacks", len(missing), "of", len(headers), "headers, e.g.", missing[:3]); bad = 1
	print(len(compiles), "compile thunks checked")
	sys.exit(bad)
	EOF
}
tap_check "every compile is a pure thunk whose inputs include every header gcc read" check_compiles

# no thunk reads, probes or produces a file of ccache's cache
no_cache_files() {
	python3 - "$T/graph.json" "$GG" "$XDG_CACHE_HOME" <<-'EOF'
	import json, subprocess, sys
	graph, gg, cache = sys.argv[1:4]
	bad = 0
	for t in json.load(open(graph))["thunks"]:
	    show = json.loads(subprocess.run([gg, "show", "--json", t["hash"]], check=True,
	                                     capture_output=True, text=True).stdout)
	    paths = [o["path"] for o in show["outputs"]] + [i["path"] for i in show["inputs"]]
	    paths += show["missing"] + [l["path"] for l in show["listings"]]
	    for p in paths:
	        if p == cache or p.startswith(cache + "/"):
	            print(t["label"], "names", p); bad = 1
	sys.exit(bad)
	EOF
}
tap_check "no thunk lists a file of ccache's cache (output, input, probe, listing)" no_cache_files
obj=build/pkgconf.p/cli_main.c.o
in_dir "$src" "$GG" show "$obj" >"$T/show.txt" 2>&1 || true
tap_check "gg show $obj produces the object, names no cache file" \
	bash -c "grep -q '^produces build/pkgconf.p/cli_main.c.o' '$T/show.txt' && ! grep -q xdg-cache '$T/show.txt'"

# Cold replay: every output deleted, no results cache.
delete_outputs() {
	python3 - "$T/graph.json" <<-'EOF'
	import json, os, sys
	n = 0
	for t in json.load(open(sys.argv[1]))["thunks"]:
	    for o in t["outputs"]:
	        if os.path.lexists(o["path"]):
	            os.remove(o["path"]); n += 1
	print(n, "outputs deleted")
	EOF
}
setup "delete every output" delete_outputs
ran() {
	python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["ran"])' <"$1"
}
tap_run "gg build --no-cache -j2 exits 0" "$T/build1.log" in_dir "$src" "$GG" build --no-cache -j2 --json
tap_check "the replay is byte-identical to plain ninja's build" \
	same_artifacts "$T/plain" "$build" "${artifacts[@]}"
in_dir "$src" "$GG" build -j2 --json >"$T/build2.log" 2>&1 || true
tap_check "a second gg build runs no thunk" test "$(ran "$T/build2.log")" = 0
nothing_to_do() {
	local out
	out=$(ninja -C "$build" -n -d explain 2>&1) || true
	echo "$out"
	grep -q 'no work to do' <<<"$out"
}
tap_check "ninja -n has nothing to do after the replay" nothing_to_do
tap_check "the depfiles left after the replay are a plain build's" same_depfiles

# The point-2 sequence.
edit_include
tap_run "gg build after a new #include exits 0" "$T/build3.log" in_dir "$src" "$GG" build -j2 --json
tap_check "ninja -n has nothing to do after the new #include's gg build" nothing_to_do
tap_check "the depfiles left after the new #include are a plain build's" same_depfiles
tap_check "after the new #include: the same artifacts as plain ninja" \
	same_artifacts "$T/plain-include" "$build" "${artifacts[@]}"
tap_check "the new header is an input of the compile now" \
	bash -c "'$GG' show --json '$src/$obj' | grep -q '\"$src/cli/new.h\"'"
edit_header
tap_run "gg build after editing the new header exits 0" "$T/build4.log" in_dir "$src" "$GG" build -j2 --json
tap_check "ninja -n has nothing to do after the header edit's gg build" nothing_to_do
tap_check "the depfiles left after the header edit are a plain build's" same_depfiles
tap_check "after the header edit: the same artifacts as plain ninja" \
	same_artifacts "$T/plain-header" "$build" "${artifacts[@]}"
tap_check "the pkgconf binary holds the edited value" grep -q gg-new-value-2 "$build/pkgconf"
in_dir "$src" "$GG" build -j2 --json >"$T/build5.log" 2>&1 || true
tap_check "then a gg build runs no thunk" test "$(ran "$T/build5.log")" = 0

tap_run "gg verify --all: no thunk differs" "$T/verify.log" in_dir "$src" "$GG" verify --all
tap_check "gg verify --all reports 0 differ" grep -q ' 0 differ' "$T/verify.log"
tap_check "ninja -n has nothing to do after the edits' gg builds" nothing_to_do
tap_check "ccache still passed through in every replay and host re-run (no hit, no miss)" \
	test "$(ccache_count direct_cache_hit preprocessed_cache_hit cache_miss)" = 0

tap_finish
