#!/bin/bash
# 02-throughput.sh - benchmark 2: jobs per second through all four daemons,
# and the daemons' own CPU time per job.
#
# Each job is a VM with one 1 MiB raw disk of random data (a file source):
# queued validates it, exportd copies the disk into the spool, convertwatch
# converts it to qcow2 (qemu-img convert, check), importd defines the
# domain in libvirt's test driver (test:///default: real libvirt API and
# XML parsing, no qemu behind it). Every daemon has its default 2 workers
# (BENCH_WORKERS=N to try others). importd runs with importd.validate_xml
# = false, as the loop's `virsh define` does not validate either
# (BENCH_VALIDATE=true for the default, which costs ~16 ms of CPU a job:
# libvirt compiles its RelaxNG schema on every define); the row says which.
# The comparison is what an operator's script would do for the same
# disks: a plain serial shell loop of `qemu-img convert -f raw -O qcow2`
# and `virsh -c test:///default define` (its domain XML written with
# printf - a script's way, not ours).
#
# Rounds alternate (ours, loop; loop, ours; ...), each with its own fresh
# disks; rates are medians over rounds. Daemon CPU time is utime + stime of
# the daemon process itself (/proc/PID/stat; its workers and qemu-img are
# children and excluded), summed over all rounds, per job; and, for the
# record, the same with its workers and their children (qemu-img, libvirt's
# test driver runs inside importd's worker): what a job costs in all.
# Targets: >= 1.5 x the loop's rate; <= 2 ms daemon CPU per job per stage.
. "$(dirname "$0")/lib.sh"

ROUNDS=${BENCH_ROUNDS:-$(quick 1 4)}
PER=${BENCH_PER:-$(quick 10 500)}
DAEMONS="queued exportd convertwatch importd"
bench_setup
mkdir -p "$T/out" "$T/loop" "$SP/hold"
W=${BENCH_WORKERS:-2}	# workers per daemon (2: the default)
VALIDATE=${BENCH_VALIDATE:-false}	# importd.validate_xml
case $VALIDATE in true | false) ;; *)
	echo "bench: BENCH_VALIDATE must be true or false" >&2; exit 2 ;;
esac
cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
queued = { workers = $W; };
exportd = { workers = $W; };
convertwatch = { workers = $W; };
importd = { domain_type = "qemu"; workers = $W; validate_xml = $VALIDATE; };
defaults = { import = { uri = "test:///default"; }; };
CONF
declare -A PID CPU0 ALL0
for d in $DAEMONS; do
	bench_daemon "$T/conf" "$d"
	PID[$d]=$LASTPID
done
for d in $DAEMONS; do
	wait_ready "$SP" "$d"
done

# disks R: PER fresh 1 MiB disks of random data for round R
disks() {
	local i
	rm -rf "$T/src/r"*
	mkdir -p "$T/src/r$1"
	for ((i = 0; i < PER; i++)); do
		head -c 1048576 /dev/urandom >"$T/src/r$1/vm$i.raw"
	done
}

# ours R: submit the round's jobs at once (renames into incoming/), wait
# until all are imported; prints the jobs per second
done_jobs=0
ours() {
	local i t0 t1
	for ((i = 0; i < PER; i++)); do
		job_file "r$1-vm$i" "$T/src/r$1/vm$i.raw" >"$SP/hold/r$1-vm$i"
	done
	t0=$(now_ms)
	"$PROBE" move-all "$SP/hold" "$SP/incoming"
	done_jobs=$((done_jobs + PER))
	wait_jobs "$SP" imported "$done_jobs" 1200
	t1=$(now_ms)
	calc "$PER * 1000 / ($t1 - $t0)"
}

# loop R: the serial shell loop over the same disks
loop() {
	local i t0 t1 x c0
	c0=$(cpu_all_ms $$)
	t0=$(now_ms)
	for ((i = 0; i < PER; i++)); do
		qemu-img convert -f raw -O qcow2 "$T/src/r$1/vm$i.raw" \
		    "$T/loop/vm$i.qcow2"
		x=$T/loop/vm$i.xml
		printf '<domain type="qemu"><name>loop-r%s-vm%s</name><memory unit="MiB">1024</memory><os><type arch="x86_64" machine="q35">hvm</type></os><devices><disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="%s"/><target dev="vda" bus="virtio"/></disk></devices></domain>\n' \
		    "$1" "$i" "$T/loop/vm$i.qcow2" >"$x"
		virsh -q -c test:///default define "$x" >/dev/null
	done
	t1=$(now_ms)
	# its children's CPU time (this shell has waited for them)
	echo $(($(cpu_all_ms $$) - c0)) >>"$T/loop.cpu"
	calc "$PER * 1000 / ($t1 - $t0)"
}

for d in $DAEMONS; do
	CPU0[$d]=$(cpu_ms "${PID[$d]}")
	ALL0[$d]=$(cpu_all_ms "${PID[$d]}")
done
: >"$T/ours.rate"
: >"$T/loop.rate"
: >"$T/loop.cpu"
for ((r = 0; r < ROUNDS; r++)); do
	disks "$r"
	bench_log "throughput: round $((r + 1))/$ROUNDS, $PER jobs"
	if ((r % 2 == 0)); then
		ours "$r" >>"$T/ours.rate"
		loop "$r" >>"$T/loop.rate"
	else
		loop "$r" >>"$T/loop.rate"
		ours "$r" >>"$T/ours.rate"
	fi
	rm -rf "${T:?}/out/"* "$T/loop/"*
done
total=$((ROUNDS * PER))
cpu=""
all=""
worst=0
sum=0
for d in $DAEMONS; do
	c=$(calc "($(cpu_ms "${PID[$d]}") - ${CPU0[$d]}) / $total")
	cpu="$cpu$d $c, "
	worst=$(awk "BEGIN { print ($c > $worst) ? $c : $worst }")
	a=$(calc "($(cpu_all_ms "${PID[$d]}") - ${ALL0[$d]}) / $total")
	all="$all$d $a, "
	sum=$(calc "$sum + $a")
done
for d in $DAEMONS; do bench_stop "${PID[$d]}"; done

o=$(median <"$T/ours.rate")
l=$(median <"$T/loop.rate")
row 2 "throughput, $total jobs of 1 MiB into test:///default, importd.validate_xml = $VALIDATE, jobs/s (median of $ROUNDS rounds)" \
    "$o jobs/s" "$l jobs/s (serial qemu-img + virsh loop)" "$(ratio "$o" "$l")" \
    ">= x1.5" "$(verdict "$o >= 1.5 * $l")"
row 2 "daemon CPU per job per stage (ms, children excluded)" "${cpu%, }" "-" \
    "-" "<= 2 ms" "$(verdict "$worst <= 2")"
lc=$(awk -v n="$total" '{ s += $1 } END { printf "%.3f", s / n }' "$T/loop.cpu")
row 2 "CPU per job per stage with workers and their children (ms)" \
    "${all}total $sum" "$lc (the loop: qemu-img + virsh)" "$(ratio "$sum" "$lc")" "-" "-"
