#!/usr/bin/env bats
# Logging to the systemd journal: when stderr is the journal stream
# (JOURNAL_STREAM matches), each line goes to the journal socket with
# JOB_ID, VM and STAGE fields, so `journalctl JOB_ID=...` finds a job.
# No journald runs on CI machines, so the test plays it: in a private mount
# namespace a tmpfs hides /run and socat receives on the journal's socket
# path (this fake stands for journald's socket only; queued is the real one).

load helpers

setup() { hs_setup; }
teardown() { hs_teardown; }

# with_journal PROGRAM...: run each daemon (--once) in a private mount
# namespace whose journal socket socat receives into $T/journal, with
# stderr as the journal stream ($T/stderr)
with_journal() {
	local p
	cat >"$T/inner.sh" <<EOF2
set -e
mount -t tmpfs none /run
mkdir -p /run/systemd/journal
socat -u UNIX-RECV:/run/systemd/journal/socket OPEN:$T/journal,creat,append &
for i in \$(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
: >$T/stderr
export JOURNAL_STREAM=\$(stat -c '%d:%i' $T/stderr)
EOF2
	for p in "$@"; do
		echo "$p -c $T/conf --once 2>>$T/stderr" >>"$T/inner.sh"
	done
	printf 'sleep 0.2\nkill $!\n' >>"$T/inner.sh"
	unshare -m sh "$T/inner.sh"
}

@test "daemon lines reach the journal socket with JOB_ID, VM and STAGE fields" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace"
	printf '{"name":"jr","source":{"type":"file","path":"%s/src/x"}}\n' "$T" >"$SP/incoming/j"
	with_journal "$QUEUED"
	id=$(ls "$SP/request")
	# one datagram per line; fields of the "accepted" line, in order
	tr '\n' '|' <"$T/journal" | grep -q "MESSAGE=accepted hyperspool-v1 job 'jr' (source file)|JOB_ID=$id|VM=jr|STAGE=intake|"
	grep -q "^SYSLOG_IDENTIFIER=queued$" "$T/journal"
	grep -q "^PRIORITY=6$" "$T/journal"
	# nothing went to stderr: the journal took it all
	[ ! -s "$T/stderr" ]
	# and the same lines are in the job's own log
	grep -q "accepted hyperspool-v1 job 'jr'" "$SP/data/$id/log"
	grep -q "received incoming/j" "$SP/data/$id/log"
}

@test "without the journal, lines go to stderr with <N> priority prefixes" {
	printf '{"name":"x"}\n' >"$SP/incoming/bad"
	run "$QUEUED" -c "$T/conf" --once
	[ "$status" -eq 0 ]
	[[ "$output" == *"<6>queued: started: spool $SP"* ]]
	[[ "$output" == *"<3>queued: "*": rejected: source: missing"* ]]
}

@test "sd_notify: READY=1 once started, STATUS=, WATCHDOG=1 keep-alives, STOPPING=1" {
	# socat stands in for systemd's notify socket; datagrams are appended
	# without separators, so the patterns are not anchored.
	socat -u UNIX-RECV:"$T/notify" OPEN:"$T/notes",creat,append &
	PIDS+=($!)
	wait_for 5 test -S "$T/notify"
	NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=200000 start_daemon "$QUEUED"
	wait_for 5 grep -q "READY=1" "$T/notes"
	grep -q "STATUS=0 running, 0 waiting" "$T/notes"
	wait_for 5 grep -q "WATCHDOG=1" "$T/notes"
	kill -TERM "$LASTPID"
	wait "$LASTPID"
	wait_for 5 grep -q "STOPPING=1" "$T/notes"
}

@test "a job's life in a stage is marked with MESSAGE_IDs: started, done, failed (with VM)" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace"
	printf '{"name":"jm","source":{"type":"file","path":"%s/src/missing.ova"}}\n' "$T" >"$SP/incoming/good"
	printf '{"name":"jbad"}\n' >"$SP/incoming/bad"
	with_journal "$QUEUED" "$HS_BINDIR/exportd"
	started=93c77712dcb141ea9e61126425781eb0
	done_=1425733f9f194e3a9891793d70e6637b
	failed=52beddd5582e459d8b56316f66298b67
	j=$(tr '\n' '|' <"$T/journal")
	# queued: two started, the good one done (VM known once normalised),
	# the bad one failed; exportd: started and failed, both with the VM
	[ "$(grep -c "^MESSAGE_ID=$started$" "$T/journal")" -eq 3 ]
	[[ "$j" == *"MESSAGE=done: passed to request/|JOB_ID="*"|VM=jm|STAGE=intake|MESSAGE_ID=$done_|"* ]]
	[[ "$j" == *"MESSAGE=failed: rejected: source: missing|JOB_ID="*"|STAGE=intake|MESSAGE_ID=$failed|"* ]]
	[[ "$j" == *"MESSAGE=started|JOB_ID="*"|VM=jm|STAGE=exporting|MESSAGE_ID=$started|"* ]]
	[[ "$j" == *"MESSAGE=failed: source.path: "*"|VM=jm|STAGE=exporting|MESSAGE_ID=$failed|"* ]]
	# the same constants are what the README documents
	grep -q "$started" "$BATS_TEST_DIRNAME/../../README.md"
	grep -q "$done_" "$BATS_TEST_DIRNAME/../../README.md"
	grep -q "$failed" "$BATS_TEST_DIRNAME/../../README.md"
}
