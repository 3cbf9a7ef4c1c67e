#!/usr/bin/env bats
# Operations: the systemd units (systemd-analyze verify, and the exposure
# score of `systemd-analyze security --offline=yes`, recorded in
# $HS_TESTDIR/exposure.txt and on the TAP stream), the man pages against
# --help, the configuration schema and spool-layout.md, the bash
# completion against --help, the layout's include rule (DEVELOPERS.md),
# and the Debian package: built with
# dpkg-buildpackage, lintian without errors, installed on this machine
# (where systemd need not be running: CI runs in a VM whose PID 1 may be
# something else), units enabled and not started, `hyperspool status`
# working, then purged.

load helpers

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
DAEMONS="queued exportd convertwatch importd hookd"

setup() {
	D=$(mktemp -d "${BATS_TMPDIR:-/tmp}/hsops.XXXXXX")
}

teardown() {
	[ -e "$D/deb-test" ] && deb_cleanup
	[ -e "$D/sd-test" ] && sd_cleanup
	rm -rf "$D"
}

# install_to DIR: make install DESTDIR=DIR PREFIX=/usr
install_to() {
	make -s -C "$REPO" install DESTDIR="$1" PREFIX=/usr SYSCONFDIR=/etc \
		SAN="${SAN:-}" >/dev/null
}

# The installed units, ExecStart pointed at the binaries under test (the
# only change), in $D/units: what systemd-analyze reads.
units_for_analysis() {
	install_to "$D/root"
	mkdir -p "$D/units"
	for u in "$D"/root/usr/lib/systemd/system/hyperspool*; do
		sed -e "s|^ExecStart=/usr/libexec/hyperspool/|ExecStart=$HS_BINDIR/|" \
		    -e "s|^ExecStart=/usr/bin/hyperspool |ExecStart=$HS_BINDIR/hyperspool |" \
		    "$u" >"$D/units/$(basename "$u")"
	done
}

# Option names (-x, --xyz) in text on stdin.
options_in() {
	grep -oE '(^|[][ ,|(])--?[a-zA-Z][a-zA-Z-]*' | sed 's/^[][ ,|(]//' | sort -u
}

# A man page's roff source, escapes removed: its SYNOPSIS, OPTIONS and
# COMMANDS sections (where options are defined; the rest may quote other
# programs' options, qemu-img's -f say).
man_text() {
	awk '/^\.SH / { keep = ($2 == "SYNOPSIS" || $2 == "OPTIONS" || $2 == "COMMANDS") }
	    keep' "$1" | sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g'
}

@test "systemd-analyze verify: every unit, plain and templated, is clean" {
	units_for_analysis
	ls "$D/units"
	# 6 daemons' services, the policy timer and its service, the target:
	# each plain and templated
	[ "$(ls "$D/units" | wc -l)" -eq 18 ]
	run systemd-analyze verify --man=no "$D"/units/*
	echo "$output"
	[ "$status" -eq 0 ]
	# what it says of our units (it also loads the machine's: Debian's
	# keystone.service, installed for openstack.bats, names itself in After=)
	[ -z "$(grep -i hyperspool <<<"$output")" ]
	# plain units name no instance; templates name theirs everywhere
	! grep -l '%i' "$D"/units/hyperspool-{queued,exportd,convertwatch,importd,apid}.service "$D/units/hyperspool.target"
	for p in $DAEMONS; do
		grep -q "^ExecStart=$HS_BINDIR/$p -c /etc/hyperspool/%i.conf$" "$D/units/hyperspool-$p@.service"
		grep -q "^ExecStart=$HS_BINDIR/$p -c /etc/hyperspool/hyperspool.conf$" "$D/units/hyperspool-$p.service"
		grep -q "^ReadWritePaths=-/var/spool/hyperspool-%i" "$D/units/hyperspool-$p@.service"
		grep -q "^RequiresMountsFor=/var/spool/hyperspool\( \|$\)" "$D/units/hyperspool-$p.service"
		grep -q "^PartOf=hyperspool@%i.target$" "$D/units/hyperspool-$p@.service"
		grep -q "^Wants=.*hyperspool-$p@%i.service" "$D/units/hyperspool@.target"
		grep -q "^Wants=.*hyperspool-$p.service" "$D/units/hyperspool.target"
	done
	# apid: its own unit, not part of the target (it needs a tokens file)
	grep -q "^ExecStart=$HS_BINDIR/apid -c /etc/hyperspool/%i.conf$" "$D/units/hyperspool-apid@.service"
	grep -q "^ExecStart=$HS_BINDIR/apid -c /etc/hyperspool/hyperspool.conf$" "$D/units/hyperspool-apid.service"
	! grep -q apid "$D/units/hyperspool@.target"
	# the policy timer: every minute `policy run --due`, tied to the
	# target when enabled, but not wanted by it (policies are opt-in)
	grep -q "^ExecStart=$HS_BINDIR/hyperspool -c /etc/hyperspool/%i.conf policy run --due$" "$D/units/hyperspool-policy@.service"
	grep -q "^ExecStart=$HS_BINDIR/hyperspool -c /etc/hyperspool/hyperspool.conf policy run --due$" "$D/units/hyperspool-policy.service"
	grep -q "^ReadWritePaths=-/var/spool/hyperspool-%i$" "$D/units/hyperspool-policy@.service"
	grep -q "^ReadWritePaths=-/var/spool/hyperspool$" "$D/units/hyperspool-policy.service"
	grep -qx "OnCalendar=minutely" "$D/units/hyperspool-policy@.timer"
	grep -qx "Unit=hyperspool-policy@%i.service" "$D/units/hyperspool-policy@.timer"
	grep -qx "Unit=hyperspool-policy.service" "$D/units/hyperspool-policy.timer"
	grep -qx "WantedBy=hyperspool@%i.target" "$D/units/hyperspool-policy@.timer"
	grep -qx "WantedBy=hyperspool.target" "$D/units/hyperspool-policy.timer"
	! grep -q policy "$D/units/hyperspool@.target" "$D/units/hyperspool.target"
	! grep -l '%i' "$D"/units/hyperspool-policy.{service,timer}
	# the command it runs exists
	"$HS_BINDIR/hyperspool" policy --help 2>&1 | grep -q -- "--due"
	# every man page a unit points to is installed
	for m in $(grep -ho 'man:[^ ]*' "$D"/units/* | sort -u); do
		n=${m#man:}; sec=${n##*(}; sec=${sec%)}; n=${n%(*}
		[ -f "$D/root/usr/share/man/man$sec/$n.$sec" ]
	done
}

@test "the units match what the daemons do: exit statuses, notify, identifiers, user" {
	units_for_analysis
	# a configuration error is exit 100 (not restarted); a missing spool
	# is 111 (restarted: the mount may come)
	run "$HS_BINDIR/queued" -c "$D/nonexistent.conf" --once
	[ "$status" -eq 100 ]
	printf 'spool = "%s/nospool";\n' "$D" >"$D/c.conf"
	run "$HS_BINDIR/queued" -c "$D/c.conf" --once
	[ "$status" -eq 111 ]
	for p in $DAEMONS; do
		for u in "$D/units/hyperspool-$p.service" "$D/units/hyperspool-$p@.service"; do
			grep -qx "RestartPreventExitStatus=100" "$u"
			grep -qx "Restart=on-failure" "$u"
			grep -qx "Type=notify" "$u"
			grep -qx "WatchdogSec=60" "$u"
			# journalctl -t NAME: the unit's identifier is the one the
			# daemon puts in its own journal lines (log_init)
			grep -qx "SyslogIdentifier=$p" "$u"
			grep -qx "User=hyperspool" "$u"
			! grep -q "^DynamicUser=" "$u"
			grep -qx "ProtectSystem=strict" "$u"
			grep -qx "NoNewPrivileges=yes" "$u"
			grep -qx "SystemCallFilter=@system-service" "$u"
		done
		"$HS_BINDIR/$p" --help | grep -q "^Exit status: 0 stopped cleanly, 100 bad usage or configuration,"
	done
	# apid: a client of the spool with a user of its own, loopback only
	for u in "$D/units/hyperspool-apid.service" "$D/units/hyperspool-apid@.service"; do
		grep -qx "RestartPreventExitStatus=100" "$u"
		grep -qx "Type=notify" "$u"
		grep -qx "WatchdogSec=60" "$u"
		grep -qx "SyslogIdentifier=apid" "$u"
		grep -qx "User=hyperspool-api" "$u"
		grep -qx "Group=hyperspool" "$u"
		grep -qx "IPAddressAllow=localhost" "$u"
		grep -q "^ReadWritePaths=-/var/spool/hyperspool[^ ]*/incoming$" "$u"
	done
	"$HS_BINDIR/apid" --help | grep -q "^Exit status: 0 stopped cleanly, 100 bad usage or configuration,"
	# the policy run: a oneshot as the spool's owner (policy run takes
	# root or that user), with the network (the providers), writing only
	# the spool
	for u in "$D/units/hyperspool-policy.service" "$D/units/hyperspool-policy@.service"; do
		grep -qx "Type=oneshot" "$u"
		grep -qx "User=hyperspool" "$u"
		grep -qx "Group=hyperspool" "$u"
		grep -qx "SyslogIdentifier=hyperspool-policy" "$u"
		grep -qx "ProtectSystem=strict" "$u"
		grep -qx "NoNewPrivileges=yes" "$u"
		grep -qx "CapabilityBoundingSet=" "$u"
		grep -qx "SystemCallFilter=@system-service" "$u"
		[ "$(grep -c '^ReadWritePaths=' "$u")" -eq 1 ]
		! grep -q "PrivateNetwork=yes" "$u"
		! grep -q "^\[Install\]" "$u"
	done
	# only the daemons that need the network have it
	grep -qx "PrivateNetwork=yes" "$D/units/hyperspool-queued.service"
	grep -qx "PrivateNetwork=yes" "$D/units/hyperspool-convertwatch.service"
	! grep -q "PrivateNetwork=yes" "$D/units/hyperspool-exportd.service"
	! grep -q "PrivateNetwork=yes" "$D/units/hyperspool-importd.service"
	! grep -q "PrivateNetwork=yes" "$D/units/hyperspool-hookd.service"
}

@test "systemd-analyze security --offline: exposure recorded; every unit <= 2.0" {
	units_for_analysis
	out=$HS_TESTDIR/exposure.txt
	: >"$out"
	for u in "$D"/units/*.service; do
		score=$(systemd-analyze security --offline=yes "$u" 2>/dev/null |
			sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		[ -n "$score" ]
		echo "$(basename "$u") $score" >>"$out"
		echo "# exposure $(basename "$u") $score" >&3
	done
	cat "$out"
	[ "$(wc -l <"$out")" -eq 14 ]
	# exportd and importd need the network and libvirt, yet stay <= 2.0 too
	awk '$2 > 2.0 { bad = 1 } END { exit bad }' "$out"
}

@test "daemon man pages: the options and exit statuses of --help, no groff warnings" {
	make -s -C "$REPO" man SAN="${SAN:-}"
	for p in $DAEMONS apid; do
		page=$REPO/man/$p.8.in
		diff <("$HS_BINDIR/$p" --help | options_in) <(man_text "$page" | options_in)
		diff <("$HS_BINDIR/$p" --help | sed -n '/^Exit status/,$p' | grep -oE '\b(0|[0-9]{2,3})\b' | sort -u) \
		     <(sed -n '/^\.SH EXIT STATUS/,/^\.SH/p' "$page" | grep -oE '^\.B [0-9]+$' | cut -d' ' -f2 | sort -u)
	done
	for m in "$REPO"/man/*.in; do
		run man --warnings -l "$m"
		[ "$status" -eq 0 ]
		run sh -c "man --warnings -l '$m' 2>&1 >/dev/null"
		[ -z "$output" ]
	done
}

@test "hyperspool(1): every command, option and exit status of --help" {
	page=$REPO/man/hyperspool.1.in
	cmds=$("$HS" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && /^  [^ ]/ { print $1 }')
	[ "$(echo "$cmds" | wc -l)" -ge 11 ]
	all=$("$HS" --help | options_in)
	for c in $cmds; do
		MANWIDTH=200 man -l "$page" 2>/dev/null | sed -n '/^COMMANDS/,/^EXIT STATUS/p' |
			grep -qE "^       $c( |$)" || { echo "no entry for $c"; false; }
		all=$(printf '%s\n%s\n' "$all" "$("$HS" "$c" --help | options_in)")
	done
	diff <(echo "$all" | sort -u) <(man_text "$page" | options_in)
	diff <("$HS" --help | sed -n '/^exit status/,$p' | awk 'NR > 1 { print $1 }' | sort -u) \
	     <(sed -n '/^\.SH EXIT STATUS/,/^\.SH/p' "$page" | grep -oE '^\.B [0-9]+$' | cut -d' ' -f2 | sort -u)
}

@test "hyperspool.conf(5) documents every key of the schema; hyperspool-job(5) every field of spool-layout.md" {
	keys=$(sed -n 's/^\t{ "\([a-z_.]*\)",.*T_[A-Z]*.*/\1/p' "$REPO/common/conf.c")
	[ "$(echo "$keys" | wc -l)" -ge 40 ]
	for k in $keys; do
		grep -qx "\.B $k" "$REPO/man/hyperspool.conf.5.in" || { echo "missing key $k"; false; }
	done
	fields=$(sed -n '/^## Job schema v1/,/^### /p' "$REPO/spool-layout.md" |
		sed -n 's/^| `\([][a-z_.]*\)` |.*/\1/p')
	[ "$(echo "$fields" | wc -l)" -ge 30 ]
	for f in $fields; do
		grep -qxF ".B $f" "$REPO/man/hyperspool-job.5.in" || { echo "missing field $f"; false; }
	done
}

# complete WORDS...: what the bash completion offers for the last word
complete_words() {
	bash -c '
		source "$0"
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		f=$(complete -p "$1" | sed "s/.*-F \([^ ]*\) .*/\1/")
		$f
		printf "%s\n" "${COMPREPLY[@]}"' "$REPO/contrib/bash-completion" "$@"
}

@test "bash completion offers every command and option of --help" {
	cmds=$("$HS" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && /^  [^ ]/ { print $1 }')
	offered=$(complete_words hyperspool "")
	for c in $cmds; do
		grep -qx "$c" <<<"$offered" || { echo "command $c not offered"; false; }
	done
	for c in $cmds; do
		offered=$(complete_words hyperspool "$c" -)
		for o in $("$HS" "$c" --help | options_in | grep '^--'); do
			grep -qx -- "$o" <<<"$offered" || { echo "$c $o not offered"; false; }
		done
	done
	for p in $DAEMONS; do
		offered=$(complete_words "$p" -)
		for o in $("$HS_BINDIR/$p" --help | options_in | grep '^--'); do
			grep -qx -- "$o" <<<"$offered" || { echo "$p $o not offered"; false; }
		done
	done
	# job IDs come from the spool
	hs_setup
	printf '{"name":"c1","source":{"type":"file","path":"%s/src/x"}}\n' "$T" >"$SP/incoming/j"
	"$QUEUED" -c "$T/conf" --once 2>/dev/null
	id=$(ls "$SP/request")
	offered=$(PATH=$HS_BINDIR:$PATH complete_words hyperspool -s "$SP" show "")
	[ "$offered" = "$id" ]
	hs_teardown
}

# Layout (DEVELOPERS.md, "Rules we keep"): every #include "x.h", resolved
# as the compiler does (the file's own directory, then source/, then
# common/), goes downwards - common/ includes only common/, source/ only
# source/ and common/ - and the include graph has no cycle (tsort).
@test "layout: includes go downwards (common, source, programs) and never in a circle" {
	cd "$REPO"
	: >"$D/edges"
	for f in common/*.[ch] source/*.[ch] queued/*.[ch] exportd/*.[ch] \
	    convertwatch/*.[ch] importd/*.[ch] cli/*.[ch]; do
		[ -e "$f" ] || continue
		for h in $(sed -n 's/^#include "\(.*\)"/\1/p' "$f"); do
			to=
			for dir in "$(dirname "$f")" source common; do
				[ -e "$dir/$h" ] && { to=$dir/$h; break; }
			done
			[ -n "$to" ] || { echo "$f: $h not found"; false; }
			echo "$f $to" >>"$D/edges"
		done
	done
	[ -s "$D/edges" ]
	up=$(awk '$1 ~ /^common\// && $2 !~ /^common\// ||
	    $1 ~ /^source\// && $2 !~ /^(source|common)\//' "$D/edges")
	[ -z "$up" ] || { echo "includes upwards: $up"; false; }
	tsort "$D/edges" >/dev/null 2>"$D/tsort" || { cat "$D/tsort"; false; }
	[ ! -s "$D/tsort" ] || { cat "$D/tsort"; false; }
}

# What the package test created on this machine, removed in deb_cleanup.
deb_cleanup() {
	dpkg --purge hyperspool >/dev/null 2>&1 || true
	[ -e "$D/had-user" ] || userdel hyperspool-api 2>/dev/null || true
	[ -e "$D/had-user" ] || userdel hyperspool 2>/dev/null || true
	[ -e "$D/had-group" ] || groupdel hyperspool 2>/dev/null || true
	[ -e "$D/had-spool" ] || rm -rf /var/spool/hyperspool
	[ -e "$D/had-state" ] || rm -rf /var/lib/hyperspool
	[ -e "$D/had-etc" ] || rm -rf /etc/hyperspool
}

@test "the .deb: builds, lintian without errors, installs without a running systemd, enabled not started, status works" {
	[ "$(id -u)" -eq 0 ] || skip "installs a package: needs root"
	if dpkg-query -W -f='${Status}' hyperspool 2>/dev/null | grep -q installed; then
		skip "a hyperspool package is installed on this machine: not touching it"
	fi
	getent passwd hyperspool >/dev/null && touch "$D/had-user"
	getent group hyperspool >/dev/null && touch "$D/had-group"
	[ -e /var/spool/hyperspool ] && touch "$D/had-spool"
	[ -e /var/lib/hyperspool ] && touch "$D/had-state"
	[ -e /etc/hyperspool ] && touch "$D/had-etc"
	touch "$D/deb-test"	# teardown cleans up

	start=$(date +%s)
	make -s -C "$REPO" deb SAN="${SAN:-}" >"$D/build.log" 2>&1 || { tail -40 "$D/build.log"; false; }
	echo "# deb build: $(($(date +%s) - start)) s" >&3
	debdir=$REPO/$( [ "${SAN:-}" = 1 ] && echo build-san || echo build )/deb
	deb=$(ls "$debdir"/hyperspool_*_*.deb)
	run lintian --fail-on error "$debdir"/hyperspool_*.changes
	echo "$output"
	[ "$status" -eq 0 ]
	! grep -q '^E:' <<<"$output"

	# Its dependencies are in contrib/packages.txt: nothing else comes in
	# (no recommends: they would change this machine).
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"$deb" >"$D/install.log" 2>&1 || { cat "$D/install.log"; false; }
	dpkg-query -W -f='${Status}\n' hyperspool | grep -qx "install ok installed"
	# the postinst made the user, the spool (as that user) and the dirs
	id hyperspool
	[ "$(stat -c %U:%G /var/spool/hyperspool/request)" = hyperspool:hyperspool ]
	[ "$(stat -c %a /var/spool/hyperspool/incoming)" = 3730 ]
	[ "$(stat -c %a /etc/hyperspool/credentials)" = 700 ]
	[ "$(stat -c %U /var/lib/hyperspool/images)" = hyperspool ]
	# enabled (systemctl works on the unit files without a manager) ...
	for u in hyperspool.target hyperspool-queued.service hyperspool-exportd.service \
	    hyperspool-convertwatch.service hyperspool-importd.service; do
		[ "$(systemctl is-enabled "$u")" = enabled ]
	done
	[ -L /etc/systemd/system/multi-user.target.wants/hyperspool.target ]
	# the policy timer and apid are installed, not enabled (opt-in)
	[ "$(systemctl is-enabled hyperspool-policy.timer)" = disabled ]
	[ "$(systemctl is-enabled hyperspool-apid.service)" = disabled ]
	# ... and not started
	if [ -d /run/systemd/system ]; then
		! systemctl is-active -q hyperspool-queued.service
	else
		echo "# systemd is not running here (PID 1: $(ps -o comm= -p 1))" >&3
		! pgrep -f '^/usr/libexec/hyperspool/'
	fi
	run hyperspool status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"spool /var/spool/hyperspool"* ]]
	[[ "$output" == *"queued"*"not running"* ]]
	man -w queued | grep -q '^/usr/share/man/man8/queued.8'
	man -w hyperspool-job | grep -q '^/usr/share/man/man5/hyperspool-job.5'
	# The installed queued, with the unit's own command line, as the
	# unit's user, takes a job submitted by root.
	cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/hyperspool-queued.service)
	[ "$cmd" = "/usr/libexec/hyperspool/queued -c /etc/hyperspool/hyperspool.conf" ]
	printf '{"name":"debtest","source":{"type":"file","path":"/srv/export/debtest.ova"}}\n' |
		hyperspool submit --no-wait -
	runuser -u hyperspool -- $cmd --once
	[ "$(hyperspool list --stage request | awk '{print $3}')" = debtest ]

	# purge: units and their enablement go
	dpkg --purge hyperspool >/dev/null
	[ ! -e /lib/systemd/system/hyperspool-queued.service ]
	[ ! -e /etc/systemd/system/multi-user.target.wants/hyperspool.target ]
	[ ! -e /usr/bin/hyperspool ]
}

# expand_filter, allowed_syscalls, syscalls_in: helpers.bash

@test "under strace, queued, exportd and convertwatch (with qemu-img) stay inside their units' syscall filters and address families" {
	[ "${SAN:-}" != 1 ] || skip "the sanitizer runtime makes calls the release build does not"
	units_for_analysis
	hs_setup
	qemu-img create -q -f raw "$T/src/d.raw" 4M
	printf '{"name":"sc","source":{"type":"file","path":"%s/src/d.raw"}}\n' "$T" >"$SP/incoming/j"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	mkdir "$T/out"
	for p in queued exportd convertwatch; do
		strace -f -qq -o "$T/trace.$p" "$HS_BINDIR/$p" -c "$T/conf" --once 2>>"$T/$p.log"
	done
	[ "$(ls "$SP/converted")" != "" ] || { cat "$T"/*.log; false; }
	for p in queued exportd convertwatch; do
		unit=$D/units/hyperspool-$p.service
		used=$(syscalls_in "$T/trace.$p")
		[ "$(echo "$used" | wc -l)" -gt 20 ]
		extra=$(comm -23 <(echo "$used") <(allowed_syscalls "$unit"))
		echo "# $p: $(echo "$used" | wc -l) syscalls, outside the filter: ${extra:-none}" >&3
		[ -z "$extra" ]
		# RestrictSUIDSGID=yes makes systemd refuse openat2() (ENOSYS)
		if grep -q '^[0-9]* *openat2(' "$T/trace.$p"; then
			! grep -qx 'RestrictSUIDSGID=yes' "$unit" ||
				{ echo "$p uses openat2, which RestrictSUIDSGID=yes refuses"; false; }
		fi
		# MemoryDenyWriteExecute=yes: no writable and executable mapping
		! grep -E 'PROT_(READ\|)?WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE' "$T/trace.$p"
		# RestrictAddressFamilies=
		allowed_af=$(sed -n 's/^RestrictAddressFamilies=//p' "$unit")
		for af in $(grep -oE 'socket\((AF_[A-Z0-9]+)' "$T/trace.$p" | cut -d'(' -f2 | sort -u); do
			[[ " $allowed_af " == *" $af "* ]] || { echo "$p uses $af"; false; }
		done
	done
	# convertwatch really ran qemu-img under the trace
	grep -q 'execve(".*qemu-img"' "$T/trace.convertwatch"
	hs_teardown
}

# --- the units under a real systemd ------------------------------------
# CI machines may not run systemd as PID 1, so the test boots one: systemd
# as PID 1 of a private PID and mount namespace, with its own /run (tmpfs),
# started on an empty target. Everything that would touch the host is
# masked in that /run (sysinit.target and with it tmpfiles, sysctl,
# remount-fs; the network targets), and the services get a drop-in with
# DefaultDependencies=no so they do not pull sysinit.target in: that
# drop-in is the only change to the units under test. importd is masked:
# libvirt's socket is not in the namespace's /run.

# sd_run COMMAND...: run in the namespace of the test's systemd
sd_run() {
	nsenter -t "$SD_PID" -m -p -- "$@"
}

# sd_state_is UNIT STATE: for wait_for
sd_state_is() {
	[ "$(sd_run systemctl show -P ActiveState "$1")" = "$2" ]
}

sd_cleanup() {
	local c
	[ -n "${SD_PID:-}" ] && kill -9 "$SD_PID" 2>/dev/null
	sleep 0.5
	# cgroups the namespace's systemd made in the host's hierarchies
	for c in $(find /sys/fs/cgroup -depth -type d \( -path '*/init.scope*' -o \
	    -path '*/system.slice*' \) 2>/dev/null); do
		grep -qxF "$c" "$D/cgroups.before" || rmdir "$c" 2>/dev/null
	done
	userdel hyperspool-api 2>/dev/null
	userdel hyperspool 2>/dev/null
	groupdel hyperspool 2>/dev/null
	rm -rf "/var/spool/hyperspool-$SD_INST" "/var/lib/hyperspool-$SD_INST" \
		"/var/cache/hyperspool-convertwatch" \
		/tmp/systemd-private-*-hyperspool-*@"$SD_INST"* \
		/var/tmp/systemd-private-*-hyperspool-*@"$SD_INST"* \
		"/etc/hyperspool/$SD_INST.conf" "/etc/hyperspool/$SD_INST-bad.conf" \
		"/etc/hyperspool/$SD_INST-nospool.conf"
	[ -e "$D/had-etc" ] || rmdir /etc/hyperspool 2>/dev/null
	return 0
}

@test "under a real systemd: the units start the daemons as hyperspool, run a job, restart on 111, not on 100, stop with the target" {
	[ "$(id -u)" -eq 0 ] || skip "boots systemd in a namespace: needs root"
	[ "${SAN:-}" != 1 ] || skip "the units are checked with the release build"
	getent passwd hyperspool >/dev/null && skip "a hyperspool user exists on this machine: not touching it"
	SD_INST=opst$$
	V=/var/lib/hyperspool-$SD_INST
	find /sys/fs/cgroup -type d \( -path '*/init.scope*' -o -path '*/system.slice*' \) \
		>"$D/cgroups.before" 2>/dev/null || true
	[ -d /etc/hyperspool ] && touch "$D/had-etc"
	touch "$D/sd-test"	# teardown cleans up

	# The host side: user, configuration, spool, image dir, a source, and
	# the binaries where the sandboxed user can reach them (not /tmp:
	# PrivateTmp=; not a clone under /root).
	useradd -r -U -d "$V" -M -s /usr/sbin/nologin hyperspool
	install -d -m 0755 /etc/hyperspool
	install -d -o hyperspool -g hyperspool -m 0755 "/var/spool/hyperspool-$SD_INST" "$V" "$V/images"
	install -d -m 0755 "$V/bin" "$V/src"
	install -m 0755 "$HS_BINDIR"/{hyperspool,queued,exportd,convertwatch,importd} "$V/bin/"
	qemu-img create -q -f raw "$V/src/d.raw" 8M
	cat >"/etc/hyperspool/$SD_INST.conf" <<CONF
spool = "/var/spool/hyperspool-$SD_INST";
source_roots = [ "$V/src" ];
convert = { output_dir = "$V/images"; };
CONF
	printf 'spool = "/var/spool/hyperspool-%s";\nno_such_key = 1;\n' "$SD_INST" >"/etc/hyperspool/$SD_INST-bad.conf"
	printf 'spool = "/var/spool/hyperspool-%s-none";\n' "$SD_INST" >"/etc/hyperspool/$SD_INST-nospool.conf"
	runuser -u hyperspool -- "$V/bin/hyperspool" -c "/etc/hyperspool/$SD_INST.conf" init --group hyperspool

	# The units as installed, ExecStart pointed at $V/bin.
	install_to "$D/root"
	mkdir -p "$D/units"
	for u in "$D"/root/usr/lib/systemd/system/*@*; do
		sed "s|^ExecStart=/usr/libexec/hyperspool/|ExecStart=$V/bin/|" "$u" >"$D/units/$(basename "$u")"
	done

	cat >"$D/boot.sh" <<EOF2
set -e
mount -t tmpfs tmpfs /run
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
mkdir -p /run/systemd/system
printf '[Unit]\nDescription=hyperspool test\n' >/run/systemd/system/opstest$$.target
cp $D/units/* /run/systemd/system/
for m in sysinit.target basic.target network.target network-online.target \
    systemd-tmpfiles-setup.service systemd-tmpfiles-clean.service \
    systemd-sysctl.service systemd-remount-fs.service systemd-sysusers.service \
    hyperspool-importd@$SD_INST.service; do
	ln -sf /dev/null /run/systemd/system/\$m
done
for u in queued@$SD_INST queued@$SD_INST-bad queued@$SD_INST-nospool \
    exportd@$SD_INST convertwatch@$SD_INST; do
	mkdir -p /run/systemd/system/hyperspool-\$u.service.d
	printf '[Unit]\nDefaultDependencies=no\n' >/run/systemd/system/hyperspool-\$u.service.d/test.conf
done
exec /lib/systemd/systemd --system --unit=opstest$$.target
EOF2
	unshare --fork --pid --mount --propagation private --mount-proc sh "$D/boot.sh" \
		>"$D/systemd.log" 2>&1 3>&- &
	for i in $(seq 100); do
		SD_PID=$(pgrep -f "^/lib/systemd/systemd --system --unit=opstest$$.target") && break
		sleep 0.1
	done
	[ -n "$SD_PID" ] || { cat "$D/systemd.log"; false; }
	wait_for 20 sh -c "nsenter -t $SD_PID -m -p -- systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'" ||
		skip "systemd does not boot in a namespace here: $(tail -n 3 "$D/systemd.log")"
	sd_run systemctl start systemd-journald.socket systemd-journald.service

	# Type=notify: active once READY=1 came, with the daemons' STATUS=
	sd_run systemctl start "hyperspool@$SD_INST.target"
	for p in queued exportd convertwatch; do
		u=hyperspool-$p@$SD_INST.service
		[ "$(sd_run systemctl show -P ActiveState "$u")" = active ]
		[ "$(sd_run systemctl show -P SubState "$u")" = running ]
		[[ "$(sd_run systemctl show -P StatusText "$u")" == *running*waiting* ]]
		pid=$(sd_run systemctl show -P MainPID "$u")
		[ "$(sd_run ps -o user= -p "$pid")" = hyperspool ]
	done

	# a job goes through the three sandboxed daemons
	H="$V/bin/hyperspool -c /etc/hyperspool/$SD_INST.conf"
	id=$(printf '{"name":"sd%s","source":{"type":"file","path":"%s/src/d.raw"}}\n' "$$" "$V" | $H submit -)
	wait_for 60 test -e "/var/spool/hyperspool-$SD_INST/converted/$id" || {
		$H show "$id"; sd_run journalctl --no-pager -n 50; false; }
	ls "$V/images/$id/"*.qcow2
	# OUTPUT_DIR/ID searchable, not listable; the image the daemons' and,
	# once libvirt's dynamic ownership hands it over, qemu's only (the
	# unit's PrivateUsers= leaves convert.images_group unmapped)
	[ "$(stat -c %a "$V/images/$id")" = 711 ]
	[ "$(stat -c %a "$V/images/$id/"*.qcow2)" = 600 ]
	# journald has the job's life with its fields
	sd_run journalctl --no-pager -o verbose JOB_ID="$id" MESSAGE_ID=1425733f9f194e3a9891793d70e6637b >"$D/j"
	[ "$(grep -c '^ *MESSAGE=done: passed to' "$D/j")" -eq 3 ]
	[ "$(grep -c "^ *VM=sd$$\$" "$D/j")" -eq 3 ]
	[ "$(sd_run journalctl -q --no-pager -t convertwatch JOB_ID="$id" | grep -c 'qemu-img convert')" -eq 1 ]

	# guest conversion needs the drop-in hyperspool-setup --guest installs
	# (systemd/convertwatch-guest.conf): with it, convertwatch, as
	# hyperspool in its sandbox, builds the libguestfs appliance (supermin)
	# and runs it; on a blank disk inspection then finds no operating
	# system, which fails the job with that reason.
	if [ -x /usr/bin/supermin ] && [ "$(stat -c %A /boot/vmlinuz-* | cut -c8 | sort -u)" = r ]; then
		sd_run mkdir -p /run/systemd/system/hyperspool-convertwatch@.service.d
		sd_run cp "$D/root/usr/share/hyperspool/convertwatch-guest.conf" \
			/run/systemd/system/hyperspool-convertwatch@.service.d/guest.conf
		sd_run systemctl daemon-reload
		sd_run systemctl restart "hyperspool-convertwatch@$SD_INST.service"
		qemu-img create -q -f raw "$V/src/blank.raw" 64M
		gid=$(printf '{"name":"sdg%s","source":{"type":"file","path":"%s/src/blank.raw"},"convert":{"guest":"fast"}}\n' "$$" "$V" | $H submit -)
		wait_for 600 test -e "/var/spool/hyperspool-$SD_INST/error/$gid" || {
			$H show "$gid"; sd_run journalctl --no-pager -n 50; false; }
		grep 'guest conversion (fast): inspection found no operating system' \
			"/var/spool/hyperspool-$SD_INST/data/$gid/reason" || {
			cat "/var/spool/hyperspool-$SD_INST/data/$gid/log"; false; }
	else
		echo "# guest drop-in not checked: no supermin, or a kernel in /boot only root can read" >&3
	fi

	# a configuration error (exit 100) is not restarted; a missing spool
	# (exit 111) is
	sd_run systemctl start "hyperspool-queued@$SD_INST-bad.service" "hyperspool-queued@$SD_INST-nospool.service" || true
	sleep 12
	[ "$(sd_run systemctl show -P ExecMainStatus "hyperspool-queued@$SD_INST-bad.service")" = 100 ]
	[ "$(sd_run systemctl show -P NRestarts "hyperspool-queued@$SD_INST-bad.service")" = 0 ]
	[ "$(sd_run systemctl show -P ActiveState "hyperspool-queued@$SD_INST-bad.service")" = failed ]
	[ "$(sd_run systemctl show -P NRestarts "hyperspool-queued@$SD_INST-nospool.service")" -ge 1 ]
	sd_run systemctl stop "hyperspool-queued@$SD_INST-nospool.service"

	# stopping the target stops every daemon (PartOf=), cleanly
	sd_run systemctl stop "hyperspool@$SD_INST.target"
	for p in queued exportd convertwatch; do
		u=hyperspool-$p@$SD_INST.service
		wait_for 30 sd_state_is "$u" inactive
		[ "$(sd_run systemctl show -P Result "$u")" = success ]
	done
}
