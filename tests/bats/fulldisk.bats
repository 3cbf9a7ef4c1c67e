#!/usr/bin/env bats
# fulldisk.bats - a full disk: the spool and convert.output_dir on small
# tmpfs mounts (real mounts, so this suite runs as root). An export or a
# conversion that does not fit fails as a temporary failure whose reason
# gives both sizes ("no space left on PATH: need N bytes, M available"),
# nothing partial is left (no disk under its final name, no dot-file),
# the daemons keep running, and the job completes once the mount is made
# bigger (or goes to error/ with that reason after retry.max_attempts).

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample
BIG=20971520	# 20 MiB of random bytes: never fits in 8 MiB

setup() {
	[ "$(id -u)" -eq 0 ] || { echo "fulldisk.bats mounts tmpfs: run it as root"; false; }
	MOUNTS=()
	hs_setup
	sed -i 's/max_attempts = 3;/max_attempts = 100;/' "$T/conf"
	head -c $BIG /dev/urandom >"$T/src/big.raw"
}

teardown() {
	local p m
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	PIDS=()
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	hs_teardown
}

# small_mount DIR SIZE: a tmpfs of SIZE on DIR, unmounted in teardown
small_mount() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1"
	MOUNTS+=("$1")
}

# small_spool SIZE: the spool itself on a tmpfs of SIZE
small_spool() {
	small_mount "$SP" "$1"
	"$HS" -c "$T/conf" init >/dev/null
}

grow() { mount -o remount,size=64m "$1"; }

# submit NAME SOURCE-JSON [EXTRA-JSON]: through the running queued; prints the ID
submit() {
	printf '{"name":"%s","source":%s%s}' "$1" "$2" "${3:+,$3}" |
	    "$HS" -c "$T/conf" submit -
}

# alive PID...: every daemon still runs
alive() {
	local p
	for p in "$@"; do kill -0 "$p" || { echo "daemon $p died"; cat "$T"/*.log; false; }; done
}

# nothing_partial DIR NAME...: no NAME and no dot-file in DIR
nothing_partial() {
	local dir=$1 n
	shift
	[ -z "$(find "$dir" -mindepth 1 -name '.*')" ] || { ls -lA "$dir"; false; }
	for n in "$@"; do
		[ ! -e "$dir/$n" ] || { ls -lA "$dir"; false; }
	done
}

# nospace_logged LOG WHAT WHERE NEED: the reason, with both sizes, was given
nospace_logged() {
	grep -qE "$2: no space left on $3: need $4 bytes, [0-9]+ available" "$1"
}

@test "exportd: raw and VMDK files larger than the spool wait with the sizes, then land once it grows" {
	# (copies, source.copy: sources read in place take no room in the spool)
	small_spool 8m
	qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse "$T/src/big.raw" "$T/src/big.vmdk"
	vmdk_need=$(( $(stat -c %b "$T/src/big.vmdk") * 512 ))
	if [ "$vmdk_need" -gt "$(stat -c %s "$T/src/big.vmdk")" ]; then vmdk_need=$(stat -c %s "$T/src/big.vmdk"); fi
	start_daemon "$QUEUED"
	q=$LASTPID
	start_daemon "$EXPORTD"
	e=$LASTPID
	raw=$(submit raw "{\"type\":\"file\",\"path\":\"$T/src/big.raw\",\"copy\":true}")
	vmdk=$(submit vmdk "{\"type\":\"file\",\"path\":\"$T/src/big.vmdk\",\"copy\":true}")
	# checked up front: the sizes are in the reason, and nothing was written
	wait_for 30 nospace_logged "$T/exportd.log" big.raw "$SP/data/$raw" $BIG
	wait_for 30 nospace_logged "$T/exportd.log" big.vmdk "$SP/data/$vmdk" "$vmdk_need"
	grep -q "no space left on $SP/data/$raw: need $BIG bytes" "$SP/data/$raw/log"
	nothing_partial "$SP/data/$raw" big.raw
	nothing_partial "$SP/data/$vmdk" big.vmdk
	[ ! -e "$SP/exported/$raw" ]
	[ ! -e "$SP/error/$raw" ]
	alive "$q" "$e"
	grow "$SP"
	wait_for 30 test -f "$SP/exported/$raw"
	wait_for 30 test -f "$SP/exported/$vmdk"
	cmp "$T/src/big.raw" "$SP/data/$raw/big.raw"
	cmp "$T/src/big.vmdk" "$SP/data/$vmdk/big.vmdk"
	alive "$q" "$e"
}

@test "exportd: an OVA member that runs out of space mid-write; error/ after max_attempts, retry completes" {
	sed -i 's/max_attempts = 100;/max_attempts = 2;/' "$T/conf"
	small_spool 8m
	# An OVA of the sample's OVF and a 20 MiB streamOptimized VMDK of random
	# data: a member's size is only an upper bound (members land sparse), so
	# this is found out by ENOSPC on the way, not by a check up front.
	mkdir "$T/o"
	cp "$SAMPLE/sample.ovf" "$T/o/hs-sample.ovf"
	qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$T/src/big.raw" "$T/o/hs-sample-disk1.vmdk"
	size=$(stat -c %s "$T/o/hs-sample-disk1.vmdk")
	tar --format=ustar -C "$T/o" -cf "$T/src/big.ova" hs-sample.ovf hs-sample-disk1.vmdk
	start_daemon "$QUEUED"
	q=$LASTPID
	start_daemon "$EXPORTD"
	e=$LASTPID
	id=$(submit ova "{\"type\":\"file\",\"path\":\"$T/src/big.ova\",\"copy\":true}")
	wait_for 30 test -f "$SP/error/$id"
	cat "$SP/data/$id/reason"
	grep -qE "^gave up after 2 attempts: hs-sample-disk1.vmdk: no space left on $SP/data/$id: need $size bytes, [0-9]+ available$" "$SP/data/$id/reason"
	# the failed attempts removed what they wrote: the disk is free again
	nothing_partial "$SP/data/$id" hs-sample-disk1.vmdk
	[ "$(df --output=used -B1 "$SP" | tail -n 1)" -lt 2000000 ]
	alive "$q" "$e"
	grow "$SP"
	"$HS" -c "$T/conf" retry "$id"
	wait_for 30 test -f "$SP/exported/$id"
	cmp "$T/o/hs-sample-disk1.vmdk" "$SP/data/$id/hs-sample-disk1.vmdk"
	alive "$q" "$e"
}

@test "convertwatch: outputs larger than convert.output_dir (measured, or ENOSPC when compressing) wait, then convert" {
	small_mount "$T/out" 8m
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	start_daemon "$QUEUED"
	start_daemon "$EXPORTD"
	start_daemon "$CONVERTWATCH"
	c=$LASTPID
	src="{\"type\":\"file\",\"path\":\"$T/src/big.raw\"}"
	plain=$(submit plain "$src")
	comp=$(submit comp "$src" '"convert":{"compress":true}')
	need=$(qemu-img measure --output=json -f raw -O qcow2 "$T/src/big.raw" | jq .required)
	# uncompressed: `qemu-img measure` against the free space, up front
	wait_for 30 nospace_logged "$T/convertwatch.log" "disk 0" "$T/out/$plain" "$need"
	# compressed (size unknown until written): qemu-img's ENOSPC on the way
	wait_for 30 grep -qE "qemu-img convert: no space left on $T/out/$comp: need [0-9]+ bytes, [0-9]+ available" "$T/convertwatch.log"
	nothing_partial "$T/out/$plain" plain-disk0.qcow2
	nothing_partial "$T/out/$comp" comp-disk0.qcow2
	alive "${PIDS[@]}"
	grow "$T/out"
	wait_for 40 test -f "$SP/converted/$plain"
	wait_for 40 test -f "$SP/converted/$comp"
	for id in "$plain" "$comp"; do
		qemu-img compare -f raw -F qcow2 "$T/src/big.raw" "$(jq -r '.vm.disks[0].output' "$SP/converted/$id")"
	done
	alive "$c"
}

@test "queued: submissions wait in incoming/ (and a job in intake/ waits there) while the spool is full" {
	small_spool 8m
	good() { printf '{"name":"%s","source":{"type":"file","path":"%s/src/big.raw"}}\n' "$1" "$T"; }
	for i in 1 2 3; do good "j$i" >"$SP/incoming/.j$i"; done
	# a job queued had claimed when it stopped (resumed in intake/ at start)
	orphan=20260101T000000-000000-00000000-00000001-00000001
	good orphan >"$SP/intake/$orphan"
	# fill the spool to the last byte
	! dd if=/dev/zero of="$SP/filler" bs=1M 2>/dev/null
	[ "$(df --output=avail -B1 "$SP" | tail -n 1)" -eq 0 ]
	start_daemon "$QUEUED"
	q=$LASTPID
	for i in 1 2 3; do mv "$SP/incoming/.j$i" "$SP/incoming/j$i"; done
	for i in 1 2 3; do
		wait_for 20 grep -q "not taking incoming/j$i yet: no space left on $SP: need [0-9]* bytes, 0 available" "$T/queued.log"
	done
	# the orphan cannot even get its owner record written: it waits
	wait_for 20 grep -q "$orphan: cannot write its owner record (trying again in [0-9.]*s): No space left on device" "$T/queued.log"
	# nothing taken, nothing lost, nothing rejected
	[ "$(count_in incoming)" -eq 3 ]
	[ -f "$SP/intake/$orphan" ]
	[ "$(count_in request)" -eq 0 ]
	[ "$(count_in error)" -eq 0 ]
	alive "$q"
	rm "$SP/filler"
	wait_for 20 has_n request 4
	# exactly once: each submission became one job, the orphan kept its ID
	[ "$(count_in incoming)" -eq 0 ]
	[ "$(count_in intake)" -eq 0 ]
	[ "$(count_in error)" -eq 0 ]
	[ "$(jq -r .id "$SP/request/$orphan")" = "$orphan" ]
	for i in 1 2 3; do
		[ "$(grep -l " from incoming/j$i " "$SP"/data/*/history | wc -l)" -eq 1 ]
	done
	[ "$(jq -r .name "$SP"/request/* | sort | tr '\n' ' ')" = "j1 j2 j3 orphan " ]
	alive "$q"
}

@test "exportd http: a download larger than the spool fails fast (or on ENOSPC without a size), then completes" {
	small_spool 8m
	chmod 0755 "$T/src"
	start_nginx "$T/src"
	# faultserv is a FAKE server (tests/fetch/faultserv.c): nginx always
	# sends Content-Length, and only a size-less (chunked) download shows
	# that ENOSPC in the middle of a transfer is handled too.
	"$HS_TESTDIR/faultserv" "$T/src" 3>&- >"$T/fs.port" 2>"$T/fs.log" &
	PIDS+=($!)
	wait_for 5 test -s "$T/fs.port"
	start_daemon "$QUEUED"
	start_daemon "$EXPORTD"
	sized=$(submit sized "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/big.raw\"}")
	chunked=$(submit chunked "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$(cat "$T/fs.port")/big.raw?mode=chunked\"}")
	wait_for 30 nospace_logged "$T/exportd.log" big.raw "$SP/data/$sized" $BIG
	wait_for 30 grep -qE "big.raw: no space left on $SP/data/$chunked: need more than [0-9]+ bytes, [0-9]+ available" "$T/exportd.log"
	for id in "$sized" "$chunked"; do
		nothing_partial "$SP/data/$id" big.raw big.raw.part big.raw.part.state
	done
	alive "${PIDS[@]}"
	grow "$SP"
	wait_for 30 test -f "$SP/exported/$sized"
	wait_for 30 test -f "$SP/exported/$chunked"
	cmp "$T/src/big.raw" "$SP/data/$sized/big.raw"
	cmp "$T/src/big.raw" "$SP/data/$chunked/big.raw"
	alive "${PIDS[@]}"
}
