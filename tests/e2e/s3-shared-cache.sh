#!/usr/bin/env bash
# Proves the shared results cache through s3rver: zlib (CMake + Ninja) recorded,
# inferred and built in tree A, `gg push`ed; A and its .gg deleted; a fresh tree at
# the same path with an empty .gg, `gg pull` then `gg build --remote`: 0 thunks run,
# every artifact byte-identical; lookups of `gg build --remote` fetch entries and
# their blobs (verified) into an emptied cache; --remote-read-only uploads nothing
# while a normal --remote build publishes what it ran; and a build behind a proxy
# injecting 500/503 and dropped connections still completes with 0 runs.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init
. tests/fixtures/s3rver.sh

src=$T/zlib # tree A, then the fresh clone: the same path
build=$src/build
export GG_DIR=$T/gg
REMOTE=s3://bkt/team
artifacts=('./*.o' './libz.a' './libz.so*' './example' './minigzip' './example64' './minigzip64')
unset GG_REMOTE

setup "start s3rver" s3rver_start "$T/s3" bkt
s3rver_env

# json FILE EXPR: evaluate a Python expression on the last JSON line of FILE (as j).
json() {
	python3 -c 'import json,sys; j=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(eval(sys.argv[2]))' "$1" "$2"
}
# Every key under s3://bkt/team/ (relative), sorted.
bucket_keys() {
	s3rver_aws s3 ls --recursive s3://bkt/team/ | awk '{print $4}' | sed 's#^team/##' | LC_ALL=C sort
}
local_entries() {
	"$BUILD_DIR/tests/tools/cachelog" keys | LC_ALL=C sort
}
# Empty the local results cache, the outputs in the tree and every blob but the
# thunks: what a build then materializes has to come from the bucket.
forget_results() {
	in_dir "$build" "$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
	rm -rf "$GG_DIR/cache"
	chmod -R u+w "$GG_DIR/blobs"
	find "$GG_DIR/blobs" -type f ! -name '*.t' -delete
	rm -rf "$GG_DIR/packs" # (the small values `gg infer` stored)
}
ran_zero() { # ran_zero LOG: the build ran nothing, every thunk cached
	[[ $(json "$1" 'j["ran"]') == 0 && $(json "$1" 'j["corrected"]') == 0 &&
		$(json "$1" 'j["cached"] == j["total"] and j["total"] > 0') == True ]] ||
		{ tail -n 5 "$1"; return 1; }
}

# ---- tree A: recorded, inferred, built, pushed ------------------------------------------

setup "fetch zlib" corpus zlib "$src"
setup "cmake -G Ninja" configure_cached "$src" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
setup "gg record -- ninja" in_dir "$build" "$GG" record -- ninja -j2
setup "gg infer" in_dir "$build" "$GG" infer
save_artifacts "$build" "$T/recorded" "${artifacts[@]}"
tap_run "tree A: gg build --remote (an empty bucket) exits 0" "$T/a-build.log" \
	in_dir "$build" "$GG" build -j2 --remote "$REMOTE" --json
# (gg infer's entries cover every thunk: nothing runs, nothing is published)
a_ok() {
	[[ $(json "$T/a-build.log" '(j["failed"], j["remote_hits"], j["remote_published"] == j["ran"])') == "(0, 0, True)" ]] &&
		[[ $(s3rver_aws s3 ls s3://bkt/team/results/ | wc -l) == $(json "$T/a-build.log" 'j["ran"]') ]]
}
tap_check "tree A: nothing came from the empty bucket, every thunk that ran was published" a_ok
tap_run "tree A: a second gg build --remote exits 0" "$T/a-build2.log" \
	in_dir "$build" "$GG" build -j2 --remote "$REMOTE" --json
tap_check "tree A: the second build runs nothing" ran_zero "$T/a-build2.log"
tap_run "tree A: gg push exits 0" "$T/push.log" in_dir "$build" "$GG" push --remote "$REMOTE" --json
local_entries >"$T/entries.a"
bucket_keys >"$T/keys.push"
push_ok() {
	local n
	n=$(wc -l <"$T/entries.a")
	((n > 0)) && [[ $(json "$T/push.log" '(j["entries"], j["entries_uploaded"], j["failed"])') == "($n, $n, 0)" ]] &&
		diff -u "$T/entries.a" <(sed -n 's#^results/##p' "$T/keys.push") &&
		[[ $(grep -c '^graphs/' "$T/keys.push") == 1 ]]
}
tap_check "the bucket holds every results entry of A and one graph" push_ok
tap_check "... and every blob of A's store" diff -u \
	<(store_blob_names "$GG_DIR") \
	<(grep -E '^[TV][0-9a-f]{32}$' "$T/keys.push")

# ---- A deleted; a fresh tree at the same path ---------------------------------------------

chmod -R u+w "$GG_DIR" "$src"
rm -rf "$src" "$GG_DIR"
setup "fetch zlib afresh at the same path" corpus zlib "$src"
# (a configure run of its own, not configure_cached: nothing shared with A but the bucket)
setup "cmake -G Ninja afresh" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
mkdir -p "$GG_DIR"
tap_run "fresh tree: gg pull into an empty .gg exits 0" "$T/pull.log" \
	in_dir "$build" "$GG" pull --remote "$REMOTE" --json
tap_check "the pull brought the graph and every results entry" \
	diff -u "$T/entries.a" <(local_entries)
tap_run "fresh tree: gg build --remote exits 0" "$T/b-build.log" \
	in_dir "$build" "$GG" build -j2 --remote "$REMOTE" --json
tap_check "fresh tree: 0 thunks ran, every one cached" ran_zero "$T/b-build.log"
tap_check "fresh tree: every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$build" "${artifacts[@]}"
tap_check "fresh tree: the example passes zlib's own test" in_dir "$build" ./example
tap_run "gg cache verify: every pulled blob matches its hash" "$T/verify.log" "$GG" cache verify

# ---- lookups by the build itself; read-only uploads nothing; publishing -----------------

# One entry gone from the bucket: its thunk must run; every other one is a remote hit.
gone=$(sed -n 's#^results/##p' "$T/keys.push" | head -n 1)
s3rver_aws s3 rm "s3://bkt/team/results/$gone" >/dev/null
bucket_keys >"$T/keys.before"
forget_results
tap_run "gg build --remote --remote-read-only from an emptied cache exits 0" "$T/ro.log" \
	in_dir "$build" "$GG" build -j2 --remote "$REMOTE" --remote-read-only --json
bucket_keys >"$T/keys.after"
ro_ok() {
	[[ $(json "$T/ro.log" '(j["ran"], j["remote_hits"] == j["cached"] == j["total"] - 1, j["remote_published"])') == "(1, True, 0)" ]] ||
		{ tail -n 3 "$T/ro.log"; return 1; }
}
tap_check "read-only: the one missing entry ran, every other thunk was a remote hit" ro_ok
tap_check "read-only: the bucket's keys are the same before and after" diff -u "$T/keys.before" "$T/keys.after"
tap_check "read-only: every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$build" "${artifacts[@]}"
forget_results
tap_run "gg build --remote (publishing) from an emptied cache exits 0" "$T/pub.log" \
	in_dir "$build" "$GG" build -j2 --remote "$REMOTE" --json
bucket_keys >"$T/keys.pub"
# (the bucket gains at most blobs: the depfile the run made, which the recorded build
# had removed and gg infer's entry had none for)
pub_ok() {
	[[ $(json "$T/pub.log" '(j["ran"], j["remote_published"])') == "(1, 1)" ]] &&
		diff -u "$T/keys.push" <(LC_ALL=C comm -12 "$T/keys.push" "$T/keys.pub") &&
		! LC_ALL=C comm -13 "$T/keys.push" "$T/keys.pub" | grep -v '^V[0-9a-f]\{32\}$'
}
tap_check "publishing: the thunk that ran is uploaded, its entry is back under the same key" pub_ok

# ---- a faulty S3 in front: 500/503 and dropped connections --------------------------------

setup "start the fault-injecting proxy" faultproxy_start "$T/proxy" --seed 11 --error-rate 0.15 --drop-rate 0.1
forget_results
tap_run "gg build (GG_REMOTE) through the faulty proxy exits 0" "$T/fault.log" \
	in_dir "$build" env AWS_ENDPOINT_URL_S3="$FAULTPROXY_ENDPOINT" GG_REMOTE="$REMOTE" \
	"$GG" build -j2 --json
tap_check "faulty proxy: 0 thunks ran, every one a remote hit" \
	test "$(json "$T/fault.log" '(j["ran"], j["remote_hits"] == j["total"])')" == "(0, True)"
tap_check "faulty proxy: every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$build" "${artifacts[@]}"
tap_check "the proxy did inject errors and drops" python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s)
sys.exit(not (s["error_500"] + s["error_503"] > 0 and s["dropped"] > 0))' "$T/proxy/stats.json"
tap_run "gg cache verify: every blob fetched through the proxy matches its hash" "$T/fverify.log" \
	"$GG" cache verify

tap_finish
