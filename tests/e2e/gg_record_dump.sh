#!/bin/sh
# Proves the gg command's first verbs end to end: init, record (exit status, signals, unwritable trace dir, unloadable shim, --append), trace dump --json/text and summary on a real recording, torn logs reported.
set -u
BUILD=${BUILD:-build}
top=$(pwd)
GG="$top/$BUILD/bin/gg"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fails=$((fails + 1)); }
check() { # check "what" command...
	what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else nok "$what"; fi
}

cd "$tmp" || exit 1

# ---- usage
"$GG" >/dev/null 2>&1; [ $? -eq 2 ] && ok "gg without a verb exits 2" || nok "gg without a verb exits 2"
"$GG" frobnicate >/dev/null 2>err; rc=$?
[ $rc -eq 2 ] && grep -q "unknown verb 'frobnicate'" err && ok "unknown verb: usage, exit 2" || nok "unknown verb: usage, exit 2"
check "gg --help" "$GG" --help
check "gg help record" sh -c "'$GG' help record | grep -q -- '--append'"
check "gg help trace dump" sh -c "'$GG' help trace dump | grep -q -- '--json'"
check "gg --version" sh -c "'$GG' --version | grep -q '^gg version'"

# ---- no .gg yet
"$GG" trace dump >/dev/null 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "no .gg directory" err && ok "dump without .gg fails with a message" || nok "dump without .gg fails with a message"

# ---- init
out=$("$GG" init)
[ "$out" = "$(pwd -P)/.gg" ] && [ -d .gg/trace ] && ok "init prints the path and makes .gg/trace" || nok "init prints the path and makes .gg/trace"

# ---- record + dump
echo hello > in.txt
"$GG" record -- sh -c 'cat in.txt > out.txt; exit 3' 2>err; rc=$?
[ $rc -eq 3 ] && ok "record exits with the command's status" || nok "record exits with the command's status (got $rc)"
[ ! -s err ] && ok "record prints nothing of its own" || nok "record prints nothing of its own: $(cat err)"
[ "$(cat out.txt)" = hello ] && ok "the recorded command ran" || nok "the recorded command ran"
"$GG" trace dump --json > dump.json 2>err; rc=$?
[ $rc -eq 0 ] && ok "trace dump --json succeeds" || nok "trace dump --json succeeds"
if python3 - "$tmp" <<'EOF'
import json, sys, os
imgs = [json.loads(l) for l in open("dump.json")]
keys = ["log","pid","ppid","origin","parent","exe","execfn","argv","env","cwd","umask","uid",
        "gid","stdio","batched","interp","objects","exit","cut_short","events","warnings"]
assert all(list(i.keys()) == keys for i in imgs), "keys"
logs = {i["log"]: i for i in imgs}
assert all(i["parent"] is None or i["parent"] in logs for i in imgs), "parents"
roots = [i for i in imgs if i["parent"] is None]
assert len(roots) == 1 and roots[0]["argv"][:2] == ["sh", "-c"], "one sh root"
assert roots[0]["exit"] == {"status": 3}, roots[0]["exit"]
assert roots[0]["origin"] == "root", roots[0]["origin"]
cat = [i for i in imgs if i["exe"].endswith("/cat")]
assert len(cat) == 1, "one cat"
assert any(e["op"] == "open" and e["path"] == sys.argv[1] + "/in.txt" and e["ret"] >= 0
           for e in cat[0]["events"]) or any(
           e["op"] == "open" and os.path.realpath(e["path"]) == os.path.realpath(sys.argv[1] + "/in.txt")
           for e in cat[0]["events"]), "cat opened in.txt"
assert any(e["op"] == "open" and e["path"].endswith("/out.txt") and e["flags"] & 1
           for e in roots[0]["events"]), "sh opened out.txt for writing"
starts = [i["events"][0]["t"] if i["events"] else 0 for i in imgs]
EOF
then ok "dump --json: schema keys, one origin-root image, links, exits, opens"; else nok "dump --json: schema keys, one origin-root image, links, exits, opens"; fi
"$GG" trace dump > dump.txt 2>&1
grep -q '^pid [0-9]* exe "[^"]*/dash\|^pid [0-9]* exe "[^"]*sh"' dump.txt && grep -q '^    +[0-9.]* open' dump.txt \
	&& ok "text dump: header lines and indented events" || nok "text dump: header lines and indented events"
"$GG" trace summary > sum.txt 2>&1
grep -q '^processes: 2 ' sum.txt && grep -q ' cat$' sum.txt && grep -q '^warnings: 0$' sum.txt \
	&& ok "summary: processes, programs, warnings" || nok "summary: processes, programs, warnings"

# ---- killed command
"$GG" record -- sh -c 'kill -9 $$' 2>/dev/null; rc=$?
[ $rc -eq 137 ] && ok "killed command: 128+signal" || nok "killed command: 128+signal (got $rc)"

# ---- signal forwarded
"$GG" record -- sleep 30 & gp=$!
sleep 0.5
kill -TERM $gp
wait $gp; rc=$?
[ $rc -eq 143 ] && ok "SIGTERM to gg reaches the command" || nok "SIGTERM to gg reaches the command (got $rc)"

# ---- --append keeps logs, default clears them
"$GG" record -- true
n1=$(ls .gg/trace | wc -l)
"$GG" record --append -- true
n2=$(ls .gg/trace | wc -l)
"$GG" record -- true
n3=$(ls .gg/trace | wc -l)
[ "$n2" -gt "$n1" ] && [ "$n3" -eq "$n1" ] && ok "--append keeps old logs, default clears them" || nok "--append keeps old logs ($n1 $n2 $n3)"

# ---- unwritable trace directory: one warning, command still runs, no shim
: > afile
"$GG" record --trace-dir afile/trace -- sh -c 'echo ran; case "${LD_PRELOAD:-}" in *libggshim*) exit 9;; esac' >out 2>err; rc=$?
[ $rc -eq 0 ] && [ "$(cat out)" = ran ] && [ "$(wc -l < err)" -eq 1 ] \
	&& grep -q "^gg: warning: cannot write trace directory '.*afile/trace': Not a directory; running without recording$" err \
	&& ok "unwritable trace dir: one warning, runs unrecorded" || nok "unwritable trace dir: one warning, runs unrecorded"

# ---- a shim that does not load (unresolved symbol): one warning, runs unrecorded
echo 'void gg_missing(void); void gg_f(void) { gg_missing(); }' > bad.c
if cc -shared -fPIC -o bad.so bad.c 2>/dev/null; then
	GG_SHIM_LIB="$tmp/bad.so" "$GG" record -- sh -c 'echo ran; exit 4' >out 2>err; rc=$?
	[ $rc -eq 4 ] && [ "$(cat out)" = ran ] && [ "$(wc -l < err)" -eq 1 ] \
		&& grep -q "^gg: warning: cannot load shim library '.*bad.so': .*gg_missing.*; running without recording$" err \
		&& ok "unloadable shim: one warning, runs unrecorded" || nok "unloadable shim: one warning, runs unrecorded"
else
	nok "unloadable shim: cannot build the test library"
fi

# ---- torn log: reported with file and offset, the rest kept
"$GG" record --trace-dir "$tmp/t2" -- sh -c 'cat in.txt >/dev/null'
log=$(ls "$tmp"/t2/*.ggt | head -1)
size=$(stat -c %s "$log")
truncate -s $((size - 3)) "$log"
"$GG" trace dump --json --trace-dir "$tmp/t2" > torn.json 2>err; rc=$?
[ $rc -eq 0 ] && grep -q "^gg: warning: $log: torn record at offset [0-9]*, skipped [0-9]* bytes$" err \
	&& grep -q '"warnings":\["[^"]*torn record' torn.json \
	&& ok "torn log: warned with file and offset, dump goes on" || nok "torn log: warned with file and offset, dump goes on"

[ $fails -eq 0 ]
