# lib.sh - what every benchmark script shares: the spool set-up of the
# bats suites (tests/bats/helpers.bash: hs_setup, wait_for, start_nginx,
# hs_teardown), daemons on extra spools, medians and percentiles, CPU time
# and peak RSS read from /proc, job files, and the result rows.
#
# Sourced by bench/NN-*.sh. Environment: HS_BINDIR, HS_TESTDIR (as for the
# tests; default build/), BENCH_QUICK=1 (or --quick: small sizes, for
# `make check`), BENCH_ROWS (a file the rows are appended to).
# A failed command ends the script with an error (set -e): a benchmark that
# cannot run must never print a figure.

set -eu -o pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HS_BINDIR=${HS_BINDIR:-$BENCH_DIR/../build/bin}
HS_TESTDIR=${HS_TESTDIR:-$BENCH_DIR/../build/tests}
PROBE=$HS_TESTDIR/benchprobe
BENCH_QUICK=${BENCH_QUICK:-0}
[ "${1:-}" = "--quick" ] && BENCH_QUICK=1
BENCH_TMPDIR=${BENCH_TMPDIR:-/var/tmp}
# helpers.bash takes its temp dirs from BATS_TMPDIR
BATS_TMPDIR=$BENCH_TMPDIR
# shellcheck source=../tests/bats/helpers.bash
. "$BENCH_DIR/../tests/bats/helpers.bash"

for p in "$PROBE" "$HS_BINDIR/queued" "$HS_BINDIR/importd"; do
	[ -x "$p" ] || { echo "bench: $p missing (make all tests)" >&2; exit 2; }
done

# quick SMALL FULL: the size for this run
quick() {
	if [ "$BENCH_QUICK" = 1 ]; then echo "$1"; else echo "$2"; fi
}

bench_log() {
	echo "# $(date -u +%H:%M:%S) $*" >&2
}

# bench_setup: a spool in $T (hs_setup) and a clean-up on exit
bench_setup() {
	hs_setup 2>/dev/null
	# every spool is named by its config file (HYPERSPOOL_SPOOL would win)
	unset HYPERSPOOL_SPOOL
	trap 'bench_teardown' EXIT
}

# bench_teardown: nginx stopped the way that takes its workers along, then
# hs_teardown (which must not stop at the first process already gone)
bench_teardown() {
	set +e
	if [ -n "${NGINX:-}" ]; then
		kill -TERM "$NGINX" 2>/dev/null
		wait "$NGINX" 2>/dev/null
	fi
	hs_teardown
}

# bench_spool NAME CONF_TEXT: another spool, $T/NAME/spool, its config in
# $T/NAME.conf (the text is appended to the usual keys)
bench_spool() {
	mkdir -p "$T/$1"
	cat >"$T/$1.conf" <<CONF
spool = "$T/$1/spool";
source_roots = [ "$T/src" ];
heartbeat_interval = 1;
$2
CONF
	"$HS" -c "$T/$1.conf" init >/dev/null 2>&1
}

# bench_daemon CONF PROGRAM ARGS...: run a daemon in the background
# ($LASTPID), stderr in $T/PROGRAM.log, killed at exit
bench_daemon() {
	local conf=$1 prog=$2
	shift 2
	"$HS_BINDIR/$prog" -c "$conf" "$@" 2>>"$T/$prog.log" &
	LASTPID=$!
	PIDS+=("$LASTPID")
}

# bench_stop PID: SIGTERM, and wait for it
bench_stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# daemon_ready SPOOL DAEMON: its status file exists (it has scanned)
daemon_ready() {
	compgen -G "$1/run/$2@*" >/dev/null
}

# wait_ready SPOOL DAEMON: wait for daemon_ready; if it never comes, show
# the daemon's log and fail
wait_ready() {
	wait_for 10 daemon_ready "$1" "$2" && return 0
	echo "bench: $2 did not start; its log:" >&2
	tail -n 5 "$T/$2.log" >&2
	return 1
}

# count_dir DIR: entries in DIR, dot-files aside
count_dir() {
	find "$1" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l
}

# has_count DIR N
has_count() {
	[ "$(count_dir "$1")" -ge "$2" ]
}

# cpu_ms PID: user + system CPU time of PID itself (children excluded:
# fields 14 and 15 of /proc/PID/stat), in ms
cpu_ms() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }	# the fields after "(comm) "
	# shellcheck disable=SC2086
	set -- $s
	echo $(((${12} + ${13}) * 1000 / $(getconf CLK_TCK)))
}

# cpu_all_ms PID: user + system CPU time of PID and of its children it has
# waited for (fields 14 to 17: a daemon's workers, and through them their
# qemu-img), in ms
cpu_all_ms() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $(((${12} + ${13} + ${14} + ${15}) * 1000 / $(getconf CLK_TCK)))
}

# hwm_kib PID: peak resident set size (VmHWM) in KiB
hwm_kib() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# pct P: the P-th percentile (nearest rank) of the numbers on stdin
pct() {
	sort -g | awk -v p="$1" '{ v[NR] = $1 }
	    END { if (NR == 0) exit 1; i = int((p * NR + 99) / 100);
		  if (i < 1) i = 1; print v[i] }'
}

median() {
	pct 50
}

# calc EXPR: floating-point arithmetic (awk), 3 significant decimals
calc() {
	awk "BEGIN { printf \"%.3f\\n\", $1 }"
}

# ratio A B: A / B to 3 significant digits, as "x0.123"
ratio() {
	awk "BEGIN { printf \"x%.4g\", ($1) / ($2) }"
}

# now_ms: wall clock in ms (for intervals of seconds)
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# job_file NAME DISK: a job v1 with one raw disk of a file source
job_file() {
	printf '{"name": "%s", "source": {"type": "file", "disks": [{"path": "%s", "format": "raw"}]}}\n' "$1" "$2"
}

# make_requests CONF N DISK HOLD: N validated jobs (queued --once), moved
# from request/ into HOLD (a directory of the same spool) for later use
make_requests() {
	local conf=$1 n=$2 disk=$3 hold=$4 sp i
	sp=$(awk -F'"' '/^spool/ { print $2 }' "$conf")
	mkdir -p "$hold"
	for ((i = 0; i < n; i++)); do
		job_file "bench-$i" "$disk" >"$sp/incoming/.j$i"
		mv "$sp/incoming/.j$i" "$sp/incoming/j$i"
	done
	"$HS_BINDIR/queued" -c "$conf" --once 2>>"$T/queued.log"
	[ "$(count_dir "$sp/request")" -eq "$n" ] ||
	    { echo "bench: queued made $(count_dir "$sp/request") of $n jobs" >&2; exit 1; }
	find "$sp/request" -mindepth 1 -maxdepth 1 ! -name '.*' \
	    -exec mv -t "$hold" {} +
}

# hold_jobs N PREFIX WHAT SOURCE-JSON: N jobs PREFIX0.. of that source
# dropped into $SP/incoming/, validated (queued --once) and held in
# $SP/hold (made by the caller); prints their IDs. A refusal ends the
# benchmark with the reasons ("queued refused the WHAT jobs").
hold_jobs() {
	local i before
	before=$(ls "$SP/hold")
	for ((i = 0; i < $1; i++)); do
		printf '{"name": "%s%s", "source": %s}\n' "$2" "$i" "$4" \
		    >"$SP/incoming/.$2$i"
		mv "$SP/incoming/.$2$i" "$SP/incoming/$2$i"
	done
	"$HS_BINDIR/queued" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_dir "$SP/request")" -eq "$1" ] ||
	    { echo "bench: queued refused the $3 jobs: $(cat "$SP"/data/*/reason)" >&2; exit 1; }
	mv "$SP/request/"* "$SP/hold/"
	comm -13 <(echo "$before") <(ls "$SP/hold")
}

# wait_jobs SPOOL STAGE N TIMEOUT_S: until STAGE holds N jobs; a job in
# error/ ends the benchmark with its reason
wait_jobs() {
	local sp=$1 stage=$2 n=$3 end=$(($(date +%s) + $4)) e
	while [ "$(ls -f "$sp/$stage" | grep -vc '^\.')" -lt "$n" ]; do
		e=$(ls -f "$sp/error" | grep -v '^\.' | head -n 1) || true
		if [ -n "$e" ]; then
			echo "bench: job $e failed: $(cat "$sp/data/$e/reason")" >&2
			exit 1
		fi
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "bench: $stage/ holds $(count_dir "$sp/$stage") of $n jobs after $4 s" >&2
			exit 1
		fi
		sleep 0.05
	done
}

# row NUM BENCHMARK OURS COMPARISON RATIO TARGET VERDICT: one result row
row() {
	local line
	line=$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$@")
	echo "$line"
	if [ -n "${BENCH_ROWS:-}" ]; then echo "$line" >>"$BENCH_ROWS"; fi
}

# verdict COND: "met" or "MISSED" (awk condition on numbers), "(quick)" in quick
# mode, where sizes are too small for the targets to mean anything
verdict() {
	if [ "$BENCH_QUICK" = 1 ]; then echo "(quick)"; return; fi
	if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "MISSED"; fi
}
