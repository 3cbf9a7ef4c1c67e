#!/bin/bash
# 04-http.sh - benchmarks 4a-4c: exportd's HTTP export (provider "http")
# of one 2 GiB disk of random data served by a real nginx on loopback,
# against curl.
#
#   4a  plain nginx. ours: the job renamed into request/ -> in exported/
#       (HEAD, 4 Range segments, fsync, virtual size, publish); against
#       `curl -o` (page cache only) and, for the record, `curl -o` followed
#       by an fsync of the file (`sync FILE`), which is what ours promises.
#   4b  nginx with `limit_rate` per connection (how ESXi and object stores
#       throttle each stream); ours with 4 segments against one curl.
#   4c  on the throttled server, exportd is stopped (SIGTERM, as by
#       `systemctl restart`) when half the file has arrived and started
#       again: the bytes nginx sent in all (its access log,
#       $body_bytes_sent) over the file size; the same for curl cut
#       (SIGTERM) at half and resumed with `curl -C -`.
# Throughputs are MB/s (10^6 bytes) of the file size over the wall time;
# medians over the repetitions, ours and curl alternating.
# Targets: 4a >= x0.95 curl; 4b >= x3.5 curl; 4c <= x1.05 the file size.
. "$(dirname "$0")/lib.sh"

REPS=$(quick 1 3)
SIZE_MIB=$(quick 32 2048)
RATE=$(quick 16m 40m)	# limit_rate per connection for 4b and 4c
bench_setup
mkdir -p "$T/www" "$T/curl" "$SP/hold"
SIZE=$((SIZE_MIB * 1048576))
bench_log "http: making a $SIZE_MIB MiB disk of random data"
head -c "$SIZE" /dev/urandom >"$T/www/disk.raw"
chmod 0644 "$T/www/disk.raw"
chmod 0755 "$T/www"

# jobs N: N validated http jobs for the current $URL, held in $SP/hold;
# prints their IDs
jobs() {
	hold_jobs "$1" h http \
	    "$(printf '{"type": "http", "url": "%s", "format": "raw"}' "$URL")"
}

# ours ID OUT: export job ID, append MB/s to $T/OUT; the landed disk goes
ours() {
	local ms
	ms=$("$PROBE" move-wait "$SP/hold" "$1" "$SP/request" "$SP/exported" 3600)
	calc "$SIZE / 1000 / $ms" >>"$T/$2"
	rm -f "$SP/data/$1/"*.raw
}

# curl_get OUT [sync]: curl -o, timed; append MB/s to $T/OUT
curl_get() {
	local t0
	t0=$(now_ms)
	curl -sSf -o "$T/curl/disk.raw" "$URL"
	if [ "${2:-}" = sync ]; then sync "$T/curl/disk.raw"; fi
	calc "$SIZE / 1000 / ($(now_ms) - $t0)" >>"$T/$1"
	rm -f "$T/curl/disk.raw"
}

# sent_since LINE: bytes nginx sent for disk.raw after access-log line LINE
sent_since() {
	tail -n +"$(($1 + 1))" "$T/nginx/access.log" |
	    awk '$7 == "/disk.raw" { s += $10 } END { printf "%.0f\n", s }'
}

loglines() {
	if [ -f "$T/nginx/access.log" ]; then wc -l <"$T/nginx/access.log"; else echo 0; fi
}

# half_done ID: exportd has half of the file (progress.json)
half_done() {
	local d
	d=$(jq -r '.bytes_done // 0' "$SP/data/$1/progress.json" 2>/dev/null) || return 1
	[ "${d:-0}" -ge $((SIZE / 2)) ]
}

# curl_half: curl has half of the file
curl_half() {
	[ "$(stat -c %s "$T/curl/disk.raw" 2>/dev/null || echo 0)" -ge $((SIZE / 2)) ]
}

# exportd runs while no job waits in request/ but the one timed
start_exportd() {
	bench_daemon "$T/conf" exportd
	EX=$LASTPID
	wait_ready "$SP" exportd
}

# -- 4a: plain nginx
start_nginx "$T/www"
URL=http://127.0.0.1:$PORT/disk.raw
jobs "$REPS" >"$T/ids"
mapfile -t IDS <"$T/ids"
start_exportd
for ((i = 0; i < REPS; i++)); do
	bench_log "http 4a: repetition $((i + 1))/$REPS"
	if ((i % 2 == 0)); then
		ours "${IDS[$i]}" a.ours; curl_get a.curl; curl_get a.sync sync
	else
		curl_get a.sync sync; curl_get a.curl; ours "${IDS[$i]}" a.ours
	fi
done
kill "$NGINX"
wait "$NGINX" 2>/dev/null || true

# -- 4b: limit_rate per connection
start_nginx "$T/www" "limit_rate $RATE;"
URL=http://127.0.0.1:$PORT/disk.raw
bench_stop $EX
jobs $((REPS + 1)) >"$T/ids"
mapfile -t IDS <"$T/ids"
start_exportd
for ((i = 0; i < REPS; i++)); do
	bench_log "http 4b: repetition $((i + 1))/$REPS (limit_rate $RATE)"
	if ((i % 2 == 0)); then
		ours "${IDS[$i]}" b.ours; curl_get b.curl
	else
		curl_get b.curl; ours "${IDS[$i]}" b.ours
	fi
done

# -- 4c: cut at half, resumed
bench_log "http 4c: exportd stopped at half the file, then started again"
id=${IDS[$REPS]}
l0=$(loglines)
mv "$SP/hold/$id" "$SP/request/$id"
wait_for 600 half_done "$id"
bench_stop $EX
start_exportd
wait_jobs "$SP" exported $((2 * REPS + 1)) 600
sleep 0.5	# nginx logs a request when it is over
ours_sent=$(sent_since "$l0")
[ -f "$SP/exported/$id" ] || { echo "bench: 4c job not exported" >&2; exit 1; }
cmp -s "$SP/data/$id/"*.raw "$T/www/disk.raw" ||
    { echo "bench: 4c: the resumed download differs from the source" >&2; exit 1; }
bench_stop $EX

bench_log "http 4c: curl interrupted at half, resumed with -C -"
l0=$(loglines)
curl -sS -o "$T/curl/disk.raw" "$URL" &
c=$!
wait_for 600 curl_half
kill -TERM $c
wait $c || true
curl -sSf -C - -o "$T/curl/disk.raw" "$URL"
sleep 0.5
curl_sent=$(sent_since "$l0")
cmp -s "$T/curl/disk.raw" "$T/www/disk.raw" ||
    { echo "bench: 4c: curl's resumed download differs" >&2; exit 1; }

oa=$(median <"$T/a.ours")
ca=$(median <"$T/a.curl")
sa=$(median <"$T/a.sync")
ob=$(median <"$T/b.ours")
cb=$(median <"$T/b.curl")
row 4a "HTTP export, $SIZE_MIB MiB from nginx on loopback, MB/s (median of $REPS)" \
    "$oa MB/s" "$ca MB/s (curl -o); $sa MB/s (curl -o + fsync)" \
    "$(ratio "$oa" "$ca"); $(ratio "$oa" "$sa") vs fsync'd" ">= x0.95" \
    "$(verdict "$oa >= 0.95 * $ca")"
row 4b "HTTP export, limit_rate $RATE per connection, 4 segments, MB/s (median of $REPS)" \
    "$ob MB/s" "$cb MB/s (curl -o, one stream)" "$(ratio "$ob" "$cb")" \
    ">= x3.5" "$(verdict "$ob >= 3.5 * $cb")"
row 4c "HTTP export cut at 50 % and resumed: bytes sent by nginx / file size" \
    "$(ratio "$ours_sent" "$SIZE") ($ours_sent bytes)" "$(ratio "$curl_sent" "$SIZE") ($curl_sent bytes: curl, then curl -C -)" \
    "-" "<= x1.05" "$(verdict "$ours_sent <= 1.05 * $SIZE")"
