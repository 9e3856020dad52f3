#!/usr/bin/env bash
# Proves that gg replays a recorded GNU hello build in the sandbox: from a tree whose
# outputs are deleted, `gg build` makes every artifact byte-identical to the
# recorded build's; a second build runs nothing; an edited source re-runs exactly
# its compile and the link, and a new #include self-corrects; results equal plain
# rebuilds; `gg verify --all` finds no difference; a changed Makefile makes the
# graph stale.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/hello
pristine=$T/pristine
export GG_DIR=$T/gg # outside the tree: restoring the tree keeps the recording
artifacts=('./hello' './*.o' './lib/*.a')

setup "fetch GNU hello" corpus hello "$src"
setup "./configure" configure_cached "$src" ./configure
snapshot "$src" "$pristine"
setup "gg record -- make -j2" in_dir "$src" "$GG" record -- make -j2
setup "gg infer" in_dir "$src" "$GG" infer
save_artifacts "$src" "$T/recorded" "${artifacts[@]}"

# Every output of the graph deleted: the tree as before the build.
delete_outputs() {
	in_dir "$src" "$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
}
setup "delete every output" delete_outputs
rm -rf "$GG_DIR/cache" # nothing cached: every thunk runs in the sandbox

ran() { # ran JSON-LINE -> the "ran" count of a gg build --json summary
	python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["ran"])'
}
tap_run "gg build -j2 from an empty cache exits 0" "$T/build1.log" in_dir "$src" "$GG" build -j2 --json
tap_check "every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$src" "${artifacts[@]}"
tap_check "./hello built by gg says hello" test "$("$src/hello")" = "Hello, world!"

in_dir "$src" "$GG" build --json >"$T/build2.log" 2>&1 || true
tap_check "a second gg build runs no thunk" test "$(ran <"$T/build2.log")" = 0

tap_run "gg verify --all exits 0" "$T/verify.log" in_dir "$src" "$GG" verify --all
tap_check "gg verify --all reports zero differing thunks" grep -q '0 differ' "$T/verify.log"

# An edited source: its compile and the link run, nothing else.
echo 'int gg_edit_marker;' >>"$src/src/hello.c"
in_dir "$src" "$GG" build --json >"$T/build3.log" 2>&1 || true
tap_check "after editing src/hello.c exactly 2 thunks run (its compile, the link)" \
	test "$(ran <"$T/build3.log")" = 2
save_artifacts "$src" "$T/edited" "${artifacts[@]}"
restore "$pristine" "$src"
echo 'int gg_edit_marker;' >>"$src/src/hello.c"
setup "plain make -j2 of the edited tree" in_dir "$src" make -j2
tap_check "the result equals a plain rebuild of the edited tree" \
	same_artifacts "$T/edited" "$src" "${artifacts[@]}"

# A new header: the compile thunk never declared it; self-correction.
restore "$pristine" "$src"
echo 'int gg_edit_marker;' >>"$src/src/hello.c"
setup "gg build of the edited tree" in_dir "$src" "$GG" build
printf '#define GG_NEW_GREETING 1\n' >"$src/src/new.h"
sed -i '1i #include "new.h"' "$src/src/hello.c"
tap_run "gg build with a new #include exits 0" "$T/build4.log" in_dir "$src" "$GG" build
tap_check "self-correction re-recorded the command" grep -q 're-recorded' "$T/build4.log"
save_artifacts "$src" "$T/newheader" "${artifacts[@]}"
restore "$pristine" "$src"
echo 'int gg_edit_marker;' >>"$src/src/hello.c"
printf '#define GG_NEW_GREETING 1\n' >"$src/src/new.h"
sed -i '1i #include "new.h"' "$src/src/hello.c"
setup "plain make -j2 with the new header" in_dir "$src" make -j2
tap_check "the result equals a plain rebuild with the new header" \
	same_artifacts "$T/newheader" "$src" "${artifacts[@]}"

# A driver input changed: the graph no longer describes the build.
echo '# changed' >>"$src/Makefile"
stale_rc=0
in_dir "$src" "$GG" build >"$T/stale.log" 2>&1 || stale_rc=$?
stale_said() { ((stale_rc != 0)) && grep -q 'graph is stale' "$T/stale.log" && grep -q 'gg record' "$T/stale.log"; }
tap_check "a changed Makefile makes gg build say the graph is stale" stale_said

tap_finish
