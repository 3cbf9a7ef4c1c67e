#!/bin/bash
# 12-azure.sh - benchmark 12: the azure provider's sparse download. A page
# blob in Azurite (the Azure Storage emulator, npm, tests/npm/azure/, over
# HTTPS on loopback) holding a fixed VHD of 1 GiB (quick: 256 MiB) with 64
# MiB (quick: 16 MiB) of random data in 1 MiB pieces scattered over it,
# uploaded page by page, so only those pages are allocated.
#
#   9   ours: a job with source.blob_url and a SharedKey credential,
#       request/ -> exported/: the body bytes exportd received (its log:
#       "N received in this run") and the wall time; against curl fetching
#       the whole blob with a SAS (what a downloader without Get Page
#       Ranges moves), its bytes and time. The landed raw disk is compared
#       with the original (qemu-img compare) before any figure is printed.
# Median of the repetitions for the times; the bytes are the same each run.
# Target: ours <= 70 MiB for the 1 GiB disk with 64 MiB written (issue 17).
. "$(dirname "$0")/lib.sh"

REPS=$(quick 1 3)
SIZE_MIB=$(quick 256 1024)
DATA_MIB=$(quick 16 64)
NPMDIR=$BENCH_DIR/../tests/npm/azure
AZDIR=$BENCH_DIR/../tests/azure
AZKEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
bench_setup
if [ ! -x "$NPMDIR/node_modules/.bin/azurite-blob" ]; then
	npm ci --prefix "$NPMDIR" --no-audit --no-fund >&2
fi
mkdir -p "$T/az/data" "$T/creds" "$T/curl"
chmod 700 "$T/creds"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/az/key.pem" \
    -out "$T/az/cert.pem" -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
PORT=$((20000 + RANDOM % 20000))
while [ -n "$(ss -Htln "sport = :$PORT")" ]; do PORT=$((20000 + RANDOM % 20000)); done
"$NPMDIR/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$PORT" \
    --location "$T/az/data" --cert "$T/az/cert.pem" --key "$T/az/key.pem" \
    --skipApiVersionCheck --disableTelemetry --silent >"$T/az/log" 2>&1 &
PIDS+=($!)
BASE=https://127.0.0.1:$PORT/devstoreaccount1
export AZ_CA=$T/az/cert.pem
wait_for 30 curl -s -o /dev/null --cacert "$AZ_CA" "$BASE?comp=list"

bench_log "azure: a $SIZE_MIB MiB fixed VHD with $DATA_MIB MiB of random data"
truncate -s "${SIZE_MIB}M" "$T/disk.raw"
step=$((SIZE_MIB / DATA_MIB))
for ((k = 0; k < DATA_MIB; k++)); do
	head -c 1048576 /dev/urandom | dd of="$T/disk.raw" bs=1M seek=$((k * step + step / 2)) \
	    conv=notrunc status=none
done
qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$T/disk.raw" "$T/disk.vhd"
/usr/bin/python3 "$AZDIR/azstore.py" "$BASE" "$AZKEY" upload disks disk.vhd "$T/disk.vhd" >/dev/null
BLOB=$((SIZE_MIB * 1048576 + 512))

cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
CONF
printf 'url_prefix = %s/disks/\naccount_name = devstoreaccount1\naccount_key = %s\nca_file = %s\n' \
    "$BASE" "$AZKEY" "$AZ_CA" >"$T/creds/az"
chmod 600 "$T/creds/az"
SAS=$(/usr/bin/python3 "$AZDIR/azstore.py" "$BASE" "$AZKEY" sas disks disk.vhd 3600)
mkdir -p "$SP/hold"

for ((r = 0; r < REPS; r++)); do
	printf '{"name": "az%s", "source": {"type": "azure", "credential": "az", "blob_url": "%s/disks/disk.vhd"}}\n' \
	    "$r" "$BASE" >"$SP/incoming/.az$r"
	mv "$SP/incoming/.az$r" "$SP/incoming/az$r"
	"$HS_BINDIR/queued" -c "$T/conf" --once 2>>"$T/queued.log"
	id=$(ls "$SP/request")
	mv "$SP/request/$id" "$SP/hold/"
	bench_daemon "$T/conf" exportd
	ms=$("$PROBE" move-wait "$SP/hold" "$id" "$SP/request" "$SP/exported" 3600)
	bench_stop "$LASTPID"
	echo "$ms" >>"$T/ours.ms"
	qemu-img compare -q -f raw -F raw "$T/disk.raw" "$SP/data/$id/disk0.raw"
	sed -n 's/.*disk0.vhd complete, [0-9]* bytes (\([0-9]*\) received in this run).*/\1/p' \
	    "$SP/data/$id/log" >"$T/ours.bytes"
	rm -f "$SP/data/$id/disk0.raw"
	t0=$(now_ms)
	curl -sSf --cacert "$AZ_CA" -H 'x-ms-version: 2020-10-02' -o "$T/curl/disk.vhd" \
	    "$BASE/disks/disk.vhd?$SAS"
	echo $(($(now_ms) - t0)) >>"$T/curl.ms"
	stat -c %s "$T/curl/disk.vhd" >"$T/curl.bytes"
	rm -f "$T/curl/disk.vhd"
done
ob=$(cat "$T/ours.bytes")
cb=$(cat "$T/curl.bytes")
[ -n "$ob" ] && [ "$cb" -eq "$BLOB" ]
om=$(median <"$T/ours.ms")
cm=$(median <"$T/curl.ms")
row 12 "Azure page blob, $SIZE_MIB MiB fixed VHD with $DATA_MIB MiB written: bytes received (Get Page Ranges, allocated pages only); wall (median of $REPS)" \
    "$(calc "$ob / 1048576") MiB in $(calc "$om / 1000") s" \
    "$(calc "$cb / 1048576") MiB in $(calc "$cm / 1000") s (curl, the whole blob)" \
    "$(ratio "$ob" "$cb") bytes; $(ratio "$om" "$cm") time" "<= 70 MiB of 1024" \
    "$(verdict "$ob <= 70 * 1048576")"
