#!/usr/bin/env bats
# make install puts every file in its FHS place under DESTDIR.

REPO=$BATS_TEST_DIRNAME/../..

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
	# the installed example configuration is accepted as it is
	run "$d/usr/libexec/hyperspool/queued" -c "$d/etc/hyperspool/hyperspool.conf" -s "$d/nospool" --once
	[ "$status" -eq 111 ]
	[[ "$output" == *"cannot open spool"* ]]
	rm -rf "$d"
}
