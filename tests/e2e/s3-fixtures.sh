#!/usr/bin/env bash
# The S3 test stand-ins work: s3rver starts and checks SigV4 (awscli and gg's own signer, through libcurl, are accepted; a wrong secret is refused with SignatureDoesNotMatch), and faultproxy injects 500/503/drops/delays at its configured rates, keeps connections alive and stops by itself.
set -uo pipefail
. tests/e2e/lib.sh
. tests/fixtures/s3rver.sh

e2e_init
S3SIGN=$BUILD_DIR/tests/tools/s3sign
if [[ ! -x "$S3SIGN" ]]; then
	tap_not_ok "setup: $S3SIGN is built (make BUILD=$BUILD $BUILD/tests/tools/s3sign)"
	tap_finish
fi

setup "s3rver starts (scripts/install-deps installs it)" s3rver_start "$T/s3rver" fixtures
s3rver_env
export AWS_MAX_ATTEMPTS=1 # failures here must show, not be retried away

# ---- s3rver and awscli -------------------------------------------------------

endpoint_answers() {
	[[ "$S3RVER_ENDPOINT" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || return 1
	kill -0 "$S3RVER_PID" || return 1
	# an unsigned request is answered with S3's XML (any status)
	curl -s --max-time 10 "$S3RVER_ENDPOINT/" | grep -q '<?xml'
}
tap_check "s3rver listens on 127.0.0.1, on a free port, and answers" endpoint_answers

tap_check "aws --endpoint-url creates a bucket" s3rver_aws s3 mb s3://made-by-aws

head -c 70000 /dev/urandom >"$T/obj.bin"
aws_put_list() {
	s3rver_aws s3 cp "$T/obj.bin" s3://made-by-aws/dir/obj.bin --only-show-errors || return 1
	s3rver_aws s3 ls --recursive s3://made-by-aws/ >"$T/ls.txt" || return 1
	cat "$T/ls.txt"
	grep -Eq ' 70000 dir/obj\.bin$' "$T/ls.txt"
}
tap_check "aws puts an object and lists it" aws_put_list

wrong_secret_aws() {
	local rc=0
	AWS_SECRET_ACCESS_KEY=not-the-secret s3rver_aws s3 ls s3://made-by-aws/ >"$T/wrong.txt" 2>&1 || rc=$?
	cat "$T/wrong.txt"
	((rc != 0)) && grep -q SignatureDoesNotMatch "$T/wrong.txt"
}
tap_check "aws with a wrong secret is refused with SignatureDoesNotMatch" wrong_secret_aws

# ---- gg's signer (runtime/engine/sigv4.c) against s3rver ------------------------

# A key with characters S3 wants encoded once: space, '$', '+', '=', UTF-8.
KEY='gg/a b$c+d=é.bin'
head -c 300000 /dev/urandom >"$T/signed.bin"
signer_put() {
	"$S3SIGN" PUT fixtures "$KEY" "$T/signed.bin" || return 1
	s3rver_aws s3 cp "s3://fixtures/$KEY" "$T/signed.back" --only-show-errors || return 1
	cmp "$T/signed.bin" "$T/signed.back"
}
tap_check "gg's signer: a PUT through libcurl is accepted; aws reads back the same bytes" signer_put

signer_get() {
	"$S3SIGN" GET made-by-aws dir/obj.bin "$T/obj.back" || return 1
	cmp "$T/obj.bin" "$T/obj.back"
}
tap_check "gg's signer: a GET returns the bytes aws put" signer_get

signer_more() {
	"$S3SIGN" --unsigned-payload PUT fixtures gg/unsigned "$T/obj.bin" || return 1
	"$S3SIGN" HEAD fixtures gg/unsigned || return 1
	"$S3SIGN" LIST fixtures "gg/" >"$T/list.xml" || return 1
	grep -c '<Key>' "$T/list.xml"
	grep -q '<Key>gg/unsigned</Key>' "$T/list.xml" && grep -q '<KeyCount>2</KeyCount>' "$T/list.xml"
}
tap_check "gg's signer: UNSIGNED-PAYLOAD PUT, HEAD and a ListObjectsV2 query are accepted" signer_more

signer_refused() {
	local out
	out=$(AWS_SECRET_ACCESS_KEY=not-the-secret "$S3SIGN" GET fixtures "$KEY" "$T/x" 2>&1) && return 1
	echo "$out"
	grep -q 'status 403' <<<"$out" && grep -q 'error SignatureDoesNotMatch' <<<"$out" || return 1
	out=$("$S3SIGN" GET no-such-bucket k "$T/x" 2>&1) && return 1
	echo "$out"
	grep -q 'error NoSuchBucket' <<<"$out"
}
tap_check "gg's signer with a wrong secret: 403 SignatureDoesNotMatch; a missing bucket: NoSuchBucket" signer_refused

# ---- faultproxy ------------------------------------------------------------------

stat_of() { # stat_of DIR NAME
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1/stats.json" "$2"
}

# 60 signed GETs one after the other (a new connection each): what the client saw
# must be exactly what the proxy says it injected, at the configured rates.
N=60
setup "faultproxy starts" faultproxy_start "$T/fp1" --seed 42 --error-rate 0.2 --drop-rate 0.1 --max-requests 1000
faults_at_rate() {
	local i out ok=0 e500=0 e503=0 drop=0 other=0
	for ((i = 0; i < N; i++)); do
		out=$(AWS_ENDPOINT_URL_S3=$FAULTPROXY_ENDPOINT "$S3SIGN" GET made-by-aws dir/obj.bin "$T/fp.out" 2>&1)
		case "$out" in
		*"status 200"*) cmp -s "$T/obj.bin" "$T/fp.out" && ok=$((ok + 1)) || other=$((other + 1)) ;;
		*"status 500"*"error InternalError"*) e500=$((e500 + 1)) ;;
		*"status 503"*"error SlowDown"*) e503=$((e503 + 1)) ;;
		*"partial file"* | *"Server returned nothing"*) drop=$((drop + 1)) ;;
		*) other=$((other + 1)); echo "unexpected: $out" ;;
		esac
	done
	echo "client: ok=$ok 500=$e500 503=$e503 dropped=$drop other=$other"
	echo "proxy: $(cat "$T/fp1/stats.json")"
	((other == 0)) || return 1
	[[ "$(stat_of "$T/fp1" requests)" == "$N" ]] || return 1
	[[ "$(stat_of "$T/fp1" error_500)" == "$e500" ]] || return 1
	[[ "$(stat_of "$T/fp1" error_503)" == "$e503" ]] || return 1
	[[ "$(stat_of "$T/fp1" dropped)" == "$drop" ]] || return 1
	[[ "$(stat_of "$T/fp1" forwarded)" == "$ok" ]] || return 1
	# rates 0.2 and 0.1 of 60 (means 12 and 6): the seed's draws, inside binomial bounds
	((e500 + e503 >= 4 && e500 + e503 <= 22 && e500 > 0 && e503 > 0)) || return 1
	((drop >= 1 && drop <= 14)) || return 1
}
tap_check "faultproxy injects 500 InternalError, 503 SlowDown and drops at the configured rates (client and proxy counts agree)" faults_at_rate

# keep-alive: one curl process, 20 requests, one connection to the proxy
setup "faultproxy starts (no faults)" faultproxy_start "$T/fp2" --seed 1 --max-requests 1000
keeps_alive() {
	local urls=() i codes
	for ((i = 0; i < 20; i++)); do
		urls+=(-o /dev/null "$FAULTPROXY_ENDPOINT/made-by-aws/dir/obj.bin")
	done
	codes=$(curl -sS -w '%{http_code}\n' --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"${urls[@]}") || return 1
	echo "proxy: $(cat "$T/fp2/stats.json")"
	[[ "$(grep -c '^200$' <<<"$codes")" == 20 ]] || { echo "$codes"; return 1; }
	[[ "$(stat_of "$T/fp2" requests)" == 20 && "$(stat_of "$T/fp2" connections)" == 1 ]]
}
tap_check "faultproxy forwards signed requests and keeps the connection alive (20 requests, 1 connection)" keeps_alive

# delays, and a bounded life: the proxy exits by itself after --max-requests
setup "faultproxy starts (delays)" faultproxy_start "$T/fp3" --seed 5 --delay-rate 1 --delay-ms 10 --max-requests 5
delays_then_stops() {
	local i
	for ((i = 0; i < 5; i++)); do
		AWS_ENDPOINT_URL_S3=$FAULTPROXY_ENDPOINT "$S3SIGN" HEAD made-by-aws dir/obj.bin || return 1
	done
	echo "proxy: $(cat "$T/fp3/stats.json")"
	[[ "$(stat_of "$T/fp3" delayed)" == 5 && "$(stat_of "$T/fp3" forwarded)" == 5 ]] || return 1
	for ((i = 0; i < 100; i++)); do
		kill -0 "$FAULTPROXY_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "faultproxy still runs after --max-requests 5"
	return 1
}
tap_check "faultproxy delays requests, then stops by itself after --max-requests" delays_then_stops

# a real client through faults: awscli's retries get every file in, intact
setup "faultproxy starts (awscli)" faultproxy_start "$T/fp4" --seed 7 --error-rate 0.1 --drop-rate 0.05 --max-requests 1000
mkdir -p "$T/up"
for i in $(seq 20); do head -c $((1000 + i * 997)) /dev/urandom >"$T/up/f$i"; done
awscli_through_faults() {
	AWS_MAX_ATTEMPTS=10 "${GG_AWS_CLI:-/usr/bin/aws}" --endpoint-url "$FAULTPROXY_ENDPOINT" \
		s3 cp --recursive --only-show-errors "$T/up" s3://made-by-aws/up/ || return 1
	echo "proxy: $(cat "$T/fp4/stats.json")"
	# faults were injected (the seed's first draws hold some) and retried
	(($(stat_of "$T/fp4" error_500) + $(stat_of "$T/fp4" error_503) + $(stat_of "$T/fp4" dropped) > 0)) || return 1
	s3rver_aws s3 cp --recursive --only-show-errors s3://made-by-aws/up/ "$T/down" || return 1
	diff -r "$T/up" "$T/down"
}
tap_check "awscli uploads 20 files through faultproxy (retrying its faults); every object is intact" awscli_through_faults

tap_finish
