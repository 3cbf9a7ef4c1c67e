#!/usr/bin/env bats
# Crash storm: the four real daemons carry 100 jobs from incoming/ to
# libvirt while a random daemon is killed with SIGKILL at a random moment,
# at least 200 times, and restarted at once (what systemd's Restart= does).
# Half the kills take the daemon alone (its workers see it die), half take
# the daemon with every process under it (a cgroup kill, the OOM killer).
# Nothing is simulated: real qemu-img, real libvirt (qemu:///session).
#
# Afterwards every job is in imported/ exactly once (or in error/ with a
# reason), no stage completed twice, every image equals its source
# (qemu-img compare), no temp file or partial image is left in a stage or
# the output directory, no qemu-img is left running, and each VM is defined
# in libvirt once, under the UUID its job recorded.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
IMPORTD=$HS_BINDIR/importd
URI=qemu:///session
NJOBS=${STORM_JOBS:-100}
NKILLS=${STORM_KILLS:-200}

setup() {
	hs_setup
	chmod 0711 "$T"
	mkdir -m 0755 "$T/images"
	cat >>"$T/conf" <<CONF
heartbeat_interval = 0.2;
lease = 2;
convert = { output_dir = "$T/images"; };
importd = { domain_type = "qemu"; };
defaults = { import = { uri = "$URI"; network = "user"; start = false; }; };
CONF
	sed -i '/^heartbeat_interval = 1;/d' "$T/conf"
	# Eight sources, raw and VMDK, each with its own random data, big
	# enough that a kill often lands in the middle of a copy or conversion.
	for i in 0 1 2 3 4 5 6 7; do
		head -c 3M /dev/urandom >"$T/src/d$i.raw"
		truncate -s 16M "$T/src/d$i.raw"
		if [ $((i % 2)) -eq 1 ]; then
			qemu-img convert -q -f raw -O vmdk "$T/src/d$i.raw" "$T/src/d$i.vmdk"
			rm "$T/src/d$i.raw"
		fi
	done
	PFX=hs-storm-$$-$RANDOM
	declare -gA DPID=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	pkill -9 -f "qemu-img .*$T/" 2>/dev/null || true
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
	virsh -q -c "$URI" list --all --name 2>/dev/null | grep "^$PFX-" |
	    sed 's/^/undefine /' | timeout 120 virsh -q -c "$URI" >/dev/null 2>&1 || true
	hs_teardown
}

# up NAME: start daemon NAME (queued exportd convertwatch importd)
up() {
	local prog=$HS_BINDIR/$1
	"$prog" -c "$T/conf" --workers 2 2>>"$T/$1.log" 3>&- &
	DPID[$1]=$!
	PIDS+=($!)
}

# descendants PID: every process under PID, deepest last
descendants() {
	local c
	for c in $(pgrep -P "$1"); do
		echo "$c"
		descendants "$c"
	done
}

submit() {
	local i=$1 src
	src=$T/src/d$((i % 8)).raw
	[ -f "$src" ] || src=$T/src/d$((i % 8)).vmdk
	printf '{"name":"%s-%d","source":{"type":"file","path":"%s"}}\n' \
	    "$PFX" "$i" "$src" >"$SP/incoming/.j$i"
	mv "$SP/incoming/.j$i" "$SP/incoming/j$i"
}

finished() {
	[ $(($(count_in imported) + $(count_in error))) -eq "$NJOBS" ]
}

report() {
	"$HS" -c "$T/conf" status
	tail -n 15 "$T"/*.log
}

@test "crash storm: $NJOBS jobs through the four daemons under $NKILLS SIGKILLs" {
	local names=(queued exportd convertwatch importd) kills=0 sub=0 n victim
	local -A bykind=()
	for n in "${names[@]}"; do up "$n"; done
	while [ "$kills" -lt "$NKILLS" ]; do
		# jobs arrive during the first half of the storm
		if [ "$sub" -lt "$NJOBS" ]; then
			sub=$((sub + 1))
			submit "$sub"
		fi
		sleep "0.$((RANDOM % 25 + 5))"
		n=${names[RANDOM % 4]}
		victim=${DPID[$n]}
		if [ $((RANDOM % 2)) -eq 0 ]; then
			kill -9 "$victim" $(descendants "$victim") 2>/dev/null
			bykind[$n-all]=$((${bykind[$n-all]:-0} + 1))
		else
			kill -9 "$victim"
			bykind[$n]=$((${bykind[$n]:-0} + 1))
		fi
		wait "$victim" 2>/dev/null || true
		echo "kill $kills: $n $victim" >>"$T/storm.log"
		kills=$((kills + 1))
		up "$n"
	done
	while [ "$sub" -lt "$NJOBS" ]; do sub=$((sub + 1)); submit "$sub"; done
	for k in "${!bykind[@]}"; do echo "# $k: ${bykind[$k]} kills"; done | sort >&3
	echo "# during the storm: $(count_in imported) imported, $(count_in error) in error" >&3
	wait_for 600 finished || { report; false; }

	# every job in exactly one terminal state; a failed one says why
	for d in incoming intake request exporting exported converting converted importing; do
		[ "$(count_in "$d")" -eq 0 ] || { echo "left in $d/: $(ls -a "$SP/$d")"; false; }
	done
	[ "$(ls "$SP/imported" "$SP/error" | grep -c '^[0-9a-z]')" -eq "$NJOBS" ]
	for id in $(ls "$SP/error"); do
		echo "# error/$id: $(cat "$SP/data/$id/reason")" >&3
		[ -s "$SP/data/$id/reason" ]
	done
	# A crash is never a reason to give up on a job.
	[ "$(count_in imported)" -eq "$NJOBS" ] || { report; false; }

	for id in $(ls "$SP/imported"); do
		h=$SP/data/$id/history
		# no stage was completed twice (a stage's line is written
		# after its publishing rename, so a kill in between loses it)
		# (a recovery's line names the stage it went back to, written
		# by the next daemon: only the producer's lines count)
		for s in request:queued exported:exportd converted:convertwatch imported:importd; do
			[ "$(grep -c "^[^ ]* ${s%:*} ${s#*:}@" "$h")" -le 1 ] || { cat "$h"; false; }
		done
		# the image equals its source
		src=$(jq -r .source.path "$SP/imported/$id")
		fmt=raw
		[ "${src##*.}" = vmdk ] && fmt=vmdk
		out=$(jq -r '.vm.disks[0].output' "$SP/imported/$id")
		[ "$(jq '.vm.disks | length' "$SP/imported/$id")" -eq 1 ]
		qemu-img compare -q -f "$fmt" -F qcow2 "$src" "$out" ||
		    { echo "$id: $out differs from $src"; false; }
		# defined once, under the UUID the job recorded
		[ "$(jq -r .result.uuid "$SP/imported/$id")" = "$(cat "$SP/data/$id/uuid")" ]
		[ "$(virsh -c "$URI" domuuid "$(jq -r .name "$SP/imported/$id")")" = "$(cat "$SP/data/$id/uuid")" ]
	done
	[ "$(virsh -q -c "$URI" list --all --name | grep -c "^$PFX-")" -eq "$NJOBS" ]
	[ -z "$(virsh -q -c "$URI" list --all --name | grep "^$PFX-" | sort | uniq -d)" ]

	# nothing partial is visible: no dot-files or strays in the stages, one
	# image per job in the output directory, no exported copy left behind
	for d in incoming intake request exporting exported converting converted importing imported error; do
		[ -z "$(ls -A "$SP/$d" | grep -v '^[0-9]*T[0-9a-f-]*$')" ] || { ls -la "$SP/$d"; false; }
	done
	[ -z "$(find "$T/images" -type f ! -name "$PFX-*-disk0.qcow2")" ] ||
	    { find "$T/images" -type f ! -name "$PFX-*-disk0.qcow2"; false; }
	[ "$(find "$T/images" -type f | wc -l)" -eq "$NJOBS" ]
	[ -z "$(find "$SP/data" -name '*.raw' -o -name '*.vmdk' -o -name '*.part')" ] ||
	    { find "$SP/data" -name '*.raw' -o -name '*.vmdk' -o -name '*.part'; false; }
	# no conversion outlived its worker
	! pgrep -f "qemu-img .*$T/"
	# nobody holds a finished job
	! ls "$SP"/data/*/owner 2>/dev/null
	# the temp files of killed daemons go when their successors start
	for n in "${names[@]}"; do kill -TERM "${DPID[$n]}"; done
	for n in "${names[@]}"; do wait "${DPID[$n]}" 2>/dev/null || true; done
	for n in "${names[@]}"; do up "$n"; done
	wait_for 10 test -z "$(ls -A "$SP/tmp")" || { ls -la "$SP/tmp"; false; }
	echo "# $(wc -l <"$T/storm.log") kills" >&3
}
