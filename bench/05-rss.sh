#!/bin/bash
# 05-rss.sh - benchmark 5: peak resident memory (VmHWM of /proc/PID/status)
# of each daemon process (its workers and qemu-img are other processes).
#
# Idle: the four daemons on an empty spool, read once they have scanned.
# With 1,000 jobs waiting: stage by stage, each daemon is started with the
# 1,000 jobs waiting in its input directory (queued: incoming/, exportd:
# request/, ...) and read once it has moved all of them on; so every daemon
# has had the whole backlog queued at once. The jobs are 64 KiB raw disks
# imported into libvirt's test driver (test:///default).
# For the record, the private dirty memory of each idle daemon
# (smaps_rollup) is printed alongside: VmHWM also counts the pages of the
# shared libraries a daemon maps (libcurl's, libvirt's), shared with every
# other process that uses them.
# Targets: <= 4 MiB idle, <= 8 MiB with 1,000 jobs.
. "$(dirname "$0")/lib.sh"

N=$(quick 20 1000)
DAEMONS="queued exportd convertwatch importd"
bench_setup
mkdir -p "$T/out"
cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
importd = { domain_type = "qemu"; };
defaults = { import = { uri = "test:///default"; }; };
CONF
head -c 65536 /dev/urandom >"$T/src/disk.raw"

# priv_kib PID: its private dirty memory now (heap, stacks, written data;
# not the pages of shared libraries that VmHWM counts too)
priv_kib() {
	awk '/^Private_Dirty:/ { print $2 }' "/proc/$1/smaps_rollup"
}

declare -A IDLE BUSY PID PRIV
bench_log "rss: idle"
for d in $DAEMONS; do
	bench_daemon "$T/conf" "$d"
	PID[$d]=$LASTPID
done
for d in $DAEMONS; do
	wait_ready "$SP" "$d"
done
sleep 1
for d in $DAEMONS; do
	IDLE[$d]=$(hwm_kib "${PID[$d]}")
	PRIV[$d]=$(priv_kib "${PID[$d]}")
	bench_stop "${PID[$d]}"
done

for ((i = 0; i < N; i++)); do
	job_file "rss-$i" "$T/src/disk.raw" >"$SP/incoming/.j$i"
	mv "$SP/incoming/.j$i" "$SP/incoming/j$i"
done
out=(request exported converted imported)
k=0
for d in $DAEMONS; do
	bench_log "rss: $d with $N jobs waiting"
	bench_daemon "$T/conf" "$d"
	wait_jobs "$SP" "${out[$k]}" "$N" 1200
	BUSY[$d]=$(hwm_kib "$LASTPID")
	bench_stop "$LASTPID"
	k=$((k + 1))
done

mib() { calc "$1 / 1024"; }
idle="" busy="" priv="" wi=0 wb=0
for d in $DAEMONS; do
	idle="$idle$d $(mib "${IDLE[$d]}"), "
	busy="$busy$d $(mib "${BUSY[$d]}"), "
	priv="$priv$d $(mib "${PRIV[$d]}"), "
	((IDLE[$d] > wi)) && wi=${IDLE[$d]}
	((BUSY[$d] > wb)) && wb=${BUSY[$d]}
done
row 5 "peak RSS idle (MiB)" "${idle%, }" \
    "private dirty memory idle: ${priv%, }" "-" "<= 4 MiB" \
    "$(verdict "$wi <= 4096")"
row 5 "peak RSS with $N jobs waiting (MiB)" "${busy%, }" "-" "-" "<= 8 MiB" \
    "$(verdict "$wb <= 8192")"
