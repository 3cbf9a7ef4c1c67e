#!/usr/bin/env bats
# control: cancel and retry for those who may not move jobs themselves, the
# Postfix way: a request file in control/, taken and answered by queued
# (common/control.c; spool-layout.md "Control requests"). Every request is
# made as an unprivileged member of a throwaway submitters' group ($VIC,
# $EVE); the daemons run as root, as in the demo. Real queued, exportd,
# nginx (a slowed http source) and hyperspool.

bats_require_minimum_version 1.5.0
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

# submit_as USER NAME [CONTENT]: a job of USER's taken in by the running
# queued; its ID on stdout once it waits in request/
submit_as() {
	local id
	user_drop "$1" "$2" "${3:-$(good "$2")}"
	wait_for 10 job_from "$2" >/dev/null || { cat "$T/queued.log" >&2; return 1; }
	id=$(job_from "$2")
	wait_for 10 test -e "$SP/request/$id" || { cat "$T/queued.log" >&2; return 1; }
	echo "$id"
}

in_stage() { [ -e "$SP/$1/$2" ]; }

start_queued() {
	start_daemon "$QUEUED"
	wait_for 5 test -e "$SP/run/queued@$(hostname -s)"
}

# reply_of USER NAME: wait for queued's answer to control/NAME; print it as
# USER sees it
reply_of() {
	wait_for 10 test -e "$SP/control/$2.reply" || return 1
	as_user "$1" cat "$SP/control/$2.reply"
}

@test "a submitter cancels and retries her own waiting job: queued does it for her" {
	start_queued
	id=$(submit_as "$VIC" mine)
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" cancel "$id"
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: cancelled" ]
	in_stage error "$id"
	[ "$(cat "$SP/data/$id/reason")" = "cancelled by $VIC (uid $(id -u "$VIC"))" ]
	grep -q " error .*cancelled by $VIC (uid $(id -u "$VIC"))" "$SP/data/$id/history"
	grep -q "queued\[[0-9]*\] uid $(id -u "$VIC") ($VIC) cancel $id from request/$" "$SP"/audit/*.log
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" retry "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: back in request/" ]
	in_stage request "$id"
	tail -n 1 "$SP/data/$id/history" | grep -q " request .*retried by $VIC"
	grep -q "uid $(id -u "$VIC") ($VIC) retry $id back in request/$" "$SP"/audit/*.log
	# the requests are gone; the replies are queued's, group-readable
	[ -z "$(find "$SP/control" -mindepth 1 ! -name '*.reply')" ]
	[ "$(find "$SP/control" -name '*.reply' -user 0 -perm 0640 | wc -l)" -eq 2 ]
	# a refusal of the job's own state is passed on with its exit code
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" retry "$id"
	[ "$status" -eq 1 ]
	[[ $stderr == *"$id: not failed (it is in request/)"* ]]
}

@test "a submitter cancels her own job in progress (a slowed http export)" {
	mkdir -p "$T/www"
	head -c 40000000 /dev/urandom >"$T/www/big.raw"
	start_nginx "$T/www" "limit_rate 2m;"
	start_queued
	id=$(submit_as "$VIC" slow "{\"name\":\"slow\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/big.raw\",\"format\":\"raw\"}}")
	start_daemon "$EXPORTD"
	wait_for 20 eval 'ls "$SP/data/$id/" | grep -q "\.part$"'
	in_stage exporting "$id"
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" cancel "$id"
	echo "$output / $stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: cancel requested" ]
	# 40 MB at 2 MB/s would take 20 s: exportd carries the cancel out
	wait_for 10 test -f "$SP/error/$id"
	grep -q " exporting .*cancel requested by $VIC (uid $(id -u "$VIC"))$" "$SP/data/$id/history"
	grep -q "cancelled" "$SP/data/$id/reason"
	[ -z "$(find "$SP/data/$id" -name '*.part*')" ]
	# and she retries it
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" retry "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: back in request/" ]
}

@test "a submitter cannot cancel or retry another's job: refused, the job unharmed" {
	start_queued
	id=$(submit_as "$VIC" victim)
	run --separate-stderr as_user "$EVE" "$HS" -c "$T/conf" cancel "$id"
	echo "$output / $stderr"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == *"$id: not your job (submitted by another user)"* ]]
	in_stage request "$id"
	[ ! -e "$SP/data/$id/cancel" ]
	grep -q "control/cancel\.$id\..*from uid $(id -u "$EVE") ($EVE): refused: not your job" "$T/queued.log"
	"$HS" -c "$T/conf" cancel "$id"
	run --separate-stderr as_user "$EVE" "$HS" -c "$T/conf" retry "$id"
	[ "$status" -eq 1 ]
	[[ $stderr == *"not your job"* ]]
	in_stage error "$id"
	# an origin EVE wrote herself (a reject keeps her text) says nothing
	user_drop "$EVE" forged "{\"name\":\"forged\",\"origin\":{\"uid\":$(id -u "$EVE")},\"source\":{\"type\":\"file\",\"path\":\"$T/src/f.ova\"}}"
	wait_for 10 job_from forged
	fid=$(job_from forged)
	wait_for 10 in_stage error "$fid"
	[ "$(stat -c %u "$SP/error/$fid")" = "$(id -u "$EVE")" ]
	run --separate-stderr as_user "$EVE" "$HS" -c "$T/conf" retry "$fid"
	[ "$status" -eq 1 ]
	[[ $stderr == *"cannot tell whose job it is"* ]]
}

@test "a user in queued.control_users may cancel and retry any job" {
	printf 'queued = { control_users = [ "%s" ]; };\n' "$EVE" >>"$T/conf"
	start_queued
	id=$(submit_as "$VIC" anyjob)
	run --separate-stderr as_user "$EVE" "$HS" -c "$T/conf" cancel "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: cancelled" ]
	[ "$(cat "$SP/data/$id/reason")" = "cancelled by $EVE (uid $(id -u "$EVE"))" ]
	run --separate-stderr as_user "$EVE" "$HS" -c "$T/conf" retry "$id"
	[ "$status" -eq 0 ]
	in_stage request "$id"
}

@test "a symlink, FIFO, hard link or two-line file in control/ is refused, never followed" {
	start_queued
	id=$(submit_as "$VIC" target)
	# VIC's own words, which queued would obey if it followed the link
	mkdir "$T/vic" && chown "$VIC" "$T/vic"
	as_user "$VIC" sh -c 'printf "cancel %s\n" "$1" >"$2/vic-req"' sh "$id" "$T/vic"
	as_user "$EVE" ln -s "$T/vic/vic-req" "$SP/control/sym"
	[[ $(reply_of "$EVE" sym) == "refused: a symbolic link" ]]
	as_user "$EVE" mkfifo "$SP/control/fifo"
	[[ $(reply_of "$EVE" fifo) == "refused: a FIFO" ]]
	as_user "$EVE" sh -c 'printf "cancel %s\n" "$1" >"$2/.mine" && ln "$2/.mine" "$2/hard"' sh "$id" "$SP/control"
	[[ $(reply_of "$EVE" hard) == "refused: a file with hard links; drop a file of your own" ]]
	as_user "$EVE" sh -c 'printf "retry %s\ncancel %s\n" "$1" "$1" >"$2/.two" && mv "$2/.two" "$2/two"' sh "$id" "$SP/control"
	[[ $(reply_of "$EVE" two) == "refused: more than one line"* ]]
	# none was read as VIC's, nothing left behind, queued still answers
	in_stage request "$id"
	[ ! -e "$SP/data/$id/cancel" ]
	for n in sym fifo hard two; do [ ! -e "$SP/control/$n" ] && [ ! -L "$SP/control/$n" ]; done
	[ -f "$T/vic/vic-req" ]
	kill -0 "$LASTPID"
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" cancel "$id"
	[ "$status" -eq 0 ]
}

@test "without queued running the CLI says so within its timeout and withdraws the request" {
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log" || true
	user_drop "$VIC" alone "$(good alone)"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	id=$(job_from alone)
	run --separate-stderr timeout 30 setpriv --reuid="$VIC" --regid="$(id -g "$VIC")" --init-groups -- "$HS" -c "$T/conf" cancel "$id"
	echo "$stderr"
	[ "$status" -eq 111 ]
	[[ $stderr == *"no answer from queued within 10 s: is queued running?"* ]]
	[ -z "$(find "$SP/control" -mindepth 1)" ]
	in_stage request "$id"
}

@test "a spool older than control/ gets a message naming hyperspool init" {
	user_drop "$VIC" old "$(good old)"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	id=$(job_from old)
	rmdir "$SP/control"
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" cancel "$id"
	[ "$status" -eq 111 ]
	[[ $stderr == *"has no control/ directory"*"hyperspool init"* ]]
	in_stage request "$id"
	"$HS" -c "$T/conf" init --group "$SUBGROUP" >/dev/null
	[ "$(stat -c %a "$SP/control")" = 3730 ]
}

@test "a flood of requests costs its sender's intake budget: the rest wait in control/, another's request is answered" {
	printf 'queued = { rate_per_uid = 0.001; burst_per_uid = 3; };\n' >>"$T/conf"
	start_queued
	id=$(submit_as "$VIC" budget)
	for i in 1 2 3 4 5 6; do
		as_user "$EVE" sh -c 'printf "cancel %s\n" "$1" >"$2/.f" && mv "$2/.f" "$2/flood$3"' \
		    sh "$id" "$SP/control" "$i"
	done
	wait_for 10 grep -q "uid $(id -u "$EVE") is over its intake budget .*wait in control/" "$T/queued.log"
	# three answered (refused: not hers), three left waiting, untouched
	[ "$(find "$SP/control" -name 'flood*.reply' | wc -l)" -eq 3 ]
	[ "$(find "$SP/control" -name 'flood*' ! -name '*.reply' | wc -l)" -eq 3 ]
	run --separate-stderr as_user "$VIC" "$HS" -c "$T/conf" cancel "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id: cancelled" ]
}
