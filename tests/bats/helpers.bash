# helpers.bash - shared setup for the bats suites: a fresh spool and config
# in a temp dir per test, the binaries under test, and small waiting helpers.
# HS_BINDIR (set by `make check`) selects the build; default build/bin,
# or build-san/bin with SAN=1 (`SAN=1 bats tests/bats/X.bats`: the
# sanitized build, and a test fails if a sanitizer reported during it; the
# reports are kept in $HS_SANDIR/seen, a temp dir unless HS_SANDIR is set;
# see tests/san/env.bash).

if [ "${SAN:-0}" = 1 ]; then
	HS_BUILD=build-san
else
	HS_BUILD=build
fi
HS_BINDIR=${HS_BINDIR:-$BATS_TEST_DIRNAME/../../$HS_BUILD/bin}
HS_TESTDIR=${HS_TESTDIR:-$BATS_TEST_DIRNAME/../../$HS_BUILD/tests}
if [ "${SAN:-0}" = 1 ]; then
	# (bench/lib.sh sources this file too, outside bats, under set -u)
	# shellcheck source=../san/env.bash
	source "$(dirname "${BASH_SOURCE[0]}")/../san/env.bash"
	if [ -z "${HS_SANDIR:-}" ]; then
		# the run's temp dir, traversable: the CLI also runs as
		# unprivileged users, and they report there too
		if [ -n "${BATS_RUN_TMPDIR:-}" ]; then
			HS_SANDIR=$BATS_RUN_TMPDIR/san
		else
			HS_SANDIR=$(mktemp -d "${TMPDIR:-/tmp}/hs-san.XXXXXX")/san
		fi
		chmod 0711 "$(dirname "$HS_SANDIR")"
	fi
	san_env "$HS_SANDIR"
fi
HS=$HS_BINDIR/hyperspool
QUEUED=$HS_BINDIR/queued

hs_setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/hs.XXXXXX")
	SP=$T/spool
	mkdir -p "$T/src"
	cat >"$T/conf" <<CONF
spool = "$SP";
source_roots = [ "$T/src" ];
retry = { delay = 0.2; delay_max = 1.0; max_attempts = 3; };
heartbeat_interval = 1;
CONF
	export HYPERSPOOL_SPOOL=$SP
	"$HS" -c "$T/conf" init >/dev/null
	PIDS=()
}

hs_teardown() {
	local p
	# nginx first, with TERM: its workers leave with it (SIGKILL to the
	# master would orphan them, still holding the port and the test dir)
	if [ -n "${NGINX:-}" ] && kill -TERM "$NGINX" 2>/dev/null; then
		wait "$NGINX" 2>/dev/null
	fi
	[ "${SAN:-0}" = 1 ] && san_stop "${PIDS[@]}"
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
	[ "${SAN:-0}" = 1 ] || return 0
	san_reports "$HS_SANDIR" "$HS_SANDIR/tested"
}

# san_stop PID...: under SAN, TERM first so that the daemons exit and
# LeakSanitizer checks them (a KILL skips that); up to 5 s for them to end
# (or be zombies, reaped by the caller's wait) before the caller's KILL
san_stop() {
	local p st n=0 alive=1
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null
	done
	while [ "$alive" = 1 ] && [ "$n" -lt 250 ]; do
		alive=0
		for p in "$@"; do
			st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
			st=${st##*) }
			[ "${st%% *}" = Z ] || alive=1
		done
		[ "$alive" = 0 ] || sleep 0.02
		n=$((n + 1))
	done
	return 0
}

# start_daemon PROGRAM ARGS...: run in the background, logs in $T/NAME.log
start_daemon() {
	local prog=$1
	shift
	"$prog" -c "$T/conf" "$@" 2>>"$T/$(basename "$prog").log" &
	PIDS+=($!)
	LASTPID=$!
}

# wait_for SECONDS COMMAND...: poll every 20 ms until COMMAND succeeds
wait_for() {
	local deadline=$(($(date +%s%N) + ${1%.*} * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.02
	done
}

count_in() {
	find "$SP/$1" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l
}

# drop NAME JSON: write a job file the recommended way (dot-file + rename)
drop() {
	if [ -n "$2" ]; then printf '%s\n' "$2"; fi >"$SP/incoming/.$1"
	mv "$SP/incoming/.$1" "$SP/incoming/$1"
}

# reason_of NAME: the reason of the job that came from incoming/NAME
reason_of() {
	local h
	h=$(grep -l " from incoming/$1 " "$SP"/data/*/history | head -n 1) || return 1
	cat "$(dirname "$h")/reason"
}

# has_n STAGE N: exactly N entries in STAGE (for wait_for)
has_n() {
	[ "$(count_in "$1")" -eq "$2" ]
}

# import_to_libvirt: libvirt answering on qemu:///session (started if need
# be), $T traversable by qemu, and importd configured to define TCG domains
# there on user-mode networking (the default; a job may also name that
# connection, "session")
import_to_libvirt() {
	command -v virsh >/dev/null || { echo "libvirt clients missing"; false; }
	"$BATS_TEST_DIRNAME/../../contrib/start-libvirt"
	chmod 0711 "$T"
	cat >>"$T/conf" <<'CONF'
importd = { domain_type = "qemu"; connections = { session = "qemu:///session"; }; };
defaults = { import = { uri = "qemu:///session"; network = "user"; }; };
CONF
}

# start_nginx DIR [DIRECTIVES]: serve DIR on 127.0.0.1:$PORT with a real
# nginx (Range support, access log in $T/nginx/access.log, format
# "combined"); DIRECTIVES go into its server block (e.g. "limit_rate 8m;").
# $NGINX is its pid.
start_nginx() {
	# a port nobody listens on (another suite's nginx answering in our
	# place would serve the wrong files)
	PORT=$((20000 + RANDOM % 20000))
	while [ -n "$(ss -Htln "sport = :$PORT")" ]; do
		PORT=$((20000 + RANDOM % 20000))
	done
	chmod 0711 "$T"	# nginx workers run as www-data
	mkdir -p "$T/nginx"
	cat >"$T/nginx/nginx.conf" <<CONF
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
	access_log $T/nginx/access.log;
	client_body_temp_path $T/nginx;
	proxy_temp_path $T/nginx;
	fastcgi_temp_path $T/nginx;
	uwsgi_temp_path $T/nginx;
	scgi_temp_path $T/nginx;
	server { listen 127.0.0.1:$PORT; root $1; ${2:-} }
}
CONF
	# fd 3 is bats' own: nginx's workers must not keep it open.
	nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" 3>&- </dev/null >/dev/null 2>&1 &
	NGINX=$!
	PIDS+=($!)
	# any answer (even 404) means it listens
	wait_for 5 curl -s -o /dev/null "http://127.0.0.1:$PORT/" ||
	    { cat "$T/nginx/error.log"; false; }
	# and it is ours that answers (a bind lost to a race ends it)
	kill -0 "$NGINX" || { cat "$T/nginx/error.log"; false; }
}

# submitters: a throwaway submitters' group and two unprivileged members of
# it, $EVE (the attacker) and $VIC (a victim), made for this test and
# removed by drop_submitters (call it from teardown). The spool in $T is
# re-initialised for that group, so both may drop jobs into incoming/ and
# read the spool as the packaged setup allows; $T is made traversable.
# as_user USER CMD...: run CMD as USER with that user's groups only.
submitters() {
	local tag
	tag=$(printf 'hs%05d%03d' $$ $((RANDOM % 1000)))
	SUBGROUP=${tag}g EVE=${tag}e VIC=${tag}v
	groupadd "$SUBGROUP"
	useradd -M -N -g "$SUBGROUP" -d /nonexistent -s /usr/sbin/nologin "$EVE"
	useradd -M -N -g "$SUBGROUP" -d /nonexistent -s /usr/sbin/nologin "$VIC"
	"$HS" -c "$T/conf" init --group "$SUBGROUP" >/dev/null
	chmod 0711 "$T"
	chmod 0755 "$T/src"
}

drop_submitters() {
	[ -n "${SUBGROUP:-}" ] || return 0
	userdel "$EVE" 2>/dev/null
	userdel "$VIC" 2>/dev/null
	groupdel "$SUBGROUP" 2>/dev/null
	SUBGROUP=
}

as_user() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- "$@"
}

# -- a unit's system call filter against an strace log (ops.bats, policy.bats)

# expand_filter @GROUP|NAME: the syscalls of a systemd syscall group,
# nested groups expanded (systemd's own table, systemd-analyze).
expand_filter() {
	case $1 in
	@*) systemd-analyze syscall-filter "$1" | awk 'NR > 1 && $1 !~ /^#/ && NF { print $1 }' |
		while read -r s; do expand_filter "$s"; done ;;
	*) echo "$1" ;;
	esac
}

# allowed_syscalls UNIT: what its SystemCallFilter= lines let through,
# applied in order as systemd does (an allow list, then ~ removes and
# plain entries add back)
allowed_syscalls() {
	local l set=""
	while read -r l; do
		case $l in
		~*) set=$(comm -23 <(echo "$set") <(for g in ${l#\~}; do expand_filter "$g"; done | sort -u)) ;;
		*) set=$( { echo "$set"; for g in $l; do expand_filter "$g"; done; } | sed '/^$/d' | sort -u) ;;
		esac
	done < <(sed -n 's/^SystemCallFilter=//p' "$1")
	echo "$set"
}

# syscalls_in TRACE: the syscall names in an strace -f log
syscalls_in() {
	sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' "$1" | sort -u
}

# hs_setup_sample: hs_setup, converted images going to $T/out, and the
# sample VM in $T/src (contrib/sample/mkova: hs-sample.ova and the raw
# disk it holds, $RAW)
hs_setup_sample() {
	hs_setup
	mkdir -p "$T/out"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	"$BATS_TEST_DIRNAME/../../contrib/sample/mkova" "$T/src" >/dev/null
	RAW=$T/src/hs-sample.raw
}

# job NAME SOURCE-JSON: publish a job v1 through queued --once, print its ID
job() {
	drop "$1" "$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

# run_export_convert: one job through exportd and convertwatch (--once);
# a suite whose export needs more around it defines its own
run_export_convert() {
	"$HS_BINDIR/exportd" -c "$T/conf" --once 2>>"$T/exportd.log"
	"$HS_BINDIR/convertwatch" -c "$T/conf" --once 2>>"$T/convertwatch.log"
}

# converted_ok ID [RAW]: the job reached converted/ and its first image
# equals RAW (default $RAW)
converted_ok() {
	[ -f "$SP/converted/$1" ] || { cat "$SP/data/$1/reason" 2>/dev/null; cat "$T"/*.log; false; }
	out=$(jq -r '.vm.disks[0].output' "$SP/converted/$1")
	qemu-img compare -f raw -F qcow2 "${2:-$RAW}" "$out"
}

# boot_in_libvirt NAME SOURCE-JSON [WATCH...]: the four daemons started, a
# job NAME of that source submitted to be started with the boot check
# ("HYPERSPOOL BOOT OK" on the serial console) and waited for; the
# domain's XML kept in $T/dom.xml, the domain removed. Fails unless the
# job was imported with its boot check passed; $id is its ID. Call
# import_to_libvirt first. WATCH (optional): a command run every 0.1 s
# while the job is waited for; the call fails if it ever failed.
boot_in_libvirt() {
	local d w wp bad=0
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	id=$(printf '{"name":"%s","source":%s,"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}}' \
	    "$1" "$2" | "$HS" -c "$T/conf" submit -)
	if [ $# -gt 2 ]; then
		"$HS" -c "$T/conf" wait --timeout 240 "$id" >"$T/boot-wait.out" 2>&1 &
		wp=$!
		while kill -0 "$wp" 2>/dev/null; do
			"${@:3}" || { bad=1; w=$(printf '%s ' "${@:3}"); }
			sleep 0.1
		done
		status=0
		wait "$wp" || status=$?
		output=$(cat "$T/boot-wait.out")
	else
		run "$HS" -c "$T/conf" wait --timeout 240 "$id"
	fi
	echo "$output"
	virsh -c qemu:///session dumpxml "$1" >"$T/dom.xml" 2>/dev/null || true
	virsh -q -c qemu:///session destroy "$1" >/dev/null 2>&1 || true
	virsh -q -c qemu:///session undefine "$1" >/dev/null 2>&1 || true
	[ "$bad" -eq 0 ] || { echo "while the job ran, this failed: $w"; false; }
	[ "$status" -eq 0 ] || { cat "$SP/data/$id/reason" "$T"/*.log 2>/dev/null; false; }
	[ "$(jq -r .result.boot_check "$SP/imported/$id")" = passed ]
}

# good NAME: a job v1 for the file source $T/src/NAME.ova
good() { printf '{"name":"%s","source":{"type":"file","path":"%s/src/%s.ova"}}\n' "$1" "$T" "$1"; }

# user_drop USER NAME CONTENT: USER writes incoming/NAME the recommended way
user_drop() {
	as_user "$1" sh -c 'printf "%s" "$2" >"$1/.drop" && mv "$1/.drop" "$1/$3"' \
	    sh "$SP/incoming" "$3" "$2"
}

# user_export USER NAME JSON: USER drops job JSON as incoming/NAME; one
# round of queued and of exportd follows, then $output is the job's reason
# (reason_of NAME: run, so a missing one does not end the test), printed
user_export() {
	user_drop "$1" "$2" "$3"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$HS_BINDIR/exportd" -c "$T/conf" --once 2>>"$T/exportd.log"
	run reason_of "$2"
	echo "$output"
}

# job_from NAME: the ID of the job that came from incoming/NAME (a plain name)
job_from() {
	local h
	h=$(grep -l " from incoming/$1 " "$SP"/data/*/history 2>/dev/null | head -n 1)
	[ -n "$h" ] || return 1
	basename "$(dirname "$h")"
}

# failed_with ID|TEXT...: each job ID is in error/ and its reason (printed)
# holds TEXT
failed_with() {
	local e id
	for e in "$@"; do
		id=${e%%|*}
		[ -f "$SP/error/$id" ] || { echo "$id not in error/"; false; }
		cat "$SP/data/$id/reason"
		grep -qF "${e#*|}" "$SP/data/$id/reason"
	done
}

# intake_refuses TYPE PREFIX WANT: WANT names an associative array of
# KEY='MEMBERS|TEXT'; for each, a job PREFIXKEY whose source is
# {"type":"TYPE",MEMBERS} is dropped as incoming/bad-KEY; after one round
# of queued, each must be refused with a reason holding TEXT
intake_refuses() {
	local -n want_=$3
	local k
	for k in "${!want_[@]}"; do
		drop "bad-$k" "$(printf '{"name":"%s%s","source":{"type":"%s",%s}}' \
		    "$2" "$k" "$1" "${want_[$k]%%|*}")"
	done
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	for k in "${!want_[@]}"; do
		run reason_of "bad-$k"
		echo "$k: $output"
		[[ $output == *"${want_[$k]#*|}"* ]]
	done
}
