#!/bin/bash
# 09-s3.sh - benchmark 9: the "s3" source's parallel download from a
# throttled S3 store. s3rver (tests/npm/s3/start.js: the npm S3 emulator
# with its SigV4 check) holds one object of random data; a real nginx in
# front of it, over TLS, limits every connection to `limit_rate` (how
# object stores throttle each stream) and passes the Host header on, so
# the signature made for nginx's address holds at s3rver.
#
# ours: an s3 job (signed with a credential bound to nginx's address,
# exportd.http_segments = 4) renamed into request/ -> in exported/; the
# comparison: one signed `curl --aws-sigv4` stream of the same object
# through the same nginx (page cache only, as 4b). MB/s (10^6 bytes) of
# the object size over the wall time; medians, ours and curl alternating.
# Target: >= x3.5 curl (4 segments against one stream, as 4b).
# Needs node and npm (npm ci of tests/npm/s3, from the registry or cache).
. "$(dirname "$0")/lib.sh"

REPS=$(quick 1 3)
SIZE_MIB=$(quick 32 1024)
RATE=$(quick 16m 40m)
NPMDIR=$BENCH_DIR/../tests/npm/s3
AK=AKIABENCHKEY00000001
SECRET=bench-s3-secret-$$
command -v node >/dev/null || { echo "bench: node missing" >&2; exit 1; }
npm ci --prefix "$NPMDIR" --no-audit --no-fund >/dev/null 2>&1 ||
    { echo "bench: npm ci in $NPMDIR failed" >&2; exit 1; }
bench_setup
mkdir -p "$T/tls" "$T/curl" "$T/www" "$SP/hold"
mkdir -m 0700 "$T/creds"
SIZE=$((SIZE_MIB * 1048576))

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls/key.pem" \
    -out "$T/tls/cert.pem" -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
chmod 0644 "$T/tls/"*.pem	# nginx's workers read them

# s3rver on loopback (TLS), bucket vms
jq -n --arg d "$T/s3data" --arg c "$T/tls/cert.pem" --arg k "$T/tls/key.pem" \
    --arg ak "$AK" --arg s "$SECRET" --arg p "$T/s3port" --arg l "$T/s3req.log" \
    '{dir: $d, cert: $c, key: $k, bucket: "vms", access_key: $ak,
    secret: $s, portfile: $p, log: $l}' >"$T/s3.json"
node "$NPMDIR/start.js" "$T/s3.json" </dev/null >>"$T/s3rver.log" 2>&1 &
PIDS+=($!)
wait_for 20 test -s "$T/s3port" || { cat "$T/s3rver.log" >&2; exit 1; }
S3PORT=$(cat "$T/s3port")
printf 'user = "%s:%s"\n' "$AK" "$SECRET" >"$T/curl.conf"
chmod 600 "$T/curl.conf"

bench_log "s3: uploading a $SIZE_MIB MiB object of random data"
head -c "$SIZE" /dev/urandom >"$T/disk.raw"
curl -sSf -K "$T/curl.conf" --cacert "$T/tls/cert.pem" \
    --aws-sigv4 aws:amz:us-east-1:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    -T "$T/disk.raw" "https://127.0.0.1:$S3PORT/vms/bench/disk.raw" >/dev/null

# nginx over TLS in front, limit_rate per connection
SPORT=$((20000 + RANDOM % 20000))
while [ -n "$(ss -Htln "sport = :$SPORT")" ]; do SPORT=$((20000 + RANDOM % 20000)); done
start_nginx "$T/www" "listen 127.0.0.1:$SPORT ssl; ssl_certificate $T/tls/cert.pem; ssl_certificate_key $T/tls/key.pem; limit_rate $RATE; location /vms/ { proxy_pass https://127.0.0.1:$S3PORT; proxy_set_header Host \$http_host; proxy_max_temp_file_size 0; }"
URL=https://127.0.0.1:$SPORT/vms/bench/disk.raw

printf '%s\n' "access_key_id = $AK" "secret_access_key = $SECRET" \
    "ca_file = $T/tls/cert.pem" "server = 127.0.0.1:$SPORT" >"$T/creds/bench"
chmod 600 "$T/creds/bench"
printf 'credentials_dir = "%s";\nexportd = { http_segments = 4; };\n' "$T/creds" >>"$T/conf"

# jobs N: N s3 jobs, held in $SP/hold; prints their IDs
jobs() {
	hold_jobs "$1" s s3 "$(printf '{"type": "s3", "endpoint": "https://127.0.0.1:%s", "bucket": "vms", "key": "bench/disk.raw", "format": "raw", "credential": "bench"}' "$SPORT")"
}

# ours ID: export job ID, append MB/s to $T/ours; check and drop the disk
ours() {
	local ms
	ms=$("$PROBE" move-wait "$SP/hold" "$1" "$SP/request" "$SP/exported" 3600)
	[ -f "$SP/exported/$1" ] ||
	    { echo "bench: s3 job failed: $(cat "$SP/data/$1/reason")" >&2; exit 1; }
	cmp -s "$SP/data/$1/disk.raw" "$T/disk.raw" ||
	    { echo "bench: the s3 download differs from the object" >&2; exit 1; }
	calc "$SIZE / 1000 / $ms" >>"$T/ours.mbs"
	rm -f "$SP/data/$1/"*.raw
}

# curl_get: one signed stream through the throttle; append MB/s to $T/curl.mbs
curl_get() {
	local t0
	t0=$(now_ms)
	curl -sSf -K "$T/curl.conf" --cacert "$T/tls/cert.pem" \
	    --aws-sigv4 aws:amz:us-east-1:s3 \
	    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -o "$T/curl/disk.raw" "$URL"
	calc "$SIZE / 1000 / ($(now_ms) - $t0)" >>"$T/curl.mbs"
	cmp -s "$T/curl/disk.raw" "$T/disk.raw" ||
	    { echo "bench: curl's download differs from the object" >&2; exit 1; }
	rm -f "$T/curl/disk.raw"
}

jobs "$REPS" >"$T/ids"
mapfile -t IDS <"$T/ids"
bench_daemon "$T/conf" exportd
EX=$LASTPID
wait_ready "$SP" exportd
for ((i = 0; i < REPS; i++)); do
	bench_log "s3: repetition $((i + 1))/$REPS (limit_rate $RATE)"
	if ((i % 2 == 0)); then
		ours "${IDS[$i]}"; curl_get
	else
		curl_get; ours "${IDS[$i]}"
	fi
done
bench_stop $EX
# every request was signed and accepted, and ours came in ranges
! grep -q '"refused":"' "$T/s3req.log" ||
    { echo "bench: s3rver refused a request" >&2; exit 1; }
grep -q '"range":"bytes=[1-9]' "$T/s3req.log" ||
    { echo "bench: no ranged request reached s3rver" >&2; exit 1; }

o=$(median <"$T/ours.mbs")
c=$(median <"$T/curl.mbs")
row 9 "s3 export (SigV4, TLS), $SIZE_MIB MiB from s3rver behind nginx limit_rate $RATE per connection, 4 segments, MB/s (median of $REPS)" \
    "$o MB/s" "$c MB/s (curl --aws-sigv4, one stream)" "$(ratio "$o" "$c")" \
    ">= x3.5" "$(verdict "$o >= 3.5 * $c")"
