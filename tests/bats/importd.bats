#!/usr/bin/env bats
# importd against real libvirt: qemu:///session as root, TCG (domain type
# 'qemu'), a 512-byte boot sector (contrib/sample/mkbootdisk) that prints
# "HYPERSPOOL BOOT OK" on COM1. Each test defines domains under unique
# names and destroys/undefines them in teardown; a domain the test did not
# create is never touched.

load helpers

IMPORTD=$HS_BINDIR/importd
URI=qemu:///session
MKBOOTDISK=$BATS_TEST_DIRNAME/../../contrib/sample/mkbootdisk

virsh_() { timeout 60 virsh -q -c "$URI" "$@"; }
libvirt_up() { virsh_ list --all >/dev/null 2>&1; }
is_running() { [ "$(virsh_ domstate "$1" 2>/dev/null)" = running ]; }

# detached COMMAND...: run a daemon holding none of bats' descriptors
# (bats waits for every holder of its output pipes before it finishes).
detached() {
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec "$@"
	) </dev/null >/dev/null 2>&1
}

# As root, qemu:///session is served by the system daemon's socket: start
# virtlogd and libvirtd when nothing answers (libvirtd leaves by itself
# after 10 idle minutes). No libvirt is a failure, never a skip.
setup_file() {
	local log=/var/log/libvirt/libvirtd.log
	libvirt_up && return 0
	if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null; then
		echo "importd.bats: libvirt does not answer on $URI and cannot be" \
		    "started here (need root and libvirtd: libvirt-daemon," \
		    "libvirt-daemon-driver-qemu, qemu-system-x86)" >&2
		return 1
	fi
	mkdir -p /var/log/libvirt
	pgrep -x virtlogd >/dev/null || detached virtlogd -d
	pgrep -x libvirtd >/dev/null || detached libvirtd -d --timeout 600
	wait_for 30 libvirt_up && return 0
	echo "importd.bats: libvirt does not work: $(virsh_ list 2>&1 | tail -n 1)" >&2
	if grep -q "Failed to parse user 'libvirt-qemu'" "$log" 2>/dev/null; then
		echo "importd.bats: the libvirt-qemu user is missing (package" \
		    "libvirt-daemon-system creates it)" >&2
	fi
	tail -n 5 "$log" >&2 2>/dev/null
	return 1
}

setup() {
	hs_setup
	cat >>"$T/conf" <<-'CONF'
	importd = { domain_type = "qemu"; workers = 1; connections = { session = "qemu:///session"; broken = "qemu+unix:///system?socket=/nonexistent/sock"; }; };
	CONF
	# libvirt runs qemu as libvirt-qemu: it must reach the images.
	chmod 0711 "$T"
	mkdir -m 0755 "$T/out"
	"$MKBOOTDISK" "$T/boot.raw"
	qemu-img convert -q -f raw -O qcow2 "$T/boot.raw" "$T/out/boot.qcow2"
	DOMS=()
}

teardown() {
	local d
	for d in "${DOMS[@]}"; do
		virsh_ destroy "$d" >/dev/null 2>&1 || true
		virsh_ undefine --nvram "$d" >/dev/null 2>&1 || true
	done
	hs_teardown
}

newname() {
	local n="hs-test-$$-$RANDOM"
	DOMS+=("$n")
	NAME=$n
}

# put_job NAME IMAGE EXPECT TIMEOUT [JQ-FILTER]: a converted job (job.vm as
# exportd and convertwatch leave it) in converted/; prints its ID.
put_job() {
	local id
	id=$(date -u +%Y%m%dT%H%M%S)-$(printf '%06d' $((RANDOM * 30 % 1000000)))-00000000-$(printf '%08x' $$)-$(printf '%08x' $((RANDOM * 65536 + RANDOM)))
	mkdir -p "$SP/data/$id"
	jq -n --arg id "$id" --arg n "$1" --arg p "$T/src/x.raw" --arg img "$2" \
	    --arg exp "$3" --argjson to "$4" --arg uri "$URI" '
	    {version: 1, id: $id, name: $n, submitted: "2026-11-22T03:15:00Z",
	     source: {type: "file", path: $p},
	     vm: {cpus: 1, memory_mib: 64, firmware: "bios",
	          disks: [{file: "x.raw", format: "raw", virtual_size: 67108864,
	                   boot_order: 0, output: $img, output_format: "qcow2"}],
	          nics: [{mac: "52:54:00:12:34:56", model: "vmxnet3",
	                  network: "VM Network"}]},
	    convert: {format: "qcow2", compress: false, compare: false,
	              guest: "none"},
	    import: {uri: $uri, start: true, autostart: false,
	             expect_serial: $exp, boot_timeout: $to, network: "user",
	             disk_bus: "virtio"},
	    origin: {dialect: "hyperspool-v1", uid: 0, user: "root", host: "h"}}
	    | '"${5:-.}" >"$SP/tmp/$id"
	mv "$SP/tmp/$id" "$SP/converted/$id"
	echo "$id"
}

run_importd() {
	"$IMPORTD" -c "$T/conf" --once 2>>"$T/importd.log"
}

@test "a converted VM is defined, started, and passes the boot check" {
	newname
	id=$(put_job "$NAME" "$T/out/boot.qcow2" "HYPERSPOOL BOOT OK" 60)
	run_importd
	[ -f "$SP/imported/$id" ] || { cat "$T/importd.log" "$SP/data/$id/reason"; false; }
	xml=$(virsh_ dumpxml "$NAME")
	grep -q "<domain type='qemu'" <<<"$xml"
	grep -q "<mac address='52:54:00:12:34:56'/>" <<<"$xml"
	grep -q "<vcpu placement='static'>1</vcpu>" <<<"$xml"
	grep -q "<memory unit='KiB'>65536</memory>" <<<"$xml"
	grep -q "<source file='$T/out/boot.qcow2'" <<<"$xml"
	grep -q "<driver name='qemu' type='qcow2'/>" <<<"$xml"
	grep -q "<interface type='user'>" <<<"$xml"
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	[ "$(virsh_ domstate "$NAME")" = running ]
	uuid=$(virsh_ domuuid "$NAME")
	[ "$(cat "$SP/data/$id/uuid")" = "$uuid" ]
	r=$(jq -c .result "$SP/imported/$id")
	[ "$(jq -r .uuid <<<"$r")" = "$uuid" ]
	[ "$(jq -r .domain <<<"$r")" = "$NAME" ]
	[ "$(jq -r .uri <<<"$r")" = "$URI" ]
	[ "$(jq -r .started <<<"$r")" = true ]
	[ "$(jq -r .boot_check <<<"$r")" = passed ]
	[ "$(jq -r .state <<<"$r")" = running ]
	grep -q "boot check passed" "$SP/data/$id/log"
}

@test "a domain of the same name that is not ours is refused and left untouched" {
	newname
	cat >"$T/dummy.xml" <<-XML
	<domain type='qemu'><name>$NAME</name><memory unit='MiB'>32</memory>
	<os><type arch='x86_64'>hvm</type></os></domain>
	XML
	virsh_ define "$T/dummy.xml" >/dev/null
	before=$(virsh_ dumpxml "$NAME")
	id=$(put_job "$NAME" "$T/out/boot.qcow2" "HYPERSPOOL BOOT OK" 60)
	run_importd
	[ -f "$SP/error/$id" ]
	grep -q "a domain named $NAME already exists on $URI: refusing to touch it" \
	    "$SP/data/$id/reason"
	[ "$(virsh_ dumpxml "$NAME")" = "$before" ]
	[ "$(virsh_ domstate "$NAME")" = "shut off" ]
	[ ! -e "$SP/data/$id/serial.log" ]
}

@test "expected text that never appears fails the boot check; the domain stays" {
	newname
	id=$(put_job "$NAME" "$T/out/boot.qcow2" "NEVER PRINTED" 5)
	run_importd
	[ -f "$SP/error/$id" ]
	reason=$(cat "$SP/data/$id/reason")
	[[ $reason == "boot check: 'NEVER PRINTED' not seen on the serial console within 5 s (last output: "* ]]
	[[ $reason == *'HYPERSPOOL BOOT OK'* ]]
	[[ $reason == *"domain $NAME is left defined on $URI: it is yours now"* ]]
	[ "$(virsh_ domstate "$NAME")" = running ]
	[ "$(jq -r .result.boot_check "$SP/error/$id")" = failed ]
	[ "$(jq -r .result.uuid "$SP/error/$id")" = "$(cat "$SP/data/$id/uuid")" ]
	# Retried with the right text (as `hyperspool retry` would after the
	# job is fixed): the running domain is ours, and what its console
	# already said (serial.log) counts.
	jq '.import.expect_serial = "HYPERSPOOL BOOT OK"' "$SP/error/$id" >"$SP/tmp/$id"
	mv "$SP/tmp/$id" "$SP/converted/$id"
	rm "$SP/error/$id"
	run_importd
	[ -f "$SP/imported/$id" ] || { cat "$SP/data/$id/reason"; false; }
	[ "$(jq -r .result.boot_check "$SP/imported/$id")" = passed ]
	grep -q "defined by an earlier attempt: carrying on" "$SP/data/$id/log"
}

@test "a domain that stops before the text appears fails at once, saying so" {
	newname
	# The boot sector halts after its line; pull the plug from outside
	# while importd still waits for a text that will never come.
	id=$(put_job "$NAME" "$T/out/boot.qcow2" "NEVER PRINTED" 60)
	run_importd &
	pid=$!
	wait_for 30 is_running "$NAME"
	sleep 1
	virsh_ destroy "$NAME" >/dev/null
	wait "$pid"
	[ -f "$SP/error/$id" ] || { cat "$T/importd.log"; ls -R "$SP"; false; }
	grep -q "boot check: the domain stopped (shut off: destroyed) before 'NEVER PRINTED'" \
	    "$SP/data/$id/reason"
}

@test "a missing converted image fails the job before anything is defined" {
	newname
	id=$(put_job "$NAME" "$T/out/nothere.qcow2" "HYPERSPOOL BOOT OK" 60)
	run_importd
	[ -f "$SP/error/$id" ]
	grep -q "vm.disks\[0\].output: $T/out/nothere.qcow2: No such file or directory (the converted image is missing)" \
	    "$SP/data/$id/reason"
	! virsh_ dominfo "$NAME" >/dev/null 2>&1
	[ ! -e "$SP/data/$id/uuid" ]
}

@test "images libvirt must not get are refused: symlink, wrong format, backing file, source disk" {
	newname
	ln -s "$T/out/boot.qcow2" "$T/out/link.qcow2"
	qemu-img create -q -f qcow2 -F qcow2 -b "$T/out/boot.qcow2" "$T/out/overlay.qcow2"
	cp "$T/out/boot.qcow2" "$T/src/source.qcow2"
	id1=$(put_job "$NAME" "$T/out/link.qcow2" "HYPERSPOOL BOOT OK" 60)
	id2=$(put_job "$NAME" "$T/boot.raw" "HYPERSPOOL BOOT OK" 60)
	id3=$(put_job "$NAME" "$T/out/boot.qcow2" "x" 60 'del(.vm.disks[0].output)')
	id4=$(put_job "$NAME" "$T/out/overlay.qcow2" "HYPERSPOOL BOOT OK" 60)
	id5=$(put_job "$NAME" "$T/src/source.qcow2" "HYPERSPOOL BOOT OK" 60)
	run_importd
	grep -q "a symbolic link, refusing" "$SP/data/$id1/reason"
	grep -q "is not a qcow2 image" "$SP/data/$id2/reason"
	grep -q "no converted image (output, output_format): not converted yet?" \
	    "$SP/data/$id3/reason"
	grep -q "has a backing file: refusing" "$SP/data/$id4/reason"
	grep -q "is inside source_roots: refusing to hand a source disk to libvirt" \
	    "$SP/data/$id5/reason"
	for id in "$id1" "$id2" "$id3" "$id4" "$id5"; do [ -f "$SP/error/$id" ]; done
	! virsh_ dominfo "$NAME" >/dev/null 2>&1
	[ "$(stat -c %U "$T/src/source.qcow2")" = root ]
}

@test "a rerun finds its own domain by UUID and carries on; network_map applies" {
	newname
	cat >>"$T/conf" <<-'CONF'
	importd = { domain_type = "qemu"; network_map = [ "VM Network=user" ]; connections = { session = "qemu:///session"; }; };
	CONF
	sed -i '/^importd = { domain_type = "qemu"; workers = 1; /d' "$T/conf"
	# First pass: define only. The job's own network does not exist: the
	# map must be what puts the NIC on user networking.
	id=$(put_job "$NAME" "$T/out/boot.qcow2" "HYPERSPOOL BOOT OK" 60 \
	    '.import.start = false | del(.import.expect_serial) | .import.network = "nosuchnet"')
	run_importd
	[ -f "$SP/imported/$id" ] || { cat "$SP/data/$id/reason"; false; }
	uuid=$(virsh_ domuuid "$NAME")
	[ "$(virsh_ domstate "$NAME")" = "shut off" ]
	[ "$(jq -r .result.started "$SP/imported/$id")" = false ]
	[ "$(jq -r .result.boot_check "$SP/imported/$id")" = none ]
	# Second pass of the same job (as after a crash or a retry), now
	# asking for start and the boot check.
	jq '.import.start = true | .import.expect_serial = "HYPERSPOOL BOOT OK"' \
	    "$SP/imported/$id" >"$SP/tmp/$id"
	mv "$SP/tmp/$id" "$SP/converted/$id"
	rm "$SP/imported/$id"
	run_importd
	[ -f "$SP/imported/$id" ] || { cat "$SP/data/$id/reason"; false; }
	[ "$(virsh_ domuuid "$NAME")" = "$uuid" ]
	grep -q "defined by an earlier attempt: carrying on" "$SP/data/$id/log"
	grep -q "<interface type='user'>" <(virsh_ dumpxml "$NAME")
	[ "$(jq -r .result.boot_check "$SP/imported/$id")" = passed ]
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
}

@test "an image directory qemu cannot search: the reason names it, at once, and the domain is undefined" {
	newname
	chmod 0700 "$T"
	id=$(put_job "$NAME" "$T/out/boot.qcow2" "HYPERSPOOL BOOT OK" 60)
	run_importd
	[ -f "$SP/error/$id" ]
	[ ! -e "$SP/data/$id/retry" ]
	grep -q "^cannot start the domain: .*Permission denied (note: $T is not searchable by other users" \
	    "$SP/data/$id/reason"
	grep -q "$T is not searchable by other users" "$SP/data/$id/log"
	! virsh_ dominfo "$NAME" >/dev/null 2>&1
}

@test "an unreachable libvirt is a temporary failure, retried then given up" {
	newname
	id=$(put_job "$NAME" "$T/out/boot.qcow2" "HYPERSPOOL BOOT OK" 60 \
	    '.import.connection = "broken" | del(.import.uri)')
	"$IMPORTD" -c "$T/conf" 2>>"$T/importd.log" &
	PIDS+=($!)
	wait_for 20 test -f "$SP/error/$id"
	grep -q "gave up after 3 attempts: cannot connect to qemu+unix:///system" \
	    "$SP/data/$id/reason"
}
