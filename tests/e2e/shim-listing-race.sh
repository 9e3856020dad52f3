#!/usr/bin/env bash
# Proves that a directory listed while another process changes it is recorded as
# well-formed LIST records: 500 `ls -f d` under `gg record` while a churner creates
# and deletes files in d give 500 records, no reader warning, and each listing is
# whole (not truncated), holds every file that never changed and only names that
# could exist (the churner's names follow a known pattern).
#
# The churner runs outside the recording, a bounded loop that ends after at most
# CHURN_MAX operations or when the listings are done (a stop file).  Long names
# make a listing take several getdents64 calls, so changes land inside listings.
set -uo pipefail
. tests/e2e/lib.sh
e2e_init

QUERY="$TOP/tests/e2e/trace_query.py"
PY=$(python3 -c 'import sys; print(sys.executable)') # not a version manager's shim
D=$T/d
TRACE=$T/trace
LISTINGS=500
STABLE=60     # files that never change: s-NNN-<pad>
CHURN=120     # names the churner creates and deletes: c-NNN-<pad>
CHURN_MAX=4000000
PAD=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx

mkdir -p "$D" "$TRACE"
for ((i = 0; i < STABLE; i++)); do
	: >"$D/$(printf 's-%03d-%s' "$i" "$PAD")"
done

# The churner: toggles random names of its set (create if absent, else delete)
# and counts its operations in $T/churn.ops when it ends.
cat >"$T/churn.py" <<'EOF'
import os, random, sys
d, n, pad, limit, stop, ready, out = sys.argv[1:8]
n, limit = int(n), int(limit)
names = [os.path.join(d, "c-%03d-%s" % (k, pad)) for k in range(n)]
rng = random.Random(8)
ops = 0
open(ready, "w").close()
while ops < limit:
    if ops % 512 == 0 and os.path.exists(stop):
        break
    p = names[rng.randrange(n)]
    try:
        os.unlink(p)
    except FileNotFoundError:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
    ops += 1
with open(out, "w") as f:
    f.write("%d\n" % ops)
EOF

"$PY" "$T/churn.py" "$D" "$CHURN" "$PAD" "$CHURN_MAX" "$T/stop" "$T/ready" "$T/churn.ops" \
	>"$T/churn.log" 2>&1 &
CHURNER=$!
while [[ ! -e "$T/ready" ]] && kill -0 "$CHURNER" 2>/dev/null; do
	sleep 0.05
done

rc=0
(cd "$T" && "$GG" record --trace-dir "$TRACE" -- \
	bash -c 'for ((i = 0; i < '"$LISTINGS"'; i++)); do ls -f d >/dev/null || exit; done') \
	>"$T/record.log" 2>&1 || rc=$?
: >"$T/stop"
wait "$CHURNER"
churn_rc=$?

tap_check "gg record of $LISTINGS listings exits 0" test "$rc" -eq 0
tap_check "the churner ran and stopped by itself" \
	bash -c "test $churn_rc -eq 0 && test -s '$T/churn.ops' && test \$(cat '$T/churn.ops') -gt 0"

"$GG" trace dump --json --trace-dir "$TRACE" >"$T/dump" 2>"$T/dump.err"
dump_rc=$?
tap_check "gg trace dump --json exits 0 without a warning (no malformed record)" \
	bash -c "test $dump_rc -eq 0 && ! test -s '$T/dump.err' || { cat '$T/dump.err'; exit 1; }"
tap_check "the dump holds no warning" "$PY" "$QUERY" "$T/dump" warnings
tap_check "gg record printed no gg warning" test "$(count_gg_warnings "$T/record.log")" -eq 0

# Each listing of d, checked against what could have been in d.
cat >"$T/check.py" <<'EOF'
import json, sys
dump, d, stable, churn, pad, want = sys.argv[1:7]
stable_names = {"s-%03d-%s" % (k, pad) for k in range(int(stable))}
possible = stable_names | {"c-%03d-%s" % (k, pad) for k in range(int(churn))}
bad, listings = [], []
with open(dump) as f:
    for line in f:
        p = json.loads(line)
        for ev in p.get("events") or []:
            if ev.get("op") == "list" and ev.get("path") == d:
                listings.append(ev)
for ev in listings:
    names = ev.get("names") or []
    if ev.get("ret") != 0 or ev.get("truncated") is not False:
        bad.append("ret %r truncated %r" % (ev.get("ret"), ev.get("truncated")))
    odd = [n for n in names if n not in possible]
    if odd:
        bad.append("names that never existed: %r" % odd[:5])
    lost = stable_names - set(names)
    if lost:
        bad.append("%d unchanged files missing, e.g. %r (%d names)" %
                   (len(lost), sorted(lost)[0], len(names)))
distinct = {frozenset(ev.get("names") or []) for ev in listings}
print("listings %d, distinct %d, bad %d" % (len(listings), len(distinct), len(bad)))
for b in bad[:10]:
    print(b)
mode = sys.argv[7]
if mode == "count":
    sys.exit(0 if len(listings) == int(want) else 1)
if mode == "names":
    sys.exit(0 if listings and not bad else 1)
if mode == "changed":
    sys.exit(0 if len(distinct) > 1 else 1)
sys.exit(0 if mode == "stats" else 2)
EOF
check() {
	"$PY" "$T/check.py" "$T/dump" "$D" "$STABLE" "$CHURN" "$PAD" "$LISTINGS" "$1"
}
tap_check "each of the $LISTINGS ls recorded one listing of d" check count
tap_check "every listing is whole: every unchanged file, only names that existed" check names
tap_check "d changed during the listings (they are not all the same)" check changed
echo "# $(check stats | head -n 1), churner operations $(cat "$T/churn.ops" 2>/dev/null)"

tap_finish
