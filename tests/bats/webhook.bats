#!/usr/bin/env bats
# webhook: hookd sends the spool's events to a receiver (tests/hooks/
# receiver.py, python3's http.server on loopback) from its outbox in the
# spool, signed with HMAC-SHA256 (checked by tests/hooks/verify.py).

load helpers

HOOKD=$HS_BINDIR/hookd
SECRET=hook-s3cret-value-42

setup() {
	hs_setup
	mkdir -m 0700 "$T/creds"
	printf 'secret = %s\n' "$SECRET" >"$T/creds/hook1"
	chmod 0600 "$T/creds/hook1"
	RPID=
}

teardown() {
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
	drop_submitters
	hs_teardown
}

# receiver PORT [STATUS]: start receiver.py (PORT 0: any; answering
# STATUS, default 200), $PORT set when it listens
receiver() {
	rm -f "$T/port"
	python3 "$BATS_TEST_DIRNAME/../hooks/receiver.py" "$T/received" "$1" "$T/port" ${2:-} &
	RPID=$!
	wait_for 10 test -s "$T/port"
	PORT=$(cat "$T/port")
}

stop_receiver() {
	kill "$RPID"
	wait "$RPID" 2>/dev/null || true
	RPID=
}

good() { printf '{"name":"%s","source":{"type":"file","path":"%s/src/%s.ova"}}' "$1" "$T" "$1"; }

@test "a receiver down for a while then up gets every event exactly once, signed; a restart of hookd loses and repeats nothing" {
	# a free port, then nobody listening on it
	receiver 0
	stop_receiver
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
finished_max_age = 0;
hookd = {
	webhooks = { ops = "http://127.0.0.1:$PORT/hook"; };
	secrets = { ops = "hook1"; };
	poll_interval = 0.2;
	retry_delay = 0.2;
	retry_delay_max = 0.5;
};
CONF
	start_daemon "$HOOKD"
	HPID=$LASTPID
	wait_for 10 grep -q "started" "$T/hookd.log"
	# events: a job accepted then cancelled, a job rejected, a schedule's run
	good ok1 >"$SP/incoming/ok1"
	echo '{"name":"bad"}' >"$SP/incoming/bad1"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	ok=$(grep -l '"ok1"' "$SP"/request/*)
	"$HS" -c "$T/conf" cancel "$(basename "$ok")"
	good vm1 >"$T/job.json"
	"$HS" -c "$T/conf" schedule add --tz UTC hourly '0 * * * *' "$T/job.json"
	touch -d "2026-12-31 23:59:00 UTC" "$SP/schedules/hourly"
	NO_FAKE_STAT=1 FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "@2027-01-01 00:00:30" \
	    "$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_in request)" -eq 1 ]
	# 8 events: ok1 submitted, stage request, cancelled; bad1 submitted,
	# failed; the tick fired; its run submitted, stage request
	wait_for 20 sh -c "[ \$(ls '$SP/hooks/outbox' | wc -l) -eq 8 ]"
	wait_for 20 grep -q "Connection refused\|Couldn't connect" "$T/hookd.log"
	# hookd restarts while the receiver is down: the outbox is kept
	kill "$HPID"
	wait "$HPID" || true
	start_daemon "$HOOKD"
	sleep 1
	[ "$(ls "$SP/hooks/outbox" | wc -l)" -eq 8 ]
	[ ! -e "$T/received" ]
	# the receiver comes up: everything arrives, once
	receiver "$PORT"
	wait_for 30 sh -c "[ \$(ls '$SP/hooks/outbox' | wc -l) -eq 0 ]"
	[ "$(ls "$SP/hooks/sent" | wc -l)" -eq 8 ]
	run python3 "$BATS_TEST_DIRNAME/../hooks/verify.py" "$T/received" "$SECRET"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | wc -l)" -eq 8 ]
	[ "$(echo "$output" | awk '{ print $1 }' | sort | uniq -c | awk '{ print $2 "=" $1 }' | tr '\n' ' ')" = \
	  "job.cancelled=1 job.failed=1 job.stage=2 job.submitted=3 schedule.fired=1 " ]
	# a forged signature would not pass: the check is real
	run python3 "$BATS_TEST_DIRNAME/../hooks/verify.py" "$T/received" "not-the-secret"
	[ "$status" -eq 1 ]
	# the bodies say what happened, with no secret in them
	jq -r .body "$T/received" | jq -s -e 'map(select(.type == "job.cancelled"))[0].job.reason | startswith("cancelled by root")'
	jq -r .body "$T/received" | jq -s -e 'map(select(.type == "schedule.fired"))[0].schedule.name == "hourly"'
	jq -r .body "$T/received" | jq -s -e 'map(select(.type == "job.stage" and .job.name == "vm1"))[0].job.schedule == "hourly"'
	# a later restart sends nothing again
	kill "$LASTPID"
	wait "$LASTPID" || true
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ "$(wc -l <"$T/received")" -eq 8 ]
}

@test "hookd.events limits a webhook to the events it names; a webhook without a secret is sent unsigned; bad config exits 100" {
	receiver 0
	cat >>"$T/conf" <<CONF
hookd = {
	webhooks = { failures = "http://127.0.0.1:$PORT/f"; };
	events = { failures = "job.failed job.cancelled"; };
};
CONF
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"	# first start: baseline
	good ok1 >"$SP/incoming/ok1"
	echo '{"name":"bad"}' >"$SP/incoming/bad1"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ "$(wc -l <"$T/received")" -eq 1 ]
	jq -e '.headers["X-Hyperspool-Event"] == "job.failed" and (.headers["X-Hyperspool-Signature"] == null)' "$T/received"
	# configuration errors: exit 100
	printf 'spool = "%s";\nhookd = { webhooks = { x = "ftp://h/"; }; };\n' "$SP" >"$T/bad.conf"
	run "$HOOKD" -c "$T/bad.conf" --once
	[ "$status" -eq 100 ]
	printf 'spool = "%s";\ncredentials_dir = "%s/creds";\nhookd = { webhooks = { x = "http://h/"; }; secrets = { x = "nosuch"; }; };\n' "$SP" "$T" >"$T/bad.conf"
	run "$HOOKD" -c "$T/bad.conf" --once
	[ "$status" -eq 100 ]
}

# hookconf MAX_AGE: webhook ops (signed, a token in its query string) on
# $PORT, webhook quiet (unsigned, job.failed only), receiver down
hookconf() {
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
hookd = {
	webhooks = { ops = "http://127.0.0.1:$PORT/hook?token=qs-tok-77";
	    quiet = "http://127.0.0.1:$PORT/quiet"; };
	secrets = { ops = "hook1"; };
	events = { quiet = "job.failed"; };
	max_age = $1;
};
CONF
}

@test "webhook list counts per webhook; a receiver down -> failed/ -> webhook retry + receiver up: delivered once, signed; webhook test arrives signed" {
	receiver 0
	stop_receiver
	hookconf 60
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"	# first start: baseline
	good ok1 >"$SP/incoming/ok1"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"	# 2 events, receiver down
	run "$HS" -c "$T/conf" webhook test ops
	[ "$status" -eq 0 ]
	[[ $output == hooks/outbox/test.*.ops ]]
	[ -f "$SP/$output" ]
	run "$HS" -c "$T/conf" webhook list
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output != *"$SECRET"* && $output != *qs-tok-77* ]]
	"$HS" -c "$T/conf" webhook list --json | jq -e '
	    (.[] | select(.name == "ops")) as $o | (.[] | select(.name == "quiet")) as $q |
	    $o.waiting == 3 and $o.sent == 0 and $o.failed == 0 and $o.signed == true and
	    $o.url == "http://127.0.0.1:'"$PORT"'/hook" and $o.oldest_waiting_s >= 0 and
	    $q.waiting == 0 and $q.signed == false and $q.events == "job.failed"'
	# the deliveries outlive hookd.max_age undelivered: failed/
	touch -d '-2 minutes' "$SP"/hooks/outbox/*
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ "$(ls "$SP/hooks/failed" | wc -l)" -eq 3 ]
	"$HS" -c "$T/conf" webhook list --json | jq -e '.[] | select(.name == "ops") | .waiting == 0 and .failed == 3 and .oldest_waiting_s == null'
	"$HS" -c "$T/conf" webhook failed --json ops | jq -e '
	    length == 3 and ([.[].type] | sort) == ["job.stage", "job.submitted", "webhook.test"] and
	    ([.[] | select(.type == "job.submitted")][0].job | test("^[0-9]{8}T"))'
	"$HS" -c "$T/conf" webhook failed quiet | awk 'NR > 1' | grep -c . | grep -qx 0
	# back into the outbox, the receiver up: each arrives once, signed
	receiver "$PORT"
	run "$HS" -c "$T/conf" webhook retry ops
	[ "$status" -eq 0 ]
	[ "$output" = "3 failed deliveries put back into the outbox" ]
	grep -q 'webhook.retry ops' "$SP"/audit/*.log
	grep -q 'webhook.test ops' "$SP"/audit/*.log
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ "$(ls "$SP/hooks/sent" | wc -l)" -eq 3 ]
	[ "$(ls "$SP/hooks/failed" | wc -l)" -eq 0 ]
	run python3 "$BATS_TEST_DIRNAME/../hooks/verify.py" "$T/received" "$SECRET"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | awk '{ print $1 }' | sort | tr '\n' ' ')" = "job.stage job.submitted webhook.test " ]
	jq -e 'select(.headers["X-Hyperspool-Event"] == "webhook.test") | .headers["X-Hyperspool-Signature"] | startswith("sha256=")' "$T/received"
	"$HS" -c "$T/conf" webhook list --json | jq -e '.[] | select(.name == "ops") | .sent == 3 and .failed == 0 and .waiting == 0'
	# usage errors and unknown webhooks
	run "$HS" -c "$T/conf" webhook retry
	[ "$status" -eq 64 ]
	run "$HS" -c "$T/conf" webhook test nosuch
	[ "$status" -eq 1 ]
}

@test "webhook as an unprivileged user: retry and test refused, list works and shows no secret" {
	receiver 0
	stop_receiver
	submitters
	hookconf 60
	chmod 0644 "$T/conf"
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	"$HS" -c "$T/conf" webhook test ops >/dev/null
	touch -d '-2 minutes' "$SP"/hooks/outbox/*
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ "$(ls "$SP/hooks/failed" | wc -l)" -eq 1 ]
	run as_user "$EVE" "$HS" -c "$T/conf" webhook retry ops
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"ermission denied"* ]]
	run as_user "$EVE" "$HS" -c "$T/conf" webhook retry --all
	[ "$status" -ne 0 ]
	run as_user "$EVE" "$HS" -c "$T/conf" webhook test ops
	[ "$status" -ne 0 ]
	[ "$(ls "$SP/hooks/failed" | wc -l)" -eq 1 ]
	[ "$(ls "$SP/hooks/outbox" | wc -l)" -eq 0 ]
	! grep -q "webhook.retry" "$SP"/audit/*.log
	run as_user "$EVE" "$HS" -c "$T/conf" webhook list
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *ops* && $output == *quiet* ]]
	[[ $output != *"$SECRET"* && $output != *qs-tok-77* && $output != *hook1* ]]
	as_user "$EVE" "$HS" -c "$T/conf" webhook list --json | jq -e '.[] | select(.name == "ops") | .signed == true and .failed == null'
}

@test "webhook list without webhooks says none is configured and where; --json is []" {
	run "$HS" -c "$T/conf" webhook list
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "no webhook is configured: hookd.webhooks in $T/conf names none (see hookd(8))" ]
	run "$HS" -c "$T/conf" webhook list --json
	[ "$status" -eq 0 ]
	[ "$(jq -c . <<<"$output")" = "[]" ]
	# an empty hookd.webhooks says the same
	echo 'hookd = { webhooks = { }; };' >>"$T/conf"
	run "$HS" -c "$T/conf" webhook list
	[[ $output == "no webhook is configured: hookd.webhooks in $T/conf"* ]]
}

@test "a failed delivery says why: its attempts and last error, counted across hookd restarts, in webhook failed; gone once sent" {
	receiver 0 503
	hookconf 60
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"	# first start: baseline
	"$HS" -c "$T/conf" webhook test ops >/dev/null
	f=$(ls "$SP/hooks/outbox")
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"	# the receiver says 503
	[ "$(wc -l <"$T/received")" -eq 1 ]
	cat "$SP/hooks/state/$f"
	jq -e '.attempts == 1 and .last_error == "HTTP 503" and (.last_attempt | test("^[0-9]{4}-.*Z$")) and .next_attempt >= .last_attempt' "$SP/hooks/state/$f"
	# a new hookd tries at once and counts on from the record
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ "$(wc -l <"$T/received")" -eq 2 ]
	jq -e '.attempts == 2 and .last_error == "HTTP 503"' "$SP/hooks/state/$f"
	stop_receiver	# now nobody listens
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	jq -e '.attempts == 3 and .last_error == "Couldn'"'"'t connect to server"' "$SP/hooks/state/$f"
	# no URL (its query holds a token) and no secret in the record
	! grep -qF -e qs-tok-77 -e "$SECRET" -e 127.0.0.1 "$SP/hooks/state/$f"
	# past hookd.max_age: failed/, and webhook failed says why
	touch -d '-2 minutes' "$SP/hooks/outbox/$f"
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ -f "$SP/hooks/failed/$f" ] && [ -f "$SP/hooks/state/$f" ]
	run "$HS" -c "$T/conf" webhook failed ops
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[2]} =~ ^\ +3\ attempt\(s\),\ the\ last\ at\ [0-9T:-]+Z:\ Couldn\'t\ connect\ to\ server$ ]]
	"$HS" -c "$T/conf" webhook failed --json ops | jq -e --arg f "$f" '
	    length == 1 and .[0].delivery == $f and .[0].attempts == 3 and
	    .[0].last_error == "Couldn'"'"'t connect to server" and (.[0].last_attempt | endswith("Z"))'
	# retried with the receiver up: sent, the record gone
	receiver "$PORT"
	"$HS" -c "$T/conf" webhook retry ops >/dev/null
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ -f "$SP/hooks/sent/$f" ]
	[ ! -e "$SP/hooks/state/$f" ]
	# a record of a delivery that is nowhere any more is collected
	echo '{"attempts":1,"last_error":"x"}' >"$SP/hooks/state/gone.1.ops"
	"$HOOKD" -c "$T/conf" --once 2>>"$T/hookd.log"
	[ ! -e "$SP/hooks/state/gone.1.ops" ]
}
