#!/usr/bin/env bats
# bench.bats - the benchmarks' quick variant (bench/run --quick): small
# sizes, no thresholds, so that the scripts never rot. It fails when a
# script fails or a row is missing; the figures themselves are not judged.

@test "bench/run --quick: every benchmark runs and prints its rows" {
	run "$BATS_TEST_DIRNAME/../../bench/run" --quick
	echo "$output"
	[ "$status" -eq 0 ]
	table=$(echo "$output" | sed -n '/^| # |/,$p')
	for n in 1 2 3 4a 4b 4c 5 6 8 9 10a 10b 11 12; do
		echo "$table" | grep -q "^| $n | " || { echo "row $n missing"; false; }
	done
	# every row carries a figure of ours (the third column)
	echo "$table" | grep '^| [0-9]' | awk -F' [|] ' '$3 !~ /[0-9]/ { bad = 1 } END { exit bad }'
}
