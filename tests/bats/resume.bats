#!/usr/bin/env bats
# resume.bats - an HTTP export interrupted by a daemon restart resumes
# where it stopped: nothing is downloaded twice. The real exportd against
# a real nginx whose limit_rate makes the download last long enough to be
# cut in the middle (bench/04-http.sh measures the same at 2 GiB).

load helpers

EXPORTD=$HS_BINDIR/exportd
SIZE=$((64 * 1048576))

setup() {
	hs_setup
	mkdir -p "$T/www"
	head -c "$SIZE" /dev/urandom >"$T/www/disk.raw"
	chmod 0755 "$T/www"
	chmod 0644 "$T/www/disk.raw"
}
teardown() {
	[ -z "${NGINX:-}" ] || kill -TERM "$NGINX" 2>/dev/null || true
	hs_teardown
}

half_done() {
	local d
	d=$(jq -r '.bytes_done // 0' "$SP/data/$1/progress.json" 2>/dev/null) || return 1
	[ "${d:-0}" -ge $((SIZE / 2)) ]
}

@test "exportd stopped half way through a download and started again: the server sends the file once" {
	# 4 segments at 2 MiB/s each: about 8 s for the whole file, so the
	# second it may take to see half of it in progress.json (written once
	# a second) is not the rest of the download
	start_nginx "$T/www" "limit_rate 2m;"
	start_daemon "$QUEUED" 3>&-
	start_daemon "$HS_BINDIR/exportd" 3>&-
	e=$LASTPID
	id=$(printf '{"name":"r","source":{"type":"http","url":"http://127.0.0.1:%s/disk.raw"}}' \
	    "$PORT" | "$HS" -c "$T/conf" submit -)
	wait_for 30 half_done "$id"
	kill -TERM "$e"
	wait "$e" || true
	[ ! -f "$SP/exported/$id" ]	# it was cut, not finished
	start_daemon "$HS_BINDIR/exportd" 3>&-
	wait_for 60 test -f "$SP/exported/$id" -o -f "$SP/error/$id"
	[ -f "$SP/exported/$id" ]
	cmp "$SP/data/$id/disk.raw" "$T/www/disk.raw"
	sleep 0.5	# nginx logs a request when it is over
	sent=$(awk '$7 == "/disk.raw" { s += $10 } END { printf "%.0f\n", s }' \
	    "$T/nginx/access.log")
	echo "nginx sent $sent bytes for a file of $SIZE"
	# what was in flight when the worker stopped may come twice, no more
	[ "$sent" -le $((SIZE + SIZE / 20)) ]
}
