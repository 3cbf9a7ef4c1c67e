#!/usr/bin/env bats
# The stage-daemon skeleton (common/daemon.c) driven through stagetest, a
# daemon whose work is scripted by the job name (see tests/stagetest.c).
# Claiming, retries, rollback, recovery and publishing are production code.

load helpers

STAGETEST=$HS_TESTDIR/stagetest

setup() { hs_setup; }
teardown() { hs_teardown; }

# put NAME: publish a job straight into request/, print its ID
put() {
	local id
	id=$(date -u +%Y%m%dT%H%M%S)-$(printf '%06d' $((RANDOM * 30 % 1000000)))-00000000-$(printf '%08x' $$)-$(printf '%08x' $((RANDOM * 65536 + RANDOM)))
	jq -n --arg id "$id" --arg n "$1" --arg p "$T/src/x" \
	    '{version:1,id:$id,name:$n,source:{type:"file",path:$p}}' >"$SP/tmp/$id"
	if [ "${2:-}" = link ]; then
		# link(2) raises only IN_CREATE, which the watcher does not ask
		# for: the job appears without an event, as over NFS.
		ln "$SP/tmp/$id" "$SP/request/$id" && rm "$SP/tmp/$id"
	else
		mv "$SP/tmp/$id" "$SP/request/$id"
	fi
	echo "$id"
}

@test "a job that succeeds moves request -> exporting -> exported, with history" {
	id=$(put ok-1)
	start_daemon "$STAGETEST" --once
	wait "$LASTPID"
	[ -f "$SP/exported/$id" ]
	grep -q " exporting stagetest@" "$SP/data/$id/history"
	grep -q " exported stagetest@" "$SP/data/$id/history"
}

@test "a permanent failure lands in error/ with the worker's reason" {
	id=$(put fail-1)
	start_daemon "$STAGETEST" --once
	wait "$LASTPID"
	[ -f "$SP/error/$id" ]
	[ "$(cat "$SP/data/$id/reason")" = "told to fail" ]
	grep -q "told to fail" "$SP/data/$id/log"
}

@test "a crashing worker is retried with backoff, then failed; the daemon lives on" {
	id=$(put crash-1)
	start_daemon "$STAGETEST"
	wait_for 15 test -f "$SP/error/$id"
	grep -q "gave up after 3 attempts: worker killed by signal 6" "$SP/data/$id/reason"
	kill -0 "$LASTPID"
	id2=$(put ok-2)
	wait_for 5 test -f "$SP/exported/$id2"
}

@test "a temporary failure is retried and succeeds; attempts are kept in data/ID/retry" {
	id=$(put flaky-1)
	start_daemon "$STAGETEST"
	wait_for 15 test -f "$SP/exported/$id"
	[ "$(grep -c 'flaky: attempt' "$SP/data/$id/log")" -eq 2 ]
	[ ! -e "$SP/data/$id/retry" ]
}

@test "SIGTERM rolls an in-flight job back to request/ and exits 0" {
	id=$(put slow-1)
	start_daemon "$STAGETEST"
	wait_for 5 test -f "$SP/exporting/$id"
	kill -TERM "$LASTPID"
	wait "$LASTPID"
	[ -f "$SP/request/$id" ]
	[ ! -e "$SP/exporting/$id" ]
	grep -q "rolled back" "$SP/data/$id/history"
}

@test "kill -9 of the daemon: its orphan is recovered at the next start and finished" {
	id=$(put slow-2)
	start_daemon "$STAGETEST"
	wait_for 5 test -f "$SP/exporting/$id"
	kill -9 "$LASTPID"
	sleep 0.1
	[ -f "$SP/exporting/$id" ]
	start_daemon "$STAGETEST" --once
	wait "$LASTPID"
	[ -f "$SP/exported/$id" ]
	grep -q "recovered 1 job" "$T/stagetest.log"
}

@test "--workers bounds concurrency" {
	for i in 1 2 3; do put "slow-c$i" >/dev/null; done
	start_daemon "$STAGETEST" --workers 1
	max=0
	for i in $(seq 1 40); do
		n=$(count_in exporting)
		[ "$n" -le "$max" ] || max=$n
		sleep 0.1
	done
	[ "$max" -eq 1 ]
}

@test "cancel: data/ID/cancel stops the worker and fails the job as cancelled" {
	id=$(put slow-3)
	start_daemon "$STAGETEST"
	wait_for 5 test -f "$SP/data/$id/owner"
	wait_for 5 test -f "$SP/data/$id/work.part"
	touch "$SP/data/$id/cancel"
	wait_for 5 test -f "$SP/error/$id"
	grep -q "cancelled" "$SP/data/$id/reason"
	# what the worker wrote is gone; the stage's own hook ran
	[ ! -e "$SP/data/$id/work.part" ]
	[ -e "$SP/data/$id/cancel-hook" ]
}

@test "the daemon writes a status file with pid and heartbeat and removes it on exit" {
	start_daemon "$STAGETEST"
	f="$SP/run/stagetest@$(hostname -s)"
	wait_for 5 test -f "$f"
	[ "$(jq -r .pid "$f")" = "$LASTPID" ]
	hb=$(jq -r .heartbeat "$f")
	sleep 2.2
	[ "$(jq -r .heartbeat "$f")" -gt "$hb" ]
	kill -TERM "$LASTPID"
	wait "$LASTPID"
	[ ! -e "$f" ]
}

@test "an inotify miss is caught by the rescan timer, junk names are ignored" {
	# 4 s: a loaded machine must not let the rescan come before the check
	# that no event took the job
	echo 'watch = { rescan_interval = 4; };' >>"$T/conf"
	echo junk >"$SP/request/not-a-job"
	start_daemon "$STAGETEST"
	sleep 0.3
	id=$(put ok-3 link)
	sleep 0.5
	[ -f "$SP/request/$id" ]	# no event: still waiting
	wait_for 10 test -f "$SP/exported/$id"
	[ -f "$SP/request/not-a-job" ]
}

@test "a move cut short by a crash (job under its private name) is put right at start" {
	id=$(put ok-moved)
	# a mover that died between its two steps: the job renamed to
	# .ID.NODE.PID.N.mv in exporting/, not yet linked anywhere
	dead=$(sh -c 'echo $$')
	mv "$SP/request/$id" "$SP/exporting/.$id.$(hostname -s).$dead.0.mv"
	start_daemon "$STAGETEST"
	wait_for 10 test -f "$SP/exported/$id" || { cat "$T/stagetest.log"; false; }
	[ -z "$(ls -A "$SP/exporting")" ]
	grep -q "put right 1 move(s) cut short in exporting/" "$T/stagetest.log"
}
