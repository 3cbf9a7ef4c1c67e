#!/usr/bin/env bats
# schedule: jobs fired by cron expressions (common/schedule.c, queued).
#
# The clock is libfaketime's (Debian `faketime`, a real component): each
# step runs `queued --once` at a time the test sets, in 2027, after the
# schedule files were written (their mtime, the start of catch-up, is real
# time: NO_FAKE_STAT keeps stat() honest; the monotonic clock is left
# alone). queued fires what is due at start, then takes the runs it
# dropped into incoming/ like any submission and stops.

load helpers

setup() {
	command -v faketime >/dev/null || { echo "faketime is missing (contrib/packages.txt)"; false; }
	hs_setup
	# faked 2027 dates must not make the collections and lease checks
	# think jobs, owner records or another host's temp files (real
	# mtimes) are old
	cat >>"$T/conf" <<CONF
finished_max_age = 0;
tmp_max_age = 1000000000;
lease = 1000000000;
queued = { reject_max_age = 0; };
CONF
	printf '{"name":"vm1","source":{"type":"file","path":"%s/src/vm1.ova"}}\n' "$T" >"$T/job.json"
	MOUNTS=()
}

teardown() {
	local m
	for m in "${MOUNTS[@]}"; do
		fusermount -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	[ -n "${EVE:-}" ] && drop_submitters
	hs_teardown
}

# at "YYYY-MM-DD HH:MM:SS" [CONF]: queued --once at that UTC time
at() {
	NO_FAKE_STAT=1 FAKETIME_DONT_FAKE_MONOTONIC=1 TZ=UTC \
	    faketime -f "@$1" "$QUEUED" -c "${2:-$T/conf}" --once 2>>"$T/queued.log"
}

# runs NAME: the jobs in request/ fired by schedule NAME
runs() {
	local f n=0
	for f in "$SP"/request/*; do
		[ -e "$f" ] || continue
		[ "$(jq -r '.origin.schedule // ""' "$f")" = "$1" ] && n=$((n + 1))
	done
	echo "$n"
}

# ticks NAME: the ticks fired, one per line (origin.tick of its jobs)
ticks() {
	local f
	for f in "$SP"/request/*; do
		[ -e "$f" ] || continue
		jq -r --arg s "$1" 'select(.origin.schedule == $s) | .origin.tick' "$f"
	done | sort
}

@test "schedule add/list/disable/enable/remove, and a bad schedule is refused with a reason" {
	run "$HS" -c "$T/conf" schedule add --tz Europe/Berlin --catchup none nightly '30 2 * * *' "$T/job.json"
	[ "$status" -eq 0 ]
	run "$HS" -c "$T/conf" schedule add nightly '30 2 * * *' "$T/job.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"a schedule of that name exists"* ]]
	run "$HS" -c "$T/conf" schedule add bad '61 * * * *' "$T/job.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad minute field"* ]]
	run "$HS" -c "$T/conf" schedule add bad '@daily' "$T/job.json" --tz Mars/Olympus
	[ "$status" -eq 1 ]
	[[ "$output" == *"no such time zone"* ]]
	run "$HS" -c "$T/conf" schedule add bad '@daily' "$T/job.json" --catchup some
	[ "$status" -eq 1 ]
	[ ! -e "$SP/schedules/bad" ]
	run "$HS" -c "$T/conf" schedule list --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].name + " " + .[0].cron + " " + .[0].tz + " " + .[0].catchup + " " + .[0].overlap' <<<"$output")" = \
	  "nightly 30 2 * * * Europe/Berlin none skip" ]
	[ "$(jq -r '.[0].enabled' <<<"$output")" = true ]
	[ "$(jq -r '.[0].next_tick' <<<"$output")" != null ]
	"$HS" -c "$T/conf" schedule disable nightly
	[ "$("$HS" -c "$T/conf" schedule list --json | jq -r '.[0].enabled')" = false ]
	"$HS" -c "$T/conf" schedule list | grep -q '^nightly .*disabled'
	"$HS" -c "$T/conf" schedule enable nightly
	[ "$("$HS" -c "$T/conf" schedule list --json | jq -r '.[0].enabled')" = true ]
	"$HS" -c "$T/conf" schedule remove nightly
	[ "$("$HS" -c "$T/conf" schedule list --json | jq length)" -eq 0 ]
	run "$HS" -c "$T/conf" schedule remove nightly
	[ "$status" -eq 1 ]
}

@test "one job per tick, origin names the schedule; a restart does not fire a tick again; DST in Europe/Berlin" {
	"$HS" -c "$T/conf" schedule add --tz Europe/Berlin --catchup none nightly '30 2 * * *' "$T/job.json"
	# the ticks since the file was written are long past: missed, no job
	at "2027-03-27 12:00:00"
	[ "$(runs nightly)" -eq 0 ]
	grep -q "schedule nightly: .* tick(s) missed while queued was not running (catchup none)" "$T/queued.log"
	# 2027-03-28: the clock jumps from 02:00 CET to 03:00 CEST (01:00Z);
	# 02:30 does not exist that night and fires at the jump
	at "2027-03-28 00:59:00"
	[ "$(runs nightly)" -eq 0 ]
	at "2027-03-28 01:00:30"
	[ "$(runs nightly)" -eq 1 ]
	[ "$(ticks nightly)" = "2027-03-28T01:00:00Z" ]
	# restarts within the grace time: the tick is claimed, no second job
	at "2027-03-28 01:00:40"
	at "2027-03-28 01:01:30"
	[ "$(runs nightly)" -eq 1 ]
	# the job went through queued like any submission
	id=$(ls "$SP/request")
	jq -e '.origin.schedule == "nightly" and .origin.uid == 0 and .name == "vm1"' "$SP/request/$id"
	head -1 "$SP/data/$id/history" | grep -q "from incoming/sched-nightly-"
	mv "$SP/request/$id" "$SP/imported/$id"
	# 2027-10-31: 03:00 CEST falls back to 02:00 CET (01:00Z); 02:30 comes
	# twice and fires on its first pass only (00:30Z)
	at "2027-10-31 00:30:10"
	at "2027-10-31 01:30:10"
	at "2027-10-31 01:31:00"
	[ "$(ticks nightly)" = "2027-10-31T00:30:00Z" ]
}

@test "catchup none, last and all after queued was down for five ticks" {
	for c in none last all; do
		"$HS" -c "$T/conf" schedule add --tz UTC --catchup $c --overlap queue hourly-$c '0 * * * *' "$T/job.json"
		# written on new year's eve: catch-up starts at a file's mtime
		touch -d "2026-12-31 23:59:00 UTC" "$SP/schedules/hourly-$c"
	done
	at "2027-01-01 00:00:30"
	for c in none last all; do [ "$(runs hourly-$c)" -eq 1 ]; done
	# down from 00:00:30 to 05:10: ticks 01:00 to 05:00 missed
	at "2027-01-01 05:10:00"
	[ "$(runs hourly-none)" -eq 1 ]
	[ "$(runs hourly-last)" -eq 2 ]
	[ "$(ticks hourly-last | tail -1)" = "2027-01-01T05:00:00Z" ]
	[ "$(runs hourly-all)" -eq 6 ]
	[ "$(ticks hourly-all | tr '\n' ' ')" = "2027-01-01T00:00:00Z 2027-01-01T01:00:00Z 2027-01-01T02:00:00Z 2027-01-01T03:00:00Z 2027-01-01T04:00:00Z 2027-01-01T05:00:00Z " ]
	# and a second start at the same time changes nothing
	at "2027-01-01 05:10:00"
	[ "$(runs hourly-all)" -eq 6 ]
	[ "$(runs hourly-last)" -eq 2 ]
	# none: back on time, it fires again
	at "2027-01-01 06:00:30"
	[ "$(runs hourly-none)" -eq 2 ]
}

@test "overlap skip skips a tick while the last run is in progress; queue does not" {
	"$HS" -c "$T/conf" schedule add --tz UTC hourly-skip '0 * * * *' "$T/job.json"
	"$HS" -c "$T/conf" schedule add --tz UTC --overlap queue hourly-queue '0 * * * *' "$T/job.json"
	at "2027-01-01 00:00:30"
	at "2027-01-01 01:00:30"
	[ "$(runs hourly-skip)" -eq 1 ]
	[ "$(runs hourly-queue)" -eq 2 ]
	grep -q "schedule hourly-skip: tick 2027-01-01T01:00:00Z skipped: its run .* is still in progress (overlap skip)" "$T/queued.log"
	grep -q '^skipped ' "$SP/ticks/hourly-skip/$(date -d 2027-01-01T01:00:00Z +%s)"
	# the run finishes: the next tick fires
	for f in "$SP"/request/*; do
		[ "$(jq -r .origin.schedule "$f")" = hourly-skip ] && mv "$f" "$SP/imported/"
	done
	at "2027-01-01 02:00:30"
	[ "$(runs hourly-skip)" -eq 1 ]
	[ "$(ls "$SP/imported" | wc -l)" -eq 1 ]
}

@test "disabled schedules do not fire; trigger drops one run now, named for the schedule" {
	"$HS" -c "$T/conf" schedule add --tz UTC --disabled hourly '0 * * * *' "$T/job.json"
	at "2027-01-01 00:00:30"
	[ "$(runs hourly)" -eq 0 ]
	run "$HS" -c "$T/conf" schedule trigger hourly
	[ "$status" -eq 0 ]
	[[ "$output" == incoming/sched-hourly-manual-* ]]
	at "2027-01-01 00:00:40"
	[ "$(runs hourly)" -eq 1 ]
	[ "$(ticks hourly)" = manual ]
	run "$HS" -c "$T/conf" schedule trigger nosuch
	[ "$status" -eq 1 ]
}

@test "the job template goes through queued's validation: a bad one is refused by add and rejected at each tick" {
	printf '{"name":"vm1","source":{"type":"file","path":"/etc/shadow"}}\n' >"$T/bad.json"
	# schedule add refuses it at once...
	run "$HS" -c "$T/conf" schedule add --tz UTC hourly '0 * * * *' "$T/bad.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not added: the job"* ]]
	[ ! -e "$SP/schedules/hourly" ]
	# ...and one written by hand is rejected by queued at each tick
	printf '{"cron": "0 * * * *", "tz": "UTC", "job": %s}\n' "$(cat "$T/bad.json")" >"$SP/schedules/hourly"
	at "2027-01-01 00:00:30"
	[ "$(count_in request)" -eq 0 ]
	[ "$(count_in error)" -eq 1 ]
	id=$(ls "$SP/error")
	grep -q "rejected" "$SP/data/$id/reason"
}

@test "two hosts sharing the spool over bindfs race the same ticks: one job per tick" {
	command -v bindfs >/dev/null || { echo "bindfs is missing (contrib/packages.txt)"; false; }
	[ -c /dev/fuse ] || { echo "/dev/fuse is missing: FUSE cannot run here"; false; }
	"$HS" -c "$T/conf" schedule add --tz UTC --overlap queue hourly '0 * * * *' "$T/job.json"
	for h in a b; do
		mkdir "$T/$h"
		bindfs --no-allow-other "$SP" "$T/$h"
		MOUNTS+=("$T/$h")
		sed -e "s|^spool = .*|spool = \"$T/$h\";|" "$T/conf" >"$T/$h.conf"
		echo "node = \"$h\";" >>"$T/$h.conf"
	done
	for hour in 00 01 02 03 04 05 06 07; do
		at "2027-01-01 $hour:00:05" "$T/a.conf" & pa=$!
		at "2027-01-01 $hour:00:05" "$T/b.conf" & pb=$!
		wait $pa $pb
	done
	[ "$(runs hourly)" -eq 8 ]
	[ "$(ticks hourly | sort -u | wc -l)" -eq 8 ]
	# each tick claimed once; both hosts fired some (a real race), or the
	# log says the other host had it
	[ "$(ls "$SP/ticks/hourly" | wc -l)" -eq 8 ]
	cat "$SP"/ticks/hourly/* | awk '{ print $2 }' | sort | uniq -c >&3 || true
}

@test "schedules are the operator's: a submitter cannot add one, and one a submitter could write is refused" {
	submitters
	chmod 0755 "$T"
	chmod 0644 "$T/job.json"
	run as_user "$EVE" "$HS" -c "$T/conf" schedule add evil '* * * * *' "$T/job.json"
	[ "$status" -ne 0 ]
	[[ "$output" == *"ermission denied"* ]]
	[ ! -e "$SP/schedules/evil" ]
	run as_user "$EVE" sh -c "echo x >'$SP/schedules/evil'"
	[ "$status" -ne 0 ]
	"$HS" -c "$T/conf" schedule add --tz UTC hourly '0 * * * *' "$T/job.json"
	# nor trigger, disable or remove one
	for sub in trigger disable remove; do
		run as_user "$EVE" "$HS" -c "$T/conf" schedule $sub hourly
		[ "$status" -ne 0 ]
		[[ "$output" == *"ermission denied"* ]]
	done
	[ "$(count_in incoming)" -eq 0 ]
	jq -e '.enabled == true' "$SP/schedules/hourly"
	# an operator's slip: the file writable by the submitters' group
	chmod g+w "$SP/schedules/hourly"
	as_user "$EVE" sh -c "sed -i 's/vm1/evil/' '$SP/schedules/hourly'" 2>/dev/null ||
		as_user "$EVE" sh -c "jq '.job.name = \"evil\"' '$SP/schedules/hourly' >/dev/null"
	at "2027-01-01 00:00:30"
	[ "$(runs hourly)" -eq 0 ]
	grep -q "schedule hourly: schedules/hourly is writable by its group (mode 0660): refused" "$T/queued.log"
	run "$HS" -c "$T/conf" schedule list
	[ "$status" -eq 1 ]
	# a file of the submitter's own
	chmod 0640 "$SP/schedules/hourly"
	chown "$EVE" "$SP/schedules/hourly"
	at "2027-01-01 01:00:30"
	[ "$(runs hourly)" -eq 0 ]
	grep -q "schedules/hourly belongs to uid $(id -u "$EVE"), neither root nor the spool's owner: refused" "$T/queued.log"
	# a submitter cannot pass a job off as a schedule's run
	printf '{"name":"x","source":{"type":"file","path":"%s/src/x.ova"},"origin":{"schedule":"hourly","tick":"manual"}}\n' "$T" >"$T/forged.json"
	chmod 0644 "$T/forged.json"
	as_user "$EVE" sh -c "cat '$T/forged.json' >'$SP/incoming/sched-hourly-1-forged'"
	at "2027-01-01 01:00:40"
	[ "$(runs hourly)" -eq 0 ]
	id=$(ls "$SP/error")
	grep -q "origin: set by hyperspool" "$SP/data/$id/reason"
}

@test "schedules in hyperspool.conf: fired like the spool's, listed, changed only there, refused when others may write them" {
	mkdir -m 0755 "$T/etc"
	printf '{"cron": "0 * * * *", "tz": "UTC", "job": %s}\n' "$(cat "$T/job.json")" >"$T/etc/hourly.json"
	chmod 0644 "$T/etc/hourly.json"
	echo "schedules = { from-conf = \"$T/etc/hourly.json\"; };" >>"$T/conf"
	touch -d "2026-12-31 23:59:00 UTC" "$T/etc/hourly.json"
	at "2027-01-01 00:00:30"
	[ "$(runs from-conf)" -eq 1 ]
	run "$HS" -c "$T/conf" schedule list --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].name + " " + .[0].defined_in' <<<"$output")" = "from-conf hyperspool.conf" ]
	run "$HS" -c "$T/conf" schedule disable from-conf
	[ "$status" -eq 1 ]
	[[ "$output" == *"defined in hyperspool.conf"* ]]
	run "$HS" -c "$T/conf" schedule remove from-conf
	[ "$status" -eq 1 ]
	run "$HS" -c "$T/conf" schedule trigger from-conf
	[ "$status" -eq 0 ]
	# writable by others: refused
	chmod 0666 "$T/etc/hourly.json"
	at "2027-01-01 01:00:30"
	[ "$(runs from-conf)" -eq 2 ]	# the triggered run only
	grep -q "schedule from-conf: $T/etc/hourly.json (schedules.from-conf) is writable by anybody (mode 0666): refused" "$T/queued.log"
}
