#!/usr/bin/env bats
# What an operator sees (issue 15 part 4): histories in pipeline order, the
# retry state in list/status, secrets in rejected job files, progress in
# list, and what cancel leaves behind. Real daemons, real qemu-img.

bats_require_minimum_version 1.5.0
load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch

setup() {
	hs_setup
	mkdir -p "$T/out"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
}
teardown() { hs_teardown; }

hs() { "$HS" -c "$T/conf" "$@"; }

# nowhere PATTERN FILE...: grep finds PATTERN in none of them (a plain
# "! grep" in a test body cannot fail it: bats ignores its status)
nowhere() {
	local p=$1
	shift
	! grep -rqe "$p" -- "$@"
}

# in_order FILE: the stage of every line of history FILE never goes back
# in the pipeline (a run without retries)
in_order() {
	local rank=0 r stage
	while read -r _ stage _; do
		case $stage in
		intake) r=1 ;; request) r=2 ;; exporting) r=3 ;;
		exported) r=4 ;; converting) r=5 ;; converted) r=6 ;;
		importing) r=7 ;; imported) r=8 ;; error) r=9 ;;
		*) echo "unknown stage $stage in $1"; return 1 ;;
		esac
		if [ "$r" -lt "$rank" ]; then
			echo "out of order in $1:"; cat "$1"; return 1
		fi
		rank=$r
	done <"$1"
}

@test "every history lists its stages in pipeline order, several jobs through running daemons" {
	for i in 1 2 3 4 5 6 7 8; do
		qemu-img create -q -f raw "$T/src/d$i.raw" 1M
	done
	start_daemon "$QUEUED"
	start_daemon "$EXPORTD"
	start_daemon "$CONVERTWATCH"
	for i in 1 2 3 4 5 6 7 8; do
		drop "d$i" "{\"name\":\"d$i\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/d$i.raw\",\"format\":\"raw\"}}"
	done
	wait_for 60 has_n converted 8
	for h in "$SP"/data/*/history; do
		in_order "$h"
		grep -q ' exported ' "$h"
		grep -q ' converting ' "$h"
	done
}

@test "a job waiting to retry says so, with its last reason, in list, status and show; not once cancelled" {
	# a long delay: the job waits in request/ for its second attempt
	sed -i 's/^retry = .*/retry = { delay = 300; delay_max = 300; max_attempts = 5; };/' "$T/conf"
	id=$(job refused '{"type":"http","url":"http://127.0.0.1:9/vm.ova"}')
	start_daemon "$EXPORTD"
	wait_for 20 test -f "$SP/data/$id/retry"
	wait_for 10 test -f "$SP/request/$id"
	run --separate-stderr hs list
	[ "$status" -eq 0 ]
	line=$(grep "^$id " <<<"$output")
	echo "$line"
	[[ $line == *" request "*"retrying: attempt 1 failed in exportd ("*"); next in "* ]]
	run --separate-stderr hs list --json
	[ "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .retry.attempts' <<<"$output")" = 1 ]
	reason=$(jq -r --arg id "$id" '.[] | select(.id == $id) | .retry.reason' <<<"$output")
	[ -n "$reason" ] && [ "$reason" != null ]
	grep -qF "$reason" "$SP/data/$id/log"
	run --separate-stderr hs status
	[[ $output == *"retrying"*"$id request/ retrying: attempt 1 failed in exportd ($reason)"* ]]
	run --separate-stderr hs status --json
	[ "$(jq -r '.retrying[0].id' <<<"$output")" = "$id" ]
	run --separate-stderr hs show "$id"
	[[ $output == *"retry     retrying: attempt 1 failed in exportd ($reason)"* ]]
	# cancelled: nothing waits any more, and a download kept for the
	# retry (as a cut one leaves it: NAME.part, NAME.part.state) goes
	printf x >"$SP/data/$id/vm.ova.part"
	printf '{}' >"$SP/data/$id/vm.ova.part.state"
	run --separate-stderr hs cancel "$id"
	[ "$status" -eq 0 ]
	[ -f "$SP/error/$id" ]
	[ ! -e "$SP/data/$id/retry" ]
	[ -z "$(find "$SP/data/$id" -name '*.part*')" ]
	run --separate-stderr hs list
	[[ $output != *retrying* ]]
	run --separate-stderr hs status --json
	[ "$(jq '.retrying | length' <<<"$output")" = 0 ]
}

# reject NAME CONTENT: drop it, run queued once; prints the job's ID
reject() {
	drop "$1" "$2"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

@test "a rejected job file keeps no secret: values redacted, the reason names the key" {
	id=$(reject pw '{"name":"pw","source":{"type":"http","url":"http://h/vm.ova","password":"hunter2","extra":[{"Token":{"v":"s3cr3t-tok"}}]}}')
	[ -f "$SP/error/$id" ]
	grep -q "source.password: secrets are not accepted" "$SP/data/$id/reason"
	nowhere 'hunter2\|s3cr3t-tok' "$SP/error" "$SP/data/$id"
	[ "$(jq -r .source.password "$SP/error/$id")" = "<redacted>" ]
	[ "$(jq -r '.source.extra[0].Token' "$SP/error/$id")" = "<redacted>" ]
	[ "$(jq -r .source.url "$SP/error/$id")" = "http://h/vm.ova" ]	# the rest stays
	[ ! -e "$SP/data/$id/submitted" ]
	# not JSON, mentions a secret key: nothing but its size is kept
	id=$(reject broken '{"name":"b","source":{"password":"hunter2"')
	[ -f "$SP/error/$id" ]
	nowhere hunter2 "$SP/error/$id"
	grep -q "^<not kept: .* bytes that are not JSON and mention password" "$SP/error/$id"
	# the same hidden behind a JSON escape
	id=$(reject esc '{"pass\u0077ord":"hunter2"')
	nowhere hunter2 "$SP/error/$id"
	# not JSON and no secret in sight: kept as it was sent
	id=$(reject typo '{"name": typo}')
	[ "$(cat "$SP/error/$id")" = '{"name": typo}' ]
}

@test "cancel during an http export stops it and removes its .part files" {
	mkdir -p "$T/www"
	head -c 40000000 /dev/urandom >"$T/www/big.raw"
	start_nginx "$T/www" "limit_rate 2m;"
	id=$(job slowdl "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/big.raw\",\"format\":\"raw\"}")
	start_daemon "$EXPORTD"
	wait_for 20 eval 'ls "$SP/data/$id/" | grep -q "\.part$"'
	ls -l "$SP/data/$id/"
	run --separate-stderr hs cancel "$id"
	[ "$status" -eq 0 ]
	# a 40 MB download at 2 MB/s would take 20 s; the cancel is carried out
	wait_for 5 test -f "$SP/error/$id"
	grep -q cancelled "$SP/data/$id/reason"
	ls -la "$SP/data/$id/"
	[ -z "$(find "$SP/data/$id" -name '*.part*')" ]
	[ ! -e "$SP/data/$id/cancel" ]
}

@test "cancel during a conversion stops it and removes the half-written image" {
	head -c 300M /dev/urandom >"$T/src/big.raw"
	id=$(job slowconv "{\"type\":\"file\",\"path\":\"$T/src/big.raw\",\"format\":\"raw\"}")
	"$HS_BINDIR/exportd" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/exported/$id" ] || { cat "$T/exportd.log"; false; }
	# compressed qcow2 of random data: slow enough to be caught half way
	jq '.convert.compress = true' "$SP/exported/$id" >"$T/j" && cat "$T/j" >"$SP/exported/$id"
	start_daemon "$CONVERTWATCH"
	wait_for 30 eval 'ls -a "$T/out/$id/" 2>/dev/null | grep -q "\.part$"'
	run --separate-stderr hs cancel "$id"
	[ "$status" -eq 0 ]
	wait_for 10 test -f "$SP/error/$id"
	grep -q cancelled "$SP/data/$id/reason"
	ls -la "$T/out/$id/"
	[ -z "$(find "$T/out/$id" -name '*.part')" ]
	# the source is untouched
	[ "$(stat -c %s "$T/src/big.raw")" -eq 314572800 ]
}

# total_done ID: the exporting stage's progress.json, "TOTAL DONE"
total_done() {
	jq -r 'select(.stage == "exporting") | "\(.bytes_total) \(.bytes_done)"' \
	    "$SP/data/$1/progress.json"
}

@test "an export knows its total: a file copied (holes and all), an http download, an OVA copied" {
	# 3 MiB of data, a 5 MiB hole, 1 MiB of data: 9 MiB in all
	head -c 3M /dev/urandom >"$T/src/holes.raw"
	truncate -s 8M "$T/src/holes.raw"
	head -c 1M /dev/urandom >>"$T/src/holes.raw"
	size=$(stat -c %s "$T/src/holes.raw")
	copied=$(job copied "{\"type\":\"file\",\"path\":\"$T/src/holes.raw\",\"format\":\"raw\",\"copy\":true}")
	mkdir -p "$T/www"
	cp "$T/src/holes.raw" "$T/www/dl.raw"
	start_nginx "$T/www"
	dl=$(job dl "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/dl.raw\",\"format\":\"raw\"}")
	"$BATS_TEST_DIRNAME/../../contrib/sample/mkova" "$T/src" >/dev/null
	ova=$(job ova "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\",\"copy\":true}")
	for i in 1 2 3; do "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; done
	cat "$T/exportd.log"
	[ -f "$SP/exported/$copied" ] && [ -f "$SP/exported/$dl" ] && [ -f "$SP/exported/$ova" ]
	[ "$(total_done "$copied")" = "$size $size" ]
	[ "$(total_done "$dl")" = "$size $size" ]
	read -r total done < <(total_done "$ova")
	echo "ova: total $total done $done"
	[ "$total" -eq "$(stat -c %s "$T/src/hs-sample.ova")" ]
	# every member read once; only tar headers and padding are not counted
	[ "$done" -le "$total" ] && [ "$done" -ge $((total * 9 / 10)) ]
}
