#!/usr/bin/env bats
# Split hosts sharing one spool (spool-layout.md, "Owners and leases").
#
# Two or three bindfs (FUSE) mounts of one spool directory play the hosts:
# like NFS, inotify does not see what happens through another mount, so the
# daemons must notice the network filesystem and poll, and each "host" has
# its own node name (config `node`). The daemons, qemu-img and libvirt are
# the real ones; only the separation of hosts is simulated (one kernel, one
# boot ID, one clock), which the node names stand in for.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
IMPORTD=$HS_BINDIR/importd
URI=qemu:///session

setup() {
	command -v bindfs >/dev/null || { echo "bindfs is missing (contrib/packages.txt)"; false; }
	[ -c /dev/fuse ] || { echo "/dev/fuse is missing: FUSE cannot run here"; false; }
	hs_setup
	chmod 0711 "$T"
	mkdir -m 0755 "$T/images"
	MOUNTS=()
	DOMS=()
	head -c 65536 /dev/urandom >"$T/src/seed"
	qemu-img convert -q -f raw -O raw "$T/src/seed" "$T/src/disk.raw"
	truncate -s 1M "$T/src/disk.raw"
}

teardown() {
	local m
	for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; done
	# a test that failed while a host was frozen leaves its workers
	# stopped, holding bats' output open: wake them so they die
	pkill -CONT -f "$T/" 2>/dev/null || true
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	pkill -9 -f "$T/" 2>/dev/null || true
	PIDS=()
	if [ "${#DOMS[@]}" -gt 0 ]; then
		printf 'undefine %s\n' "${DOMS[@]}" | timeout 120 virsh -q -c "$URI" >/dev/null 2>&1 || true
	fi
	for m in "${MOUNTS[@]}"; do
		fusermount -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	hs_teardown
}

# host NAME: a bindfs view of the spool at $T/NAME and a config naming the
# node; the daemons of that host use -c $T/NAME.conf.
host() {
	mkdir "$T/$1"
	bindfs --no-allow-other "$SP" "$T/$1"
	MOUNTS+=("$T/$1")
	sed -e "s|^spool = .*|spool = \"$T/$1\";|" -e '/^heartbeat_interval/d' \
	    "$T/conf" >"$T/$1.conf"
	cat >>"$T/$1.conf" <<CONF
node = "$1";
heartbeat_interval = 0.2;
lease = ${LEASE:-2};
watch = { poll_interval = 0.2; };
convert = { output_dir = "$T/images"; };
importd = { domain_type = "qemu"; };
defaults = { import = { uri = "$URI"; network = "user"; start = false; }; };
CONF
}

# on HOST PROGRAM ARGS...: start a daemon of that host, logs in $T/HOST.PROG.log
on() {
	local h=$1 prog=$2
	shift 2
	"$prog" -c "$T/$h.conf" "$@" 2>>"$T/$h.$(basename "$prog").log" 3>&- &
	PIDS+=($!)
	LASTPID=$!
}

# submit N jobs through host A's view of incoming/ if there is one
# (names $PFX-1..N)
submit_jobs() {
	local i in=$SP/incoming
	[ -d "$T/a" ] && in=$T/a/incoming
	PFX=hs-split-$$-$RANDOM
	for i in $(seq 1 "$1"); do
		printf '{"name":"%s-%d","source":{"type":"file","path":"%s"}}\n' \
		    "$PFX" "$i" "$T/src/disk.raw" >"$in/.j$i"
		mv "$in/.j$i" "$in/j$i"
		DOMS+=("$PFX-$i")
	done
}

# every job in STAGE went through exactly one conversion, none is elsewhere
exactly_once() {
	local stage=$1 n=$2 id
	[ "$(count_in "$stage")" -eq "$n" ]
	for d in intake request exporting exported converting converted importing error; do
		[ "$d" = "$stage" ] && continue
		[ "$(count_in "$d")" -eq 0 ] || { echo "left in $d/: $(ls "$SP/$d")"; false; }
	done
	for id in $(ls "$SP/$stage"); do
		[ "$(grep -c ' converted convertwatch@' "$SP/data/$id/history")" -eq 1 ] ||
		    { echo "$id:"; cat "$SP/data/$id/history"; false; }
	done
}

logs() { tail -n 20 "$T"/*.log; }

# never_claimed_twice HISTORY: between two claims by convertwatch the job
# went back to exported/ (history lines "TIME STAGE ACTOR NOTE")
never_claimed_twice() {
	awk '$2 == "converting" { if (held) { bad = 1 } held = 1 }
	     $2 == "exported" { held = 0 }
	     END { exit bad }' "$1" || { echo "claimed twice:"; cat "$1"; false; }
}

@test "200 jobs: exported on host A, converted and imported on host B, each exactly once" {
	host a
	host b
	on a "$QUEUED"
	on a "$EXPORTD"
	on b "$CONVERTWATCH"
	on b "$IMPORTD"
	submit_jobs 200
	wait_for 400 has_n imported 200 || { "$HS" -c "$T/conf" status; logs; false; }
	exactly_once imported 200
	# FUSE was noticed: every daemon polls, and says so in its status
	for s in queued@a exportd@a convertwatch@b importd@b; do
		[ "$(jq -r .watch "$SP/run/$s")" = poll ] || { cat "$SP/run/$s"; false; }
	done
	# each stage was worked on by the host it runs on
	id=$(ls "$SP/imported" | head -n 1)
	grep -q ' exporting exportd@a\[' "$SP/data/$id/history"
	grep -q ' converting convertwatch@b\[' "$SP/data/$id/history"
	grep -q ' importing importd@b\[' "$SP/data/$id/history"
	# every job is defined once in libvirt, under its UUID
	for id in $(ls "$SP/imported"); do
		[ "$(jq -r .result.uuid "$SP/imported/$id")" = "$(cat "$SP/data/$id/uuid")" ]
	done
	[ "$(virsh -q -c "$URI" list --all --name | grep -c "^$PFX-")" -eq 200 ]
	# nobody holds a finished job
	[ -z "$(ls "$SP"/data/*/owner 2>/dev/null)" ]
}

@test "two convertwatch on two hosts race over 500 jobs: each converted exactly once" {
	host a
	host b
	submit_jobs 500
	# export them first (on the plain spool), then let the two race
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$EXPORTD" -c "$T/conf" --once --workers 2 2>>"$T/exportd.log"
	[ "$(count_in exported)" -eq 500 ] || { logs; false; }
	on a "$CONVERTWATCH"
	on b "$CONVERTWATCH"
	wait_for 400 has_n converted 500 || { "$HS" -c "$T/conf" status; logs; false; }
	exactly_once converted 500
	# never two claims at once: a job claimed again went back to
	# exported/ in between (a takeover, with its reason, or a retry)
	for id in $(ls "$SP/converted"); do
		never_claimed_twice "$SP/data/$id/history"
	done
	# a takeover of a live holder is allowed (a host stalled past the
	# lease), not hidden: counted
	takeovers=$(cat "$SP"/data/*/history | grep -c ' exported convertwatch@[ab]\[[0-9]*\] taken over by ' || true)
	# both took part, and between them they published 500
	na=$(cat "$SP"/data/*/history | grep -c ' converted convertwatch@a\[' || true)
	nb=$(cat "$SP"/data/*/history | grep -c ' converted convertwatch@b\[' || true)
	echo "# host a converted $na, host b $nb; $takeovers takeover(s)" >&3
	if [ "$takeovers" -gt 0 ]; then
		grep -h ' taken over by ' "$SP"/data/*/history | sed 's/^/#   /' >&3
	fi
	[ "$na" -gt 0 ] && [ "$nb" -gt 0 ] && [ $((na + nb)) -eq 500 ]
	# one image per job, each equal to its source
	[ "$(find "$T/images" -name '*.qcow2' | wc -l)" -eq 500 ]
	[ "$(find "$T/images" -name '.*' | wc -l)" -eq 0 ]
	qemu-img compare -q -f raw -F qcow2 "$T/src/disk.raw" "$(find "$T/images" -name '*.qcow2' | head -n 1)"
}

@test "a daemon stalled past the lease while its worker runs keeps its job: the worker beats" {
	host a
	host b
	# one job whose work lasts 8 s (stagetest: request/ -> exporting/)
	id=$(date -u +%Y%m%dT%H%M%S)-000001-00000000-$(printf '%08x' $$)-0000abcd
	jq -n --arg id "$id" --arg p "$T/src/disk.raw" \
	    '{version:1,id:$id,name:"long-1",source:{type:"file",path:$p}}' >"$SP/tmp/$id"
	mv "$SP/tmp/$id" "$SP/request/$id"
	on a "$HS_TESTDIR/stagetest" --workers 1
	apid=$LASTPID
	wait_for 30 test -f "$SP/data/$id/owner" || { logs; false; }
	on b "$HS_TESTDIR/stagetest" --workers 1
	# the daemon of host a stops (a long scan, a loaded host), its worker
	# goes on; b polls every 0.2 s with a lease of 2 s
	kill -STOP "$apid"
	sleep 3.5
	kill -CONT "$apid"
	wait_for 60 test -f "$SP/exported/$id" || { logs; cat "$SP/data/$id/history"; false; }
	cat "$SP/data/$id/history"
	[ "$(grep -c 'taken over' "$SP/data/$id/history")" -eq 0 ]
	[ "$(grep -c ' exporting stagetest@' "$SP/data/$id/history")" -eq 1 ]
	grep -q ' exported stagetest@a\[' "$SP/data/$id/history"
}

# slow_jobs N: N exported jobs whose conversion takes a while (random data,
# compressed qcow2), so a host can be stopped in the middle of them.
slow_jobs() {
	head -c 48M /dev/urandom >"$T/src/disk.raw"
	submit_jobs "$1"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ "$(count_in exported)" -eq "$1" ]
	for f in "$SP"/exported/*; do
		jq '.convert.compress = true' "$f" >"$T/j" && cat "$T/j" >"$f"
	done
}

@test "host B dies for good: a third host takes its jobs over only after the lease" {
	LEASE=3
	host a
	host b
	host c
	slow_jobs 4
	on b "$CONVERTWATCH" --workers 2
	bpid=$LASTPID
	wait_for 30 has_n converting 2 || { logs; false; }
	kill -9 "$bpid"
	# its workers die with it; the jobs stay in converting/ owned by b
	sleep 0.5
	held=$(ls "$SP/converting")
	[ "$(echo "$held" | wc -l)" -eq 2 ]
	on c "$CONVERTWATCH" --workers 2
	# within the lease, c leaves b's jobs alone (it converts the others)
	sleep 1.5
	for id in $held; do
		[ -f "$SP/converting/$id" ] || { cat "$SP/data/$id/history"; false; }
		grep -q '^convertwatch b ' "$SP/data/$id/owner"
	done
	wait_for 120 has_n converted 4 || { logs; false; }
	exactly_once converted 4
	for id in $held; do
		grep -q ' exported convertwatch@c\[[0-9]*\] taken over by c from b\[' "$SP/data/$id/history" ||
		    { cat "$SP/data/$id/history"; false; }
	done
	grep -q "taken over by c from b" "$T/c.convertwatch.log"
}

@test "a stale owner that wakes up after a takeover does not publish" {
	LEASE=3
	host b
	host c
	slow_jobs 2
	on b "$CONVERTWATCH" --workers 2
	bpid=$LASTPID
	wait_for 30 has_n converting 2 || { logs; false; }
	# freeze b and its workers (an NFS client cut off, a paused VM)
	pkill -STOP -P "$bpid"
	kill -STOP "$bpid"
	held=$(ls "$SP/converting")
	# past the lease, status points at the silent holder (ages are
	# whole seconds: a 3.5 s silence can read as 3 s, not past a 3 s lease)
	sleep 4.5
	run "$HS" -c "$T/c.conf" status
	echo "$output"
	[[ "$output" == *"converting/"*": no heartbeat for "*"(lease 3s) from convertwatch["*"] on b"* ]]
	on c "$CONVERTWATCH" --workers 2
	wait_for 120 has_n converted 2 || { logs; false; }
	# b wakes up: it finds the jobs are no longer its own and keeps off
	pkill -CONT -P "$bpid"
	kill -CONT "$bpid"
	wait_for 20 grep -q "taken over by another node\|another node holds this job" "$T/b.convertwatch.log" ||
	    { logs; false; }
	sleep 1
	kill -0 "$bpid"
	exactly_once converted 2
	for id in $held; do
		[ "$(grep -c ' converted convertwatch@b\[' "$SP/data/$id/history")" -eq 0 ]
	done
}
