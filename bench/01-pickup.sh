#!/bin/bash
# 01-pickup.sh - benchmark 1: pickup latency, from a job renamed into a
# daemon's input directory to the daemon's claim (its rename out of it).
#
# The daemon is exportd (its claim is the skeleton's default one, shared by
# exportd, convertwatch and importd). Two spools run side by side, at the
# same time, so both see the same noise:
#   A  inotify (ours): a job is renamed into request/ once the previous one
#      has left exporting/ and a random 0-10 ms more (the daemon is idle:
#      pure pickup, no queueing);
#   B  --poll 1 (the comparison): jobs at exponential gaps of mean 100 ms,
#      16 workers so that no claim waits for a free worker.
# probe (bench/probe.c) times each rename and each claim (inotify
# IN_MOVED_FROM) with CLOCK_MONOTONIC. The seed's 5 s polling handoff is
# computed: arrivals uniform over the interval, p50 2.5 s, p99 4.95 s.
# Target: inotify p50 <= 1 ms, p99 <= 10 ms.
. "$(dirname "$0")/lib.sh"

N=$(quick 50 1000)
bench_setup
mkdir -p "$T/src"
head -c 65536 /dev/urandom >"$T/src/disk.raw"
bench_spool A ""
bench_spool B "exportd = { workers = 16; };"
bench_log "pickup: making $N jobs on each of two spools"
make_requests "$T/A.conf" "$N" "$T/src/disk.raw" "$T/A/spool/hold"
make_requests "$T/B.conf" "$N" "$T/src/disk.raw" "$T/B/spool/hold"

bench_daemon "$T/A.conf" exportd
A=$LASTPID
bench_daemon "$T/B.conf" exportd --poll 1
B=$LASTPID
wait_ready "$T/A/spool" exportd
wait_ready "$T/B/spool" exportd

bench_log "pickup: $N jobs each, inotify and --poll 1 at the same time"
"$PROBE" pickup "$T/A/spool/hold" "$T/A/spool/request" \
    "$T/A/spool/exporting" "$N" 10 idle >"$T/A.us" &
pa=$!
"$PROBE" pickup "$T/B/spool/hold" "$T/B/spool/request" \
    "$T/B/spool/exporting" "$N" 100 poisson >"$T/B.us" &
pb=$!
wait $pa
wait $pb
wait_for 60 has_count "$T/A/spool/exported" "$N"
wait_for 60 has_count "$T/B/spool/exported" "$N"
bench_stop $A
bench_stop $B

a50=$(pct 50 <"$T/A.us")
a99=$(pct 99 <"$T/A.us")
b50=$(pct 50 <"$T/B.us")
b99=$(pct 99 <"$T/B.us")
ms() { calc "$1 / 1000"; }
row 1 "pickup latency p50, $N jobs (inotify vs --poll 1)" "$(ms "$a50") ms" \
    "$(ms "$b50") ms (poll 5 s: 2500 ms, computed)" "$(ratio "$a50" "$b50")" \
    "<= 1 ms" "$(verdict "$a50 <= 1000")"
row 1 "pickup latency p99, $N jobs (inotify vs --poll 1)" "$(ms "$a99") ms" \
    "$(ms "$b99") ms (poll 5 s: 4950 ms, computed)" "$(ratio "$a99" "$b99")" \
    "<= 10 ms" "$(verdict "$a99 <= 10000")"
