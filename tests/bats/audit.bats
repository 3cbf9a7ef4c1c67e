#!/usr/bin/env bats
# audit: one line per submit, cancel, retry and schedule change, saying
# who (common/audit.c): in the spool's audit/NODE.log and in the journal
# with HS_AUDIT=1. No journald runs here, so the journal test plays its
# socket as journal.bats does: a private mount namespace with a tmpfs on
# /run and socat receiving on the socket path (only the socket is a
# stand-in; the CLI is the real one).

load helpers

setup() {
	hs_setup
	EVE=
}

teardown() {
	[ -n "$EVE" ] && drop_submitters
	hs_teardown
}

LOG() { cat "$SP/audit/$(hostname -s).log"; }

good() { printf '{"name":"%s","source":{"type":"file","path":"%s/src/%s.ova"}}' "$1" "$T" "$1"; }

@test "submit (the dropping uid), cancel, retry and schedule changes are audited with who did them; names are escaped" {
	submitters
	chmod 0755 "$T/src"
	good a1 >"$T/a1.json"
	chmod 0644 "$T/a1.json"
	as_user "$EVE" sh -c "cat '$T/a1.json' >'$SP/incoming/eve-job'"
	good a2 >"$SP/incoming/$(printf 'root\njob')"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	eid=$(grep -l '"a1"' "$SP"/request/*); eid=$(basename "$eid")
	rid=$(grep -l '"a2"' "$SP"/request/*); rid=$(basename "$rid")
	LOG
	LOG | grep -q "queued\[[0-9]*\] uid $(id -u "$EVE") submit $eid from incoming/eve-job$"
	LOG | grep -qF " uid 0 submit $rid from incoming/\"root\\njob\""
	[ "$(LOG | wc -l)" -eq 2 ]
	"$HS" -c "$T/conf" cancel "$rid"
	"$HS" -c "$T/conf" schedule add --tz UTC nightly '0 2 * * *' "$T/a1.json"
	"$HS" -c "$T/conf" schedule disable nightly
	"$HS" -c "$T/conf" schedule remove nightly
	LOG | grep -q "hyperspool\[[0-9]*\] uid 0 cancel $rid from request/$"
	LOG | grep -q "hyperspool\[[0-9]*\] uid 0 schedule.add nightly cron '0 2 \* \* \*' tz UTC$"
	LOG | grep -q "uid 0 schedule.disable nightly$"
	LOG | grep -q "uid 0 schedule.remove nightly$"
	# no line without a who, an action and an object
	! LOG | awk 'NF < 6' | grep .
	# the submitters may read the trail, not write it
	run as_user "$EVE" sh -c "echo forged >>'$SP/audit/$(hostname -s).log'"
	[ "$status" -ne 0 ]
	! LOG | grep -q forged
}

@test "a retry is audited" {
	good r1 >"$SP/incoming/r1"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	id=$(ls "$SP/request")
	# fail it as exportd would, then retry it
	mkdir -p "$SP/data/$id"
	echo "2026-01-01T00:00:00Z exporting exportd@x[1]" >>"$SP/data/$id/history"
	echo "no such file" >"$SP/data/$id/reason"
	echo "2026-01-01T00:00:01Z error exportd@x[1]" >>"$SP/data/$id/history"
	mv "$SP/request/$id" "$SP/error/$id"
	"$HS" -c "$T/conf" retry "$id"
	LOG | grep -q "hyperspool\[[0-9]*\] uid 0 retry $id back in request/$"
}

@test "audit lines reach the journal with HS_AUDIT=1 and who, what, which" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a private mount namespace"
	good j1 >"$SP/incoming/j1"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	id=$(ls "$SP/request")
	cat >"$T/inner.sh" <<EOF2
set -e
mount -t tmpfs none /run
mkdir -p /run/systemd/journal
socat -u UNIX-RECV:/run/systemd/journal/socket OPEN:$T/journal,creat,append &
for i in \$(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
$HS -c $T/conf cancel $id
sleep 0.2
kill \$!
EOF2
	unshare -m sh "$T/inner.sh"
	cat "$T/journal"
	grep -qx "HS_AUDIT=1" "$T/journal"
	grep -qx "HS_WHO=uid 0" "$T/journal"
	grep -qx "HS_ACTION=cancel" "$T/journal"
	grep -qx "HS_OBJECT=$id" "$T/journal"
	grep -qx "MESSAGE=uid 0 cancel $id from request/" "$T/journal"
	grep -qx "SYSLOG_IDENTIFIER=hyperspool" "$T/journal"
}
