#!/bin/bash
# 03-convert.sh - benchmark 3: one big conversion through convertwatch
# against bare qemu-img.
#
# The source is a VMDK (monolithicSparse) of 4 GiB with 2 GiB of random
# data (64 MiB runs of data and holes, alternating), exported into the
# spool by exportd beforehand (source.copy: true, since local sources are
# otherwise read in place; convert.keep_exported keeps that copy, so
# every contestant reads the very same file). Timed, in rotating order,
# once per repetition:
#   ours      the job renamed into exported/ -> renamed into converted/
#             (claim, convert with write-back, check, fsync, publish);
#   bare      qemu-img convert -p -f vmdk -O qcow2 (convertwatch's options);
#             also timed up to an fsync of its output (`sync FILE`):
#             qemu-img leaves the data in the page cache, convertwatch
#             fsyncs before it publishes;
#   hyper2kvm the same with hyper2kvm's -t none -T none (O_DIRECT).
# Medians over the repetitions. Target: ours / bare <= 1.03 (wall).
. "$(dirname "$0")/lib.sh"

REPS=$(quick 1 3)
SIZE_MIB=$(quick 64 4096)	# virtual size
RUN_MIB=$(quick 4 64)		# data and holes alternate in runs this long
bench_setup
mkdir -p "$T/out" "$T/bare" "$SP/hold"
cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; keep_exported = true; };
CONF

bench_log "convert: making a $SIZE_MIB MiB VMDK, half of it random data"
truncate -s "${SIZE_MIB}M" "$T/src/big.raw"
for ((off = 0; off < SIZE_MIB; off += 2 * RUN_MIB)); do
	dd if=/dev/urandom of="$T/src/big.raw" bs=1M seek="$off" count="$RUN_MIB" \
	    conv=notrunc status=none
done
qemu-img convert -f raw -O vmdk "$T/src/big.raw" "$T/src/big.vmdk"
rm -f "$T/src/big.raw"

for ((i = 0; i < REPS; i++)); do
	printf '{"name": "big%s", "source": {"type": "file", "path": "%s", "copy": true}}\n' \
	    "$i" "$T/src/big.vmdk" >"$SP/incoming/.big$i"
	mv "$SP/incoming/.big$i" "$SP/incoming/big$i"
done
"$HS_BINDIR/queued" -c "$T/conf" --once 2>>"$T/queued.log"
bench_log "convert: exporting it $REPS time(s)"
"$HS_BINDIR/exportd" -c "$T/conf" --once 2>>"$T/exportd.log"
[ "$(count_dir "$SP/exported")" -eq "$REPS" ] ||
    { echo "bench: export failed: $(cat "$SP"/data/*/reason)" >&2; exit 1; }
mapfile -t IDS < <(ls "$SP/exported")
mv "$SP/exported/"* "$SP/hold/"

bench_daemon "$T/conf" convertwatch
CW=$LASTPID
wait_ready "$SP" convertwatch

# the exported disk of job ID
srcof() {
	find "$SP/data/$1" -maxdepth 1 -name '*.vmdk' | head -n 1
}

ours() {
	"$PROBE" move-wait "$SP/hold" "$1" "$SP/exported" "$SP/converted" 3600 \
	    >>"$T/ours.ms"
	rm -rf "${T:?}/out/$1"
}

# bare ID OPTIONS...: qemu-img convert of the same file, timed
bare() {
	local id=$1 out=$2 t0
	shift 2
	t0=$(now_ms)
	qemu-img convert -p "$@" -f vmdk -O qcow2 "$(srcof "$id")" \
	    "$T/bare/out.qcow2" >/dev/null
	echo $(($(now_ms) - t0)) >>"$T/$out.ms"
	# qemu-img leaves the data in the page cache; ours is on disk
	sync "$T/bare/out.qcow2"
	echo $(($(now_ms) - t0)) >>"$T/$out-sync.ms"
	rm -f "$T/bare/out.qcow2"
}

for ((i = 0; i < REPS; i++)); do
	id=${IDS[$i]}
	bench_log "convert: repetition $((i + 1))/$REPS"
	case $((i % 3)) in
	0) ours "$id"; bare "$id" bare; bare "$id" h2k -t none -T none ;;
	1) bare "$id" bare; bare "$id" h2k -t none -T none; ours "$id" ;;
	2) bare "$id" h2k -t none -T none; ours "$id"; bare "$id" bare ;;
	esac
done
bench_stop $CW

o=$(median <"$T/ours.ms")
b=$(median <"$T/bare.ms")
h=$(median <"$T/h2k.ms")
s() { calc "$1 / 1000"; }
row 3 "conversion, $SIZE_MIB MiB VMDK ($((SIZE_MIB / 2)) MiB data) to qcow2, wall (median of $REPS)" \
    "$(s "$o") s" "$(s "$b") s (bare qemu-img convert)" "$(ratio "$o" "$b")" \
    "<= x1.03" "$(verdict "$o <= 1.03 * $b")"
bs=$(median <"$T/bare-sync.ms")
row 3 "conversion, the same against bare qemu-img + fsync of its output" \
    "$(s "$o") s" "$(s "$bs") s (qemu-img convert; sync FILE)" \
    "$(ratio "$o" "$bs")" "-" "-"
row 3 "conversion, the same against hyper2kvm's options (-t none -T none)" \
    "$(s "$o") s" "$(s "$h") s (qemu-img convert -t none -T none)" \
    "$(ratio "$o" "$h")" "-" "-"
