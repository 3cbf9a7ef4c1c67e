#!/usr/bin/env bats
# hyperspool, the command line interface: every command run as the real
# binary on a temp spool, with queued and stagetest (tests/stagetest.c) as
# the daemons where a command needs one. importd does not exist yet: where a
# job must reach imported/, the test moves it there itself.

load helpers

bats_require_minimum_version 1.5.0

STAGETEST=$HS_TESTDIR/stagetest
# The job ID syntax of spool-layout.md (49 characters).
IDRE='^[0-9]{8}T[0-9]{6}-[0-9]{6}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$'

setup() { hs_setup; }
teardown() { hs_teardown; }

hs() { "$HS" -c "$T/conf" "$@"; }

# put NAME [STAGE]: publish a job straight into STAGE/ (default request/),
# print its ID
put() {
	local id
	id=$(date -u +%Y%m%dT%H%M%S)-$(printf '%06d' $((RANDOM * 30 % 1000000)))-00000000-$(printf '%08x' $$)-$(printf '%08x' $((RANDOM * 65536 + RANDOM)))
	jq -n --arg id "$id" --arg n "$1" --arg p "$T/src/x" \
	    '{version:1,id:$id,name:$n,source:{type:"file",path:$p}}' >"$SP/tmp/$id"
	mkdir -p "$SP/data/$id"
	mv "$SP/tmp/$id" "$SP/${2:-request}/$id"
	echo "$id"
}

# fail_job ID REASON: what a daemon does to fail a job waiting in request/
fail_job() {
	printf '%s\n' "$2" >"$SP/data/$1/reason"
	mv "$SP/request/$1" "$SP/error/$1"
}

# the state letter of a process (R, S, Z, ...) from /proc/PID/stat
proc_state() {
	sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1
}

is_zombie() { [ "$(proc_state "$1")" = Z ]; }

# has_line ERE: a line of $output matches
has_line() { grep -Eq -- "$1" <<<"$output"; }

# queued, once it watches incoming/ (its status file is written after that)
start_queued() {
	start_daemon "$QUEUED"
	wait_for 5 test -e "$SP/run/queued@$(hostname -s)"
}

# --- init ------------------------------------------------------------------

# directory mode (spool-layout.md)
LAYOUT='incoming 3730
intake 2750
request 2750
exporting 2750
exported 2750
converting 2750
converted 2750
importing 2750
imported 2750
error 2750
tmp 2700
data 2750
run 2750
schedules 2750
ticks 2750
audit 2750
control 3730'

@test "init creates every directory of the spool with its documented mode" {
	run --separate-stderr hs -s "$T/new" init
	[ "$status" -eq 0 ]
	[ "$output" = "$T/new" ]
	while read -r d mode; do
		echo "$d: $(stat -c %a "$T/new/$d")"
		[ -d "$T/new/$d" ]
		[ ! -L "$T/new/$d" ]
		[ "$(stat -c %a "$T/new/$d")" = "$mode" ]
		[ "$(stat -c %u "$T/new/$d")" = "$(id -u)" ]
	done <<<"$LAYOUT"
	[ "$(find "$T/new" -mindepth 1 -maxdepth 1 | wc -l)" -eq 17 ]
}

@test "init again is harmless and repairs wrong modes, keeping the jobs" {
	id=$(put keep)
	chmod 0777 "$SP/request" "$SP/tmp"
	chmod 0755 "$SP/incoming"
	rmdir "$SP/run" "$SP/control"	# control/: a spool older than it
	run hs init
	[ "$status" -eq 0 ]
	while read -r d mode; do
		[ "$(stat -c %a "$SP/$d")" = "$mode" ]
	done <<<"$LAYOUT"
	[ -f "$SP/request/$id" ]
	[ "$(jq -r .name "$SP/request/$id")" = keep ]
}

@test "init --group gives the spool and every directory to that group" {
	[ "$(id -u)" -eq 0 ] || skip "only root can give files to another group"
	getent group daemon >/dev/null || skip "no group 'daemon'"
	run hs -s "$T/new" init --group daemon
	[ "$status" -eq 0 ]
	[ "$(stat -c %G "$T/new")" = daemon ]
	while read -r d mode; do
		[ "$(stat -c %G "$T/new/$d")" = daemon ]
		[ "$(stat -c %a "$T/new/$d")" = "$mode" ]
	done <<<"$LAYOUT"
	# and config submit_group does the same for an existing spool
	echo 'submit_group = "daemon";' >>"$T/conf"
	run hs init
	[ "$status" -eq 0 ]
	[ "$(stat -c %G "$SP/incoming")" = daemon ]
}

@test "init --group with an unknown group fails clearly and creates nothing" {
	run --separate-stderr hs -s "$T/new" init --group no-such-group-hs
	# The code treats it as a refused operation (1), not 64/111.
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no such group: no-such-group-hs"* ]]
	[ -z "$output" ]
	[ ! -e "$T/new" ]
}

# --- submit ----------------------------------------------------------------

@test "submit FILE prints the job ID; the job is in request/ under that ID" {
	start_queued
	good web01 >"$T/job.json"
	run --separate-stderr hs submit "$T/job.json"
	[ "$status" -eq 0 ]
	[[ "$output" =~ $IDRE ]]
	[ -f "$SP/request/$output" ]
	[ "$(jq -r .id "$SP/request/$output")" = "$output" ]
	[ "$(jq -r .name "$SP/request/$output")" = web01 ]
	[ "$(count_in incoming)" -eq 0 ]
	[ -z "$(ls -A "$SP/incoming")" ]	# no temp file left either
}

@test "submit - reads the job from standard input" {
	start_queued
	good fromstdin >"$T/job.json"
	run --separate-stderr hs submit - <"$T/job.json"
	[ "$status" -eq 0 ]
	[[ "$output" =~ $IDRE ]]
	[ "$(jq -r .name "$SP/request/$output")" = fromstdin ]
	cmp "$T/job.json" "$SP/data/$output/submitted"
}

@test "a job queued rejects: its ID on stdout, the reason on stderr, exit 1" {
	start_queued
	echo '{"name":"nosource"}' >"$T/bad.json"
	run --separate-stderr hs submit "$T/bad.json"
	[ "$status" -eq 1 ]
	[[ "$output" =~ $IDRE ]]
	[[ "$stderr" == *"source: missing"* ]]
	[ -f "$SP/error/$output" ]
}

@test "submit --no-wait prints incoming/NAME at once and leaves the file for queued" {
	good later >"$T/job.json"
	run --separate-stderr hs submit --no-wait "$T/job.json"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^incoming/[^/.][^/]*$ ]]
	cmp "$T/job.json" "$SP/$output"
	[ "$(ls -A "$SP/incoming")" = "${output#incoming/}" ]
	# queued takes it when it runs
	start_queued
	wait_for 5 has_n request 1
	grep -q '"later"' "$SP"/request/*
}

@test "submit without queued running: exit 2 after --timeout, says it was not picked up" {
	good nobody >"$T/job.json"
	t0=$(date +%s%N)
	run --separate-stderr hs submit --timeout 1 "$T/job.json"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "took $ms ms; stderr: $stderr"
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"queued has not picked it up"* ]]
	[ "$ms" -ge 900 ]
	[ "$ms" -lt 5000 ]
	[ "$(count_in incoming)" -eq 1 ]	# still there for queued
}

@test "submit refuses a file over the size limit before anything reaches incoming/" {
	head -c 1048576 /dev/zero | tr '\0' ' ' >"$T/max.json"
	head -c 1048577 /dev/zero | tr '\0' ' ' >"$T/big.json"
	run --separate-stderr hs submit "$T/big.json"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"larger than 1048576 bytes"* ]]
	[ -z "$output" ]
	[ -z "$(ls -A "$SP/incoming")" ]
	run --separate-stderr hs submit - <"$T/big.json"
	[ "$status" -eq 1 ]
	[ -z "$(ls -A "$SP/incoming")" ]
	# exactly the limit is allowed
	run hs submit --no-wait "$T/max.json"
	[ "$status" -eq 0 ]
	[ "$(count_in incoming)" -eq 1 ]
	# the limit is the configured one
	echo 'queued = { max_job_size = 100; };' >>"$T/conf"
	good small >"$T/small.json"
	head -c 101 /dev/zero | tr '\0' ' ' >"$T/101.json"
	run --separate-stderr hs submit --no-wait "$T/101.json"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"larger than 100 bytes"* ]]
	run hs submit --no-wait "$T/small.json"
	[ "$status" -eq 0 ]
}

@test "submit of a missing file is a clear error, exit 1 (the user's file, not a system error)" {
	run --separate-stderr hs submit "$T/no-such.json"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$T/no-such.json: No such file or directory"* ]]
	[ -z "$(ls -A "$SP/incoming")" ]
}

@test "submit usage errors exit 64" {
	good x >"$T/job.json"
	run hs submit
	[ "$status" -eq 64 ]
	run hs submit "$T/job.json" "$T/job.json"
	[ "$status" -eq 64 ]
	run --separate-stderr hs submit --timeout soon "$T/job.json"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"'soon' is not a number of seconds"* ]]
	[ -z "$(ls -A "$SP/incoming")" ]
}

# --- list ------------------------------------------------------------------

@test "list shows each job with its stage and name, and unclaimed files" {
	a=$(put web-a)
	b=$(put web-b)
	fail_job "$b" "disk on fire"
	c=$(put web-c exported)
	good x >"$SP/incoming/dropped"
	run --separate-stderr hs list
	[ "$status" -eq 0 ]
	echo "$output"
	[ "${#lines[@]}" -eq 4 ]
	has_line "^$a +request +web-a +[0-9]+s$"
	has_line "^$b +error +web-b +[0-9]+s$"
	has_line "^$c +exported +web-c +[0-9]+s$"
	has_line "^\(incoming\) +incoming +dropped +[0-9]+s$"
}

@test "list --stage shows only that stage" {
	a=$(put web-a)
	b=$(put web-b)
	fail_job "$b" "disk on fire"
	run hs list --stage request
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "$a "*request*web-a* ]]
	run hs list --stage error
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "$b "*error*web-b* ]]
	run hs list --stage imported
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "list --stage with an unknown stage exits 64 and names the valid ones" {
	for s in bogus tmp data; do
		run --separate-stderr hs list --stage "$s"
		[ "$status" -eq 64 ]
		[[ "$stderr" == *"unknown stage '$s'"* ]]
		for v in incoming request exporting imported error; do
			[[ "$stderr" == *"$v"* ]]
		done
	done
}

@test "list --json is valid JSON with id, stage, name; error jobs carry their reason" {
	a=$(put web-a)
	b=$(put web-b)
	fail_job "$b" "disk on fire"
	run --separate-stderr hs list --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e 'type == "array" and length == 2'
	echo "$output" | jq -e --arg a "$a" \
	    '.[] | select(.id == $a) | .stage == "request" and .name == "web-a" and .source_type == "file"'
	echo "$output" | jq -e --arg b "$b" \
	    '.[] | select(.id == $b) | .stage == "error" and .name == "web-b" and .reason == "disk on fire"'
	run hs list --json --stage imported
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq length)" -eq 0 ]
}

# --- show ------------------------------------------------------------------

@test "show prints the stage, the job and its history" {
	start_queued
	good web01 >"$T/job.json"
	id=$(hs submit "$T/job.json")
	run --separate-stderr hs show "$id"
	[ "$status" -eq 0 ]
	echo "$output"
	[[ "${lines[0]}" =~ ^id\ +$id$ ]]
	[[ "${lines[1]}" =~ ^stage\ +request/$ ]]
	[[ "$output" == *'"name":'*'"web01"'* ]]
	[[ "$output" == *'"id":'*"\"$id\""* ]]
	has_line '^history$'
	has_line "^  [0-9T:Z-]+ intake queued@[^ ]+ from incoming/submit-[0-9]+-[0-9a-f]{8} \\(uid $(id -u)\\)$"
	has_line '^  [0-9T:Z-]+ request queued@[^ ]+$'
	[[ "$output" != *reason* ]]
}

@test "show --json has id, stage, job, history and reason" {
	start_queued
	good web01 >"$T/job.json"
	id=$(hs submit "$T/job.json")
	run --separate-stderr hs show --json "$id"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e --arg id "$id" '.id == $id and .stage == "request"
	    and .job.name == "web01" and .job.id == $id and .reason == null
	    and .cancel_requested == false'
	echo "$output" | jq -e '(.history | type == "array" and length == 2)
	    and (.history[0] | test(" intake queued@"))
	    and (.history[1] | test(" request queued@"))'
}

@test "show of a failed job gives the reason, in text and JSON" {
	id=$(put fail-1)
	start_daemon "$STAGETEST" --once
	wait "$LASTPID"
	[ -f "$SP/error/$id" ]
	run --separate-stderr hs show "$id"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^stage\ +error/$ ]]
	has_line '^reason +told to fail$'
	run --separate-stderr hs show --json "$id"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.stage == "error" and .reason == "told to fail"
	    and .job.name == "fail-1"
	    and any(.history[]; test(" exporting stagetest@"))
	    and any(.history[]; test(" error stagetest@.* told to fail"))'
}

@test "show of an unknown ID exits 1; a malformed ID exits 1 with the syntax" {
	run --separate-stderr hs show 20261122T000000-000000-00000000-00000000-00000000
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no such job in $SP"* ]]
	for bad in nonsense ../../etc/passwd 20261122T000000-000000-00000000-00000000-0000000G; do
		run --separate-stderr hs show "$bad"
		[ "$status" -eq 1 ]
		[[ "$stderr" == *"$bad: not a job ID (YYYYMMDDTHHMMSS-uuuuuu-hhhhhhhh-pppppppp-rrrrrrrr)"* ]]
	done
}

@test "show prints the progress of the current stage only" {
	id=$(put web01 exporting)
	printf '{"stage":"exporting","bytes_done":512,"bytes_total":1024,"rate":100,"eta":5,"updated":%s}\n' \
	    "$(date +%s)" >"$SP/data/$id/progress.json"
	run --separate-stderr hs show "$id"
	[ "$status" -eq 0 ]
	echo "$output"
	has_line '^progress +exporting .*50% 512 B/1\.0 KiB'
	run hs show --json "$id"
	echo "$output" | jq -e '.progress.bytes_done == 512 and .progress.bytes_total == 1024'
	# a file an earlier stage left behind is stale: not shown
	sed -i 's/"exporting"/"converting"/' "$SP/data/$id/progress.json"
	run hs show "$id"
	[ "$status" -eq 0 ]
	[[ "$output" != *progress* ]]
	run hs show --json "$id"
	echo "$output" | jq -e '.progress == null'
}

@test "list shows the percent and ETA of a job in progress, from its stage's progress.json only" {
	id=$(put web01 exporting)
	printf '{"stage":"exporting","bytes_done":640,"bytes_total":1000,"rate":4,"eta":90,"updated":%s}\n' \
	    "$(date +%s)" >"$SP/data/$id/progress.json"
	run --separate-stderr hs list
	[ "$status" -eq 0 ]
	echo "$output"
	has_line "^$id +exporting +web01 +[0-9a-z]+ 64% ETA 1m30s\$"
	run hs list --json
	echo "$output" | jq -e --arg id "$id" '.[] | select(.id == $id) | .progress.bytes_done == 640'
	sed -i 's/"exporting"/"converting"/' "$SP/data/$id/progress.json"
	run --separate-stderr hs list
	[[ "$output" != *%* ]]
}

# --- logs ------------------------------------------------------------------

@test "logs prints the job's own log" {
	id=$(put web01)
	printf 'line one\nline two\n' >"$SP/data/$id/log"
	run --separate-stderr hs logs "$id"
	[ "$status" -eq 0 ]
	[ "$output" = $'line one\nline two' ]
	run --separate-stderr hs logs 20261122T000000-000000-00000000-00000000-00000000
	[ "$status" -eq 1 ]
}

@test "logs -f follows the log until the job reaches error/" {
	id=$(put web01)
	echo "first line" >"$SP/data/$id/log"
	timeout 10 "$HS" -c "$T/conf" logs -f "$id" >"$T/out" 2>"$T/err" &
	lp=$!
	wait_for 5 grep -q "first line" "$T/out"
	echo "appended while waiting" >>"$SP/data/$id/log"
	wait_for 5 grep -q "appended while waiting" "$T/out"
	kill -0 "$lp"		# still following: the job is not finished
	# the last line, written just before the job fails, is not lost
	echo "last line" >>"$SP/data/$id/log"
	fail_job "$id" "gave up"
	rc=0
	wait "$lp" || rc=$?
	[ "$rc" -eq 0 ]		# 124: timeout killed it
	[ "$(cat "$T/out")" = $'first line\nappended while waiting\nlast line' ]
	[ ! -s "$T/err" ]
}

@test "logs -f stops when the job is imported" {
	id=$(put web01 exported)
	echo "exported" >"$SP/data/$id/log"
	timeout 10 "$HS" -c "$T/conf" logs --follow "$id" >"$T/out" 2>"$T/err" &
	lp=$!
	wait_for 5 grep -q "exported" "$T/out"
	sleep 0.3
	kill -0 "$lp"
	echo "imported" >>"$SP/data/$id/log"
	# stands in for importd, which does not exist yet
	mv "$SP/exported/$id" "$SP/imported/$id"
	rc=0
	wait "$lp" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$T/out")" = $'exported\nimported' ]
}

# --- wait ------------------------------------------------------------------

@test "wait exits 0 when the job is imported" {
	id=$(put web01 exported)
	hs wait --timeout 10 "$id" >"$T/out" 2>"$T/err" &
	wp=$!
	sleep 0.3
	kill -0 "$wp"		# still waiting
	# stands in for importd, which does not exist yet
	mv "$SP/exported/$id" "$SP/imported/$id"
	rc=0
	wait "$wp" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$T/out")" = "$id imported" ]
}

@test "wait exits 1 with the reason on stderr when the job fails" {
	id=$(put web01)
	hs wait --timeout 10 "$id" >"$T/out" 2>"$T/err" &
	wp=$!
	sleep 0.3
	kill -0 "$wp"
	fail_job "$id" "disk on fire"
	rc=0
	wait "$wp" || rc=$?
	[ "$rc" -eq 1 ]
	grep -q "$id: disk on fire" "$T/err"
	[ ! -s "$T/out" ]
}

@test "wait --timeout exits 2 while the job stays in request/" {
	id=$(put web01)
	t0=$(date +%s%N)
	run --separate-stderr hs wait --timeout 1 "$id"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "took $ms ms"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"$id: timed out, still in request/"* ]]
	[ "$ms" -ge 900 ]
	[ "$ms" -lt 5000 ]
	[ -f "$SP/request/$id" ]
}

@test "wait on a job already finished returns at once" {
	id=$(put web01 imported)
	run hs wait "$id"
	[ "$status" -eq 0 ]
	id2=$(put web02)
	fail_job "$id2" "nope"
	run --separate-stderr hs wait "$id2"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"nope"* ]]
}

# --- retry -----------------------------------------------------------------

@test "retry puts a job failed by a stage daemon back, and it is processed again" {
	id=$(put fail-r)
	start_daemon "$STAGETEST" --once
	wait "$LASTPID"
	[ -f "$SP/error/$id" ]
	[ -f "$SP/data/$id/reason" ]
	run --separate-stderr hs retry "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: back in request/" ]
	[ -f "$SP/request/$id" ]
	[ ! -e "$SP/error/$id" ]
	[ ! -e "$SP/data/$id/reason" ]
	tail -n 1 "$SP/data/$id/history" | grep -q " request .*retried by $(id -un)"
	# the stage daemon takes it again (and fails it again)
	start_daemon "$STAGETEST" --once
	wait "$LASTPID"
	[ -f "$SP/error/$id" ]
	[ "$(grep -c ' exporting stagetest@' "$SP/data/$id/history")" -eq 2 ]
}

@test "retry of a job rejected at intake is refused" {
	start_queued
	echo '{"name":"nosource"}' >"$T/bad.json"
	run --separate-stderr hs submit "$T/bad.json"
	[ "$status" -eq 1 ]
	id=$output
	run --separate-stderr hs retry "$id"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"rejected at intake"* ]]
	[ -f "$SP/error/$id" ]
	grep -q "source: missing" "$SP/data/$id/reason"
}

@test "retry of a job that is not in error/ is refused" {
	id=$(put web01)
	run --separate-stderr hs retry "$id"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"not failed (it is in request/)"* ]]
	[ -f "$SP/request/$id" ]
	run --separate-stderr hs retry 20261122T000000-000000-00000000-00000000-00000000
	[ "$status" -eq 1 ]
}

# --- cancel ----------------------------------------------------------------

@test "cancel of a job waiting in request/ fails it at once with who cancelled it" {
	id=$(put web01)
	run --separate-stderr hs cancel "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: cancelled" ]
	[ -f "$SP/error/$id" ]
	[ ! -e "$SP/request/$id" ]
	[ "$(cat "$SP/data/$id/reason")" = "cancelled by $(id -un) (uid $(id -u))" ]
	[ ! -e "$SP/data/$id/cancel" ]
	grep -q " error .*cancelled by $(id -un)" "$SP/data/$id/history"
}

@test "cancel of a job in progress asks its daemon, which fails it as cancelled" {
	id=$(put slow-c)
	start_daemon "$STAGETEST"
	wait_for 5 test -f "$SP/exporting/$id"
	t0=$(date +%s%N)
	run --separate-stderr hs cancel "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: cancel requested" ]
	# slow-* would succeed after 3 s; a cancelled one fails well before
	wait_for 5 test -f "$SP/error/$id"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "cancelled in $ms ms"
	[ "$ms" -lt 2900 ]
	grep -q "cancelled" "$SP/data/$id/reason"
	[ ! -e "$SP/exported/$id" ]
}

@test "cancel of a finished job is refused" {
	id=$(put web01 imported)
	run --separate-stderr hs cancel "$id"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$id: already finished (in imported/)"* ]]
	[ -f "$SP/imported/$id" ]
	[ ! -e "$SP/data/$id/cancel" ]
	id2=$(put web02)
	fail_job "$id2" "disk on fire"
	run --separate-stderr hs cancel "$id2"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"already finished (in error/)"* ]]
	[ "$(cat "$SP/data/$id2/reason")" = "disk on fire" ]
}

# --- status ----------------------------------------------------------------

@test "status counts the jobs in every stage" {
	put a >/dev/null
	put b >/dev/null
	c=$(put c)
	fail_job "$c" "x"
	good x >"$SP/incoming/dropped"
	echo junk >"$SP/request/not-a-job"	# not a job ID: not counted
	run --separate-stderr hs status
	[ "$status" -eq 0 ]
	echo "$output"
	has_line '^ +request +2$'
	has_line '^ +error +1$'
	has_line '^ +incoming +1$'
	has_line '^ +exporting +0$'
	run --separate-stderr hs status --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e --arg sp "$SP" '.spool == $sp and .stages.request == 2
	    and .stages.error == 1 and .stages.incoming == 1
	    and .stages.imported == 0 and (.stages | length) == 10'
}

@test "status shows queued alive with its pid, and not running after SIGTERM" {
	start_queued
	run --separate-stderr hs status
	[ "$status" -eq 0 ]
	echo "$output"
	has_line "^ +queued@[^ ]+ +alive pid $LASTPID,"
	has_line '^ +exportd +not running$'
	run hs status --json
	echo "$output" | jq -e --argjson pid "$LASTPID" \
	    '[.daemons[] | select(.daemon == "queued")] | length == 1 and .[0].alive == true and .[0].pid == $pid'
	kill -TERM "$LASTPID"
	wait "$LASTPID"
	run --separate-stderr hs status
	[ "$status" -eq 0 ]
	has_line '^ +queued +not running$'
	run hs status --json
	echo "$output" | jq -e '[.daemons[] | select(.daemon == "queued")] | length == 1 and .[0].alive == false'
}

@test "status: a daemon killed by -9 is dead, even while still a zombie" {
	# queued's parent is a sleep that never reaps it, so after kill -9 it
	# stays a zombie: its pid answers kill(pid, 0) and keeps its name.
	bash -c '"$0" -c "$1" 2>>"$2/queued.log" & echo $! >"$2/qpid"; exec sleep 60' \
	    "$QUEUED" "$T/conf" "$T" &
	PIDS+=($!)
	wait_for 5 test -s "$T/qpid"
	qpid=$(cat "$T/qpid")
	PIDS+=("$qpid")
	wait_for 5 test -e "$SP/run/queued@$(hostname -s)"
	run hs status --json
	echo "$output" | jq -e --argjson pid "$qpid" \
	    '.daemons[] | select(.daemon == "queued") | .alive == true and .pid == $pid'
	kill -9 "$qpid"
	wait_for 5 is_zombie "$qpid"
	[ -e "$SP/run/queued@$(hostname -s)" ]	# no clean exit: the file stays
	run hs status --json
	echo "$output" | jq -e '.daemons[] | select(.daemon == "queued") | .alive == false'
	run hs status
	[ "$status" -eq 0 ]
	has_line "^ +queued@[^ ]+ +dead +pid $qpid,"
}

# --- help, usage, spool selection ------------------------------------------

@test "hyperspool --help lists every command and the exit codes" {
	run --separate-stderr "$HS" --help
	[ "$status" -eq 0 ]
	for c in init submit list show logs wait retry cancel status; do
		has_line "^  $c( |\$)"
	done
	for code in 0 1 2 64 111; do
		has_line "^ +$code +[a-z]"
	done
	[[ "$output" == *"HYPERSPOOL_SPOOL"* ]]
}

@test "every command's --help exits 0 with its usage, options and exit codes, spool or not" {
	while read -r c opts; do
		run --separate-stderr "$HS" -s "$T/nowhere" "$c" --help
		echo "$c: $status"
		[ "$status" -eq 0 ]
		[[ "${lines[0]}" == "usage: hyperspool $c"* ]]
		for o in $opts; do
			[[ "$output" == *"$o"* ]]
		done
		has_line '^ +64 +usage error$'
		has_line '^ +111 +system error'
	done <<'EOF'
init --group
submit --no-wait --timeout
list --stage --json
show --json
logs --follow
wait --timeout
retry
cancel
status --json
EOF
	[ ! -e "$T/nowhere" ]
}

@test "usage errors exit 64: unknown command, no command, bad option, missing ID" {
	run --separate-stderr hs frobnicate
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"frobnicate: unknown command"* ]]
	run hs
	[ "$status" -eq 64 ]
	run "$HS" --bogus list
	[ "$status" -eq 64 ]
	for c in "list --bogus" "status --bogus" "show" "logs" "wait" "retry" "cancel" "init extra"; do
		run --separate-stderr hs $c
		echo "$c: $status"
		[ "$status" -eq 64 ]
		[[ "$stderr" == *"usage: hyperspool ${c%% *}"* ]]
	done
}

@test "a missing spool is exit 111 with a hint to run init" {
	run --separate-stderr hs -s "$T/nowhere" list
	[ "$status" -eq 111 ]
	[[ "$stderr" == *"cannot open spool $T/nowhere"*"hyperspool init"* ]]
	[ ! -e "$T/nowhere" ]
}

@test "-s wins over HYPERSPOOL_SPOOL, which wins over the config" {
	hs -s "$T/other" init >/dev/null 2>&1
	mine=$(put in-config)
	other=$(SP=$T/other put in-other)
	# HYPERSPOOL_SPOOL=$T/spool (hs_setup), config spool = $T/spool
	run hs -s "$T/other" list --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[].id')" = "$other" ]
	HYPERSPOOL_SPOOL=$T/other run hs list --json
	[ "$(echo "$output" | jq -r '.[].id')" = "$other" ]
	HYPERSPOOL_SPOOL=$T/nowhere run hs -s "$T/other" list --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[].id')" = "$other" ]
	unset HYPERSPOOL_SPOOL
	run hs list --json
	[ "$(echo "$output" | jq -r '.[].id')" = "$mine" ]
}

@test "vms and check-provider name the providers that can be asked" {
	run hs vms --provider file --credential x
	[ "$status" -eq 1 ]
	[[ $output == *"provider 'file' has no inventory to ask; these can be: aws, vsphere"* ]]
	run hs check-provider --provider nosuch --credential x
	[ "$status" -eq 1 ]
	[[ $output == *"provider 'nosuch' is unknown; these can be: aws, vsphere"* ]]
}
