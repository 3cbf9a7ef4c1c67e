#!/bin/bash
# 11-apid.sh - benchmark 11: apid under load. 200 Server-Sent-Event clients
# on /events (and one that never reads) while 50 jobs/s are submitted
# through POST /jobs/submit for 60 s (tests/load/apidload.py holds the
# clients and the submitters in one process). queued is the only stage
# daemon running, so a job's state changes are intake and request: cheap
# jobs, and the figure is apid's, not the pipeline's.
#
# Rows: apid's resident memory (VmRSS, sampled every 0.5 s) a quarter into
# the run and at its end, against a target of no more than 4 MiB of
# growth; beside it the peak. And the events' delay (their time_ms, when
# apid saw the change, to their arrival at a client): p50 and p99 over
# every client and event, no target. apidload.py fails (and so this script
# prints no row) unless every job was accepted exactly once, every client
# saw every stage of every job's history, and apid disconnected the
# stalled client without holding anyone up.
# Quick (make check): 50 clients, 20 jobs/s for 5 s.
. "$(dirname "$0")/lib.sh"

CLIENTS=$(quick 50 200)
RATE=$(quick 20 50)
SECONDS_=$(quick 5 60)
[ -x "$HS_BINDIR/apid" ] || { echo "bench: $HS_BINDIR/apid missing (make all)" >&2; exit 2; }
bench_setup
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
(umask 077; printf 'submit %s bench\n' "$TOKEN" >"$T/tokens")
# The quick run's 200 events fit the default queue of 1024: a smaller one
# there, so that the stalled client still overflows it and is dropped.
cat >>"$T/conf" <<CONF
api = { tokens_file = "$T/tokens"; client_queue = $(quick 64 1024); };
CONF
head -c 1048576 /dev/zero >"$T/src/disk.raw"

bench_daemon "$T/conf" queued
wait_ready "$SP" queued
PORT=$((12000 + RANDOM % 20000))
while [ -n "$(ss -Htln "sport = :$PORT")" ]; do
	PORT=$((12000 + RANDOM % 20000))
done
bench_daemon "$T/conf" apid -l "127.0.0.1:$PORT"
APID=$LASTPID
wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT/health" ||
    { echo "bench: apid did not start:" >&2; tail -n 5 "$T/apid.log" >&2; exit 1; }

bench_log "apid: $CLIENTS SSE clients, $RATE jobs/s for $SECONDS_ s"
ulimit -n 4096
sum=$(python3 "$BENCH_DIR/../tests/load/apidload.py" --port "$PORT" \
    --token-file "$T/tokens" --spool "$SP" --disk "$T/src/disk.raw" \
    --pid "$APID" --clients "$CLIENTS" --rate "$RATE" --duration "$SECONDS_" \
    --rss-slack-kib 1048576 --expect-drop) ||
    { echo "bench: apidload failed: $sum" >&2; tail -n 5 "$T/apid.log" >&2; exit 1; }
bench_log "apid: $sum"

get() {
	python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$sum" "$1"
}
q=$(get rss_kib_quarter)
e=$(get rss_kib_end)
p=$(get rss_kib_peak)
jobs=$(get jobs)
# the rate the submitters held (apid answers a submit once queued took the
# job: on a loaded machine fewer than RATE a second)
rate=$(get rate)
row 11 "apid RSS, $CLIENTS SSE clients + 1 stalled, $RATE jobs/s for $SECONDS_ s ($jobs jobs, held $rate/s): a quarter in -> end (MiB)" \
    "$(calc "$q / 1024") -> $(calc "$e / 1024") (peak $(calc "$p / 1024"))" "-" "-" \
    "growth <= 4 MiB" "$(verdict "$e - $q <= 4096")"
row 11 "apid event delay, apid's time_ms -> client, every event of every client (ms)" \
    "p50 $(get latency_ms_p50), p99 $(get latency_ms_p99), max $(get latency_ms_max)" \
    "-" "-" "-" "-"
