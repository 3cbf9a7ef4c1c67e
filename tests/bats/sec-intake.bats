#!/usr/bin/env bats
# sec-intake: what an unprivileged submitter can do to intake and to the
# people who read the spool (issue 21, findings 7 and 8). Every attack is
# made as $EVE, a throwaway member of a throwaway submitters' group; the
# daemons run as root, as in the demo. Real queued, exportd and hyperspool.

load helpers

EXPORTD=$HS_BINDIR/exportd

setup() {
	hs_setup
	submitters
}

teardown() {
	drop_submitters
	hs_teardown
}

in_stage() { [ -e "$SP/$1/$2" ]; }

# no_controls FILE...: no control character but tab and newline in them
no_controls() {
	if LC_ALL=C grep -naP '[\x00-\x08\x0b-\x1f\x7f]' "$@"; then
		echo "control characters above, in: $*"
		return 1
	fi
}

# Finding 7. EVE floods incoming/ with 3000 one-byte files (each one a
# reject: a fork, fsyncs, error/ and data/ entries); then VIC submits one
# good job. VIC's job must be taken while most of EVE's flood still waits
# in incoming/, not after it has been worked through. Before the fix
# queued took them in arrival order: VIC's job reached request/ only after
# all 3000 were rejected (none left in incoming/). No timing is asserted:
# the order is.
@test "a flood from one submitter waits in incoming/ while another's job goes first" {
	cat >>"$T/conf" <<'CONF'
queued = { rate_per_uid = 60; burst_per_uid = 20; };
watch = { rescan_interval = 600; };
CONF
	start_daemon "$QUEUED"
	wait_for 5 test -e "$SP/run/queued@$(hostname -s)"
	as_user "$EVE" sh -c 'cd "$1" && i=0; while [ $i -lt 3000 ]; do
		printf x >"f$i"; i=$((i + 1)); done' sh "$SP/incoming"
	user_drop "$VIC" vic-job "$(good vic)"
	wait_for 120 eval 'id=$(job_from vic-job) && in_stage request "$id"'
	left=$(find "$SP/incoming" -name 'f*' | wc -l)
	echo "# EVE's files still in incoming/ when VIC's job was in request/: $left" >&3
	[ "$left" -ge 2500 ]
	[ "$(stat -c %U "$SP/incoming/f2999")" = "$EVE" ]
	# the operator is told, not once per file
	n=$(grep -c "uid $(id -u "$EVE") is over its intake budget" "$T/queued.log")
	[ "$n" -ge 1 ] && [ "$n" -lt 100 ]
	# and what EVE had in budget was taken (and rejected) as usual
	wait_for 30 eval '[ "$(count_in error)" -ge 20 ]'

}

# Finding 7. Rejects (never jobs) are cut to reject_keep bytes and go after
# reject_max_age with their data/ID/; a job that failed in a later stage
# (exportd: its source does not exist) stays. Before the fix the whole
# submission stayed in error/ and only finished_max_age (30 days) removed
# anything.
@test "rejects are kept small and collected after reject_max_age; later failures stay" {
	cat >>"$T/conf" <<'CONF'
queued = { reject_max_age = 0.01; reject_keep = 100; };
CONF
	head -c 100000 /dev/zero | tr '\0' x >"$T/big"
	user_drop "$EVE" junk "$(cat "$T/big")"
	user_drop "$EVE" late "$(good late)"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	junk=$(job_from junk) late=$(job_from late)
	in_stage error "$junk"
	[ "$(stat -c %s "$SP/error/$junk")" -eq 100 ]
	[ "$(stat -c %U "$SP/error/$junk")" != "$EVE" ]
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	in_stage error "$late"
	grep -q " exporting " "$SP/data/$late/history"
	sleep 1.1	# both in error/ for longer than reject_max_age
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	! in_stage error "$junk"
	[ ! -e "$SP/data/$junk" ]
	in_stage error "$late"
	[ -f "$SP/data/$late/reason" ]
	grep -q "removed 1 rejected submission" "$T/queued.log"
}

# Finding 8. A file name carrying "(uid 0)", newlines and a line that looks
# like a later move, and a job whose rejected fields and name carry escape
# sequences. Before the fix the name went raw into data/ID/history (three
# lines where queued wrote one, the fake one included) and the sequences
# reached the terminal raw through show, wait, logs, list and stderr.
@test "names and fields a submitter chose cannot forge history nor reach a terminal raw" {
	fake=$'x (uid 0)\n2026-12-06T10:00:00Z imported importd@node[1] approved by root\ny'
	esc=$'e\e]0;owned\a\e[2J\e[31m'
	user_drop "$EVE" "$fake" "$(good forged)"
	user_drop "$EVE" "$esc" "$(printf '{"name":"\\u001b[2Jvm\\u0007","\\u001b[1mx":1,"source":{"type":"file","path":"%s/src/a.ova"}}' "$T")"
	start_daemon "$QUEUED"
	wait_for 10 eval '[ "$(count_in request)" -eq 1 ] && [ "$(count_in error)" -eq 1 ]'
	kill "$LASTPID"
	wait "$LASTPID" || true
	forged=$(basename "$(ls "$SP"/request/*)") bad=$(basename "$(ls "$SP"/error/*)")

	# history: exactly the lines real moves wrote, the name one quoted word
	[ "$(wc -l <"$SP/data/$forged/history")" -eq 2 ]	# intake, request
	grep -qF ' from incoming/"x (uid 0)\n2026-12-06T10:00:00Z imported importd@node[1] approved by root\ny" (uid '"$(id -u "$EVE")"')' \
	    "$SP/data/$forged/history"
	! grep -q '^2026-12-06T10:00:00Z imported' "$SP/data/$forged/history"
	[ "$(wc -l <"$SP/data/$bad/history")" -eq 2 ]	# intake, error
	grep -qF ' from incoming/"e\x1b]0;owned\x07\x1b[2J\x1b[31m" (uid ' "$SP/data/$bad/history"

	# every reader: files in data/, the CLI, daemon stderr
	for id in "$forged" "$bad"; do
		"$HS" -c "$T/conf" show "$id" >"$T/show.$id" 2>&1
		"$HS" -c "$T/conf" show --json "$id" >"$T/json.$id" 2>&1
		jq -e .history "$T/json.$id" >/dev/null
		"$HS" -c "$T/conf" logs "$id" >"$T/logs.$id" 2>&1
	done
	run "$HS" -c "$T/conf" wait "$bad"
	[ "$status" -eq 1 ]
	printf '%s\n' "$output" >"$T/wait.out"
	"$HS" -c "$T/conf" list >"$T/list.out" 2>&1
	"$HS" -c "$T/conf" list --json >"$T/list.json" 2>&1
	no_controls "$SP/data/$forged/history" "$SP/data/$bad/history" \
	    "$SP/data/$bad/reason" "$SP/data/$forged/log" "$SP/data/$bad/log" \
	    "$T"/show.* "$T"/json.* "$T"/logs.* "$T/wait.out" "$T/list.out" \
	    "$T/list.json" "$T/queued.log"
	# still readable: the escapes say what was there
	grep -qF '\x1b[2Jvm\x07' "$T/wait.out"
	grep -qF 'history' "$T/show.$forged"
	[ "$(grep -c '^  20' "$T/show.$forged")" -eq 2 ]
}

# Finding 8. A file left in incoming/ with control characters in its name
# (not yet taken: over budget) is listed escaped as well.
@test "list shows a waiting incoming/ name escaped" {
	echo 'queued = { rate_per_uid = 1; burst_per_uid = 1; };' >>"$T/conf"
	user_drop "$EVE" first "$(good first)"
	user_drop "$EVE" $'w\e[2Jait' "$(good second)"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_in incoming)" -eq 1 ]
	"$HS" -c "$T/conf" list >"$T/list.out" 2>&1
	grep -qF 'w\x1b[2Jait' "$T/list.out"
	no_controls "$T/list.out" "$T/queued.log"
}

# A vSphere job's VM name, inventory path and snapshot name are text for
# the SOAP requests and every reader of the spool: like hyperv's, they
# may hold no control character. Before, only CR, LF and TAB were
# refused: BEL, ESC and DEL passed intake into request/.
@test "vsphere source.vm, vm_path and snapshot with control characters are refused at intake" {
	vs() { printf '{"name":"%s","source":{"type":"vsphere","server":"vc.example","credential":"lab",%s}}' "$1" "$2"; }
	user_drop "$EVE" bel "$(vs bel '"vm":"web\u0007"')"
	user_drop "$EVE" esc "$(vs esc '"vm":"\u001b[2Jweb"')"
	user_drop "$EVE" del "$(vs del '"vm":"web\u007f"')"
	user_drop "$EVE" path "$(vs path '"vm_path":"/DC/vm/\u001b]0;x\u0007web"')"
	user_drop "$EVE" snap "$(vs snap '"vm":"web","snapshot":"before\u001b[31m"')"
	# quotes, ';', $(...) and non-ASCII are names like any other
	user_drop "$EVE" fine "$(vs fine '"vm":"web \"01\"; $(id) Ω","snapshot":"pré-migration"')"
	start_daemon "$QUEUED"
	wait_for 10 eval '[ "$(count_in request)" -eq 1 ] && [ "$(count_in error)" -eq 5 ]'
	for n in bel esc del; do
		[ "$(reason_of "$n")" = "rejected: source.vm: must be a VM name (UTF-8, no control characters)" ]
	done
	[[ "$(reason_of path)" == "rejected: source.vm_path: must be an inventory path like "*"(no control characters)" ]]
	[ "$(reason_of snap)" = "rejected: source.snapshot: must be a snapshot name (UTF-8, no control characters)" ]
	id=$(job_from fine)
	[ "$(jq -r .source.vm "$SP/request/$id")" = 'web "01"; $(id) Ω' ]
	no_controls "$T/queued.log" "$SP"/data/*/reason
}

# OpenStack's server name is text for Nova's queries and every reader of
# the spool: no control character (only CR, LF and TAB were refused).
@test "openstack source.vm with control characters is refused at intake" {
	os() { printf '{"name":"%s","source":{"type":"openstack","credential":"lab",%s}}' "$1" "$2"; }
	user_drop "$EVE" bel "$(os bel '"vm":"web\u0007"')"
	user_drop "$EVE" esc "$(os esc '"vm":"\u001b[2Jweb"')"
	user_drop "$EVE" del "$(os del '"vm":"web\u007f"')"
	user_drop "$EVE" fine "$(os fine '"vm":"web \"01\"; $(id) Ω"')"
	start_daemon "$QUEUED"
	wait_for 10 eval '[ "$(count_in request)" -eq 1 ] && [ "$(count_in error)" -eq 3 ]'
	for n in bel esc del; do
		[ "$(reason_of "$n")" = "rejected: source.vm: must be a server name (UTF-8, no control characters)" ]
	done
	id=$(job_from fine)
	[ "$(jq -r .source.vm "$SP/request/$id")" = 'web "01"; $(id) Ω' ]
	no_controls "$T/queued.log" "$SP"/data/*/reason
}

@test "a submitter may cancel and retry their own job (queued does it), not another's" {
	start_daemon "$HS_BINDIR/queued"
	user_drop "$VIC" mine "$(good mine)"
	wait_for 10 job_from mine
	id=$(job_from mine)
	wait_for 10 in_stage request "$id"
	run as_user "$EVE" "$HS" -c "$T/conf" cancel "$id"
	[ "$status" -eq 1 ]
	[[ $output == *"$id: not your job (submitted by another user)"* ]]
	in_stage request "$id"
	run as_user "$VIC" "$HS" -c "$T/conf" cancel "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: cancelled" ]
	in_stage error "$id"
	run as_user "$EVE" "$HS" -c "$T/conf" retry "$id"
	[ "$status" -eq 1 ]
	[[ $output == *"not your job"* ]]
	in_stage error "$id"
	run as_user "$VIC" "$HS" -c "$T/conf" retry "$id"
	[ "$status" -eq 0 ]
	in_stage request "$id"
}
