#!/usr/bin/env bats
# Spool hygiene: finished jobs collected by age, temp debris of dead
# processes removed, and `hyperspool status` warning about what an operator
# must look at (a nearly full spool, jobs nobody takes).

load helpers

setup() { hs_setup; }

teardown() {
	[ -n "${SMALL:-}" ] && umount "$SMALL" 2>/dev/null
	hs_teardown
}

# finished STAGE: a job file in STAGE/ with a data/ID/ holding a file and
# a subdirectory; prints its ID
finished() {
	local id
	id=$(date -u +%Y%m%dT%H%M%S)-$(printf '%06d-00000000-%08x-%08x' $((RANDOM % 1000000)) $$ $RANDOM)
	echo '{}' >"$SP/$1/$id"
	mkdir -p "$SP/data/$id/sub"
	echo history >"$SP/data/$id/history"
	echo disk >"$SP/data/$id/sub/disk"
	echo "$id"
}

@test "finished jobs older than finished_max_age go with their data; younger ones and images stay" {
	echo 'finished_max_age = 2;' >>"$T/conf"
	old_ok=$(finished imported)
	old_err=$(finished error)
	mkdir -p "$T/images/$old_ok" && echo image >"$T/images/$old_ok/disk.qcow2"
	echo outside >"$T/outside"
	ln -s "$T/outside" "$SP/data/$old_ok/link"
	sleep 3
	young=$(finished imported)
	"$QUEUED" -c "$T/conf" --once 2>"$T/q.log"
	[ ! -e "$SP/imported/$old_ok" ] && [ ! -e "$SP/data/$old_ok" ]
	[ ! -e "$SP/error/$old_err" ] && [ ! -e "$SP/data/$old_err" ]
	[ -f "$SP/imported/$young" ] && [ -f "$SP/data/$young/sub/disk" ]
	# converted images are the VMs' disks: never touched; links not followed
	[ -f "$T/images/$old_ok/disk.qcow2" ] && [ -f "$T/outside" ]
	grep -q "removed 2 finished job(s) older than 2s" "$T/q.log"
	# 0 keeps everything
	sed -i 's/^finished_max_age = 2;/finished_max_age = 0;/' "$T/conf"
	sleep 3
	"$QUEUED" -c "$T/conf" --once 2>>"$T/q.log"
	[ -f "$SP/imported/$young" ]
}

@test "temp files of a dead process of this node go at once, others wait for tmp_max_age" {
	sh -c 'exit 0' &
	dead=$!
	wait $dead
	touch "$SP/tmp/retry.$(hostname -s).$dead.3.tmp" "$SP/tmp/retry.elsewhere.$dead.3.tmp" \
	    "$SP/tmp/retry.$(hostname -s).$$.1.tmp"
	"$QUEUED" -c "$T/conf" --once 2>"$T/q.log"
	[ ! -e "$SP/tmp/retry.$(hostname -s).$dead.3.tmp" ]
	[ -e "$SP/tmp/retry.elsewhere.$dead.3.tmp" ]
	[ -e "$SP/tmp/retry.$(hostname -s).$$.1.tmp" ]
}

@test "status warns about jobs waiting past the lease with no daemon, and a nearly full spool" {
	echo 'lease = 3;' >>"$T/conf"
	id=$(finished request)
	run "$HS" -c "$T/conf" status
	[[ "$output" != *"warnings"* ]]
	sleep 4.5
	run "$HS" -c "$T/conf" status
	echo "$output"
	[[ "$output" == *"request/: jobs waiting for "*"s (lease 3s) and no exportd alive to take them"* ]]
	run "$HS" -c "$T/conf" status --json
	[ "$(jq '.warnings | length' <<<"$output")" -eq 1 ]
	# a spool on a small filesystem, 95 % full
	SMALL=$T/small
	mkdir "$SMALL"
	mount -t tmpfs -o size=4m tmpfs "$SMALL" || { echo "cannot mount a tmpfs (root needed)"; false; }
	"$HS" -c "$T/conf" -s "$SMALL/spool" init >/dev/null 2>&1
	run "$HS" -c "$T/conf" -s "$SMALL/spool" status
	[[ "$output" != *"nearly full"* ]]
	dd if=/dev/zero of="$SMALL/fill" bs=1k count=3900 2>/dev/null
	run "$HS" -c "$T/conf" -s "$SMALL/spool" status
	echo "$output"
	[[ "$output" == *"spool filesystem nearly full: "*" MiB of 4 MiB free"* ]]
}
