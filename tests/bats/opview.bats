#!/usr/bin/env bats
# What an operator sees (issue 15 part 4): histories in pipeline order, the
# retry state in list/status, secrets in rejected job files, progress in
# list, and what cancel leaves behind. Real daemons, real qemu-img.

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
