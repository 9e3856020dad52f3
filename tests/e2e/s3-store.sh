#!/usr/bin/env bash
# Proves that gg's S3 blob store round-trips through s3rver (a SigV4-checking S3
# stand-in): `gg cache put` files and the blobs of a build recorded under the shim are pushed (a
# multipart upload included), the local store is deleted, `gg cache pull` brings
# back exactly what the graph references (then --all everything), every blob
# verified and `aws s3 ls` listing the same keys; and that faults end cleanly: a
# wrong secret, a missing bucket and missing credentials each give one clear line,
# push and pull through a proxy injecting 500/503 and dropped connections complete
# with nothing corrupt, a blob whose bytes in the bucket do not match its hash is
# refused, fetched once more and then named, and Ctrl-C mid-push leaves no object
# with incomplete bytes under a hash.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init
. tests/fixtures/s3rver.sh

src=$T/proj
export GG_DIR=$T/gg-a
setup "start s3rver" s3rver_start "$T/s3" bkt
s3rver_env
DIRECT=$S3RVER_ENDPOINT
unset GG_REMOTE

# The blobs of a store, as printed hashes, sorted (loose and packed).
local_blobs() {
	store_blob_names "$1"
}

# The keys under s3://bkt/PREFIX/, as aws s3 ls sees them (names only), sorted.
bucket_keys() {
	s3rver_aws s3 ls "s3://bkt/$1/" | awk '{print $4}' | LC_ALL=C sort
}

not() { ! "$@"; }

# json FILE EXPR: evaluate a Python expression on the last JSON line of FILE (as j).
json() {
	python3 -c 'import json,sys; j=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- a recorded build and some files, pushed ------------------------------------------

# A small C project built by make under the shim: a real recording, graph and thunks.
mkdir -p "$src"
for i in 1 2 3 4; do
	printf '#include "common.h"\nint f%d(void) { return K + %d; }\n' "$i" "$i" >"$src/f$i.c"
done
printf '#define K 40\n' >"$src/common.h"
printf 'int f1(void), f2(void), f3(void), f4(void);\nint main(void) { return f1() + f2() + f3() + f4() == 170 ? 0 : 1; }\n' >"$src/main.c"
printf 'prog: main.o f1.o f2.o f3.o f4.o\n\tcc -o $@ $^\n%%.o: %%.c common.h\n\tcc -O1 -c $<\n' >"$src/Makefile"
setup "gg record -- make -j2" in_dir "$src" "$GG" record -- make -j2
setup "gg infer" in_dir "$src" "$GG" infer

mkdir -p "$T/files"
: >"$T/files/empty"
for i in $(seq 1 150); do
	head -c $((i * 997 % 70000 + 1)) /dev/urandom >"$T/files/f$i"
done
head -c $((70 * 1024 * 1024 + 12345)) /dev/urandom >"$T/files/big" # > 64 MiB: multipart

tap_run "gg cache put adds files to the store and prints their hashes" "$T/put.log" \
	"$GG" cache put "$T"/files/*
put_ok() {
	local n=0 h f
	while read -r h f; do
		n=$((n + 1))
		local p="$GG_DIR/blobs/${h:1:2}/${h:3}"
		cmp -s "$p" "$f" || { echo "blob $h is not the bytes of $f"; return 1; }
	done <"$T/put.log"
	((n == 152)) || { echo "$n hashes printed, 152 files"; return 1; }
	grep -q '^V99aa06d3014798d86001c324468d497f  .*/empty$' "$T/put.log"
}
tap_check "each printed hash names a blob holding the file's bytes (empty file included)" put_ok

local_blobs "$GG_DIR" >"$T/blobs.all"
# What the build stored (gg infer keeps only what its graph references): a
# graph-driven pull brings back exactly these, not the files added by hand.
awk '{print $1}' "$T/put.log" | LC_ALL=C sort -u >"$T/blobs.put"
LC_ALL=C comm -23 "$T/blobs.all" "$T/blobs.put" >"$T/blobs.live"

tap_run "gg cache push --remote uploads every blob" "$T/push1.log" \
	"$GG" cache push --remote s3://bkt/pre --json
push1_ok() {
	local n
	n=$(wc -l <"$T/blobs.all")
	[[ $(json "$T/push1.log" 'j["uploaded"]') == "$n" ]] &&
		[[ $(json "$T/push1.log" 'j["failed"]') == 0 ]] &&
		[[ $(json "$T/push1.log" 'j["listed"]') == True ]]
}
tap_check "the summary counts every local blob uploaded (presence from a listing)" push1_ok
bucket_keys pre >"$T/keys.pre"
tap_check "aws s3 ls sees exactly the local blobs' names" diff -u "$T/blobs.all" "$T/keys.pre"
big_hash=$(awk '$2 ~ /\/big$/ {print $1}' "$T/put.log")
big_ok() {
	s3rver_aws s3 cp "s3://bkt/pre/$big_hash" "$T/big.back" >/dev/null && cmp "$T/big.back" "$T/files/big"
}
tap_check "the 70 MiB blob (a multipart upload) reads back byte-identical with awscli" big_ok
rm -f "$T/big.back"

export GG_REMOTE=s3://bkt/pre
tap_run "a second push (GG_REMOTE) exits 0" "$T/push2.log" "$GG" cache push --json
tap_check "a second push uploads nothing" \
	test "$(json "$T/push2.log" '(j["uploaded"], j["present"])')" == "(0, $(wc -l <"$T/blobs.all"))"

# ---- the local store deleted, pulled back ------------------------------------------------

chmod -R u+w "$GG_DIR/blobs"
rm -rf "$GG_DIR/blobs"
tap_run "gg cache pull (what the graph references) exits 0" "$T/pull1.log" "$GG" cache pull --json
local_blobs "$GG_DIR" >"$T/blobs.pull1"
tap_check "the pull brought back exactly the blobs the graph and its thunks reference" \
	diff -u "$T/blobs.live" "$T/blobs.pull1"
tap_run "gg cache pull --all exits 0" "$T/pull2.log" "$GG" cache pull --all --json
local_blobs "$GG_DIR" >"$T/blobs.pull2"
tap_check "pull --all brought back every blob pushed" diff -u "$T/blobs.all" "$T/blobs.pull2"
tap_run "gg cache verify: every pulled blob matches its hash" "$T/verify1.log" "$GG" cache verify
unset GG_REMOTE

# ---- the results cache shared through the bucket (s3_results.h, before its hook) ------

S3RESULTS=$BUILD_DIR/tests/tools/s3results
"$BUILD_DIR/tests/tools/cachelog" keys | LC_ALL=C sort >"$T/keys"
tap_run "publishing the build's results entries exits 0" "$T/rpub.log" "$S3RESULTS" publish s3://bkt/pre
tap_check "every entry was published" \
	grep -qx "asked $(wc -l <"$T/keys") hits 0 published $(wc -l <"$T/keys") blobs 0" "$T/rpub.log"
tap_run "fetching them into an empty .gg exits 0" "$T/rfetch.log" \
	env GG_DIR="$T/gg-r" "$S3RESULTS" fetch s3://bkt/pre <"$T/keys"
"$BUILD_DIR/tests/tools/cachelog" dump | LC_ALL=C sort >"$T/entries"
GG_DIR=$T/gg-r "$BUILD_DIR/tests/tools/cachelog" dump | LC_ALL=C sort >"$T/entries-r"
tap_check "every entry is a hit and installed identical" diff "$T/entries" "$T/entries-r"
rfetch_blobs() {
	local want
	want=$(GG_DIR=$T/gg-r "$GG" cache stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["blobs"])')
	((want > 0)) && grep -q "hits $(wc -l <"$T/keys") " "$T/rfetch.log" &&
		GG_DIR=$T/gg-r "$GG" cache verify
}
tap_check "... with the output blobs they name, verified" rfetch_blobs

# ---- bad configuration: one clear line each --------------------------------------------------

one_line() { # one_line RC LOG WORD...: exit status 1, one line on stderr holding every WORD
	local rc=$1 log=$2 w
	shift 2
	[[ $rc == 1 ]] || { echo "exit status $rc"; cat "$log"; return 1; }
	[[ $(wc -l <"$log") == 1 ]] || { echo "not one line:"; cat "$log"; return 1; }
	for w in "$@"; do
		grep -qF -- "$w" "$log" || { echo "'$w' missing from: $(cat "$log")"; return 1; }
	done
}
st=0
AWS_SECRET_ACCESS_KEY=NotTheSecret0123456789 "$GG" cache push --remote s3://bkt/pre \
	>/dev/null 2>"$T/badsecret.log" || st=$?
tap_check "a wrong secret: exit 1, one line naming 403 SignatureDoesNotMatch, the bucket and the key id" \
	one_line "$st" "$T/badsecret.log" 403 SignatureDoesNotMatch "bucket 'bkt'" "key id 'S3RVER'"
tap_check "... and not the secret" not grep -q NotTheSecret "$T/badsecret.log"

st=0
"$GG" cache pull --all --remote s3://nobucket/x >/dev/null 2>"$T/nobucket.log" || st=$?
tap_check "no such bucket: exit 1, one line naming NoSuchBucket and the bucket" \
	one_line "$st" "$T/nobucket.log" NoSuchBucket "'nobucket'"

st=0
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE="$T/no/credentials" \
	AWS_CONFIG_FILE="$T/no/config" "$GG" cache push --remote s3://bkt/pre >/dev/null 2>"$T/nocred.log" || st=$?
nocred_ok() {
	[[ $st == 1 ]] && grep -q AWS_ACCESS_KEY_ID "$T/nocred.log" &&
		grep -qF "$T/no/credentials" "$T/nocred.log" && grep -qF "$T/no/config" "$T/nocred.log"
}
tap_check "no credentials: exit 1, the message names the places looked at" nocred_ok

# ---- a faulty S3: 500/503 and dropped connections at random ----------------------------------

# faultproxy LOGNAME ARGS...: start the proxy in front of s3rver, set PROXY.
faultproxy() {
	local name=$1 i
	shift
	python3 "$TOP/tests/fixtures/faultproxy.py" --upstream "$DIRECT" --parent $$ \
		--port-file "$T/$name.port" --stats "$T/$name.stats" --log "$T/$name.log" "$@" \
		>/dev/null 2>"$T/$name.err" &
	PROXY_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s "$T/$name.port" ]] && break
		sleep 0.1
	done
	PROXY=$(<"$T/$name.port")
}
stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }

setup "start the fault-injecting proxy" faultproxy faults --seed 7 --error-rate 0.15 --drop-rate 0.1
export GG_DIR=$T/gg-f
"$GG" cache put "$T"/files/f* >/dev/null
tap_run "push through the faulty proxy completes" "$T/fpush.log" \
	env AWS_ENDPOINT_URL_S3="$PROXY" "$GG" cache push --remote s3://bkt/faulty --json
export GG_DIR=$T/gg-g
tap_run "pull --all through the faulty proxy completes" "$T/fpull.log" \
	env AWS_ENDPOINT_URL_S3="$PROXY" "$GG" cache pull --all --remote s3://bkt/faulty --json
stop_proxy
tap_check "the proxy did inject errors and drops" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s)
sys.exit(not (s["error_500"] + s["error_503"] > 10 and s["dropped"] > 10))' "$T/faults.stats"
tap_check "the pulled store equals the pushed one" diff -u <(local_blobs "$T/gg-f") <(local_blobs "$T/gg-g")
tap_run "every pulled blob matches its hash" "$T/fverify.log" "$GG" cache verify
export GG_DIR=$T/gg-h
tap_run "a direct pull --all of the faulty prefix: nothing in the bucket is corrupt" "$T/fpull2.log" \
	"$GG" cache pull --all --remote s3://bkt/faulty --json
tap_check "... and it got every blob" diff -u <(local_blobs "$T/gg-f") <(local_blobs "$T/gg-h")

# ---- a blob whose bytes in the bucket do not match its hash ----------------------------------

victim=$(local_blobs "$T/gg-f" | sed -n 5p)
echo "not the right bytes" >"$T/wrong"
setup "overwrite a blob in the bucket" s3rver_aws s3 cp "$T/wrong" "s3://bkt/faulty/$victim"
export GG_DIR=$T/gg-c
setup "start a logging proxy" faultproxy clean
st=0
AWS_ENDPOINT_URL_S3=$PROXY "$GG" cache pull --all --remote s3://bkt/faulty >"$T/corrupt.out" 2>"$T/corrupt.log" || st=$?
stop_proxy
corrupt_ok() {
	[[ $st == 1 ]] && grep -q "s3://bkt/faulty/$victim.*does not match its hash" "$T/corrupt.log"
}
tap_check "a corrupt blob: exit 1, a message naming it and 'does not match its hash'" corrupt_ok
tap_check "... refused: the local store does not hold it" \
	test ! -e "$GG_DIR/blobs/${victim:1:2}/${victim:3}"
tap_check "... fetched exactly twice" \
	test "$(grep -c "GET /bkt/faulty/$victim " "$T/clean.log")" == 2
tap_check "... and every other blob was pulled" \
	diff -u <(local_blobs "$T/gg-f" | grep -v "$victim") <(local_blobs "$GG_DIR")

# ---- Ctrl-C mid-push ---------------------------------------------------------------------

export GG_DIR=$T/gg-i
mkdir -p "$T/large"
for i in 1 2; do head -c $((80 * 1024 * 1024 + i)) /dev/urandom >"$T/large/mp$i"; done
for i in 1 2 3 4; do head -c $((12 * 1024 * 1024 + i)) /dev/urandom >"$T/large/s$i"; done
"$GG" cache put "$T"/large/* >"$T/large.put"
setup "start a logging proxy" faultproxy sigint
AWS_ENDPOINT_URL_S3=$PROXY "$GG" cache push --remote s3://bkt/large -j 8 >"$T/sigint-gg.out" 2>"$T/sigint-gg.err" &
pid=$!
# interrupt once uploads are under way (a part or an object has been sent)
for ((i = 0; i < 300; i++)); do
	grep -qE '^[0-9]+ PUT ' "$T/sigint.log" 2>/dev/null && break
	sleep 0.05
done
sleep 0.3
kill -INT "$pid" 2>/dev/null || true
# running uploads end, multipart ones are aborted: it must exit soon (never hang)
for ((i = 0; i < 1200; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -KILL "$pid" 2>/dev/null && echo "# gg cache push still ran 120 s after SIGINT: killed"
st=0
wait "$pid" || st=$?
stop_proxy
sigint_ok() { [[ $st == 130 ]] && grep -q interrupted "$T/sigint-gg.out"; }
tap_check "Ctrl-C mid-push: exit 130, the summary says interrupted" sigint_ok
sigint_clean() {
	local k n=0 h
	for k in $(bucket_keys large); do
		s3rver_aws s3 cp "s3://bkt/large/$k" "$T/back" >/dev/null
		h=$(GG_DIR=$T/gg-x "$GG" cache put "$T/back" | awk '{print $1}')
		[[ "$h" == "$k" ]] || { echo "object $k holds bytes hashing to $h"; return 1; }
		n=$((n + 1))
	done
	echo "$n whole objects"
	(( n < 6 )) || { echo "every object made it: the push was not interrupted"; return 1; }
}
tap_check "every object under the prefix holds exactly the bytes its name hashes to" sigint_clean
tap_check "the open multipart uploads were aborted (DELETE ?uploadId sent)" \
	grep -qE '^[0-9]+ DELETE /bkt/large/V[0-9a-f]{32}\?uploadId=' "$T/sigint.log"
tap_run "a push afterwards completes the prefix" "$T/resume.log" \
	"$GG" cache push --remote s3://bkt/large --json
tap_check "... and the bucket then holds every blob" \
	diff -u <(local_blobs "$GG_DIR") <(bucket_keys large)

tap_finish
