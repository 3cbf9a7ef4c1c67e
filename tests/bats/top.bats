#!/usr/bin/env bats
# hyperspool top (issue 20): the live view driven in a real terminal - a
# detached tmux session (Debian's tmux) of the size each test asks for,
# keys sent with send-keys, the screen read with capture-pane and polled
# with a deadline (never a fixed sleep). Real daemons, a real nginx.

bats_require_minimum_version 1.5.0
load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch

setup() {
	command -v tmux >/dev/null || skip "tmux missing (contrib/packages.txt)"
	hs_setup
	mkdir -p "$T/out"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	NTOP=0
}

teardown() {
	local s
	for s in "$T"/tmux*.sock; do
		[ -S "$s" ] && tmux -S "$s" kill-server 2>/dev/null
	done
	drop_submitters
	hs_teardown
}

hs() { "$HS" -c "$T/conf" "$@"; }

# top_start COLS ROWS [USER]: hyperspool top in a tmux session of that
# size (as USER when given), on a server of its own ($TS)
top_start() {
	local who=()
	TS=$T/tmux$((++NTOP)).sock
	[ -z "${3:-}" ] || who=(setpriv --reuid="$3" --regid="$(id -g "$3")" --init-groups --)
	tmux -S "$TS" -f /dev/null new-session -d -s top -x "$1" -y "$2" \
	    "${who[@]}" "$HS" -c "$T/conf" top
	wait_for 10 on_screen '^daemons '
}

screen() { tmux -S "$TS" capture-pane -p -t top; }

# on_screen REGEX: some line of the screen matches (extended regex)
on_screen() { screen | grep -qE -- "$1"; }

keys() { tmux -S "$TS" send-keys -t top "$@"; }

# see REGEX [SECONDS]: wait until the screen shows it, else print the
# screen and fail
see() {
	wait_for "${2:-20}" on_screen "$1" || { echo "not on screen: $1"; screen; false; }
}

# submit NAME SOURCE-JSON [USER|CONVERT-JSON]: its ID (queued must run)
submit() {
	local job
	job=$(printf '{"name":"%s","source":%s}' "$1" "$2")
	case ${3:-} in
	"{"*) job=${job%\}},\"convert\":$3} ;;
	esac
	if [ -n "${3:-}" ] && [ "${3:0:1}" != "{" ]; then
		as_user "$3" "$HS" -c "$T/conf" submit - <<<"$job"
	else
		hs submit - <<<"$job"
	fi
}

@test "a job submitted while top runs appears and moves through its stages, with a progress bar; Enter shows its history and log" {
	mkdir -p "$T/www"
	head -c 160000000 /dev/urandom >"$T/www/disk.raw"
	start_nginx "$T/www" "limit_rate 4m;"
	start_daemon "$QUEUED"
	start_daemon "$EXPORTD"
	start_daemon "$CONVERTWATCH"
	top_start 200 50
	see '^daemons .*exportd@[^ ]+ alive'
	see '^\(no unfinished jobs\)'
	id=$(submit movie01 "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/disk.raw\",\"format\":\"raw\"}" \
	    '{"format":"qcow2","compress":true}')
	# 160 MB over 4 segments of 4 MB/s: some 10 s of export (its total
	# from the server's size: a bar and a percent), then a compressed
	# conversion of random data, a few seconds with a bar and a percent
	see "^$id movie01 +exporting +\\[#*-*\\] +[0-9]+% +[0-9.]+[KM]/s"
	see '^stages .*exporting 1'
	# Enter: the job in detail, kept current while it is shown
	keys Enter
	see "^$id  movie01  exporting/"
	see '^progress  exporting \[#*-*\] [0-9]+% [0-9.]+ MiB/152.6 MiB [0-9.]+ MiB/s'
	first=$(screen | grep '^progress')
	wait_for 20 eval '[ "$(screen | grep "^progress")" != "$first" ]' ||
	    { echo "detail not updated: $first"; screen; false; }
	keys q
	see "^$id movie01 +converting +\\[#*-*\\] +[0-9]+% +[0-9.]+[KM]/s" 60
	see '^stages .*exporting 0 .*converting 1'
	# no importd: the job ends its journey waiting in converted/
	see "^$id movie01 +converted .*waiting" 60
	see '^stages .*exporting 0 .*converted 1'
	keys Enter
	see "^$id  movie01  converted/"
	see '^history'
	see " exporting exportd@"
	see " converted convertwatch@"
	see '^log'
	see '^  [0-9T:-]+Z? (exportd|convertwatch)\[[0-9]+\]: '
	keys q
	see "^$id movie01 +converted"
	keys q
	wait_for 10 eval '! tmux -S "$TS" has-session -t top 2>/dev/null'
}

@test "cancel from top (c, then y) cancels a waiting job, as hyperspool cancel does" {
	start_daemon "$QUEUED"
	id=$(submit victim01 "{\"type\":\"file\",\"path\":\"$T/src/none.raw\",\"format\":\"raw\"}")
	top_start 120 30
	see "^victim01 +request .*waiting"
	keys c
	see "^cancel victim01 \\($id\\)\\? y/n"
	keys n
	see '^not cancelled'
	[ -f "$SP/request/$id" ]
	keys c
	see "^cancel victim01"
	keys y
	see "^$id: cancelled"
	[ -f "$SP/error/$id" ]
	[ "$(cat "$SP/data/$id/reason")" = "cancelled by $(id -un) (uid $(id -u))" ]
	see "^victim01 +[0-9:]+ cancelled by $(id -un)"
	see '^totals .*cancelled 1'
	# r on the failure: hyperspool retry puts it back where it failed
	keys r
	see "^$id: back in request/"
	see "^victim01 +request .*waiting"
	[ -f "$SP/request/$id" ]
	see '^totals .*cancelled 0'
}

@test "where the daemons poll (watch.mode = poll), top polls too and still follows the spool" {
	printf 'watch = { mode = "poll"; poll_interval = 0.3; };\n' >>"$T/conf"
	start_daemon "$QUEUED"
	top_start 120 30
	see '^hyperspool top - .*\(polling\)$'
	id=$(submit polled "{\"type\":\"file\",\"path\":\"$T/src/p.raw\",\"format\":\"raw\"}")
	see "^polled +request .*waiting"
	mv "$SP/request/$id" "$SP/exported/$id"
	see "^polled +exported .*waiting"
	see '^stages .*request 0  exporting 0  exported 1'
}

# The CLI's refusal for USER cancelling ID: its stderr, as one line
cli_refusal() {
	as_user "$1" "$HS" -c "$T/conf" cancel "$2" 2>&1 >/dev/null | tail -n 1
}

@test "cancel from top as a submitter: another's job is refused with the CLI's own reason, their own is cancelled (by queued)" {
	submitters
	start_daemon "$QUEUED"
	id=$(submit vicjob "{\"type\":\"file\",\"path\":\"$T/src/none.raw\",\"format\":\"raw\"}" "$VIC")
	[ -f "$SP/request/$id" ]
	want=$(cli_refusal "$EVE" "$id")
	echo "CLI as $EVE: $want"
	[[ $want == *"$id: not your job"* ]]
	[ -f "$SP/request/$id" ]
	top_start 120 30 "$EVE"
	see "^vicjob +request"
	keys c
	see "^cancel vicjob"
	keys y
	# the status line is the CLI's message (cut at the width)
	wait_for 20 eval 'screen | grep -qF -- "${want:0:119}"' ||
	    { screen; false; }
	[ -f "$SP/request/$id" ]
	[ ! -e "$SP/error/$id" ]
	tmux -S "$TS" kill-server
	# VIC's own job: queued cancels it for her
	top_start 120 30 "$VIC"
	see "^vicjob +request"
	keys c
	see "^cancel vicjob"
	keys y
	see "^$id: cancelled"
	[ -f "$SP/error/$id" ]
	[ "$(cat "$SP/data/$id/reason")" = "cancelled by $VIC (uid $(id -u "$VIC"))" ]
}

@test "200 and 80 columns both render; the ID column only where it fits; a resize redraws; / filters by name" {
	start_daemon "$QUEUED"
	a=$(submit alpha-web "{\"type\":\"file\",\"path\":\"$T/src/a.raw\",\"format\":\"raw\"}")
	b=$(submit beta-db "{\"type\":\"file\",\"path\":\"$T/src/b.raw\",\"format\":\"raw\"}")
	top_start 200 40
	see "^$a alpha-web +request .*waiting"
	see "^JOB +NAME +STAGE +PROGRESS +RATE +ETA +STATE"
	see '^stages +incoming [0-9]+  intake 0  request 2  exporting 0  exported 0  converting 0  converted 0  importing 0$'
	tmux -S "$TS" kill-server
	top_start 80 24
	see "^alpha-web +request .*waiting"
	see "^beta-db +request .*waiting"
	see "^NAME +STAGE +PROGRESS"
	# the header wraps within 80 columns
	see '^stages +incoming [0-9]+  intake 0  request 2'
	see '^ +converted 0  importing 0$'
	[ "$(screen | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 80 ]
	# wider: the same session redraws with IDs (SIGWINCH)
	tmux -S "$TS" resize-window -t top -x 200 -y 40
	see "^$b beta-db +request"
	keys /
	see '^filter'
	keys b e t a Enter
	see "^$b beta-db +request"
	run ! on_screen "alpha-web"
	see '^hyperspool top .* filter: beta'
}

@test "without a terminal top refuses, saying how to get one frame" {
	run --separate-stderr hs top </dev/null
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	[[ "$stderr" == *"not a terminal"*"hyperspool top --once"* ]]
	run --separate-stderr hs top --width 10 --once
	[ "$status" -eq 64 ]
}

@test "top --once prints one frame: daemons, stages, totals, waiting, retrying and failed jobs with reasons" {
	# a long retry delay: the refused download waits in request/
	sed -i 's/^retry = .*/retry = { delay = 300; delay_max = 300; max_attempts = 5; };/' "$T/conf"
	start_daemon "$QUEUED"
	w=$(submit waiter "{\"type\":\"file\",\"path\":\"$T/src/w.raw\",\"format\":\"raw\"}")
	r=$(submit refused "{\"type\":\"http\",\"url\":\"http://127.0.0.1:9/vm.raw\",\"format\":\"raw\"}")
	run -1 --separate-stderr hs submit - <<<'{"name":"outside","source":{"type":"file","path":"/etc/passwd"}}'
	f=$output
	# exportd only for the refused one: it retries, the waiter waits
	mv "$SP/request/$w" "$T/held"
	start_daemon "$EXPORTD"
	wait_for 20 test -f "$SP/data/$r/retry"
	wait_for 10 test -f "$SP/request/$r"
	kill "$LASTPID"
	mv "$T/held" "$SP/request/$w"
	run --separate-stderr hs top --once --width 200
	[ "$status" -eq 0 ]
	echo "$output"
	[[ "${lines[0]}" == "hyperspool top - $SP - "* ]]
	[[ "${lines[1]}" =~ ^daemons\ +queued@[^\ ]+\ alive\ [0-9]+s\ busy\ 0/[0-9]+\ .*exportd ]]
	[[ "${lines[2]}" =~ ^stages\ .*request\ 2 ]]
	[[ "${lines[3]}" =~ ^totals\ +imported\ 0\ +failed\ 1\ +cancelled\ 0\ +in\ progress\ 0\ +waiting\ 2\ +retrying\ 1$ ]]
	grep -qE "^$w waiter +request .*waiting$" <<<"$output"
	grep -qE "^$r refused +request .*retry 1 at [0-9]{2}:[0-9]{2}:[0-9]{2}: .*(refused|connect)" <<<"$output"
	grep -qx "recent failures" <<<"$output"
	grep -qE "^$f outside +[0-9:]+ rejected: source.path: '/etc/passwd' is outside source_roots$" <<<"$output"
	# what a reason or a log line holds never acts on the terminal (the
	# writers escape them; top escapes again whatever it is given)
	printf 'failed: \033]0;owned\007\033[2J here\n' >"$SP/data/$f/reason"
	run hs top --once --width 200
	[ "$status" -eq 0 ]
	grep -qF 'failed: \x1b]0;owned\x07\x1b[2J here' <<<"$output"
	[ "$(printf '%s' "$output" | tr -d -c '\000-\010\013-\037\177' | wc -c)" -eq 0 ]
	# 80 columns: no IDs, nothing wider
	run hs top --once --width 80
	[ "$status" -eq 0 ]
	grep -qE "^waiter +request" <<<"$output"
	[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' <<<"$output")" -le 80 ]
}
