#!/usr/bin/env bats
# Fairness between submitters (issue 21, finding 6): one submitter cannot
# occupy every worker of a stage daemon. Jobs are submitted by throwaway
# unprivileged users through the real queued, which records origin.uid;
# the stage daemon is stagetest, the real skeleton (common/daemon.c) with
# scripted work (slow-*: 3 s).

load helpers

STAGETEST=$HS_TESTDIR/stagetest

setup() {
	hs_setup
	submitters
	: >"$T/src/x"
	chmod 0644 "$T/src/x"
}

teardown() {
	drop_submitters
	hs_teardown
}

# submit_as USER NAME: submit a job named NAME as USER, print its ID
submit_as() {
	printf '{"name":"%s","source":{"type":"file","path":"%s"}}\n' "$2" "$T/src/x" |
	    as_user "$1" "$HS" -c "$T/conf" submit --timeout 60 -
}

# of_uid DIR UID: how many jobs of that submitter are in DIR/
of_uid() {
	local f n=0
	for f in "$SP/$1"/*; do
		[ "$(jq -r .origin.uid "$f" 2>/dev/null)" = "$2" ] && n=$((n + 1))
	done
	echo "$n"
}
waiting_of() { of_uid request "$1"; }
running_of() { of_uid exporting "$1"; }

@test "workers_per_submitter: one submitter's slow jobs leave a worker for another's" {
	echo 'workers_per_submitter = 1;' >>"$T/conf"
	start_daemon "$QUEUED"
	eve=()
	for i in 1 2 3 4; do
		eve+=("$(submit_as "$EVE" "slow-eve-$i")")
	done
	vic=$(submit_as "$VIC" slow-vic-1)
	[ "$(count_in request)" -eq 5 ]
	# EVE's jobs are older: without the cap they would take both workers
	# and VIC's would wait for all of them
	start_daemon "$STAGETEST" --workers 2
	wait_for 30 test ! -f "$SP/request/$vic"
	# VIC's job was claimed while EVE's still wait, not failed
	[ "$(waiting_of "$(id -u "$EVE")")" -ge 2 ]
	# EVE never holds both workers while her jobs run one after the other
	max=0
	deadline=$(($(date +%s) + 60))
	until has_n exported 5; do
		n=$(running_of "$(id -u "$EVE")")
		[ "$n" -le "$max" ] || max=$n
		[ "$(date +%s)" -lt "$deadline" ] || { cat "$T"/*.log; false; }
		sleep 0.1
	done
	[ "$max" -eq 1 ]
	[ "$(count_in error)" -eq 0 ]
	for id in "${eve[@]}" "$vic"; do
		[ "$(grep -c ' exporting stagetest@' "$SP/data/$id/history")" -eq 1 ]
	done
}

@test "workers_per_submitter = 0: no cap, one submitter may take every worker" {
	echo 'workers_per_submitter = 0;' >>"$T/conf"
	start_daemon "$QUEUED"
	for i in 1 2; do
		submit_as "$EVE" "slow-eve-$i" >/dev/null
	done
	start_daemon "$STAGETEST" --workers 2
	# both of EVE's jobs run at once
	wait_for 10 has_n exporting 2
	wait_for 30 has_n exported 2
}
