#!/usr/bin/env bats
# sec-image.bats - issue 21, findings 2 and 9, as an unprivileged submitter.
#
# Finding 2: an image must not make qemu-img open any file but its own.
# $EVE (a member of a throwaway submitters' group) hands the daemons
# (root, as in the demo) images that name a root-only canary file: a VMDK
# descriptor downloaded by the http provider, a VMDK member of an OVA, a
# monolithicSparse VMDK whose header carries an embedded descriptor
# (capacity 0), qcow2 files with a backing file or an external data file,
# and landed images changed after export (convertwatch checks again).
# Each job must fail with a reason that says what was refused, and the
# canary's bytes must be in no file of the spool or the output directory.
# Finding 9: $VIC's converted image, its directory and the exported copy
# are unreadable for $EVE, while the job's history stays readable for the
# group. Also: the convertwatch and importd units cannot see the
# credentials directory.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch

setup() {
	hs_setup
	submitters
	mkdir -p "$T/out" "$T/web" "$T/src/eve" "$T/src/vic"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	chown "$EVE" "$T/src/eve"
	chown "$VIC" "$T/src/vic"
	# the canary: root-only, 8 sectors, bytes found nowhere else
	CANARY_TEXT="HSCANARY-$$-$RANDOM-root-only"
	for _ in $(seq 200); do printf '%s\n' "$CANARY_TEXT"; done | head -c 4096 >"$T/canary"
	chmod 0600 "$T/canary"
	# queued runs, so that `hyperspool submit` answers with the job's ID
	start_daemon "$QUEUED"
}

teardown() {
	drop_submitters
	hs_teardown
}

# submit_as USER JSON: submit JOB as USER (the CLI, like any submitter);
# prints the job's ID
submit_as() {
	printf '%s' "$2" | as_user "$1" "$HS" -c "$T/conf" submit - 2>/dev/null
}

# pipeline: exportd and convertwatch once each, as root
pipeline() {
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
}

# refused ID REGEX: the job ended in error/ with a reason matching REGEX
refused() {
	[ -f "$SP/error/$1" ] || { echo "job $1 not in error/"; ls -R "$SP" "$T/out"; cat "$T"/*.log; false; }
	echo "reason: $(cat "$SP/data/$1/reason")"
	grep -Eq "$2" "$SP/data/$1/reason"
}

# no_canary: the canary's bytes are in no file the daemons wrote
no_canary() {
	! grep -rlF "$CANARY_TEXT" "$SP" "$T/out" || false
}

# flat_descriptor FILE EXTENT: a monolithicFlat descriptor of 8 sectors
flat_descriptor() {
	printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 8 FLAT "%s" 0\n' "$2" >"$1"
}

# sparse_embedded FILE EXTENT: a monolithicSparse VMDK made by qemu-img,
# its capacity set to 0 and its embedded descriptor (sector 1) replaced by
# one whose extent is EXTENT: qemu reads that as a descriptor file
sparse_embedded() {
	qemu-img create -q -f vmdk -o subformat=monolithicSparse "$1" 1M
	printf '\0\0\0\0\0\0\0\0' | dd of="$1" bs=1 seek=12 conv=notrunc status=none
	dd if=/dev/zero of="$1" bs=512 seek=1 count=20 conv=notrunc status=none
	printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "%s" 0\n' "$2" |
	    dd of="$1" bs=512 seek=1 conv=notrunc status=none
}

@test "the attack is real: qemu-img copies the canary through each crafted file" {
	# what the daemons must refuse, shown to work on plain qemu-img (root)
	flat_descriptor "$T/web/flat.vmdk" "$T/canary"
	sparse_embedded "$T/web/sparse.vmdk" "$T/canary"
	qemu-img create -q -f qcow2 -b "$T/canary" -F raw "$T/web/b.qcow2"
	for f in flat.vmdk:vmdk sparse.vmdk:vmdk b.qcow2:qcow2; do
		qemu-img convert -f "${f#*:}" -O raw "$T/web/${f%:*}" "$T/x.raw"
		grep -qF "$CANARY_TEXT" "$T/x.raw"
	done
}

@test "http: a downloaded VMDK descriptor naming a root-only file is refused" {
	flat_descriptor "$T/web/evil.vmdk" "$T/canary"
	# and the same through a leading blank and fields split over lines,
	# which qemu's sscanf() reads as an extent and a line-by-line parser not
	printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 ZERO\n \tRW\n8 FLAT\n"%s" 0\n' "$T/canary" >"$T/web/sneaky.vmdk"
	start_nginx "$T/web"
	a=$(submit_as "$EVE" "{\"name\":\"eve-http\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/evil.vmdk\"}}")
	b=$(submit_as "$EVE" "{\"name\":\"eve-sneaky\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/sneaky.vmdk\"}}")
	pipeline
	refused "$a" "evil\.vmdk: extent '/.*canary' is not a file next to the descriptor"
	refused "$b" "sneaky\.vmdk: qemu would read an extent '/.*canary'"
	no_canary
}

@test "OVA: a VMDK member naming a root-only file is refused" {
	cd "$T/src/eve"
	sed 's|ovf:href="hs-sample-disk1.vmdk"|ovf:href="d.vmdk"|' \
	    "$BATS_TEST_DIRNAME/../../contrib/sample/sample.ovf" >vm.ovf
	flat_descriptor d.vmdk "$T/canary"
	tar --format=ustar -cf vm.ova vm.ovf d.vmdk
	chown "$EVE" vm.ova vm.ovf d.vmdk
	cd - >/dev/null
	id=$(submit_as "$EVE" "{\"name\":\"eve-ova\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/vm.ova\"}}")
	pipeline
	refused "$id" "d\.vmdk: extent '/.*canary' is not a file next to the descriptor"
	no_canary
}

@test "OVA and http: a file named like one of the spool's own files never replaces it" {
	cd "$T/src/eve"
	sed 's|ovf:href="hs-sample-disk1.vmdk"|ovf:href="history"|' \
	    "$BATS_TEST_DIRNAME/../../contrib/sample/sample.ovf" >vm.ovf
	printf '2026-01-01T00:00:00Z imported root@forged[1] approved by root\n' >history
	tar --format=ustar -cf vm.ova vm.ovf history
	chown "$EVE" vm.ova vm.ovf history
	cp history "$T/web/reason"
	cd - >/dev/null
	start_nginx "$T/web"
	a=$(submit_as "$EVE" "{\"name\":\"eve-ova-history\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/vm.ova\"}}")
	b=$(submit_as "$EVE" "{\"name\":\"eve-http-reason\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/reason\",\"format\":\"raw\"}}")
	pipeline
	refused "$a" "member 'history' has the name of one of the spool's own files"
	refused "$b" "source\.url: no usable file name"
	! grep -rq forged "$SP/data/$a" "$SP/data/$b" || false
}

@test "monolithicSparse VMDK with capacity 0 and an embedded descriptor: refused (file and http)" {
	sparse_embedded "$T/src/eve/s.vmdk" "$T/canary"
	chown "$EVE" "$T/src/eve/s.vmdk"
	cp "$T/src/eve/s.vmdk" "$T/web/s.vmdk"
	start_nginx "$T/web"
	a=$(submit_as "$EVE" "{\"name\":\"eve-sparse\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/s.vmdk\"}}")
	b=$(submit_as "$EVE" "{\"name\":\"eve-sparse-http\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/s.vmdk\"}}")
	pipeline
	refused "$a" "s\.vmdk: a sparse VMDK of capacity 0 whose embedded descriptor"
	refused "$b" "s\.vmdk: a sparse VMDK of capacity 0 whose embedded descriptor"
	no_canary
}

@test "http: a qcow2 with a backing file or an external data file is refused" {
	qemu-img create -q -f qcow2 -b "$T/canary" -F raw "$T/web/b.qcow2"
	# the data file's name, made by qemu-img for a file of the same length
	qemu-img create -q -f qcow2 -o data_file="$T/canarz",data_file_raw=on "$T/web/df.qcow2" 4K
	perl -0777 -pi -e 's/canarz/canary/' "$T/web/df.qcow2"
	rm -f "$T/canarz"
	start_nginx "$T/web"
	a=$(submit_as "$EVE" "{\"name\":\"eve-backing\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/b.qcow2\"}}")
	b=$(submit_as "$EVE" "{\"name\":\"eve-datafile\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/df.qcow2\"}}")
	pipeline
	refused "$a" "b\.qcow2: qcow2 with a backing file"
	refused "$b" "df\.qcow2: qcow2 with an external data file"
	no_canary
}

@test "convertwatch checks again: landed images changed after export are refused" {
	# $EVE's honest monolithicFlat VMDK and qcow2, exported normally
	qemu-img create -q -f vmdk -o subformat=monolithicFlat "$T/src/eve/d.vmdk" 4K
	qemu-img create -q -f qcow2 "$T/src/eve/q.qcow2" 4K
	chown "$EVE" "$T"/src/eve/*
	# (copied: sources read in place are zerocopy.bats's)
	a=$(submit_as "$EVE" "{\"name\":\"eve-late-vmdk\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/d.vmdk\",\"copy\":true}}")
	b=$(submit_as "$EVE" "{\"name\":\"eve-late-qcow2\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/q.qcow2\",\"copy\":true}}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/exported/$a" ] && [ -f "$SP/exported/$b" ]
	# then (as an older exportd, or anything that writes data/ID, could)
	# the landed files name the canary
	flat_descriptor "$SP/data/$a/d.vmdk" "$T/canary"
	qemu-img rebase -q -u -f qcow2 -b "$T/canary" -F raw "$SP/data/$b/q.qcow2"
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	refused "$a" "d\.vmdk: extent '/.*canary' is not a file next to the descriptor"
	refused "$b" "q\.qcow2: qcow2 with a backing file"
	no_canary
}

@test "a legitimate OVA with a descriptor and its flat extent still converts" {
	cd "$T/src/eve"
	qemu-img create -q -f raw r.raw 64K
	printf 'HS-LEGIT-EXTENT' | dd of=r.raw conv=notrunc status=none
	qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat r.raw d.vmdk
	sed 's|ovf:href="hs-sample-disk1.vmdk"|ovf:href="d.vmdk"|' \
	    "$BATS_TEST_DIRNAME/../../contrib/sample/sample.ovf" >vm.ovf
	tar --format=ustar -cf vm.ova vm.ovf d.vmdk d-flat.vmdk
	chown "$EVE" ./*
	cd - >/dev/null
	id=$(submit_as "$EVE" "{\"name\":\"eve-legit\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/vm.ova\"}}")
	pipeline
	[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	out=$(jq -r '.vm.disks[0].output' "$SP/converted/$id")
	qemu-img compare -f raw -F qcow2 "$T/src/eve/r.raw" "$out"
}

@test "finding 9: another submitter can read neither the image, its directory nor the exported copy" {
	qemu-img create -q -f raw "$T/src/vic/v.raw" 64K
	printf 'HS-VICTIM-PRIVATE-DISK' | dd of="$T/src/vic/v.raw" conv=notrunc status=none
	chown "$VIC" "$T/src/vic/v.raw"
	sed -i "s|^convert = .*|convert = { output_dir = \"$T/out\"; keep_exported = true; };|" "$T/conf"
	id=$(submit_as "$VIC" "{\"name\":\"vic-disk\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/vic/v.raw\",\"copy\":true}}")
	pipeline
	[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	out=$(jq -r '.vm.disks[0].output' "$SP/converted/$id")
	ls -la "$T/out/$id" "$SP/data/$id"
	grep -qF HS-VICTIM-PRIVATE-DISK "$out"
	# $EVE: not the image, not a listing of its directory, not the copy
	! as_user "$EVE" cat "$out" >/dev/null || false
	! as_user "$EVE" ls "$T/out/$id" >/dev/null || false
	! as_user "$EVE" cat "$SP/data/$id/v.raw" >/dev/null || false
	# others may not read them, nor the submitters' group
	for f in "$out" "$T/out/$id" "$SP/data/$id/v.raw"; do
		[ "$(( $(stat -c 0%a "$f") & 04 ))" -eq 0 ]
		[ "$(stat -c %G "$f")" != "$SUBGROUP" ] ||
		    [ "$(( $(stat -c 0%a "$f") & 040 ))" -eq 0 ]
	done
	# the images' group is the hypervisor's (libvirt-qemu, when it exists)
	if getent group libvirt-qemu >/dev/null; then
		[ "$(stat -c %G "$out")" = libvirt-qemu ]
		[ "$(stat -c %G "$T/out/$id")" = libvirt-qemu ]
	fi
	# what the spool shares with the group stays readable: the job's
	# history and state (hyperspool show), for $VIC and for $EVE
	as_user "$VIC" "$HS" -c "$T/conf" show "$id" | grep -q converted
	as_user "$EVE" cat "$SP/data/$id/history" >/dev/null
}

@test "units: convertwatch and importd cannot see the credentials directory" {
	make -s -C "$BATS_TEST_DIRNAME/../.." units SAN="${SAN:-}"
	U=$BATS_TEST_DIRNAME/../../${HS_BUILD:-build}/systemd
	for p in convertwatch importd; do
		for u in "$U/hyperspool-$p.service" "$U/hyperspool-$p@.service"; do
			grep -Eq '^InaccessiblePaths=.*-/etc/hyperspool/credentials( |$)' "$u"
		done
	done
	# exportd reads them, and keeps its view of them
	! grep -q '^InaccessiblePaths=.*credentials' "$U/hyperspool-exportd.service" || false
}

@test "finding 9: convert.images_group may not be the submitters' group" {
	qemu-img create -q -f raw "$T/src/vic/v.raw" 64K
	chown "$VIC" "$T/src/vic/v.raw"
	sed -i "s|^convert = .*|convert = { output_dir = \"$T/out\"; images_group = \"$SUBGROUP\"; };|" "$T/conf"
	id=$(submit_as "$VIC" "{\"name\":\"vic-grp\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/vic/v.raw\"}}")
	pipeline
	[ ! -f "$SP/converted/$id" ]
	grep -q "convert.images_group is the spool's group" "$T/convertwatch.log"
	[ -z "$(find "$T/out" -type f)" ]
}
