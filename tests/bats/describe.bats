#!/usr/bin/env bats
# describe.bats - every OVF and VMX described as it is (issue 15, part 2),
# as `hyperspool inspect` and exportd's job.vm say it, with real qemu-img
# disks: a descriptor that lists no NIC gets none (a bare disk still gets
# the default one); a VM without disks is described, and refused for
# export with its reason; a blank disk is created empty (sparse raw, its
# capacity); a gzip-compressed disk is inflated and a chunked one joined
# (both converted identical), a gzip bomb and a missing chunk refused.

load helpers

setup() {
	hs_setup
	mkdir -p "$T/src/vm"
	qemu-img create -q -f vmdk "$T/src/vm/disk1.vmdk" 16M
	qemu-img create -q -f raw "$T/src/bare.raw" 16M
}
teardown() { hs_teardown; }

hs() { "$HS" -c "$T/conf" "$@"; }

# ovf FILE REFS DISKS ITEMS: an OVF 1.0 with 2 CPUs and 256 MiB
ovf() {
	cat >"$1" <<OVF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
<References>$2</References>
<DiskSection><Info>disks</Info>$3</DiskSection>
<VirtualSystem ovf:id="vm"><Info>vm</Info><Name>described</Name>
<VirtualHardwareSection><Info>hw</Info>
<Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
<Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>256</rasd:VirtualQuantity></Item>
<Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
$4
</VirtualHardwareSection></VirtualSystem></Envelope>
OVF
}

FILE1='<File ovf:href="disk1.vmdk" ovf:id="file1"/>'
DISK1='<Disk ovf:capacity="16" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="d1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#monolithicSparse"/>'
ITEM1='<Item><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>'
BLANK='<Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="d2"/>'
ITEM2='<Item><rasd:HostResource>ovf:/disk/d2</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>'

@test "describe: an OVF or VMX without NICs gets none; a bare disk keeps the default NIC" {
	ovf "$T/src/vm/vm.ovf" "$FILE1" "$DISK1" "$ITEM1"
	run hs inspect --json "$T/src/vm/vm.ovf"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.cpus, .memory_mib, (.disks | length), (.nics | length)' <<<"$output" | xargs)" = "2 256 1 0" ]
	run hs inspect "$T/src/vm/vm.ovf"
	[ "$status" -eq 0 ]
	[[ "$output" != *"<interface"* ]]
	printf 'displayName = "v"\nnumvcpus = "2"\nmemsize = "512"\nscsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "disk1.vmdk"\n' >"$T/src/vm/vm.vmx"
	run hs inspect --json "$T/src/vm/vm.vmx"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.cpus, .memory_mib, (.disks | length), (.nics | length)' <<<"$output" | xargs)" = "2 512 1 0" ]
	run hs inspect --json "$T/src/bare.raw"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.nics | length' <<<"$output")" = 1 ]
	# exportd writes the same into job.vm
	start_daemon "$HS_BINDIR/queued" 3>&-
	start_daemon "$HS_BINDIR/exportd" 3>&-
	drop nonic.json "{\"name\":\"nonic\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/vm/vm.ovf\"}}"
	wait_for 30 has_n exported 1
	j=$(find "$SP/exported" -mindepth 1 -maxdepth 1 ! -name '.*')
	[ "$(jq -r '.vm.cpus, (.vm.disks | length), (.vm.nics | length)' "$j" | xargs)" = "2 1 0" ]
}

@test "describe: a VM without disks is described by inspect, refused by export with its reason" {
	ovf "$T/src/vm/nodisk.ovf" "" "" ""
	run hs inspect "$T/src/vm/nodisk.ovf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cpus      2"* ]]
	[[ "$output" == *"memory    256 MiB"* ]]
	[[ "$output" == *"disks     none"* ]]
	[[ "$output" == *"the source describes no disks: nothing to export"* ]]
	st=0
	out=$(hs inspect --json "$T/src/vm/nodisk.ovf" 2>"$T/err") || st=$?
	[ "$st" -eq 1 ]
	[ "$(jq -r '.cpus, (.disks | length)' <<<"$out" | xargs)" = "2 0" ]
	grep -q "nothing to export" "$T/err"
	start_daemon "$HS_BINDIR/queued" 3>&-
	start_daemon "$HS_BINDIR/exportd" 3>&-
	drop nodisk.json "{\"name\":\"nodisk\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/vm/nodisk.ovf\"}}"
	wait_for 30 has_n error 1
	[[ "$(reason_of nodisk.json)" == *"the source describes no disks: nothing to export"* ]]
}

@test "describe: a blank disk is created empty" {
	ovf "$T/src/vm/blank.ovf" "$FILE1" "$DISK1$BLANK" "$ITEM1$ITEM2"
	run hs inspect "$T/src/vm/blank.ovf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"disk 1    (blank), -, 1073741824 bytes, bus scsi"* ]]
	start_daemon "$HS_BINDIR/queued" 3>&-
	start_daemon "$HS_BINDIR/exportd" 3>&-
	drop blank.json "{\"name\":\"blank\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/vm/blank.ovf\"}}"
	# a blank disk no file can hold fails at once, saying so
	ovf "$T/src/vm/huge.ovf" "$FILE1" "$DISK1${BLANK/ovf:capacity=\"1\"/ovf:capacity=\"10000000000\"}" "$ITEM1$ITEM2"
	grep -q 'ovf:capacity="10000000000" ovf:capacityAllocationUnits="byte \* 2^30"' "$T/src/vm/huge.ovf"
	drop huge.json "{\"name\":\"huge\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/vm/huge.ovf\"}}"
	wait_for 30 has_n exported 1
	wait_for 30 has_n error 1
	[[ "$(reason_of huge.json)" == *"blank-disk1.raw: a blank disk of 10737418240000000000 bytes is larger than a file can be"* ]]
	[[ "$(reason_of huge.json)" != *"gave up"* ]]	# permanent, not retried
	j=$(find "$SP/exported" -mindepth 1 -maxdepth 1 ! -name '.*')
	id=$(basename "$j")
	[ "$(jq -r '[.vm.disks[] | .file, .format, .virtual_size, .boot_order] | map(tostring) | join(" ")' "$j")" = \
	    "disk1.vmdk vmdk 16777216 0 blank-disk1.raw raw 1073741824 1" ]
	# all zeros, and sparse: no block written
	b=$SP/data/$id/blank-disk1.raw
	[ "$(stat -c %s "$b")" = 1073741824 ]
	[ "$(stat -c %b "$b")" -eq 0 ]
	cmp -s -n 1048576 "$b" /dev/zero
	# and convertwatch makes an empty image of that size out of it
	mkdir -p "$T/out"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	start_daemon "$HS_BINDIR/convertwatch" 3>&-
	wait_for 60 has_n converted 1
	out=$(jq -r '.vm.disks[1].output' "$SP/converted/$id")
	qemu-img create -q -f raw "$T/zero.raw" 1G
	qemu-img compare -q -f raw -F "$(jq -r '.vm.disks[1].output_format' "$SP/converted/$id")" "$T/zero.raw" "$out"
}

@test "describe: a gzip disk is inflated, a chunked one joined (directory and OVA), converted identical; a gzip bomb and a missing chunk fail" {
	# the original: 16 MiB with data in its first and last MiB
	qemu-img create -q -f raw "$T/orig.raw" 16M
	head -c 1048576 /dev/urandom | dd of="$T/orig.raw" conv=notrunc status=none
	head -c 1048576 /dev/urandom | dd of="$T/orig.raw" bs=1M seek=15 conv=notrunc status=none
	qemu-img convert -q -f raw -O vmdk "$T/orig.raw" "$T/disk1.vmdk"
	mkdir -p "$T/src/gz" "$T/src/ch" "$T/src/bomb" "$T/src/gap"
	gzip -c "$T/disk1.vmdk" >"$T/src/gz/disk1.vmdk"
	ovf "$T/src/gz/vm.ovf" '<File ovf:href="disk1.vmdk" ovf:id="file1" ovf:compression="gzip"/>' "$DISK1" "$ITEM1"
	# chunks as DSP0243 names them: href.000000000, href.000000001, ...
	split -b 262144 -d -a 9 "$T/disk1.vmdk" "$T/src/ch/disk1.vmdk."
	[ -f "$T/src/ch/disk1.vmdk.000000002" ]
	ovf "$T/src/ch/vm.ovf" '<File ovf:href="disk1.vmdk" ovf:id="file1" ovf:chunkSize="262144"/>' "$DISK1" "$ITEM1"
	cp "$T/src/ch/"* "$T/src/gap/"
	rm "$T/src/gap/disk1.vmdk.000000001"
	# 1 MiB declared, 200 MiB of zeros inside a few hundred KiB of gzip
	head -c 209715200 /dev/zero | gzip -c >"$T/src/bomb/disk1.vmdk"
	ovf "$T/src/bomb/vm.ovf" '<File ovf:href="disk1.vmdk" ovf:id="file1" ovf:compression="gzip"/>' "${DISK1/ovf:capacity=\"16\"/ovf:capacity=\"1\"}" "$ITEM1"
	# the same two as OVAs (a local OVA is read in place: these land)
	# as virt-v2v's test-i-ova-gz names it: href disk1.vmdk.gz
	mkdir -p "$T/src/gzova"
	# in two gzip members, as gzip -c a b writes them
	{ head -c 300000 "$T/disk1.vmdk" | gzip -c; tail -c +300001 "$T/disk1.vmdk" | gzip -c; } >"$T/src/gzova/disk1.vmdk.gz"
	ovf "$T/src/gzova/vm.ovf" '<File ovf:href="disk1.vmdk.gz" ovf:id="file1" ovf:compression="gzip"/>' "$DISK1" "$ITEM1"
	tar -C "$T/src/gzova" -cf "$T/src/gz.ova" vm.ovf disk1.vmdk.gz
	(cd "$T/src/ch" && tar -cf "$T/src/ch.ova" vm.ovf disk1.vmdk.0*)
	# a gzip stream cut short
	mkdir -p "$T/src/cut"
	head -c 20000 "$T/src/gz/disk1.vmdk" >"$T/src/cut/disk1.vmdk"
	cp "$T/src/gz/vm.ovf" "$T/src/cut/"
	run hs inspect "$T/src/ch/vm.ovf"
	[ "$status" -eq 0 ]
	mkdir -p "$T/out"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	start_daemon "$HS_BINDIR/queued" 3>&-
	start_daemon "$HS_BINDIR/exportd" 3>&-
	start_daemon "$HS_BINDIR/convertwatch" 3>&-
	for v in gz ch bomb gap cut; do
		drop $v.json "{\"name\":\"$v\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/$v/vm.ovf\"}}"
	done
	for v in gz ch; do
		drop $v-ova.json "{\"name\":\"$v-ova\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/$v.ova\"}}"
	done
	wait_for 120 has_n converted 4
	wait_for 30 has_n error 3
	for j in "$SP"/converted/*; do
		[ "$(jq -r '.vm.disks[0] | "\(.file) \(.format) \(.virtual_size)"' "$j")" = "disk1.vmdk vmdk 16777216" ]
		qemu-img compare -q -f raw -F "$(jq -r '.vm.disks[0].output_format' "$j")" "$T/orig.raw" "$(jq -r '.vm.disks[0].output' "$j")"
	done
	[[ "$(reason_of bomb.json)" == *"disk1.vmdk: expands past the disk's capacity (1048576 bytes) plus 64 MiB: refused (a gzip bomb?)"* ]]
	[[ "$(reason_of cut.json)" == *"disk1.vmdk: not valid gzip data"* ]]
	[[ "$(reason_of gap.json)" == *"disk1.vmdk: chunk disk1.vmdk.000000001 is missing (chunk 2 exists)"* ]]
	# the failed ones leave nothing half-written behind
	[ "$(find "$SP/data" -name reason | wc -l)" -ge 3 ]
	[ -z "$(find "$SP/data" -name '.*.part')" ]
}
