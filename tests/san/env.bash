# tests/san/env.bash - the sanitizer settings of `make check SAN=1`, sourced
# by tests/run-tests and tests/bats/helpers.bash (bash only).
#
# A sanitized program's report must fail a test even when the program is a
# daemon whose stderr a test never looks at (or deletes with $T), and must
# not land in the output a test compares. So every ASan/UBSan/LSan report
# is written to a file of its own, $HS_SANDIR/san.PID, never to stderr:
#   san_env DIR      export the options (DIR made mode 1777: the tests run
#                    the CLI as unprivileged users too, and they report there)
#   san_reports SRC DEST  print the reports in SRC (files san.*) as TAP
#                    comments, move them into DEST, and return 1 if there
#                    was any (0 if none). hs_teardown moves what a test
#                    left into $HS_SANDIR/tested (and fails the test);
#                    tests/run-tests, after each suite, takes both
#                    $HS_SANDIR and $HS_SANDIR/tested into $HS_SANDIR/seen
#                    and fails the suite: a teardown whose last command
#                    is not hs_teardown would otherwise mask the report.
# Error policy: UBSan halts on its first finding (-fno-sanitize-recover and
# halt_on_error), as ASan does; a leak is reported at exit (which is why,
# under SAN, hs_teardown stops daemons with TERM before it uses KILL).
# Suppressions (third-party code only, each with its reason) live in
# tests/san/lsan.supp and tests/san/ubsan.supp.

san_env() {
	local dir=$1 supp
	[ -n "$dir" ] || return 1
	supp=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	mkdir -p "$dir/tested" "$dir/seen" || return 1
	chmod 1777 "$dir/tested" || return 1
	chmod 1777 "$dir" || return 1
	export HS_SANDIR=$dir
	# allocator_release_to_os_interval_ms=-1: else ASan's allocator reads
	# clock_gettime when it maps a size class; under faketime (schedule,
	# policy, webhook suites) that is libfaketime's, whose lazy set-up
	# mallocs from inside the allocator: a deadlock at start-up.
	export ASAN_OPTIONS="log_path=$dir/san:detect_leaks=1:abort_on_error=0:allocator_release_to_os_interval_ms=-1:detect_stack_use_after_return=1:check_initialization_order=1"
	export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
	export UBSAN_OPTIONS="log_path=$dir/san:print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
}

san_reports() {
	local src=$1 dest=$2 f bad=0
	for f in "$src"/san.*; do
		[ -e "$f" ] || continue
		echo "# sanitizer report ${f##*/} ($(wc -l <"$f") lines):"
		sed 's/^/#   /' "$f"
		mv "$f" "$dest/" 2>/dev/null || rm -f "$f"
		bad=1
	done
	return $bad
}
