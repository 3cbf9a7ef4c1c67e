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
