#!/usr/bin/env bash
# Proves that gg replays recorded zlib builds, CMake + Ninja and its own configure +
# make (whose `mv objs/x.o x.lo` commands are local-only and run on the host): with
# every output deleted and an empty cache, `gg build` makes every artifact
# byte-identical to the recorded build's, and a second `gg build` runs no thunk; and
# that right after `gg infer`, on the untouched tree, `gg build` runs no thunk (the
# results infer recorded are found, depfiles ninja deleted included).
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/zlib
build=$src/build
export GG_DIR=$T/gg
artifacts=('./*.o' './libz.a' './libz.so*' './example' './minigzip' './example64' './minigzip64')

setup "fetch zlib" corpus zlib "$src"
setup "cmake -G Ninja" configure_cached "$src" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
setup "gg record -- ninja" in_dir "$build" "$GG" record -- ninja -j2
setup "gg infer" in_dir "$build" "$GG" infer
save_artifacts "$build" "$T/recorded" "${artifacts[@]}"

ran() {
	python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["ran"])'
}
tap_run "gg build right after gg infer exits 0" "$T/build0.log" in_dir "$build" "$GG" build -j2 --json
tap_check "gg build right after gg infer runs no thunk" test "$(ran <"$T/build0.log")" = 0
tap_check "gg build right after gg infer leaves every artifact as recorded" \
	same_artifacts "$T/recorded" "$build" "${artifacts[@]}"
tap_check "gg build right after gg infer makes no depfile ninja had deleted" \
	test -z "$(find "$build" -name '*.o.d' -print -quit)"

delete_outputs() {
	in_dir "$build" "$GG" graph --json | python3 -c '
import json, os, sys
n = 0
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"]); n += 1
print(n, "outputs deleted")'
}
setup "delete every output" delete_outputs
rm -rf "$GG_DIR/cache"

tap_run "gg build -j2 from an empty cache exits 0" "$T/build1.log" in_dir "$build" "$GG" build -j2 --json
tap_check "every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$build" "${artifacts[@]}"
in_dir "$build" "$GG" build --json >"$T/build2.log" 2>&1 || true
tap_check "a second gg build runs no thunk" test "$(ran <"$T/build2.log")" = 0
tap_check "the rebuilt example passes zlib's own test" in_dir "$build" ./example

# zlib's own configure + make
msrc=$T/zmake
mpristine=$T/zmake-pristine
export GG_DIR=$T/gg-make
martifacts=('./*.o' './*.lo' './libz.a' './libz.so*' './example' './minigzip' './examplesh' './minigzipsh')
setup "fetch zlib again" corpus zlib "$msrc"
setup "./configure" configure_cached "$msrc" ./configure
snapshot "$msrc" "$mpristine"
setup "gg record -- make -j2" in_dir "$msrc" "$GG" record -- make -j2
setup "gg infer" in_dir "$msrc" "$GG" infer
save_artifacts "$msrc" "$T/mrecorded" "${martifacts[@]}"
restore "$mpristine" "$msrc" # a configured tree: nothing built
rm -rf "$GG_DIR/cache"
tap_run "make flavour: gg build -j2 from a configured tree, empty cache, exits 0" "$T/mbuild1.log" \
	in_dir "$msrc" "$GG" build -j2 --json
tap_check "make flavour: every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/mrecorded" "$msrc" "${martifacts[@]}"
in_dir "$msrc" "$GG" build --json >"$T/mbuild2.log" 2>&1 || true
tap_check "make flavour: a second gg build runs no thunk" test "$(ran <"$T/mbuild2.log")" = 0

tap_finish
