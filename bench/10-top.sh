#!/bin/bash
# 10-top.sh - benchmark 10: hyperspool top on a spool of 10,000 jobs.
#
# The spool: N jobs accepted by queued (make_requests), then spread as a
# busy spool looks: 40 % imported, 10 % failed (a reason each, one in
# five of them cancelled), the other half waiting in request/ - 5,000
# rows for top to draw.
#
# a) `hyperspool top --once --width 200` (reads the whole spool, draws
#    one frame): wall time, median of 3; beside it `hyperspool list`, the
#    CLI's other reading of every job, on the same spool.
# b) the cost of one update: top running in a tmux terminal (200x50) on
#    that spool; M jobs moved request/ -> exported/, one rename at a time
#    (a process each, as daemons move jobs), each one on the screen
#    ("exported K") before the next is made; top's own CPU time
#    (/proc/PID/stat) over those moves divided by M. Each move is two
#    inotify events and at least one redraw of its own.
# Targets: --once <= 1 s; <= 5 ms CPU per update.
. "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || { echo "bench: tmux missing" >&2; exit 2; }
N=$(quick 1000 10000)
M=$(quick 50 500)
bench_setup
: >"$T/disk.raw"
cp "$T/disk.raw" "$T/src/disk.raw"
bench_log "top: $N jobs through queued"
make_requests "$T/conf" "$N" "$T/src/disk.raw" "$SP/hold"
i=0
for f in "$SP"/hold/*; do
	id=${f##*/}
	if ((i % 10 < 4)); then
		mv "$f" "$SP/imported/"
	elif ((i % 10 == 4)); then
		if ((i % 50 == 4)); then
			echo "cancelled by bench (uid 0)" >"$SP/data/$id/reason"
		else
			echo "failed: bench failure number $i" >"$SP/data/$id/reason"
		fi
		mv "$f" "$SP/error/"
	else
		mv "$f" "$SP/request/"
	fi
	i=$((i + 1))
done
rmdir "$SP/hold"
bench_log "top: $(count_dir "$SP/request") waiting, $(count_dir "$SP/imported") imported, $(count_dir "$SP/error") failed"

# time_ms CMD...: wall time of CMD (stdout discarded), in ms
time_ms() {
	local t0
	t0=$(date +%s%N)
	"$@" >/dev/null
	echo $((($(date +%s%N) - t0) / 1000000))
}

: >"$T/once.ms"
: >"$T/list.ms"
for ((r = 0; r < 3; r++)); do
	time_ms "$HS" -c "$T/conf" top --once --width 200 >>"$T/once.ms"
	time_ms "$HS" -c "$T/conf" list >>"$T/list.ms"
done
frame=$("$HS" -c "$T/conf" top --once --width 200)
grep -q "^totals .*waiting $((N / 2))" <<<"$frame" ||
    { echo "bench: top --once does not show $((N / 2)) waiting" >&2; head -n 5 <<<"$frame" >&2; exit 1; }
once=$(median <"$T/once.ms")
list=$(median <"$T/list.ms")
row 10a "top --once on $N jobs ($((N / 2)) rows), wall ms (median of 3)" \
    "$once ms" "$list ms (hyperspool list)" "$(ratio "$once" "$list")" \
    "<= 1000 ms" "$(verdict "$once <= 1000")"

TS=$T/tmux.sock
tmux -S "$TS" -f /dev/null new-session -d -s top -x 200 -y 50 \
    "$HS" -c "$T/conf" top
screen_has() { tmux -S "$TS" capture-pane -p -t top | grep -qE -- "$1"; }
wait_for 60 screen_has "^totals .*waiting $((N / 2))" ||
    { echo "bench: top did not start" >&2; exit 1; }
pid=$(tmux -S "$TS" display-message -p -t top '#{pane_pid}')
[ "$(cat "/proc/$pid/comm")" = hyperspool ] || { echo "bench: pane is not top" >&2; exit 1; }
before=$(cpu_ms "$pid")
t0=$(now_ms)
k=0
for id in $(ls "$SP/request" | head -n "$M"); do
	mv "$SP/request/$id" "$SP/exported/$id"
	k=$((k + 1))
	# on screen before the next move: every move is an update of its own
	wait_for 60 screen_has "^stages .* exported $k " ||
	    { echo "bench: top never showed exported $k" >&2; tmux -S "$TS" capture-pane -p -t top >&2; exit 1; }
done
wall=$(($(now_ms) - t0))
after=$(cpu_ms "$pid")
tmux -S "$TS" kill-server
per=$(calc "($after - $before) / $M")
bench_log "top: $M moves in $wall ms wall, $((after - before)) ms of top's CPU"
row 10b "top, one update on a spool of $N jobs: CPU ms per job moved (of $M, one rename each)" \
    "$per ms" "-" "-" "<= 5 ms" "$(verdict "$per <= 5")"
