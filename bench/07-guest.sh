#!/bin/bash
# 07-guest.sh - benchmark 7: guest conversion of a real Debian 12 guest made
# like a VMware export (../shared/tools/make-debian-guest.sh, packed as an
# OVA by tests/guest/mkova, cached as tests/bats/guest.bats caches it):
# convert.guest fast against virt-v2v-in-place, same OVA, same run.
#
# Each is one job through exportd and convertwatch --once (qemu-img
# convert, then the guest step); the figure is convertwatch's wall time,
# and the guest step alone as each logs it ("fast conversion done in",
# "virt-v2v-in-place done in"). Peak RSS of the guest step's processes
# (the libguestfs appliance's qemu for fast, virt-v2v and its appliance)
# is not separated here. That fast's result boots with its network is
# tests/bats/guest.bats's job; the virt-v2v result's network is not
# checked here. Target: fast <= 1/10 of virt-v2v-in-place.
#
# Not in the quick variant (make check): it needs the guest image and
# about 10 minutes of TCG; it says so and prints no row.
. "$(dirname "$0")/lib.sh"

if [ "$BENCH_QUICK" = 1 ]; then
	bench_log "guest: skipped in the quick variant (needs the Debian guest and ~10 min of TCG)"
	exit 0
fi
command -v virt-v2v-in-place >/dev/null ||
	{ echo "bench: virt-v2v-in-place missing (apt-get install virt-v2v)" >&2; exit 2; }
OVADIR=$("$BENCH_DIR/../tests/guest/prepare") ||
	{ echo "bench: no guest image (tests/guest/prepare failed)" >&2; exit 2; }

bench_setup
sed -i "s|^source_roots = .*|source_roots = [ \"$OVADIR\" ];|" "$T/conf"
mkdir -p "$T/out"
printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"

# guest_run MODE: one job with convert.guest MODE; prints "WALL_S GUEST_S"
guest_run() {
	local id t0 t1 g
	drop "g-$1" "$(printf '{"name":"g-%s","source":{"type":"file","path":"%s/debian-guest.ova"},"convert":{"guest":"%s"}}' \
	    "$1" "$OVADIR" "$1")"
	"$HS_BINDIR/queued" -c "$T/conf" --once 2>>"$T/queued.log"
	id=$(basename "$(dirname "$(grep -l " from incoming/g-$1 " "$SP"/data/*/history)")")
	"$HS_BINDIR/exportd" -c "$T/conf" --once 2>>"$T/exportd.log"
	t0=$(now_ms)
	"$HS_BINDIR/convertwatch" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	t1=$(now_ms)
	[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason" "$SP/data/$id/log" >&2; exit 1; }
	g=$(sed -n 's/.*guest: \(fast conversion\|virt-v2v-in-place\) done in \([0-9.]*\) s.*/\2/p' \
	    "$SP/data/$id/log" | tail -n 1)
	[ -n "$g" ] || { echo "bench: no guest timing in $SP/data/$id/log" >&2; exit 1; }
	echo "$(calc "($t1 - $t0) / 1000") $g"
}

bench_log "guest: convert.guest fast"
read -r fw fg < <(guest_run fast)
[ -n "${fg:-}" ] || { echo "bench: the fast run failed" >&2; exit 1; }
bench_log "guest: fast: convertwatch ${fw} s, guest step ${fg} s"
bench_log "guest: convert.guest virt-v2v (virt-v2v-in-place)"
read -r vw vg < <(guest_run virt-v2v)
[ -n "${vg:-}" ] || { echo "bench: the virt-v2v run failed" >&2; exit 1; }
bench_log "guest: virt-v2v: convertwatch ${vw} s, guest step ${vg} s"
r=$(ratio "$fw" "$vw")
row 7 "guest conversion of the Debian 12 VMware-style OVA, convertwatch wall (s)" \
    "$fw s (guest step $fg s)" "$vw s (virt-v2v-in-place step $vg s)" "$r" \
    "<= x0.1" "$(awk "BEGIN { print ($fw <= $vw / 10) ? \"met\" : \"MISSED\" }")"
