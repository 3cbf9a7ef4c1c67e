#!/bin/bash
# 06-start.sh - benchmark 6: a daemon started with 100,000 files in its
# input directory, until it tells systemd READY=1 (after recovery and the
# first scan; probe plays systemd's $NOTIFY_SOCKET).
#
# Each daemon in turn gets the same 100,000 files (job-ID names, empty
# content: nothing is read before READY) in its input directory; the
# daemon is stopped right after READY. Median of 3 starts per daemon.
# Target: <= 2 s.
. "$(dirname "$0")/lib.sh"

N=$(quick 2000 100000)
REPS=3
bench_setup
bench_log "start: $N files"
mkdir -p "$SP/hold"
(
	cd "$SP/hold"
	for ((i = 0; i < N; i++)); do
		printf -v f '20261130T000000-%06d-4049c22c-00000001-%08x' \
		    $((i % 1000000)) "$i"
		: >"$f"
	done
)
declare -A IN=([queued]=incoming [exportd]=request [convertwatch]=exported
    [importd]=converted)
res="" worst=0
for d in queued exportd convertwatch importd; do
	find "$SP/hold" -mindepth 1 -maxdepth 1 -exec mv -t "$SP/${IN[$d]}" {} +
	: >"$T/$d.ms"
	for ((r = 0; r < REPS; r++)); do
		bench_log "start: $d, $N files in ${IN[$d]}/, start $((r + 1))/$REPS"
		"$PROBE" ready 60 "$HS_BINDIR/$d" -c "$T/conf" >>"$T/$d.ms" \
		    2>>"$T/$d.log"
	done
	find "$SP/${IN[$d]}" -mindepth 1 -maxdepth 1 -exec mv -t "$SP/hold" {} +
	m=$(median <"$T/$d.ms")
	res="$res$d $(calc "$m / 1000"), "
	worst=$(awk "BEGIN { print ($m > $worst) ? $m : $worst }")
done
row 6 "start with $N files waiting -> READY=1 (s, median of $REPS)" \
    "${res%, }" "-" "-" "<= 2 s" "$(verdict "$worst <= 2000")"
