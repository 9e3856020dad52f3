#!/usr/bin/env bash
# Proves that the Lambda stand-in behaves like Lambda and that the lambda engine works through it: the emulator's SigV4 check agrees with AWS's test vectors and refuses a wrong secret with one clear line; its Runtime API runs a package's bootstrap in a root holding only /var/task, /tmp, /proc and /dev, as uid 993, with namespaces and seccomp refused and Lambda's environment, reuses an environment (its /tmp kept), kills it on a deadline or on demand and reports Lambda's error types, and throttles past K environments; the engine runs jobs through that bootstrap, uploads every blob a thunk names to S3 (s3rver) before invoking it and not again, and fetches an output blob from the bucket verified by hash, refusing a corrupt one (its thunk runs again); the packaged function (gg lambda package) runs a real thunk there at level 3 end to end (fetch from S3, run, upload, answer), also through a 429 storm and a function killed mid-invocation, and six thunks in a row in one environment whose /tmp could not hold all their blobs (the worker's store and input cache trimmed); `gg lambda deploy` creates the function (provided.al2023, x86_64, waiting until it is Active), updates it (configuration, then code through the bucket), and refuses a role Lambda cannot assume or wrong credentials with one clear line; a small recorded build runs on the deployed function with a per-thunk --json (engine, level, times), and with --fallback-local a thunk Lambda keeps failing runs in the local sandbox while a command that fails still fails.
set -euo pipefail
. tests/e2e/lib.sh

# No gg command here: the engine is driven by tests/tools/lambda_drive.
DRIVE=$BUILD_DIR/tests/tools/lambda_drive
LAUNCH=$BUILD_DIR/tests/tools/lambda_launch
if [[ ! -x "$DRIVE" || ! -x "$LAUNCH" ]]; then
	tap_not_ok "the test tools are built ($DRIVE, $LAUNCH)"
	tap_finish
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/gg-e2e.XXXXXX")
T=$(cd "$T" && pwd -P)
trap e2e_cleanup EXIT
. tests/fixtures/lambda_emu.sh
. tests/fixtures/s3rver.sh
lambda_emu_env

not() { ! "$@"; }

# ---- SigV4 ------------------------------------------------------------------------------

SIGV4=${GG_SIGV4_DATA:-$TOP/../shared/data/sigv4}
tap_check "the emulator's SigV4 verifier reproduces every AWS test vector" \
	grep -qx "sigv4 selftest: [1-9][0-9]* cases, 0 mismatches" \
	<(python3 tests/fixtures/lambda_emu.py --selftest-sigv4 "$SIGV4")

# ---- the Runtime API: a stand-in bootstrap in Lambda's environment ----------------------

if (($(id -u) != 0)); then
	tap_not_ok "the Runtime API checks need root (the launcher pivots into a new root)"
	tap_finish
fi
mkdir -p "$T/pkg"
setup "build the stand-in bootstrap (static)" \
	cc -static -O1 -o "$T/pkg/bootstrap" tests/fixtures/lambda_standin.c
chmod -R a+rX "$T/pkg"
setup "start the emulator (runtime mode, 2 environments, 2 s deadline)" \
	lambda_emu_start "$T/emu" --mode runtime --package "$T/pkg" --launcher "$LAUNCH" \
	--concurrency 2 --timeout-s 2

# one client process for the sequential invocations (each python3 start costs);
# the fault kills the environment that takes "sleep:1500", 300 ms in
lambda_emu_ctl /_emu/faults '[{"match":"sleep:1500","kill":true,"after_ms":300}]' >/dev/null
lambda_emu_invoke --sequential '"probe"' '"probe"' '"fail"' '"sleep:6000"' '"sleep:1500"' \
	'"crash"' '"initfail"' >"$T/answers"
lambda_emu_invoke '"sleep:1000"' '"sleep:1000"' '"sleep:1000"' >>"$T/answers"
# every field of every answer as a shell variable, in one python3 run:
# aN_http (the status), aN_fe (X-Amz-Function-Error), aN_et (x-amzn-ErrorType), aN_<body key>
eval "$(python3 - "$T/answers" <<'EOF'
import json, shlex, sys
for i, line in enumerate(open(sys.argv[1]), 1):
    j = json.loads(line)
    v = dict(j["body"]) if isinstance(j.get("body"), dict) else {}
    v.update(http=j.get("status"), fe=j.get("function_error"), et=j.get("error_type"))
    for k, x in v.items():
        if k.isidentifier():
            print("a%d_%s=%s" % (i, k, shlex.quote(str(x))))
EOF
)"
# is VAR GLOB: $VAR matches GLOB, else say what it was
is() {
	[[ "${!1-<unset>}" == $2 ]] || { echo "$1 is '${!1-<unset>}', want '$2'"; return 1; }
}
tap_check "bootstrap answers through the Runtime API (200, no function error)" \
	eval 'is a1_http 200 && is a1_fe None'
tap_check "it runs as uid/gid 993 in /var/task" \
	eval 'is a1_uid 993 && is a1_gid 993 && is a1_cwd /var/task'
tap_check "its root holds only var (the package at /var/task), tmp, proc, dev and opt" \
	test "$(tr ' ' '\n' <<<"$a1_root" | sort | xargs)" == "dev opt proc tmp var"
tap_check "/var/task is read-only, /tmp writable, /proc and /dev/null there" \
	eval 'is a1_task_write EROFS && is a1_tmp_write ok && is a1_proc ok && is a1_dev_null ok'
tap_check "namespaces and seccomp are refused (unshare, seccomp(), PR_SET_SECCOMP: EPERM)" \
	eval 'is a1_unshare_user EPERM && is a1_unshare_mount EPERM && is a1_seccomp EPERM && is a1_prctl_seccomp EPERM'
tap_check "Lambda's documented environment is set (task root, runtime API, LD_LIBRARY_PATH, handler, credentials, region)" \
	eval 'is a1_LAMBDA_TASK_ROOT /var/task && is a1_LAMBDA_RUNTIME_DIR /var/runtime &&
		is a1_AWS_LAMBDA_RUNTIME_API "127.0.0.1:[0-9]*" && is a1_LD_LIBRARY_PATH "/var/task/lib:*" &&
		is a1__HANDLER "?*" && is a1_AWS_ACCESS_KEY_ID S3RVER && is a1_AWS_REGION us-east-1 &&
		is a1_AWS_LAMBDA_FUNCTION_NAME gg'
tap_check "the deadline header reaches the function (Lambda-Runtime-Deadline-Ms within the 2 s)" \
	eval '((a1_deadline_left_ms > 0 && a1_deadline_left_ms <= 2000))'
tap_check "a second invocation reuses the environment, its /tmp kept" \
	eval 'is a2_events 2 && is a2_tmp_marker yes && is a2_pid 1'
tap_check "a function error comes back as 200 + X-Amz-Function-Error with the function's type and message" \
	eval 'is a3_http 200 && is a3_fe Unhandled && is a3_errorType Gg.Failed && is a3_errorMessage "stand-in failure on purpose"'
tap_check "past the deadline the environment is killed: Sandbox.Timedout" \
	eval 'is a4_fe Unhandled && is a4_errorType Sandbox.Timedout && is a4_errorMessage "*Task timed out after 2.00 seconds"'
tap_check "a worker killed mid-invocation: Runtime.ExitError, signal: killed" \
	eval 'is a5_fe Unhandled && is a5_errorType Runtime.ExitError && is a5_errorMessage "*Runtime exited with error: signal: killed"'
tap_check "a bootstrap that exits mid-invocation: Runtime.ExitError, exit status 3" \
	eval 'is a6_errorType Runtime.ExitError && is a6_errorMessage "*exit status 3"'
tap_check "an error posted to /runtime/init/error reaches the caller" \
	eval 'is a7_fe Unhandled && is a7_errorType Runtime.Standin'
tap_check "K=2 environments: a third concurrent invocation gets 429 TooManyRequestsException" \
	test "$(printf '%s %s\n' "$a8_http" "$a8_et" "$a9_http" "$a9_et" "$a10_http" "$a10_et" | sort | xargs)" == \
	"200 None 200 None 429 TooManyRequestsException"
# the environments killed (deadline, on demand, init error) and the one that
# exited: no process of theirs is left, their roots are gone
envs_gone() {
	local n dead
	dead=$(sed -nE 's/^[0-9.]+ env ([0-9]+) (killed|exited).*/\1/p' "$T/emu/emu.log" | sort -u)
	[[ $(echo "$dead" | wc -w) == 4 ]] || { echo "environments ended: $dead"; return 1; }
	for n in $dead; do
		if pgrep -f "$T/emu/env-$n.root" >/dev/null || [[ -e "$T/emu/env-$n.root" ]]; then
			echo "environment $n is still there"
			return 1
		fi
	done
	test "$(lambda_emu_stat timeouts)" == 1 && test "$(lambda_emu_stat exit_errors)" == 2
}
tap_check "every environment that ended left no process and no root behind" envs_gone

# the engine through the Runtime API
tap_run "the lambda engine runs 6 jobs through the bootstrap (-j 2)" "$T/drive-rt.log" \
	"$DRIVE" --ggdir "$T/gg" --jobs 6 --distinct --slots 2 --params "backoff_ms=10,straggler=0"
tap_check "... each ran at level 3 with status 0, signed right" \
	eval 'test "$(grep -c "^job .* ret 0 ran 1 status 0 level 3 " "$T/drive-rt.log")" == 6 && test "$(lambda_emu_stat signature_failures)" == 0'
tap_run "the driver with a wrong secret stops" "$T/drive-bad.log" \
	not env AWS_SECRET_ACCESS_KEY=wrong "$DRIVE" --ggdir "$T/gg" --jobs 3 --slots 1
badline() {
	grep "^job " "$T/drive-bad.log" | grep -c "403 InvalidSignatureException: The request signature we calculated does not match"
}
tap_check "... after one job, with one clear line (403 InvalidSignatureException, the key id, not the secret)" \
	eval 'test "$(badline)" == 1 && grep -q "key id .S3RVER." "$T/drive-bad.log" && not grep -q wrong "$T/drive-bad.log" && grep -q "start: Permission denied" "$T/drive-bad.log"'
lambda_emu_stop

# ---- S3: blobs up before the invocation, outputs down after ----------------------------

setup "start s3rver" s3rver_start "$T/s3" bkt
s3rver_env
export AWS_ENDPOINT_URL_S3=$S3RVER_ENDPOINT
if [[ ! -x "$GG" || ! -x "$BUILD_DIR/lambda/bootstrap" || ! -f "$SHIM" ]]; then
	tap_not_ok "gg, lambda/bootstrap and the shim are built"
	tap_finish
fi
mkdir -p "$T/fn" "$T/src" "$T/work"
setup "gg lambda package" "$GG" lambda package -o "$T/fn.zip" \
	--bootstrap "$BUILD_DIR/lambda/bootstrap" --shim "$SHIM"
setup "unzip the package" unzip -q "$T/fn.zip" -d "$T/fn"
chmod -R a+rX "$T/fn"
printf '#include <stdio.h>\nint main(int c, char **v) { FILE *f = fopen(v[1], "w"); if (!f) return 2; fprintf(f, "made remotely: %%s\\n", v[1]); return fclose(f) ? 3 : 0; }\n' >"$T/src/mk.c"
setup "build a program that writes its argument's file" cc -O1 -o "$T/src/mk" "$T/src/mk.c"
setup "start the emulator (noop mode; then the package, isolated as Lambda runs it)" \
	lambda_emu_start "$T/emu2" --package "$T/fn" --launcher "$LAUNCH" --concurrency 4 \
	--timeout-s 60 --pass-env AWS_ENDPOINT_URL_S3
mkdir -p "$T/in"
for i in 1 2 3; do head -c $((i * 5000)) /dev/urandom >"$T/in/f$i"; done
# s3_put FILE KEY: a signed PUT (curl's SigV4) into the bucket
s3_put() {
	curl -sS --fail --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$1" "$S3RVER_ENDPOINT/bkt/$2" >/dev/null
}
# s3_keys PREFIX: the keys s3rver holds under bkt/PREFIX/ (its files), sorted
s3_keys() {
	(cd "$T/s3/data/bkt/$1" 2>/dev/null && find . -name '*._S3rver_object') |
		sed -e 's#^\./##' -e 's#\._S3rver_object$##' | LC_ALL=C sort
}
store_names() {
	(cd "$1/blobs" && find . -type f) | sed -nE 's#^\./(..)/([0-9a-f]{30})(\.t)?$#\1\2\3#p' |
		sed -E 's#^(.{32})\.t$#T\1#; t; s#^#V#' | LC_ALL=C sort
}
tap_run "4 jobs of a thunk with 3 inputs, remote s3://bkt/pre" "$T/up1.log" \
	"$DRIVE" --ggdir "$T/gg2" --jobs 4 --slots 4 --params remote=s3://bkt/pre \
	--input "$T/in/f1" --input "$T/in/f2" --input "$T/in/f3"
store_names "$T/gg2" >"$T/local.names"
s3_keys pre >"$T/bucket.names"
tap_check "the bucket holds the thunk, its exe and its 3 inputs (every blob of the store)" \
	eval 'test -z "$(comm -23 "$T/local.names" "$T/bucket.names")" &&
		test "$(wc -l <"$T/bucket.names")" == 5'
tap_check "... the thunk PUT from memory: the only one the local store lacks" \
	eval 'comm -13 "$T/local.names" "$T/bucket.names" | grep -qx "T[0-9a-f]\{32\}" &&
		test "$(wc -l <"$T/local.names")" == 4'
tap_check "... uploaded once for the 4 jobs" grep -q "blobs_uploaded 5 " "$T/up1.log"
tap_run "the same thunk again, in a new engine" "$T/up2.log" \
	"$DRIVE" --ggdir "$T/gg2" --jobs 1 --params remote=s3://bkt/pre \
	--input "$T/in/f1" --input "$T/in/f2" --input "$T/in/f3"
tap_check "... uploads nothing (HEAD finds every blob)" grep -q "blobs_uploaded 0 " "$T/up2.log"
tap_check "the emulator answered the 4 + 1 invocations, nothing else" \
	test "$(lambda_emu_stat answered.200) $(lambda_emu_stat invocations)" == "5 5"

# an output the worker left in the bucket comes down into the store, verified
head -c 7777 /dev/urandom >"$T/out.bin"
"$DRIVE" --ggdir "$T/scratch" --jobs 1 --input "$T/out.bin" >/dev/null
out_hash=$(comm -13 <(store_names "$T/gg2") <(store_names "$T/scratch") | grep '^V' |
	while read -r h; do cmp -s "$T/scratch/blobs/${h:1:2}/${h:3}" "$T/out.bin" && echo "$h"; done)
s3_put "$T/out.bin" "pre/$out_hash"
lambda_emu_ctl /_emu/faults "[{\"answer\":{\"ran\":true,\"status\":0,\"level\":3,\"outputs\":[{\"path\":\"/o/out.bin\",\"value\":\"$out_hash\",\"mode\":33188}]}}]" >/dev/null
tap_run "a job whose answer names an output only the bucket holds" "$T/down.log" \
	"$DRIVE" --ggdir "$T/gg2" --jobs 1 --params remote=s3://bkt/pre --input "$T/in/f1"
tap_check "... completes with that output, fetched into the local store byte-identical" \
	eval 'grep -q "^output /o/out.bin $out_hash 100644" "$T/down.log" && cmp "$T/gg2/blobs/${out_hash:1:2}/${out_hash:3}" "$T/out.bin"'
# the same again with bytes in the bucket that do not match the name
head -c 100 /dev/urandom >"$T/bad.bin"
bad_hash=V$(printf '%032x' 12345)
s3_put "$T/bad.bin" "pre/$bad_hash"
lambda_emu_ctl /_emu/faults "[{\"answer\":{\"ran\":true,\"status\":0,\"level\":3,\"outputs\":[{\"path\":\"/o/bad\",\"value\":\"$bad_hash\",\"mode\":33188}]}}]" >/dev/null
tap_run "a job whose output blob is corrupt in the bucket completes" "$T/corrupt.log" \
	"$DRIVE" --ggdir "$T/gg2" --jobs 1 --params remote=s3://bkt/pre --input "$T/in/f1"
tap_check "... by running its thunk again (the corrupt copy deleted from the bucket); nothing corrupt enters the store" \
	eval 'grep -q "^job 0 ret 0 ran 1 status 0 " "$T/corrupt.log" && grep -q " relaunched 1 " "$T/corrupt.log" &&
		not grep -qx "$bad_hash" <(s3_keys pre) && test ! -e "$T/gg2/blobs/${bad_hash:1:2}/${bad_hash:3}"'

# the real function: `gg lambda package` unzipped in the emulator's isolated
# environment; its bootstrap serves the Runtime API (runtime/engine/lambda_runtime.h),
# fetches the thunk and its inputs from the bucket, runs it at level 3 (no
# namespaces there) through worker.h, uploads its output and answers; the engine
# fetches the output back into the local store
libc=$(ldd "$T/src/mk" | sed -nE 's#.*libc\.so\.6 => ([^ ]+).*#\1#p')
ldso=$(ldd "$T/src/mk" | sed -nE 's#^[[:space:]]*(/[^ ]*ld-linux[^ ]*).*#\1#p')
lambda_emu_ctl /_emu/config '{"mode":"runtime"}' >/dev/null
tap_run "a thunk (a dynamically linked program writing out.txt) runs in the packaged function" "$T/rt.log" \
	"$DRIVE" --ggdir "$T/gg3" --jobs 1 --params remote=s3://bkt/rt \
	--exe "$T/src/mk" --arg out.txt --cwd "$T/work" --output "$T/work/out.txt" \
	--input "$libc" --input "$ldso"
rt_ok() {
	local h
	h=$(sed -nE "s#^output $T/work/out.txt (V[0-9a-f]{32}) 100644\$#\\1#p" "$T/rt.log")
	[[ -n "$h" ]] || { echo "no output line"; return 1; }
	grep -q "^job 0 ret 0 ran 1 status 0 level 3 " "$T/rt.log" &&
		grep -q "blobs_downloaded 1 " "$T/rt.log" &&
		test "$(cat "$T/gg3/blobs/${h:1:2}/${h:3}")" == "made remotely: out.txt" &&
		s3_keys rt | grep -qx "$h" && test ! -e "$T/work/out.txt"
}
tap_check "... at level 3, its output uploaded by the function and fetched back into the local store" rt_ok
lambda_emu_ctl /_emu/faults '[{"status":429,"count":3},{"kill":true,"after_ms":1}]' >/dev/null
tap_run "the same through a 429 storm and a function killed mid-invocation" "$T/rt2.log" \
	"$DRIVE" --ggdir "$T/gg4" --jobs 1 --params remote=s3://bkt/rt,backoff_ms=20 \
	--exe "$T/src/mk" --arg out.txt --cwd "$T/work" --output "$T/work/out.txt" \
	--input "$libc" --input "$ldso"
tap_check "... backed off 3 times, relaunched once, then ran at level 3 with its output" \
	eval 'grep -q "^job 0 ret 0 ran 1 status 0 level 3 outputs 1 " "$T/rt2.log" &&
		grep -q "throttled 3 .* worker_deaths 1 relaunched 1 " "$T/rt2.log" &&
		grep -q "^output $T/work/out.txt " "$T/rt2.log"'

# The worker's store in /tmp is trimmed after each event once the file system is past
# its budget (half of /tmp here): one environment with a 12 MiB /tmp runs six thunks
# in a row, each with its own 2 MiB input besides the 2 MiB of libc; kept, the blobs
# would not fit in /tmp by the sixth.
saved_emu=("$LAMBDA_EMU_ENDPOINT" "$LAMBDA_EMU_PID")
setup "start an emulator with one environment and a 12 MiB /tmp" \
	lambda_emu_start "$T/emu3" --mode runtime --package "$T/fn" --launcher "$LAUNCH" \
	--concurrency 1 --tmp-mb 12 --timeout-s 60 --pass-env AWS_ENDPOINT_URL_S3
trimmed_runs() {
	local i
	for i in 1 2 3 4 5 6; do
		head -c $((2 << 20)) /dev/urandom >"$T/in/big$i"
		"$DRIVE" --ggdir "$T/gg5" --jobs 1 --params remote=s3://bkt/trim \
			--exe "$T/src/mk" --arg "out$i.txt" --cwd "$T/work" --output "$T/work/out$i.txt" \
			--input "$libc" --input "$ldso" --input "$T/in/big$i" >"$T/trim$i.log" 2>&1 || {
			cat "$T/trim$i.log"
			return 1
		}
		grep -q "^job 0 ret 0 ran 1 status 0 level 3 " "$T/trim$i.log" || {
			cat "$T/trim$i.log"
			return 1
		}
	done
	test "$(lambda_emu_stat envs_started) $(lambda_emu_stat envs_killed)" == "1 0"
}
tap_check "six thunks with 2 MiB inputs in a row run in one environment with a 12 MiB /tmp (its store and input cache trimmed)" \
	trimmed_runs
# (the next checks talk to the first emulator again)
LAMBDA_EMU_ENDPOINT=${saved_emu[0]} LAMBDA_EMU_PID=${saved_emu[1]}
export LAMBDA_EMU_ENDPOINT LAMBDA_EMU_PID AWS_ENDPOINT_URL_LAMBDA=$LAMBDA_EMU_ENDPOINT


# ---- gg lambda deploy: the control plane -------------------------------------------------

ROLE=arn:aws:iam::123456789012:role/gg-worker
lambda_emu_ctl /_emu/config '{"mode":"noop","settle_ms":300}' >/dev/null
# fn_conf: the emulator's view of function gg, one line
fn_conf() {
	lambda_emu_ctl /_emu/functions | python3 -c 'import json, sys
c = json.load(sys.stdin)["gg"]
print(c["Runtime"], c["Architectures"][0], c["Handler"], c["MemorySize"], c["Timeout"],
      c["EphemeralStorage"]["Size"], c["State"], c["LastUpdateStatus"], c["CodeSize"])'
}
tap_run "gg lambda deploy creates the function" "$T/deploy1.log" \
	"$GG" lambda deploy --role "$ROLE" --package "$T/fn.zip" --memory 1024 --timeout 120 --tmp 1024
tap_check "... provided.al2023, x86_64, handler bootstrap, 1024 MB, 120 s, /tmp 1024 MB, the whole zip, Active once it returns" \
	eval 'test "$(fn_conf)" == "provided.al2023 x86_64 bootstrap 1024 120 1024 Active Successful $(stat -c %s "$T/fn.zip")" &&
		grep -q "^gg: created lambda function .gg. (arn:aws:lambda:us-east-1:123456789012:function:gg)" "$T/deploy1.log" &&
		test "$(lambda_emu_stat functions_created)" == 1'
tap_check "... after polling GetFunction while it was Pending" test "$(lambda_emu_stat function_gets)" -ge 2
# a package with other bytes (one more file), so that its code goes up again
python3 -c 'import shutil, sys, zipfile
shutil.copy(sys.argv[1], sys.argv[2])
with zipfile.ZipFile(sys.argv[2], "a") as z:
    z.writestr("NOTE", "deployed by lambda-emu.sh\n")' "$T/fn.zip" "$T/fn2.zip"
tap_run "a second gg lambda deploy (more memory, another package through the bucket)" "$T/deploy2.log" \
	"$GG" lambda deploy --role "$ROLE" --package "$T/fn2.zip" --memory 2048 --timeout 120 --tmp 1024 \
	--via-bucket --remote s3://bkt/dep
tap_check "... updates it: configuration and code, the zip read by Lambda from s3://bkt/dep/lambda/" \
	eval 'test "$(fn_conf)" == "provided.al2023 x86_64 bootstrap 2048 120 1024 Active Successful $(stat -c %s "$T/fn2.zip")" &&
		grep -q "^gg: updated lambda function .gg. .*through s3, dep/lambda/gg-[0-9a-f]*\.zip" "$T/deploy2.log" &&
		test "$(lambda_emu_stat functions_created) $(lambda_emu_stat config_updates) $(lambda_emu_stat code_updates) $(lambda_emu_stat code_from_s3)" == "1 1 1 1" &&
		s3_keys dep | grep -q "^lambda/gg-[0-9a-f]*\.zip$"'
tap_run "a third gg lambda deploy of the same package" "$T/deploy3.log" \
	"$GG" lambda deploy --role "$ROLE" --package "$T/fn2.zip" --memory 2048 --timeout 120 --tmp 1024
tap_check "... compares CodeSha256 and sends no code (the configuration still updated)" \
	eval 'grep -q "^gg: updated lambda function .gg. .*code unchanged (its CodeSha256 is the package.s), not sent again" "$T/deploy3.log" &&
		test "$(lambda_emu_stat config_updates) $(lambda_emu_stat code_updates)" == "2 1"'
tap_run "gg lambda deploy with a role of another account fails" "$T/deploy-role.log" \
	not "$GG" lambda deploy --role arn:aws:iam::999999999999:role/x --package "$T/fn.zip"
tap_check "... with one line: 400 InvalidParameterValueException, the role cannot be assumed; the code untouched" \
	eval 'test "$(wc -l <"$T/deploy-role.log")" == 1 &&
		grep -q "^gg: cannot update the configuration of lambda function .gg. .*: 400 InvalidParameterValueException: The role defined for the function cannot be assumed by Lambda" "$T/deploy-role.log" &&
		test "$(lambda_emu_stat code_updates)" == 1'
tap_run "gg lambda deploy with wrong credentials fails" "$T/deploy-cred.log" \
	not env AWS_SECRET_ACCESS_KEY=wrong "$GG" lambda deploy --role "$ROLE" --package "$T/fn.zip"
tap_check "... with one line: 403 InvalidSignatureException, the key id, not the secret" \
	eval 'test "$(wc -l <"$T/deploy-cred.log")" == 1 &&
		grep -q "^gg: cannot get lambda function .gg. at .*key id .S3RVER.*: 403 InvalidSignatureException: The request signature" "$T/deploy-cred.log" &&
		not grep -q wrong "$T/deploy-cred.log"'
tap_check "... as does a malformed role, before any request" \
	test "$("$GG" lambda deploy --role gg-worker --package "$T/fn.zip" 2>&1)" == \
	"gg: invalid role 'gg-worker': want arn:aws:iam::ACCOUNT:role/NAME"

# ---- a recorded build on the deployed function; --json per thunk; --fallback-local -------

# three thunks: two runs of mk (a dynamically linked program) and a cat of both
mkdir -p "$T/proj"
printf 'all.txt: o1.txt o2.txt\n\tcat o1.txt o2.txt >all.txt\no1.txt:\n\t%s o1.txt\no2.txt:\n\t%s o2.txt\n' \
	"$T/src/mk" "$T/src/mk" >"$T/proj/Makefile"
export GG_DIR=$T/ggp
setup "record the small project (make -j2)" in_dir "$T/proj" "$GG" record -- make -j2
setup "gg infer" in_dir "$T/proj" "$GG" infer
cp "$T/proj/all.txt" "$T/all.recorded"
lambda_emu_ctl /_emu/config '{"mode":"runtime"}' >/dev/null
# thunks_are LOG ENGINE RESULT FALLBACK LEVEL: every entry of the "thunks" array of
# the --json line in LOG has that engine, result, fallback flag (and level, unless -)
thunks_are() {
	python3 - "$@" <<'PYEOF'
import json, sys
log, engine, result, fb, level = sys.argv[1:6]
j = json.loads(open(log).read().strip().splitlines()[-1])
ts = j["thunks"]
bad = [t for t in ts if t["engine"] != engine or t["result"] != result or
       t["fallback"] != (fb == "yes") or (level != "-" and t.get("level") != int(level)) or
       set(t.get("times_ms", {})) != {"total", "fetch", "run", "upload"}]
print(len(ts), "thunks;", "not as expected:", bad[:2])
sys.exit(0 if len(ts) == 3 and not bad and len(ts) == j["total"] else 1)
PYEOF
}
jkey() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])' "$@"; }
rm -f "$T/proj/"*.txt
rm -rf "$T/fn" # the package unzipped by hand is gone: the deployed one runs
tap_run "gg build --engine lambda --no-cache --json on the deployed function exits 0" "$T/b1.log" \
	in_dir "$T/proj" "$GG" build --engine lambda --remote s3://bkt/b --no-cache -j 4 --json
tap_check "... its output is the recorded one" cmp "$T/proj/all.txt" "$T/all.recorded"
tap_check "... --json lists each thunk: engine lambda, level 3, ran, times (fetch, run, upload)" \
	thunks_are "$T/b1.log" lambda ran no 3
tap_check "... run by the deployed package (the zip unzipped by hand deleted, old environments retired)" \
	eval 'test ! -e "$T/fn" && grep -q "env [0-9]* killed: new code deployed" "$T/emu2/emu.log" &&
		test "$(lambda_emu_stat answered.200)" -ge 3'
lambda_emu_ctl /_emu/faults '[{"status":500,"count":1000}]' >/dev/null
rm -f "$T/proj/"*.txt
tap_run "Lambda failing every invocation (500), --fallback-local: the build exits 0" "$T/b2.log" \
	in_dir "$T/proj" "$GG" build --engine lambda:attempts=2,backoff_ms=1 --remote s3://bkt/b \
	--no-cache -j 4 --json --fallback-local
tap_check "... each thunk ran in the local sandbox after lambda gave up, counted" \
	eval 'thunks_are "$T/b2.log" local ran yes - && test "$(jkey "$T/b2.log" fallbacks)" == 3 &&
		grep -q "^gg: .*: lambda could not run it (gave up after 2 attempts: .* 500 ServiceException.*): running it on the local engine" "$T/b2.log"'
tap_check "... its output is the recorded one" cmp "$T/proj/all.txt" "$T/all.recorded"
rm -f "$T/proj/"*.txt
tap_run "the same without --fallback-local fails" "$T/b3.log" \
	not in_dir "$T/proj" "$GG" build --engine lambda:attempts=2,backoff_ms=1 --remote s3://bkt/b \
	--no-cache -j 4
tap_check "... saying lambda gave up after 2 attempts" \
	grep -q "gg: FAILED: .*cannot run: gave up after 2 attempts: lambda function 'gg' .* 500 ServiceException" "$T/b3.log"
lambda_emu_ctl /_emu/reset '{}' >/dev/null
lambda_emu_ctl /_emu/faults '[{"answer":{"ran":true,"status":1,"level":3,"outputs":[],"stderr_tail":"failed on purpose"},"count":1000}]' >/dev/null
rm -f "$T/proj/"*.txt
tap_run "a command that fails on Lambda (exit status 1), --fallback-local: the build fails" "$T/b4.log" \
	not in_dir "$T/proj" "$GG" build --engine lambda --remote s3://bkt/b --no-cache -j 4 --json \
	--fallback-local --no-self-correct
tap_check "... not run locally: its failure is the command's, reported as such" \
	eval 'test "$(jkey "$T/b4.log" fallbacks)" == 0 && test "$(jkey "$T/b4.log" ran)" == 0 &&
		grep -q "gg: FAILED: .*exit status 1.*stderr: failed on purpose" "$T/b4.log"'
lambda_emu_ctl /_emu/reset '{}' >/dev/null

tap_finish
