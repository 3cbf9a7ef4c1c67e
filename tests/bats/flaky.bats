#!/usr/bin/env bats
# flaky.bats - the real exportd daemon downloading from a flaky network:
# each fault ends with the job exported and its disk byte-identical to
# the source, or in error/ with the specific reason and no disk.
#
# The server is tests/fetch/faultserv, a FAKE: nginx (used for the
# well-behaved downloads in pipeline.bats and fulldisk.bats) cannot be made
# to reset a connection mid-body, stall, send a short body or a wrong
# Content-Length, answer 503 with Retry-After, or ignore Range on demand.
# One faultserv per fault, since its "first K requests" counter is
# per process.

load helpers

EXPORTD=$HS_BINDIR/exportd

setup() {
	hs_setup
	mkdir -p "$T/www"
	# 8 MiB: four Range segments of 2 MiB
	head -c 8388608 /dev/urandom >"$T/www/disk.raw"
	cat >>"$T/conf" <<'CONF'
exportd = { http_segments = 4; http_retries = 4; http_retry_delay = 0.1;
	http_stall_timeout = 1; http_connect_timeout = 5; };
CONF
}
teardown() { hs_teardown; }

# faultserv NAME: start one, its port in $T/NAME.port
faultserv() {
	[ -x "$HS_TESTDIR/faultserv" ] || { echo "faultserv not built (make tests)"; false; }
	"$HS_TESTDIR/faultserv" "$T/www" 3>&- >"$T/$1.port" 2>>"$T/faultserv.log" &
	PIDS+=($!)
	wait_for 5 test -s "$T/$1.port"
}

@test "exportd against faultserv: resets, 503, stalls, short bodies, wrong lengths, 200 for a Range" {
	start_daemon "$QUEUED" 3>&-
	start_daemon "$EXPORTD" 3>&-
	e=$LASTPID
	declare -A ids
	for fault in "reset&n=300000&k=4" "503&s=1&k=2" "stall&n=100000&s=30&k=1" \
	    "short&n=500000&k=3" "badlen&n=1000&k=2" "norange" "reset&n=0&k=-1"; do
		mode=${fault%%&*}
		name=f-$mode-$((${#ids[@]}))
		faultserv "$name"
		url="http://127.0.0.1:$(cat "$T/$name.port")/disk.raw?mode=$fault"
		ids[$name]=$(printf '{"name":"%s","source":{"type":"http","url":"%s"}}' "$name" "$url" |
		    "$HS" -c "$T/conf" submit -)
	done
	for name in "${!ids[@]}"; do
		id=${ids[$name]}
		wait_for 60 test -f "$SP/exported/$id" -o -f "$SP/error/$id" ||
		    { echo "$name: still in $(ls "$SP"/*/"$id")"; cat "$T/exportd.log"; false; }
		if [ "$name" = f-reset-6 ]; then
			# a reset before every first byte: the network never works
			[ -f "$SP/error/$id" ]
			cat "$SP/data/$id/reason"
			grep -qE "^gave up after 3 attempts: .*disk.raw: .*[Rr]eset.* \(gave up after 4 attempts\)" "$SP/data/$id/reason"
			[ ! -e "$SP/data/$id/disk.raw" ]
		else
			[ -f "$SP/exported/$id" ] || { echo "$name: $(cat "$SP/data/$id/reason")"; false; }
			cmp "$T/www/disk.raw" "$SP/data/$id/disk.raw"
			[ ! -e "$SP/data/$id/disk.raw.part" ]
			[ "$(jq -r '.vm.disks[0].virtual_size' "$SP/exported/$id")" = 8388608 ]
			# the fault was met and got past (the job's own log says so)
			if [ "$name" = f-norange-5 ]; then
				grep -q "answered a Range request with the whole file" "$SP/data/$id/log"
			else
				grep -q "fetch: .*retries in" "$SP/data/$id/log"
			fi
		fi
	done
	kill -0 "$e"
}
