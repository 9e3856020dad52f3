#!/usr/bin/env bash
# Proves that `gg audit edges` names exactly the missing dependency on a generated header of a Makefile and of a build.ninja (and on a library built by a recursive make) and exits 1, lists the order-only and dependency-file-only edges as luck, exits 0 once the build file is fixed, draws the offending edges, and copes with odd paths, an unqueryable build system and no recording.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

# json_check FILE PYTHON-EXPR: the expression holds for the JSON document d in FILE.
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

# audit DIR OUT ARGS...: run gg audit in DIR, output to OUT, exit status to OUT.rc
audit() {
	local dir=$1 out=$2 rc=0
	shift 2
	in_dir "$dir" "$GG" audit "$@" >"$out" 2>"$out.err" || rc=$?
	echo "$rc" >"$out.rc"
}

rc_is() {
	[[ "$(cat "$1.rc")" == "$2" ]] || { echo "exit status $(cat "$1.rc"), expected $2"; cat "$1" "$1.err"; return 1; }
}

# Which edges are missing / by luck, as "target<TAB>reads<TAB>status" lines.
findings() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for e in d["edges"]:
    print("%s\t%s\t%s" % (e["target"], e["reads"], e["status"]))' "$1" | sort
}

missing_sentence="  target 'main.o' reads 'include/config.h' (produced by 'sh gen-config.sh > include/config.h') but does not depend on it"

# ---- make ------------------------------------------------------------------------------
mk=$T/make
cp -a "$TOP/tests/e2e/audit-make" "$mk"
setup "make: gg record -- make -j1" in_dir "$mk" "$GG" record -- make -j1
setup "make: gg infer" in_dir "$mk" "$GG" infer

audit "$mk" "$T/mk.txt" edges
tap_check "make: gg audit edges exits 1 on a missing dependency" rc_is "$T/mk.txt" 1
tap_check "make: names the missing edge" grep -qxF "$missing_sentence" "$T/mk.txt"
tap_check "make: names exactly one missing edge" \
	bash -c "[[ \$(grep -c 'but does not depend on it' '$T/mk.txt') == 1 ]]"
audit "$mk" "$T/mk.json" edges --json
findings "$T/mk.json" >"$T/mk.findings"
printf '%s\t%s\t%s\n' extra.o include/config.h depfile-only main.o include/config.h missing \
	util.o include/config.h order-only | sort >"$T/mk.want"
tap_check "make: JSON lists the missing edge and the two by luck, nothing else" \
	diff -u "$T/mk.want" "$T/mk.findings"
tap_check "make: the luck list says why" \
	bash -c "grep -q \"through order-only prerequisites only\" '$T/mk.txt' && grep -q \"only 'extra.d', written by this build, declares it\" '$T/mk.txt'"

dot_ok() {
	in_dir "$mk" "$GG" audit edges --dot >"$T/mk.dot" || true
	dot -Tsvg "$T/mk.dot" >"$T/mk.svg" && grep -q '<svg' "$T/mk.svg" &&
		grep -q 'n[0-9]* -> n[0-9]* \[label="config.h", color="#d93025"' "$T/mk.dot"
}
tap_check "make: gg audit edges --dot draws the offending edge in red and renders" dot_ok
graph_ok() {
	in_dir "$mk" "$GG" audit graph >"$T/mk-all.dot" &&
		dot -Tsvg "$T/mk-all.dot" >"$T/mk-all.svg" && grep -q 'cluster_' "$T/mk-all.dot"
}
tap_check "make: gg audit graph clusters by directory and renders" graph_ok

# the fixed Makefile, on a clean tree
rm -rf "$mk"
cp -a "$TOP/tests/e2e/audit-make" "$mk"
cp "$mk/Makefile.fixed" "$mk/Makefile"
setup "make (fixed): gg record -- make -j1" in_dir "$mk" "$GG" record -- make -j1
setup "make (fixed): gg infer" in_dir "$mk" "$GG" infer
audit "$mk" "$T/mkf.txt" edges
tap_check "make (fixed): gg audit edges exits 0" rc_is "$T/mkf.txt" 0
tap_check "make (fixed): nothing missing, luck still listed" \
	bash -c "! grep -q 'does not depend' '$T/mkf.txt' && grep -q 'works by luck of ordering (2)' '$T/mkf.txt'"
audit "$mk" "$T/mkf-strict.txt" edges --strict
tap_check "make (fixed): --strict fails on edges that hold by luck" rc_is "$T/mkf-strict.txt" 1

# recursive make: the link reads a library another make built
rec=$T/recursive
cp -a "$TOP/tests/e2e/audit-make/recursive" "$rec"
setup "recursive: gg record -- make -j1" in_dir "$rec" "$GG" record -- make -j1
setup "recursive: gg infer" in_dir "$rec" "$GG" infer
audit "$rec" "$T/rec.txt" edges
tap_check "recursive make: the link's missing dependency on the sub-make's library, exit 1" \
	bash -c "[[ \$(cat '$T/rec.txt.rc') == 1 ]] && grep -qxF \"  target 'prog' reads 'sub/libfoo.a' (produced by 'ar rc libfoo.a foo.o') but does not depend on it\" '$T/rec.txt' && [[ \$(grep -c 'does not depend' '$T/rec.txt') == 1 ]]"
rm -rf "$rec"
cp -a "$TOP/tests/e2e/audit-make/recursive" "$rec"
cp "$rec/Makefile.fixed" "$rec/Makefile"
setup "recursive (fixed): gg record -- make -j1" in_dir "$rec" "$GG" record -- make -j1
setup "recursive (fixed): gg infer" in_dir "$rec" "$GG" infer
audit "$rec" "$T/recf.json" edges --json --all
tap_check "recursive make (fixed): declared through the phony target that runs the sub-make" \
	json_check "$T/recf.json" 'd["counts"]["ok"] == d["checked"] == 3 and any("recursive make of '"'"'libs'"'"'" in (e["why"] or "") for e in d["edges"])'

# a build system that cannot be asked: the makefile is gone since the recording
mv "$mk/Makefile" "$mk/Makefile.gone"
audit "$mk" "$T/mkgone.txt" edges
tap_check "make gone: gg audit says it could not query make and exits 0" \
	bash -c "rc=\$(cat '$T/mkgone.txt.rc'); [[ \$rc == 0 ]] && grep -q 'not queried' '$T/mkgone.txt' && grep -q 'not checked (' '$T/mkgone.txt'"
mv "$mk/Makefile.gone" "$mk/Makefile"

# ---- ninja -------------------------------------------------------------------------------
nj=$T/ninja
cp -a "$TOP/tests/e2e/audit-ninja" "$nj"
setup "ninja: gg record -- ninja -j1" in_dir "$nj" "$GG" record -- ninja -j1
setup "ninja: gg infer" in_dir "$nj" "$GG" infer
audit "$nj" "$T/nj.txt" edges
tap_check "ninja: gg audit edges exits 1 on a missing implicit dependency" rc_is "$T/nj.txt" 1
tap_check "ninja: names the missing edge" \
	grep -qxF "  target 'main.o' reads 'include/config.h' (produced by 'mkdir -p include && sh gen-config.sh > include/config.h') but does not depend on it" "$T/nj.txt"
audit "$nj" "$T/nj.json" edges --json
findings "$T/nj.json" >"$T/nj.findings"
tap_check "ninja: JSON lists the missing edge and the two by luck, nothing else" \
	diff -u "$T/mk.want" "$T/nj.findings"
tap_check "ninja: the deps log edge is named as such" grep -q "only ninja's deps log names it" "$T/nj.txt"

rm -rf "$nj"
cp -a "$TOP/tests/e2e/audit-ninja" "$nj"
cp "$nj/build.ninja.fixed" "$nj/build.ninja"
setup "ninja (fixed): gg record -- ninja -j1" in_dir "$nj" "$GG" record -- ninja -j1
setup "ninja (fixed): gg infer" in_dir "$nj" "$GG" infer
audit "$nj" "$T/njf.txt" edges
tap_check "ninja (fixed): gg audit edges exits 0" rc_is "$T/njf.txt" 0

# ---- odd paths: a space, a quote and a byte that is not UTF-8 in the directory name ---------
odd=$T/$'odd dir "q" \xff'
cp -a "$TOP/tests/e2e/audit-ninja" "$odd"
setup "odd paths: gg record -- ninja -j1" in_dir "$odd" "$GG" record -- ninja -j1
setup "odd paths: gg infer" in_dir "$odd" "$GG" infer
audit "$odd" "$T/odd.json" edges --json
tap_check "odd paths: gg audit edges --json is valid JSON naming the edge" \
	json_check "$T/odd.json" '[e["target"] for e in d["edges"] if e["status"] == "missing"] == ["main.o"] and "\u00ff" in d["tree"]'
audit "$odd" "$T/odd.txt" edges
tap_check "odd paths: the human report shows the byte escaped" \
	bash -c "rc_ok=\$(cat '$T/odd.txt.rc'); [[ \$rc_ok == 1 ]] && grep -qF 'odd dir \"q\" \\xff' '$T/odd.txt'"
odd_reports() {
	in_dir "$odd" "$GG" audit why prog >/dev/null &&
		in_dir "$odd" "$GG" audit rdeps include/config.h --json >"$T/odd-rdeps.json" &&
		json_check "$T/odd-rdeps.json" 'len(d["affected"]) >= 4' &&
		in_dir "$odd" "$GG" audit compile-commands >"$T/odd-cc.json" &&
		json_check "$T/odd-cc.json" 'len(d) == 3' &&
		{ in_dir "$odd" "$GG" audit edges --dot || true; } >"$T/odd.dot" &&
		dot -Tsvg "$T/odd.dot" >/dev/null
}
tap_check "odd paths: why, rdeps, compile-commands and the drawing work" odd_reports

# make in a directory whose name holds a newline (make prints CURDIR on one line)
nl=$T/$'new\nline'
cp -a "$TOP/tests/e2e/audit-make" "$nl"
setup "newline: gg record -- make -j1" in_dir "$nl" "$GG" record -- make -j1
setup "newline: gg infer" in_dir "$nl" "$GG" infer
audit "$nl" "$T/nl.json" edges --json
tap_check "newline in the directory: make queried, the missing edge named" \
	json_check "$T/nl.json" '[e["target"] for e in d["edges"] if e["status"] == "missing"] == ["main.o"] and d["counts"]["unchecked"] == 0'

# ---- bad input ---------------------------------------------------------------------------------
mkdir -p "$T/empty/.gg"
no_recording() {
	local rc=0
	in_dir "$T/empty" "$GG" audit edges >"$T/empty.txt" 2>&1 || rc=$?
	[[ $rc == 1 ]] && grep -q "no recording" "$T/empty.txt"
}
tap_check "no recording: gg audit says so and exits 1" no_recording
other_tree() {
	mkdir -p "$T/elsewhere"
	(cd "$T/elsewhere" && GG_DIR=$mk/.gg "$GG" audit edges) >"$T/other.txt" 2>&1
	grep -q "this directory is not in the recorded build tree" "$T/other.txt"
}
tap_check "another tree: gg audit warns that the recording is of another tree" other_tree

tap_finish
