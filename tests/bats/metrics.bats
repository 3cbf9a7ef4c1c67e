#!/usr/bin/env bats
# metrics: the textfile-collector files the daemons write (common/
# metrics.c), read by the real node_exporter (Debian's
# prometheus-node-exporter, textfile collector only, on loopback).

load helpers

EXPORTD=$HS_BINDIR/exportd

setup() {
	command -v prometheus-node-exporter >/dev/null ||
		{ echo "prometheus-node-exporter is missing (contrib/packages.txt)"; false; }
	hs_setup
	mkdir "$T/textfile"
	echo "metrics = { textfile_dir = \"$T/textfile\"; };" >>"$T/conf"
	NE=
}

teardown() {
	[ -n "$NE" ] && kill "$NE" 2>/dev/null && wait "$NE" 2>/dev/null
	hs_teardown
}

# scrape: node_exporter's /metrics over what the daemons wrote
scrape() {
	if [ -z "$NE" ]; then
		PORT=$((20000 + RANDOM % 20000))
		while [ -n "$(ss -Htln "sport = :$PORT")" ]; do
			PORT=$((20000 + RANDOM % 20000))
		done
		prometheus-node-exporter --web.listen-address="127.0.0.1:$PORT" \
		    --collector.disable-defaults --collector.textfile \
		    --collector.textfile.directory="$T/textfile" 2>"$T/ne.log" &
		NE=$!
		wait_for 10 curl -sf "http://127.0.0.1:$PORT/metrics" -o /dev/null
	fi
	curl -sf "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
}

@test "queued and exportd write jobs per stage, outcomes, durations and bytes; node_exporter reads them without error" {
	qemu-img create -q -f raw "$T/src/d1.raw" 3M
	printf '{"name":"m1","source":{"type":"file","path":"%s/src/d1.raw"}}' "$T" >"$SP/incoming/m1"
	printf '{"name":"m2","source":{"type":"file","path":"%s/src/d1.raw"}}' "$T" >"$SP/incoming/m2"
	echo '{"name":"bad"}' >"$SP/incoming/bad"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	cat "$T/textfile/hyperspool_queued.prom"
	scrape
	grep -qx 'hyperspool_jobs{stage="request"} 2' "$T/metrics"
	grep -qx 'hyperspool_jobs{stage="error"} 1' "$T/metrics"
	grep -qx 'hyperspool_jobs{stage="incoming"} 0' "$T/metrics"
	grep -qx 'hyperspool_jobs_finished_total{daemon="queued",outcome="done"} 2' "$T/metrics"
	grep -qx 'hyperspool_jobs_finished_total{daemon="queued",outcome="failed"} 1' "$T/metrics"
	grep -qx 'hyperspool_job_duration_seconds_count{daemon="queued"} 3' "$T/metrics"
	grep -qx 'node_textfile_scrape_error 0' "$T/metrics"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ "$(count_in exported)" -eq 2 ]
	cat "$T/textfile/hyperspool_exportd.prom"
	scrape
	grep -qx 'hyperspool_jobs_finished_total{daemon="exportd",outcome="done"} 2' "$T/metrics"
	grep -qx 'hyperspool_bytes_total{daemon="exportd"} 6.291456e+06' "$T/metrics"
	grep -qx 'hyperspool_jobs_running{daemon="exportd"} 0' "$T/metrics"
	# only queued writes the stage gauges: no series twice
	! grep -q '^hyperspool_jobs{' "$T/textfile/hyperspool_exportd.prom"
	grep -qx 'node_textfile_scrape_error 0' "$T/metrics"
	# no half-written files are left beside them
	[ "$(ls -A "$T/textfile" | wc -l)" -eq 2 ]
}
