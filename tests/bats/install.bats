#!/usr/bin/env bats
# make install puts every file in its FHS place under DESTDIR, make
# uninstall takes it away again, and hyperspool-setup (what install.sh and
# the package's postinst run) makes a user, a spool and the directories
# with the right owners and modes.

REPO=$BATS_TEST_DIRNAME/../..

teardown() {
	# the user hyperspool-setup made, if a test failed before removing it
	if [ -n "${SETUP_USER:-}" ] && getent passwd "$SETUP_USER" >/dev/null; then
		userdel "$SETUP_USER-api" 2>/dev/null	# apid's, in that group
		userdel "$SETUP_USER"
		getent group "$SETUP_USER" >/dev/null && groupdel "$SETUP_USER"
	fi
	# what contrib/install.sh put on this machine
	if [ -n "${INSTALLED:-}" ]; then
		systemctl disable hyperspool.target >/dev/null 2>&1
		rm -f /etc/systemd/system/hyperspool*.service /etc/systemd/system/hyperspool*.target \
		    /etc/systemd/system/hyperspool*.timer
		rm -rf /etc/systemd/system/hyperspool.target.wants
		userdel hyperspool-api 2>/dev/null	# apid's, in the group below
		userdel hyperspool 2>/dev/null
		groupdel hyperspool 2>/dev/null
		rm -rf /var/spool/hyperspool /var/lib/hyperspool /etc/hyperspool "$INSTALLED"
		# install.sh built for its PREFIX: build again for the suites
		make -s -C "$REPO" all SAN="${SAN:-}" >/dev/null
	fi
	return 0
}

@test "make install DESTDIR=... PREFIX=/usr installs binaries, config, docs, units" {
	d=$(mktemp -d)
	make -s -C "$REPO" install DESTDIR="$d" PREFIX=/usr SYSCONFDIR=/etc SAN="${SAN:-}" >/dev/null
	[ -x "$d/usr/bin/hyperspool" ]
	for p in queued exportd convertwatch importd; do
		[ -x "$d/usr/libexec/hyperspool/$p" ]
		grep -q "^ExecStart=/usr/libexec/hyperspool/$p -c /etc/hyperspool/hyperspool.conf" \
		    "$d/usr/lib/systemd/system/hyperspool-$p.service"
	done
	[ -f "$d/etc/hyperspool/hyperspool.conf" ]
	[ -f "$d/usr/share/doc/hyperspool/hyperspool.conf.example" ]
	[ -f "$d/usr/share/doc/hyperspool/spool-layout.md" ]
	grep -q "^ExecStart=/usr/libexec/hyperspool/queued -c /etc/hyperspool/hyperspool.conf" \
	    "$d/usr/lib/systemd/system/hyperspool-queued.service"
	[ -f "$d/usr/lib/systemd/system/hyperspool.target" ]
	for u in hyperspool@.target hyperspool-{queued,exportd,convertwatch,importd}@.service; do
		[ -f "$d/usr/lib/systemd/system/$u" ]
	done
	for m in man1/hyperspool.1 man5/hyperspool.conf.5 man5/hyperspool-job.5 \
	    man8/queued.8 man8/exportd.8 man8/convertwatch.8 man8/importd.8; do
		[ -f "$d/usr/share/man/$m" ]
		# the paths of this installation, not placeholders
		! grep -q '@[A-Z]*DIR@' "$d/usr/share/man/$m"
	done
	grep -q '^\.B /usr/libexec/hyperspool/queued$' "$d/usr/share/man/man8/queued.8"
	[ -f "$d/usr/share/bash-completion/completions/hyperspool" ]
	[ -x "$d/usr/libexec/hyperspool/hyperspool-setup" ]
	grep -q '^cli=/usr/bin/hyperspool$' "$d/usr/libexec/hyperspool/hyperspool-setup"
	# the installed example configuration is accepted as it is
	run "$d/usr/libexec/hyperspool/queued" -c "$d/etc/hyperspool/hyperspool.conf" -s "$d/nospool" --once
	[ "$status" -eq 111 ]
	[[ "$output" == *"cannot open spool"* ]]
	rm -rf "$d"
}

@test "make uninstall removes everything make install put there but the configuration" {
	d=$(mktemp -d)
	make -s -C "$REPO" install DESTDIR="$d" PREFIX=/usr SYSCONFDIR=/etc SAN="${SAN:-}" >/dev/null
	[ "$(find "$d" -type f | wc -l)" -gt 20 ]
	make -s -C "$REPO" uninstall DESTDIR="$d" PREFIX=/usr SYSCONFDIR=/etc SAN="${SAN:-}" >/dev/null
	run find "$d" -type f
	echo "$output"
	[ "$output" = "$d/etc/hyperspool/hyperspool.conf" ]
	rm -rf "$d"
}

@test "hyperspool-setup: user and group, spool made as that user, image and credential dirs; idempotent" {
	[ "$(id -u)" -eq 0 ] || skip "creates a user: needs root"
	u=hst$$
	! getent passwd "$u"
	SETUP_USER=$u
	d=$(mktemp -d)
	chmod 0755 "$d"
	make -s -C "$REPO" install DESTDIR="$d/root" PREFIX=/usr SYSCONFDIR=/etc SAN="${SAN:-}" >/dev/null
	# the installed script, pointed at the binaries under test, copied
	# where the new user can reach them (a clone under /root cannot be)
	install -m 0755 "$HS_BINDIR/hyperspool" "$HS_BINDIR/queued" "$d/"
	sed "s|^cli=.*|cli=$d/hyperspool|" "$d/root/usr/libexec/hyperspool/hyperspool-setup" >"$d/setup"
	chmod 0755 "$d/setup"
	run "$d/setup" --user "$u" --spool "$d/spool" --images "$d/lib/images" \
		--credentials "$d/creds" --config "$d/none.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(id -gn "$u")" = "$u" ]
	[ "$(getent passwd "$u" | cut -d: -f7)" = /usr/sbin/nologin ]
	# the daemons' user owns every directory of the spool; incoming/ is
	# for the group, tmp/ private
	[ "$(stat -c %U:%G "$d/spool")" = "$u:$u" ]
	[ "$(stat -c %U:%G:%a "$d/spool/request")" = "$u:$u:2750" ]
	[ "$(stat -c %a "$d/spool/incoming")" = 3730 ]
	[ "$(stat -c %a "$d/spool/tmp")" = 2700 ]
	[ "$(stat -c %U:%a "$d/lib/images")" = "$u:711" ]
	[ "$(stat -c %U:%a "$d/creds")" = "$u:700" ]
	# that user can run a daemon on it
	printf 'spool = "%s";\n' "$d/spool" >"$d/c.conf"
	runuser -u "$u" -- "$d/queued" -c "$d/c.conf" --once
	# a second run repairs a mode and changes nothing else
	chmod 0777 "$d/spool/request"
	run "$d/setup" --user "$u" --spool "$d/spool" --images "$d/lib/images" \
		--credentials "$d/creds" --config "$d/none.conf"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$d/spool/request")" = 2750 ]
	# bad usage is refused
	run "$d/setup" --bogus
	[ "$status" -eq 64 ]
	# apid's user, in the daemons' group (apid(8))
	[ "$(id -gn "$u-api")" = "$u" ]
	userdel "$u-api"
	userdel "$u"
	getent group "$u" >/dev/null && groupdel "$u"
	rm -rf "$d"
}

@test "contrib/install.sh PREFIX: installed, user and spool made, hyperspool.target enabled, nothing started" {
	[ "$(id -u)" -eq 0 ] || skip "installs on this machine: needs root"
	if getent passwd hyperspool >/dev/null || [ -e /var/spool/hyperspool ] ||
	    [ -e /etc/hyperspool ] || [ -e /etc/systemd/system/hyperspool.target ]; then
		skip "hyperspool is installed on this machine: not touching it"
	fi
	d=$(mktemp -d)
	chmod 0755 "$d"
	INSTALLED=$d
	run "$REPO/contrib/install.sh" "$d/prefix"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -x "$d/prefix/bin/hyperspool" ]
	[ -x "$d/prefix/libexec/hyperspool/queued" ]
	id hyperspool
	[ "$(stat -c %U:%a /var/spool/hyperspool/incoming)" = hyperspool:3730 ]
	# units outside systemd's search path are linked in, then enabled
	[ "$(readlink /etc/systemd/system/hyperspool-queued.service)" = "$d/prefix/lib/systemd/system/hyperspool-queued.service" ]
	[ "$(systemctl is-enabled hyperspool.target)" = enabled ]
	grep -q "^ExecStart=$d/prefix/libexec/hyperspool/queued " "$d/prefix/lib/systemd/system/hyperspool-queued.service"
	if [ ! -d /run/systemd/system ]; then
		! pgrep -f "^$d/prefix/libexec/hyperspool/"
	fi
	"$d/prefix/bin/hyperspool" status | grep -q "^spool /var/spool/hyperspool"
}
