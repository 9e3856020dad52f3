#!/usr/bin/env bash
# Proves that gg replays Meson projects (pkgconf, fribidi: Meson's own Python steps,
# generators the build links and runs) cold: the recorded build equals a plain one,
# one `gg build --no-cache` of a tree without outputs remakes every output
# byte-identical, a second build runs nothing and leaves `ninja -n` nothing to do,
# an edited source, a new #include and an edit of that header each give what a
# plain ninja gives and leave `ninja -n` nothing to do and no depfile ninja would
# have deleted, and `gg verify --all` finds no difference before or after.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

# No compiler cache here (tests/e2e/replay-ccache.sh is about that): meson uses
# ccache when it finds it, unless the compiler is named explicitly.
export CC=gcc CCACHE_DISABLE=1

ran() { # field NAME of the last line of a gg build --json log (stdin)
	python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"
}

# replay_project NAME SRCFILE MESON-OPTION...: every check on one project.  SRCFILE
# (relative to the tree) is the source the edits go to.
replay_project() {
	local name=$1 srcfile=$2
	shift 2
	local src=$T/$name build=$T/$name/build
	local plain=$T/$name.plain ggaside=$T/$name.gg-aside
	local srcdir
	srcdir=$(dirname "$srcfile")
	export GG_DIR=$T/$name-gg # outside the tree

	setup "$name: fetch" corpus "$name" "$src"
	setup "$name: meson setup" in_dir "$src" meson setup build --buildtype=release "$@"
	setup "$name: meson chose no compiler cache" bash -c "! grep -q ccache '$build/build.ninja'"
	snapshot "$src" "$T/$name.pristine"

	# A plain build at the same path: the reference, kept for the edits below.
	setup "$name: plain ninja" ninja -C "$build" -j2
	snapshot "$src" "$plain"
	restore "$T/$name.pristine" "$src"

	setup "$name: gg record -- ninja" in_dir "$build" "$GG" record -- ninja -j2
	setup "$name: gg infer" in_dir "$build" "$GG" infer
	# The artifacts: every output of the graph but the depfiles ninja deletes.
	local arts=()
	mapfile -t arts < <(in_dir "$build" "$GG" graph --json | python3 -c '
import json, os, sys
src = sys.argv[1]
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        p = o["path"]
        if p.startswith(src + "/") and not p.endswith(".d"):
            print("./" + os.path.relpath(p, src))' "$src" | sort -u)
	setup "$name: the graph has outputs" test "${#arts[@]}" -gt 10
	save_artifacts "$src" "$T/$name.recorded" "${arts[@]}"
	save_artifacts "$plain" "$T/$name.plainarts" "${arts[@]}"
	tap_check "$name: the recorded build is byte-identical to a plain build" \
		same_artifacts "$T/$name.plainarts" "$src" "${arts[@]}"

	# Cold: every output deleted, nothing cached.
	in_dir "$build" "$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
	rm -rf "$GG_DIR/cache"
	tap_run "$name: one gg build --no-cache of a tree without outputs exits 0" \
		"$T/$name.build1.log" in_dir "$build" "$GG" build -j2 --no-cache --json
	local total
	total=$(ran total <"$T/$name.build1.log" 2>/dev/null || echo none)
	tap_check "$name: it ran every thunk ($total), none re-recorded" \
		test "$(ran ran <"$T/$name.build1.log" 2>/dev/null)" = "$total" -a \
		"$(ran corrected <"$T/$name.build1.log" 2>/dev/null)" = 0
	tap_check "$name: every output is byte-identical to the recorded build's" \
		same_artifacts "$T/$name.recorded" "$src" "${arts[@]}"
	in_dir "$build" "$GG" build --json >"$T/$name.build2.log" 2>&1 || true
	tap_check "$name: a second gg build runs no thunk" test "$(ran ran <"$T/$name.build2.log")" = 0
	tap_check "$name: ninja -n has nothing to do" \
		bash -c "ninja -C '$build' -n | tee /dev/stderr | grep -q 'no work to do'"
	depfiles "$plain" >"$T/$name.plain.depfiles"
	tap_check "$name: the depfiles left in the tree are a plain build's (ninja deletes deps = gcc ones)" \
		same_depfiles "$src" "$T/$name.plain.depfiles"
	tap_run "$name: gg verify --all exits 0" "$T/$name.verify1.log" \
		in_dir "$build" "$GG" verify --all
	tap_check "$name: gg verify --all reports zero differing thunks" \
		grep -q ' 0 differ' "$T/$name.verify1.log"

	# Edits, each applied to the gg tree and to the plain one (an incremental plain
	# ninja of the same tree at the same path is the reference).
	local step what
	for step in edit include header; do
		case $step in
		edit) what="an edited source" ;;
		include) what="a new #include" ;;
		header) what="an edit of that header" ;;
		esac
		apply_"$step" "$src" "$srcfile" "$srcdir"
		tap_run "$name: gg build after $what exits 0" "$T/$name.$step.log" \
			in_dir "$build" "$GG" build -j2
		tap_check "$name: after $what, ninja -n has nothing to do" \
			bash -c "ninja -C '$build' -n -d explain 2>&1 | tee /dev/stderr | grep -q 'no work to do'"
		tap_check "$name: after $what, the depfiles left are a plain build's" \
			same_depfiles "$src" "$T/$name.plain.depfiles"
		save_artifacts "$src" "$T/$name.$step" "${arts[@]}"
		mv "$src" "$ggaside"
		mv "$plain" "$src"
		apply_"$step" "$src" "$srcfile" "$srcdir"
		setup "$name: plain ninja after $what" ninja -C "$build" -j2
		tap_check "$name: after $what, the result equals a plain rebuild" \
			same_artifacts "$T/$name.$step" "$src" "${arts[@]}"
		mv "$src" "$plain"
		mv "$ggaside" "$src"
	done
	tap_check "$name: self-correction re-recorded the compile that got a new #include" \
		grep -q 're-recorded' "$T/$name.include.log"
	tap_run "$name: gg verify --all after the edits exits 0" "$T/$name.verify2.log" \
		in_dir "$build" "$GG" verify --all
	tap_check "$name: gg verify --all after the edits reports zero differing thunks" \
		grep -q ' 0 differ' "$T/$name.verify2.log"
	rm -rf "$T/$name.pristine" "$plain" "$T/$name".*.cmp
}

# depfiles TREE: the make-rule depfiles (*.d) below TREE, relative, sorted.
depfiles() {
	(cd "$1" && find . -name '*.d' -type f | sort)
}
# same_depfiles TREE LIST: TREE holds exactly the depfiles of LIST.
same_depfiles() {
	diff <(depfiles "$1") "$2"
}

# The edits: TREE SRCFILE SRCDIR.
apply_edit() {
	echo 'int gg_edit_marker = 1;' >>"$1/$2"
}
apply_include() {
	printf '#define GG_NEW_VALUE 1\n' >"$1/$3/gg_new.h"
	sed -i '1i #include "gg_new.h"' "$1/$2"
	echo 'int gg_new_value = GG_NEW_VALUE;' >>"$1/$2"
}
apply_header() {
	printf '#define GG_NEW_VALUE 2\n' >"$1/$3/gg_new.h"
}

replay_project pkgconf libpkgconf/argvsplit.c -Dtests=false
replay_project fribidi lib/fribidi-char-sets.c -Ddocs=false

tap_finish
