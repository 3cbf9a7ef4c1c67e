#!/bin/bash
# 08-zerocopy.sh - benchmark 8: an OVA end to end through `hyperspool
# migrate` (queued, exportd, convertwatch, importd --once on a private
# spool, into test:///default) against the floor: one qemu-img convert
# reading the VMDK straight out of the OVA (qemu's raw driver with offset
# and size under the vmdk driver) into qcow2, plus an fsync of its output.
#
# The OVA holds a streamOptimized VMDK of SIZE_MIB (2 GiB) with half of it
# random data (runs of data and holes alternating), its OVF and a manifest
# (SHA256: exportd verifies it, reading the archive once). The local
# source is read in place (the default): exportd digests the archive and
# records the member, convertwatch converts it from the archive. Timed, in
# rotating order, each after `sync` and drop_caches (cold caches, as a
# fresh export is):
#   ours   hyperspool migrate JOB (exit 0: imported), wall;
#   floor  qemu-img convert -f vmdk -O qcow2 'json:{raw offset/size}'
#          + sync of the output;
#   copy   the same migrate with source.copy: true (the member copied into
#          data/ID/ first, as before issue 15): beside, no target.
# Every image must equal the source (qemu-img compare). Medians.
# Target: ours / floor <= 1.25. BENCH_ZC_MIB sets the size (a loaded
# machine; RESULTS.md says when it was used).
. "$(dirname "$0")/lib.sh"

REPS=$(quick 1 3)
SIZE_MIB=${BENCH_ZC_MIB:-$(quick 64 2048)}
RUN_MIB=$(quick 4 64)
# cold caches need root; the quick variant runs without them
[ "$(id -u)" = 0 ] || [ "$BENCH_QUICK" = 1 ] ||
    { echo "bench: 08 drops the page cache: run it as root" >&2; exit 2; }
bench_setup
mkdir -p "$T/out" "$T/floor"
cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
importd = { domain_type = "qemu"; };
defaults = { import = { uri = "test:///default"; }; };
CONF

bench_log "zerocopy: making a $SIZE_MIB MiB streamOptimized VMDK, half of it random data, in an OVA"
truncate -s "${SIZE_MIB}M" "$T/big.raw"
for ((off = 0; off < SIZE_MIB; off += 2 * RUN_MIB)); do
	dd if=/dev/urandom of="$T/big.raw" bs=1M seek="$off" count="$RUN_MIB" \
	    conv=notrunc status=none
done
(
	cd "$T/src"
	qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/big.raw" big.vmdk
	sed -e 's|hs-sample-disk1.vmdk|big.vmdk|' \
	    -e "s|ovf:capacity=\"64\"|ovf:capacity=\"$SIZE_MIB\"|" \
	    "$BENCH_DIR/../contrib/sample/sample.ovf" >big.ovf
	for f in big.ovf big.vmdk; do
		printf 'SHA256(%s)= %s\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"
	done >big.mf
	tar --format=ustar -cf big.ova big.ovf big.mf big.vmdk
	rm big.vmdk big.ovf big.mf
)
OVA=$T/src/big.ova
SUM=$(sha256sum <"$OVA")
# the member's place in the archive, for the floor
read -r OFF LEN < <(python3 -c '
import sys, tarfile
for m in tarfile.open(sys.argv[1]):
    if m.name == "big.vmdk": print(m.offset_data, m.size)' "$OVA")

cold() {
	sync
	if [ "$(id -u)" = 0 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# ours NAME COPY OUT: hyperspool migrate of the OVA, timed into OUT.ms
ours() {
	local t0 img
	printf '{"name": "%s", "source": {"type": "file", "path": "%s", "copy": %s}}\n' \
	    "$1" "$OVA" "$2" >"$T/$1.json"
	cold
	t0=$(now_ms)
	"$HS" -c "$T/conf" migrate "$T/$1.json" >>"$T/migrate.log" 2>&1 ||
	    { echo "bench: migrate failed:" >&2; tail -n 5 "$T/migrate.log" >&2; exit 1; }
	echo $(($(now_ms) - t0)) >>"$T/$3.ms"
	img=$(find "$T/out" -name "$1-disk0.qcow2")
	qemu-img compare -q -f raw -F qcow2 "$T/big.raw" "$img" ||
	    { echo "bench: $1: the image differs from the source" >&2; exit 1; }
	rm -rf "${T:?}/out/"*
}

floor() {
	local t0
	cold
	t0=$(now_ms)
	qemu-img convert -p -f vmdk -O qcow2 \
	    "json:{\"driver\":\"vmdk\",\"file\":{\"driver\":\"raw\",\"offset\":$OFF,\"size\":$LEN,\"file\":{\"driver\":\"file\",\"filename\":\"$OVA\"}}}" \
	    "$T/floor/out.qcow2" >/dev/null
	sync "$T/floor/out.qcow2"
	echo $(($(now_ms) - t0)) >>"$T/floor.ms"
	qemu-img compare -q -f raw -F qcow2 "$T/big.raw" "$T/floor/out.qcow2" ||
	    { echo "bench: floor: the image differs from the source" >&2; exit 1; }
	rm -f "$T/floor/out.qcow2"
}

for ((i = 0; i < REPS; i++)); do
	bench_log "zerocopy: repetition $((i + 1))/$REPS"
	case $((i % 3)) in
	0) ours "zc$i" false ours; floor; ours "cp$i" true copy ;;
	1) floor; ours "cp$i" true copy; ours "zc$i" false ours ;;
	2) ours "cp$i" true copy; ours "zc$i" false ours; floor ;;
	esac
done
[ "$(sha256sum <"$OVA")" = "$SUM" ] ||
    { echo "bench: the OVA changed" >&2; exit 1; }

o=$(median <"$T/ours.ms")
f=$(median <"$T/floor.ms")
c=$(median <"$T/copy.ms")
s() { calc "$1 / 1000"; }
row 8 "OVA ($SIZE_MIB MiB streamOptimized VMDK, $((SIZE_MIB / 2)) MiB data) end to end, hyperspool migrate into test:///default, read in place, cold cache, wall (median of $REPS)" \
    "$(s "$o") s" "$(s "$f") s (qemu-img convert from the OVA, raw offset/size; sync)" \
    "$(ratio "$o" "$f")" "<= x1.25" "$(verdict "$o <= 1.25 * $f")"
row 8 "the same with source.copy: true (the member copied into data/ID/ first)" \
    "$(s "$c") s" "$(s "$f") s (the same floor)" "$(ratio "$c" "$f")" "-" "-"
