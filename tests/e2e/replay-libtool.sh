#!/usr/bin/env bash
# Proves that gg replays an autotools + libtool build (libpng: every source compiled
# twice, into .libs/x.o and x.o, links through .la files) and that builds settle: the
# recorded build equals a plain one, one `gg build --no-cache` of a tree without
# outputs remakes every output byte-identical, a second build runs nothing and leaves
# `make -q` nothing to do, an edited source, a new #include and an edit of that
# header each give what a plain make gives, `gg verify --all` finds no difference;
# a probe of a directory a sibling command made is no change of shape; a local-only
# command that gains a #include is recorded on the host, so an edit of that header
# rebuilds it.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

field() { # field NAME of the last line of a gg build --json log (stdin)
	python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"
}

delete_outputs() { # delete_outputs TREE: every output of the graph
	in_dir "$1" "$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
}

# ---- libpng ----------------------------------------------------------------------------

name=libpng
src=$T/$name
plain=$T/$name.plain
ggaside=$T/$name.gg-aside
srcfile=pngget.c
export GG_DIR=$T/$name-gg # outside the tree

setup "$name: fetch" corpus libpng1.6 "$src"
setup "$name: ./configure" configure_cached "$src" ./configure
snapshot "$src" "$T/$name.pristine"

# A plain build at the same path: the reference, kept for the edits below.
setup "$name: plain make -j2" in_dir "$src" make -j2
# Up to date for make: automake's config.h rule leaves config.h older than stamp-h1
# (configure writes them in that order; the rule does not touch config.h), so a
# bare `make -q` fails on any automake tree, plain or not: config.h is taken as it
# is (-o, and all-am: the recursive make would not get -o), the rest must be
# up to date.
make_q() { # make_q TREE
	in_dir "$1" make -q -o config.h all-am
}
setup "$name: make -q -o config.h has nothing to do after a plain build" make_q "$src"
snapshot "$src" "$plain"
restore "$T/$name.pristine" "$src"

setup "$name: gg record -- make -j2" in_dir "$src" "$GG" record -- make -j2
setup "$name: gg infer" in_dir "$src" "$GG" infer
# The artifacts: every output of the graph that the recorded build left (not the
# intermediates it renamed away, pnglibconf.tf*: commands without outputs, like
# its `rm -f`, are not in the graph).
arts=()
mapfile -t arts < <(in_dir "$src" "$GG" graph --json | python3 -c '
import json, os, sys
src = sys.argv[1]
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        p = o["path"]
        if p.startswith(src + "/") and os.path.lexists(p):
            print("./" + os.path.relpath(p, src))' "$src" | sort -u)
setup "$name: the graph has libtool outputs" \
	bash -c "printf '%s\n' ${arts[*]} | grep -q '^./.libs/libpng16.so'"
save_artifacts "$src" "$T/$name.recorded" "${arts[@]}"
save_artifacts "$plain" "$T/$name.plainarts" "${arts[@]}"
tap_check "$name: the recorded build is byte-identical to a plain build" \
	same_artifacts "$T/$name.plainarts" "$src" "${arts[@]}"

# Cold: every output deleted, nothing cached.
setup "$name: delete every output" delete_outputs "$src"
rm -rf "$GG_DIR/cache"
tap_run "$name: one gg build --no-cache of a tree without outputs exits 0" \
	"$T/$name.build1.log" in_dir "$src" "$GG" build -j2 --no-cache --json
total=$(field total <"$T/$name.build1.log" 2>/dev/null || echo none)
tap_check "$name: it ran every thunk ($total), none re-recorded" \
	test "$(field ran <"$T/$name.build1.log" 2>/dev/null)" = "$total" -a \
	"$(field corrected <"$T/$name.build1.log" 2>/dev/null)" = 0
tap_check "$name: every output is byte-identical to the recorded build's" \
	same_artifacts "$T/$name.recorded" "$src" "${arts[@]}"
in_dir "$src" "$GG" build --json >"$T/$name.build2.log" 2>&1 || true
tap_check "$name: a second gg build runs no thunk (it settles)" \
	test "$(field ran <"$T/$name.build2.log")" = 0 -a "$(field corrected <"$T/$name.build2.log")" = 0
tap_check "$name: make -q -o config.h has nothing to do" make_q "$src"
tap_run "$name: gg verify --all exits 0" "$T/$name.verify1.log" in_dir "$src" "$GG" verify --all
tap_check "$name: gg verify --all reports zero differing thunks" \
	grep -q ' 0 differ' "$T/$name.verify1.log"

# Edits, each applied to the gg tree and to the plain one (an incremental plain make
# of the same tree at the same path is the reference).
apply_edit() {
	echo 'int gg_edit_marker = 1;' >>"$1/$srcfile"
}
apply_include() {
	printf '#define GG_NEW_VALUE 1\n' >"$1/gg_new.h"
	sed -i '1i #include "gg_new.h"' "$1/$srcfile"
	echo 'int gg_new_value = GG_NEW_VALUE;' >>"$1/$srcfile"
}
apply_header() {
	printf '#define GG_NEW_VALUE 2\n' >"$1/gg_new.h"
}
for step in edit include header; do
	case $step in
	edit) what="an edited source" ;;
	include) what="a new #include" ;;
	header) what="an edit of that header" ;;
	esac
	apply_"$step" "$src"
	tap_run "$name: gg build after $what exits 0" "$T/$name.$step.log" \
		in_dir "$src" "$GG" build -j2
	in_dir "$src" "$GG" build --json >"$T/$name.$step.again.log" 2>&1 || true
	tap_check "$name: after $what, a second gg build runs no thunk" \
		test "$(field ran <"$T/$name.$step.again.log")" = 0 -a \
		"$(field corrected <"$T/$name.$step.again.log")" = 0
	save_artifacts "$src" "$T/$name.$step" "${arts[@]}"
	mv "$src" "$ggaside"
	mv "$plain" "$src"
	apply_"$step" "$src"
	setup "$name: plain make after $what" in_dir "$src" make -j2
	tap_check "$name: after $what, the result equals a plain rebuild" \
		same_artifacts "$T/$name.$step" "$src" "${arts[@]}"
	mv "$src" "$plain"
	mv "$ggaside" "$src"
done
tap_check "$name: self-correction re-recorded the compile that got a new #include" \
	grep -q 're-recorded' "$T/$name.include.log"
tap_check "$name: the header is an input of that compile now" \
	bash -c "'$GG' show '$src/.libs/pngget.o' | grep -q 'gg_new.h'"
tap_check "$name: make -q -o config.h has nothing to do after the edits" make_q "$src"
tap_run "$name: gg verify --all after the edits exits 0" "$T/$name.verify2.log" \
	in_dir "$src" "$GG" verify --all
tap_check "$name: gg verify --all after the edits reports zero differing thunks" \
	grep -q ' 0 differ' "$T/$name.verify2.log"
rm -rf "$T/$name.pristine" "$plain" "$T/$name".*.cmp "$T/$name".*/ 2>/dev/null || true

# ---- a directory made by a sibling command ------------------------------------------------
# Both commands make d/ if it is missing; `a` finds it missing, `b` (a moment
# later) too and makes it, then a's own mkdir -p finds it there (EEXIST): what
# libtool's compiles do with .libs/ under make -j.
race=$T/race
export GG_DIR=$race/.gg
mkdir -p "$race"
cat >"$race/Makefile" <<'EOF'
all: d/a.out d/b.out
d/a.out: a.c
	test -d d || { sleep 2; mkdir -p d; }; cp a.c d/a.out
d/b.out: b.c
	sleep 1; test -d d || mkdir d; cp b.c d/b.out
EOF
echo a >"$race/a.c"
echo b >"$race/b.c"
made_by_sibling() { # the trace holds a mkdir of d that failed with EEXIST
	in_dir "$race" "$GG" trace dump --json | python3 -c '
import json, sys
sys.exit(0 if any(e.get("fn") == "mkdir" and e.get("errno") == 17 and
                  e.get("path", "").endswith("/d")
                  for l in sys.stdin for e in json.loads(l)["events"]) else 1)'
}
setup "race: gg record -- make -j2" in_dir "$race" "$GG" record -- make -j2
setup "race: gg infer" in_dir "$race" "$GG" infer
setup "race: a's mkdir -p found d made by b (EEXIST)" made_by_sibling
tap_check "race: the thunk of d/a.out has no missing-probe of the directory the build makes" \
	bash -c "! '$GG' show --json '$race/d/a.out' | grep -q '\"$race/d\"'"
rm -f "$race"/d/*.out
tap_run "race: gg build --no-cache exits 0" "$T/race.build1.log" \
	in_dir "$race" "$GG" build -j2 --no-cache --json
tap_check "race: the directory made by the sibling is no change of shape (nothing re-recorded)" \
	test "$(field corrected <"$T/race.build1.log")" = 0
in_dir "$race" "$GG" build --json >"$T/race.build2.log" 2>&1 || true
tap_check "race: a second gg build runs no thunk" test "$(field ran <"$T/race.build2.log")" = 0

# ---- a local-only compile that gains a #include ---------------------------------------------
# The compile rule also writes a file outside the tree: local-only, run on the host.
lo=$T/localonly
export GG_DIR=$lo/.gg
mkdir -p "$lo"
cat >"$lo/Makefile" <<EOF
prog: main.o util.o
	cc -o prog main.o util.o
%.o: %.c
	cc -c \$< -o \$@ && echo \$@ >>$T/outside.log
EOF
printf '#include <stdio.h>\nint util(void);\nint main(void) { printf("%%d\\n", util()); return 0; }\n' \
	>"$lo/main.c"
echo 'int util(void) { return 1; }' >"$lo/util.c"
setup "local-only: gg record -- make -j2" in_dir "$lo" "$GG" record -- make -j2
setup "local-only: gg infer" in_dir "$lo" "$GG" infer
setup "local-only: the compile of util.o is local-only" \
	bash -c "'$GG' show '$lo/util.o' | grep -q 'local-only: writes-outside-tree'"
printf '#define GG_VALUE 2\n' >"$lo/new.h"
printf '#include "new.h"\nint util(void) { return GG_VALUE; }\n' >"$lo/util.c"
tap_run "local-only: gg build after a new #include exits 0" "$T/lo.include.log" \
	in_dir "$lo" "$GG" build
tap_check "local-only: the program has the header's value" test "$("$lo/prog")" = 2
tap_check "local-only: the header is an input of the compile run on the host" \
	bash -c "'$GG' show '$lo/util.o' | grep -q 'new.h'"
printf '#define GG_VALUE 3\n' >"$lo/new.h"
tap_run "local-only: gg build after an edit of that header exits 0" "$T/lo.header.log" \
	in_dir "$lo" "$GG" build --json
tap_check "local-only: the compile and the link ran again" \
	test "$(field ran <"$T/lo.header.log")" = 2
tap_check "local-only: the program has the header's new value" test "$("$lo/prog")" = 3
in_dir "$lo" "$GG" build --json >"$T/lo.again.log" 2>&1 || true
tap_check "local-only: a second gg build runs no thunk" test "$(field ran <"$T/lo.again.log")" = 0

tap_finish
