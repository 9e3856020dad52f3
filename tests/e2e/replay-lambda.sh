#!/usr/bin/env bash
# Proves that `gg build --engine lambda` replays recorded builds (zlib, CMake + Ninja; pkgconf, Meson) through the Lambda emulator running the real `gg lambda package` (isolated as Lambda runs it) and s3rver: outputs and every value blob of the local store deleted, `--no-cache -j 16`, every artifact is byte-identical to the recorded build's, every pure thunk ran remotely at level 3 (the emulator's answers) and its outputs came back from the bucket into the local store; and on the zlib recording a 429 storm plus a worker killed mid-thunk, a worker that never answers (killed at its deadline) plus a hung command the worker stops before Lambda-Runtime-Deadline-Ms, S3 500s and dropped connections (between s3rver and both the client and the workers), and an output blob corrupted on its way into the bucket (refused by hash, deleted, the thunk run again), all in one full build, still end in a complete build with identical artifacts and a sound local store, each fault seen where it happened; while wrong credentials stop the build with one clear line.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

export CC=gcc CCACHE_DISABLE=1
LAUNCH=$BUILD_DIR/tests/tools/lambda_launch
if [[ ! -x "$LAUNCH" || ! -x "$BUILD_DIR/lambda/bootstrap" || ! -f "$SHIM" ]]; then
	tap_not_ok "lambda_launch, lambda/bootstrap and the shim are built"
	tap_finish
fi
if (($(id -u) != 0)); then
	tap_not_ok "the emulator's Runtime API needs root (the launcher pivots into a new root)"
	tap_finish
fi
. tests/fixtures/lambda_emu.sh
. tests/fixtures/s3rver.sh
lambda_emu_env

# ---- the function: the real package in the emulator, blobs in s3rver -------------------

setup "start s3rver" s3rver_start "$T/s3" bkt
s3rver_env
export AWS_ENDPOINT_URL_S3=$S3RVER_ENDPOINT
# the workers reach s3rver through one fault proxy, the client (when asked to)
# through another: faults off until asked for, each side's requests in its own log
setup "start the workers' fault proxy in front of s3rver" faultproxy_start "$T/wproxy" --seed 12
WPROXY=$FAULTPROXY_ENDPOINT
setup "start the client's fault proxy in front of s3rver" faultproxy_start "$T/cproxy" --seed 13
CPROXY=$FAULTPROXY_ENDPOINT
proxy_ctl() { # ENDPOINT JSON
	curl -sS -f -X POST --data-binary "$2" "$1/_faultproxy/config"
}
# proxy_faults DIR FROM: errors and drops in the proxy's log from line FROM
proxy_faults() {
	tail -n +"$(($2 + 1))" "$1/requests.log" | awk '$4 ~ /^error/ || $4 == "drop"' | wc -l
}
setup "gg lambda package" "$GG" lambda package -o "$T/fn.zip" \
	--bootstrap "$BUILD_DIR/lambda/bootstrap" --shim "$SHIM"
setup "unzip the package" unzip -q "$T/fn.zip" -d "$T/fn"
chmod -R a+rX "$T/fn"
emu_start() { # the emulator, whose environments get the proxy as their S3 endpoint
	local -x AWS_ENDPOINT_URL_S3=$WPROXY
	lambda_emu_start "$@"
}
setup "start the emulator (runtime mode: the package in 16 isolated environments)" \
	emu_start "$T/emu" --mode runtime \
	--package "$T/fn" --launcher "$LAUNCH" --concurrency 16 --timeout-s 300 \
	--pass-env AWS_ENDPOINT_URL_S3

# ---- one recording: zlib, CMake + Ninja -------------------------------------------------

src=$T/zcmake
dir=$src/build
export GG_DIR=$T/zcmake-gg
setup "zlib: fetch" corpus zlib "$src"
setup "zlib: cmake -G Ninja" cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
setup "zlib: gg record -- ninja -j2" in_dir "$dir" "$GG" record -- ninja -j2
setup "zlib: gg infer" in_dir "$dir" "$GG" infer
in_dir "$dir" "$GG" graph --json >"$T/graph.json"
# artifacts_of GRAPH_JSON DIR: every output under DIR but the depfiles ninja deletes,
# relative to DIR ("./...")
artifacts_of() {
	python3 - "$1" "$2" <<'EOF'
import json, os, sys
top = sys.argv[2]
for t in json.load(open(sys.argv[1]))["thunks"]:
    for o in t["outputs"]:
        p = o["path"]
        if p.startswith(top + "/") and not p.endswith(".d"):
            print("./" + os.path.relpath(p, top))
EOF
}
mapfile -t arts < <(artifacts_of "$T/graph.json" "$dir")
save_artifacts "$dir" "$T/recorded" "${arts[@]}"
setup "zlib: the recording has artifacts" test -s "$T/recorded.list"
pure_of() {
	python3 -c '
import json, sys
print(sum(1 for t in json.load(open(sys.argv[1]))["thunks"] if not t.get("local_only")))' "$1"
}
pure=$(pure_of "$T/graph.json")
GRAPH=$T/graph.json # the recording the helpers below work on

# forget: every output of the graph removed from the tree, the results emptied and
# every value blob of the local store deleted (thunks kept): what the build
# materializes must come back from the bucket
forget() {
	python3 - "$GRAPH" <<'EOF'
import json, os, sys
for t in json.load(open(sys.argv[1]))["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])
EOF
	rm -rf "$GG_DIR/results"
	find "$GG_DIR/blobs" -type f ! -name '*.t' -delete
	rm -rf "$GG_DIR/packs" # (the small values `gg infer` stored)
}

# answers_ok LOG FROM WANT: the emulator's answers from line FROM of its log: at
# least WANT distinct thunks answered status 0 at level 3, none at another level
# The builds below that count the relaunches their faults cause turn the straggler
# rule off: on a loaded machine a duplicate launched for a slow thunk can stand in
# for a dying worker's invocation (no relaunch then), which is right but uncountable.
NOSTRAGGLERS=straggler=0,straggler_pct=0

answers_ok() {
	python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
ans = [json.loads(l.split(" answer ", 1)[1]) for l in lines if " answer " in l]
good = {a["thunk"] for a in ans if a.get("status") == 0 and a.get("level") == 3 and a.get("ran")}
other = [a for a in ans if a.get("ran") and a.get("level") != 3]
print(len(ans), "answers,", len(good), "thunks at level 3 with status 0,", len(other), "at another level")
sys.exit(0 if len(good) >= int(sys.argv[3]) and not other else 1)
EOF
}

# outputs_back: every output blob the graph names is in the local store again
outputs_back() {
	python3 - "$GRAPH" "$GG_DIR" <<'EOF'
import json, os, sys
missing, n = [], 0
for t in json.load(open(sys.argv[1]))["thunks"]:
    if t.get("local_only"):
        continue
    for o in t["outputs"]:
        v = o.get("value") or o.get("hash")
        if not v or not v.startswith("V"):
            continue
        n += 1
        if not os.path.exists(os.path.join(sys.argv[2], "blobs", v[1:3], v[3:])):
            missing.append(o["path"])
print(n, "output blobs;", len(missing), "missing:", missing[:3])
sys.exit(0 if n and not missing else 1)
EOF
}

# summary_ok LOG EXPR: the JSON summary of a build (LOG's last line) as j makes the
# Python expression EXPR true
summary_ok() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print({k: v for k, v in j.items() if k.startswith("lambda_") or k in ("total", "ran", "failed")})
sys.exit(0 if eval(sys.argv[2], {"j": j}) else 1)
EOF
}

# error_answers LOG FROM TYPE: how many of the emulator's answers from line FROM of
# its log are function errors of type TYPE
error_answers() {
	python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
ans = [json.loads(l.split(" answer ", 1)[1]) for l in lines if " answer " in l]
print(sum(1 for a in ans if a.get("errorType") == sys.argv[3]))
EOF
}

setup "zlib: delete every output and every value blob of the local store" forget
log0=$(wc -l <"$T/emu/emu.log")
# The first invocation's command hangs (its processes stopped as they appear, its
# deadline 5 minutes away): a straggler, whose duplicate must win and whose worker
# must then stop it when it finds the stop key the client put (lambda_proto.h).
lambda_emu_ctl /_emu/faults '[{"stall":true,"timeout_s":300}]' >/dev/null
tap_run "zlib: gg build --engine lambda --remote s3://bkt/z --no-cache -j 16 exits 0 (its first command hung)" "$T/build1.log" \
	in_dir "$dir" "$GG" build --engine lambda --remote s3://bkt/z --no-cache -j 16 --json
tap_check "zlib: every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$dir" "${arts[@]}"
tap_check "zlib: each of the $pure pure thunks ran in the function at level 3 with status 0" \
	answers_ok "$T/emu/emu.log" "$log0" "$pure"
tap_check "zlib: the builder reports level 3, nothing failed or re-recorded" \
	python3 -c '
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(j)
sys.exit(0 if j["sandbox_level"] == 3 and j["failed"] == 0 and j["corrected"] == 0 and j["cached"] == 0 else 1)' "$T/build1.log"
tap_check "zlib: its summary counts the $pure thunks run remotely, the bytes up and down" \
	python3 -c '
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print({k: v for k, v in j.items() if k.startswith("lambda_")})
sys.exit(0 if j["lambda_jobs"] == int(sys.argv[2]) and j["lambda_invocations"] >= j["lambda_jobs"] and
         j["lambda_bytes_up"] > 0 and j["lambda_bytes_down"] > 0 and j["lambda_ms"] > 0 else 1)' "$T/build1.log" "$pure"
tap_check "zlib: every output blob came back from the bucket into the local store" outputs_back
tap_check "zlib: the emulator verified every signature" test "$(lambda_emu_stat signature_failures)" == 0
# superseded_soon: within 60 s, the worker of the hung invocation posted
# Gg.Superseded (it stopped the command for the stop key; the client may have gone
# by then), not killed at its deadline (other losers may have stopped too)
superseded_soon() {
	local i said=
	# the env that stalled, if it posted Gg.Superseded after its stall
	stalled_then_superseded() {
		tail -n +"$((log0 + 1))" "$T/emu/emu.log" | awk '
			/ env [0-9]+ stalled: / && !env { env = $3 }
			env && $0 ~ (" env " env " posted Gg.Superseded$") { print env; exit }'
	}
	for ((i = 0; i < 60; i++)); do
		said=$(stalled_then_superseded)
		[[ -n $said ]] && break
		sleep 1
	done
	echo "stalled $(lambda_emu_stat stalled) timeouts $(lambda_emu_stat timeouts);" \
		"the stalled env that then posted Gg.Superseded: ${said:-none}"
	test "$(lambda_emu_stat stalled)" == 1 && test "$(lambda_emu_stat timeouts)" == 0 && [[ -n $said ]]
}
tap_check "zlib: the hung command got a duplicate, which won; its worker then found the stop key and stopped it (Gg.Superseded, long before its deadline)" \
	eval 'python3 -c "
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print({k: j[k] for k in (\"lambda_stragglers\", \"lambda_stop_keys\", \"lambda_stopped_early\")})
sys.exit(0 if j[\"lambda_stragglers\"] >= 1 and j[\"lambda_stop_keys\"] >= 1 else 1)" "$T/build1.log" && superseded_soon'
# stop keys left: only those of losers still running when the build ended
stop_keys_left() {
	local left early keys
	left=$(s3rver_aws s3 ls s3://bkt/z/stop/ | wc -l)
	read -r keys early < <(python3 -c '
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(j["lambda_stop_keys"], j["lambda_stopped_early"])' "$T/build1.log")
	echo "stop keys put $keys, losers stopped during the build $early, keys left $left"
	((left <= keys - early))
}
tap_check "zlib: the client deleted the stop key of every loser that answered during the build" stop_keys_left

# ---- faults on the same recording --------------------------------------------------------

# four objects of the static library, rebuilt from scratch through the faults (a
# few thunks keep it short): their files and value blobs deleted again
mapfile -t objs < <(python3 - "$T/graph.json" "$dir" <<'EOF'
import json, os, sys
top = sys.argv[2]
outs = sorted(o["path"] for t in json.load(open(sys.argv[1]))["thunks"] for o in t["outputs"]
              if "/zlibstatic.dir/" in o["path"] and o["path"].endswith(".o"))
for p in outs[:4]:
    print("./" + os.path.relpath(p, top))
EOF
)
forget_objs() {
	local o
	for o in "${objs[@]}"; do
		rm -f "$dir/$o" "$dir/$o.d"
	done
	find "$GG_DIR/blobs" -type f ! -name '*.t' -delete
	rm -rf "$GG_DIR/packs" # (the small values `gg infer` stored)
}
setup "zlib: 4 objects of the static library chosen" test "${#objs[@]}" == 4
setup "zlib: delete them and every value blob of the local store" forget_objs
lambda_emu_ctl /_emu/reset '{}' >/dev/null
# (the kill 40 ms after the environment takes the invocation: within its fetches or
# its compile, which together take about 200 ms here; at 200 ms a fast one escaped it)
lambda_emu_ctl /_emu/faults '[{"status":429,"count":8},{"kill":true,"after_ms":40,"count":1}]' >/dev/null
log0=$(wc -l <"$T/emu/emu.log")
tap_run "zlib: 4 objects through a 429 storm and a worker killed mid-thunk: exits 0" "$T/build2.log" \
	in_dir "$dir" "$GG" build --engine lambda:backoff_ms=20,backoff_max_ms=500,$NOSTRAGGLERS --remote s3://bkt/z \
	--no-cache -j 16 --json "${objs[@]}"
tap_check "zlib: ... each is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$dir" "${arts[@]}"
tap_check "zlib: ... the 8 throttled and the killed invocation happened, every object then ran at level 3" \
	eval 'test "$(lambda_emu_stat answered.429)" == 8 && test "$(lambda_emu_stat envs_killed)" == 1 &&
		answers_ok "$T/emu/emu.log" "$log0" 4'
tap_check "zlib: ... and its summary counts them: 8 throttled, 1 relaunched after the death" \
	python3 -c '
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print({k: v for k, v in j.items() if k.startswith("lambda_")})
sys.exit(0 if j["lambda_jobs"] == 4 and j["lambda_throttled"] == 8 and j["lambda_worker_deaths"] == 1 and
         j["lambda_relaunched"] == 1 else 1)' "$T/build2.log"

# ---- faults in a full build of the same recording -----------------------------------------

# One full build (every output deleted again) through all of these at once:
#   - a worker that never answers (frozen: the emulator kills it at its deadline,
#     Sandbox.Timedout) and a command that hangs (its processes stopped: the worker
#     must stop it before Lambda-Runtime-Deadline-Ms and say so, Gg.Deadline); both
#     invocations with a deadline of seconds (2 and 10: the hung one's worker fetches
#     its inputs through the faults below first, and keeps 2 s for its answer, so a
#     loaded machine must not push it past its deadline), the others the function's
#     300 s;
#   - S3 answering 500/503 to 10% of the requests and dropping 5% of the
#     connections, for the client and the workers alike (each through its proxy);
#   - the blob of the first static-library object (removed from the bucket, so its
#     worker uploads it) corrupted on its way in: one byte of the worker's PUT
#     flipped, the length kept.  The client must refuse it by hash, delete it from
#     the bucket and run the thunk again.
bad=$(python3 - "$GRAPH" "$dir/${objs[0]}" <<'EOF'
import json, os, sys
for t in json.load(open(sys.argv[1]))["thunks"]:
    for o in t["outputs"]:
        if os.path.normpath(o["path"]) == os.path.normpath(sys.argv[2]):
            print(o["value"])
EOF
)
setup "zlib: the blob of ${objs[0]} is known" test -n "$bad"
setup "zlib: delete every output and every value blob of the local store (faults)" forget
setup "zlib: remove the blob of ${objs[0]} from the bucket" \
	s3rver_aws s3api delete-object --bucket bkt --key "z/$bad"
lambda_emu_ctl /_emu/reset '{}' >/dev/null
lambda_emu_ctl /_emu/faults '[{"freeze":true,"timeout_s":2},{"stall":true,"timeout_s":10}]' >/dev/null
proxy_ctl "$WPROXY" '{"error_rate":0.1,"drop_rate":0.05,"seed":5,
	"corrupt":[{"method":"PUT","match":"/'"$bad"'","count":1}]}' >/dev/null
proxy_ctl "$CPROXY" '{"error_rate":0.1,"drop_rate":0.05,"seed":6}' >/dev/null
wlog0=$(wc -l <"$T/wproxy/requests.log")
clog0=$(wc -l <"$T/cproxy/requests.log")
log0=$(wc -l <"$T/emu/emu.log")
tap_run "zlib: a full build through a silent worker, a hung command, S3 errors and drops, a corrupted upload: exits 0" \
	"$T/build3.log" in_dir "$dir" env AWS_ENDPOINT_URL_S3="$CPROXY" \
	"$GG" build --engine "lambda:$NOSTRAGGLERS" --remote s3://bkt/z --no-cache -j 16 --json
proxy_ctl "$WPROXY" '{"error_rate":0,"drop_rate":0}' >/dev/null
tap_check "zlib: ... every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/recorded" "$dir" "${arts[@]}"
tap_check "zlib: ... every pure thunk ran at level 3, every output came back, the local store is sound (gg cache verify)" \
	eval 'answers_ok "$T/emu/emu.log" "$log0" "$pure" && outputs_back && "$GG" cache verify'
tap_check "zlib: ... the silent worker was killed at its deadline (Sandbox.Timedout), the hung command stopped by its worker in time (Gg.Deadline)" \
	eval 'echo "frozen $(lambda_emu_stat frozen) stalled $(lambda_emu_stat stalled) timeouts $(lambda_emu_stat timeouts)";
		test "$(lambda_emu_stat frozen)" == 1 && test "$(lambda_emu_stat stalled)" == 1 &&
		test "$(lambda_emu_stat timeouts)" == 1 &&
		test "$(error_answers "$T/emu/emu.log" "$log0" Sandbox.Timedout)" == 1 &&
		test "$(error_answers "$T/emu/emu.log" "$log0" Gg.Deadline)" == 1'
tap_check "zlib: ... S3 errors and drops hit both the client's requests and the workers'" \
	eval 'echo "client $(proxy_faults "$T/cproxy" "$clog0") workers $(proxy_faults "$T/wproxy" "$wlog0")";
		test "$(proxy_faults "$T/cproxy" "$clog0")" -gt 0 && test "$(proxy_faults "$T/wproxy" "$wlog0")" -gt 0'
# what_happened LOG FROM KEY WANT...: the proxy's decisions on KEY from line FROM
# hold WANT ("METHOD DECISION") in that order, other requests in between allowed
what_happened() {
	python3 - "$@" <<'EOF'
import sys
log, start, key, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
ev = [f[1] + " " + f[3] for f in (l.split() for l in open(log).read().splitlines()[start:])
      if len(f) == 4 and f[2].endswith("/" + key)]
print(ev)
i = 0
for e in ev:
    if i < len(want) and e == want[i]:
        i += 1
sys.exit(0 if i == len(want) else 1)
EOF
}
tap_check "zlib: ... the corrupt copy was uploaded, fetched, refused and deleted; the thunk ran again and its new upload came back" \
	eval 'what_happened "$T/wproxy/requests.log" "$wlog0" "$bad" "PUT corrupt" "PUT forward" &&
		what_happened "$T/cproxy/requests.log" "$clog0" "$bad" "GET forward" "DELETE forward" "GET forward"'
tap_check "zlib: ... its summary: nothing failed, 2 workers lost and 3 thunks relaunched (those 2, the corrupt output's)" \
	summary_ok "$T/build3.log" 'j["failed"] == 0 and j["lambda_worker_deaths"] == 2 and j["lambda_relaunched"] == 3'

# ---- a second recording: pkgconf, Meson ---------------------------------------------------

psrc=$T/pkgconf
pdir=$psrc/build
export GG_DIR=$T/pkgconf-gg
setup "pkgconf: fetch" corpus pkgconf "$psrc"
setup "pkgconf: meson setup" in_dir "$psrc" meson setup build --buildtype=release -Dtests=false
setup "pkgconf: gg record -- ninja -j2" in_dir "$pdir" "$GG" record -- ninja -j2
setup "pkgconf: gg infer" in_dir "$pdir" "$GG" infer
in_dir "$pdir" "$GG" graph --json >"$T/pgraph.json"
mapfile -t parts < <(artifacts_of "$T/pgraph.json" "$pdir")
save_artifacts "$pdir" "$T/precorded" "${parts[@]}"
setup "pkgconf: the recording has artifacts" test -s "$T/precorded.list"
GRAPH=$T/pgraph.json
ppure=$(pure_of "$GRAPH")
setup "pkgconf: delete every output and every value blob of the local store" forget
lambda_emu_ctl /_emu/reset '{}' >/dev/null
log0=$(wc -l <"$T/emu/emu.log")
tap_run "pkgconf: gg build --engine lambda --remote s3://bkt/p --no-cache -j 16 exits 0" "$T/pbuild.log" \
	in_dir "$pdir" "$GG" build --engine lambda --remote s3://bkt/p --no-cache -j 16 --json
tap_check "pkgconf: every artifact is byte-identical to the recorded build's" \
	same_artifacts "$T/precorded" "$pdir" "${parts[@]}"
tap_check "pkgconf: each of the $ppure pure thunks ran in the function at level 3 with status 0" \
	answers_ok "$T/emu/emu.log" "$log0" "$ppure"
tap_check "pkgconf: the builder reports level 3, $ppure run remotely, nothing failed, re-recorded or cached" \
	summary_ok "$T/pbuild.log" 'j["sandbox_level"] == 3 and j["failed"] == 0 and j["corrected"] == 0 and j["cached"] == 0 and j["lambda_jobs"] == '"$ppure"
tap_check "pkgconf: every output blob came back from the bucket into the local store" outputs_back
export GG_DIR=$T/zcmake-gg
GRAPH=$T/graph.json

setup "zlib: forget the 4 objects again" forget_objs
rc=0
in_dir "$dir" env AWS_SECRET_ACCESS_KEY=wrong "$GG" build --engine lambda --remote s3://bkt/z \
	--no-cache -j 16 "${objs[@]}" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
tap_check "zlib: wrong credentials fail the build (exit 1)" test "$rc" == 1
tap_check "zlib: ... with one clear line naming the signature, the key id and not the secret" \
	eval 'cat "$T/bad.err"; test "$(grep -c "InvalidSignatureException\|SignatureDoesNotMatch" "$T/bad.err")" == 1 &&
		grep -q "S3RVER" "$T/bad.err" && ! grep -q wrong "$T/bad.err"'
# credentials S3 accepts and Lambda does not (the function in another account)
lambda_emu_ctl /_emu/config '{"secret":"other"}' >/dev/null
rc=0
in_dir "$dir" "$GG" build --engine lambda --remote s3://bkt/z --no-cache -j 16 "${objs[@]}" \
	>"$T/bad2.out" 2>"$T/bad2.err" || rc=$?
tap_check "zlib: credentials Lambda refuses fail the build (exit 1)" test "$rc" == 1
tap_check "zlib: ... with one clear line: 403 InvalidSignatureException, the function, the key id" \
	eval 'cat "$T/bad2.err"; test "$(grep -c "InvalidSignatureException" "$T/bad2.err")" == 1 &&
		grep "InvalidSignatureException" "$T/bad2.err" | grep -q "function .gg.*S3RVER"'
tap_check "zlib: ... and the summary says none ran remotely, the others not run" \
	eval 'cat "$T/bad2.out"; grep -q "^gg: lambda: 0 thunks run remotely" "$T/bad2.out" &&
		grep -q "1 failed, 3 skipped" "$T/bad2.out"'

tap_finish
