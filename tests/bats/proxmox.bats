#!/usr/bin/env bats
# Proxmox VE sources. The vzdump archive (VMA): archives written by
# tests/pve/mkvma.py from the format's public specification (never by the
# reader under test), plain, zstd and gzip, as file and http sources,
# through the real daemons and qemu-img; the disks must come out equal to
# the raw disk that went in, sparse, with the hardware of the archive's
# qemu-server.conf; one reaches a booting domain in libvirt.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample
MKVMA=$BATS_TEST_DIRNAME/../pve/mkvma.py

setup() {
	hs_setup
	mkdir -p "$T/out"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	"$SAMPLE/mkova" "$T/src" >/dev/null
	RAW=$T/src/hs-sample.raw
	cat >"$T/src/qemu-server.conf" <<'CONF'
#web server%3A migrated
boot: order=scsi0;ide2;net0
cores: 2
ide2: none,media=cdrom
memory: 96
name: pve-web
net0: virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1
numa: 0
ostype: l26
scsi0: local-lvm:vm-100-disk-0,iothread=1,size=64M
scsihw: virtio-scsi-single
smbios1: uuid=0f4f2f7e-54b3-4d6b-9a52-3c1d7b6f1a10
sockets: 1

[before-upgrade]
cores: 16
memory: 65536
CONF
}
teardown() { hs_teardown; }

# job NAME SOURCE-JSON: publish a job through queued --once, print its ID
job() {
	drop "$1" "$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

# vma OUT ARGS...: an archive of the sample's boot disk as drive-scsi0
vma() {
	local out=$1
	shift
	python3 "$MKVMA" "$out" --config "$T/src/qemu-server.conf" \
	    --dev "drive-scsi0=$RAW" "$@"
}

# exported_ok ID: the archive's one disk landed as scsi0.raw, sparse,
# equal to $RAW, with the configuration's hardware
exported_ok() {
	local j=$SP/exported/$1 f=$SP/data/$1/scsi0.raw
	[ -f "$j" ] || { cat "$SP/data/$1/reason" 2>/dev/null; cat "$T"/*.log; false; }
	cmp "$RAW" "$f"
	# holes: the 64 MiB disk holds a few KiB of data
	[ "$(stat -c %b "$f")" -lt 2048 ]
	[ "$(jq -r .vm.cpus "$j")" = 2 ]
	[ "$(jq -r .vm.memory_mib "$j")" = 96 ]
	[ "$(jq -r .vm.firmware "$j")" = bios ]
	[ "$(jq -r '.vm.disks | length' "$j")" = 1 ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = scsi ]
	[ "$(jq -r .vm.disks[0].virtual_size "$j")" = 67108864 ]
	[ "$(jq -r .vm.nics[0].mac "$j")" = bc:24:11:2a:3b:4c ]
	[ "$(jq -r .vm.nics[0].model "$j")" = virtio ]
}

@test "vma: a plain, a zstd and a gzip vzdump archive land as sparse raw disks with the VM's hardware, and convert" {
	vma "$T/src/vzdump-qemu-100-2026_01_01-00_00_00.vma"
	vma "$T/src/z.vma" && zstd -q --rm "$T/src/z.vma"
	vma "$T/src/g.vma" && gzip "$T/src/g.vma"
	a=$(job plain "{\"type\":\"file\",\"path\":\"$T/src/vzdump-qemu-100-2026_01_01-00_00_00.vma\"}")
	b=$(job zst "{\"type\":\"file\",\"path\":\"$T/src/z.vma.zst\"}")
	c=$(job gz "{\"type\":\"file\",\"path\":\"$T/src/g.vma.gz\",\"format\":\"vma\"}")
	for i in 1 2 3; do "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; done
	for id in "$a" "$b" "$c"; do exported_ok "$id"; done
	for i in 1 2 3; do "$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"; done
	for id in "$a" "$b" "$c"; do
		[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason"; false; }
		qemu-img compare -f raw -F qcow2 "$RAW" "$(jq -r .vm.disks[0].output "$SP/converted/$id")"
	done
}

@test "vma: several disks, the boot order of the configuration, firmware state and RAM state left out" {
	truncate -s 4M "$T/src/data.raw"
	printf 'second disk' | dd of="$T/src/data.raw" bs=1 seek=1048576 conv=notrunc status=none
	truncate -s 128K "$T/src/efi.raw"
	printf 'EFI VARS' | dd of="$T/src/efi.raw" conv=notrunc status=none
	truncate -s 1M "$T/src/ram.raw"
	printf 'RAM' | dd of="$T/src/ram.raw" conv=notrunc status=none
	sed -i -e 's/^boot: .*/boot: order=virtio1;scsi0/' -e 's/^cores: 2/bios: ovmf\ncores: 2/' "$T/src/qemu-server.conf"
	printf 'virtio1: local:100/vm-100-disk-1.qcow2,size=4M\nefidisk0: local:100/vm-100-disk-2.raw,size=128K\n' >>"$T/src/x"
	# the disk lines go before the snapshot section
	sed -i "/^sockets: 1/r $T/src/x" "$T/src/qemu-server.conf"
	python3 "$MKVMA" "$T/src/multi.vma" --config "$T/src/qemu-server.conf" \
	    --dev "drive-scsi0=$RAW" --dev "drive-efidisk0=$T/src/efi.raw" \
	    --dev "drive-virtio1=$T/src/data.raw" --dev "vmstate=$T/src/ram.raw"
	id=$(job multi "{\"type\":\"file\",\"path\":\"$T/src/multi.vma\"}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	j=$SP/exported/$id
	[ -f "$j" ] || { cat "$SP/data/$id/reason"; false; }
	[ "$(jq -r .vm.firmware "$j")" = uefi ]
	[ "$(jq -r '.vm.disks | length' "$j")" = 2 ]
	[ "$(jq -r .vm.disks[0].file "$j")" = virtio1.raw ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = virtio ]
	[ "$(jq -r .vm.disks[1].file "$j")" = scsi0.raw ]
	cmp "$T/src/data.raw" "$SP/data/$id/virtio1.raw"
	cmp "$RAW" "$SP/data/$id/scsi0.raw"
	[ ! -e "$SP/data/$id/efidisk0.raw" ]
	run grep -l "EFI VARS\|RAM" "$SP/data/$id/"*.raw
	[ "$status" -eq 1 ]
}

@test "vma: an http source (nginx) downloads the archive, lands its disks and removes it; inspect reads only the header" {
	vma "$T/src/h.vma" && zstd -q --rm "$T/src/h.vma"
	start_nginx "$T/src"
	run "$HS" -c "$T/conf" inspect --json "http://127.0.0.1:$PORT/h.vma.zst"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r .cpus <<<"$output")" = 2 ]
	[ "$(jq -r .disks[0].virtual_size <<<"$output")" = 67108864 ]
	id=$(job web "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/h.vma.zst\",\"sha256\":\"$(sha256sum "$T/src/h.vma.zst" | cut -d' ' -f1)\"}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	exported_ok "$id"
	[ ! -e "$SP/data/$id/h.vma.zst" ]
	grep -q "GET /h.vma.zst" "$T/nginx/access.log"
	kill -QUIT "$NGINX"
}

@test "vma: an archive the submitter cannot read is refused as any unreadable source (as an unprivileged user)" {
	submitters
	vma "$T/src/secret.vma"
	chmod 0600 "$T/src/secret.vma"
	printf '{"name":"steal","source":{"type":"file","path":"%s"}}\n' "$T/src/secret.vma" |
	    as_user "$EVE" tee "$SP/incoming/.steal" >/dev/null
	as_user "$EVE" mv "$SP/incoming/.steal" "$SP/incoming/steal"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	run reason_of steal
	echo "$output"
	[[ "$output" == *"source.path: not found, or not readable by uid $(id -u "$EVE")"* ]]
	run find "$SP/data" -name '*.raw'
	[ -z "$output" ]
	drop_submitters
}

@test "vma: a vzdump archive reaches a booting domain in libvirt" {
	import_to_libvirt
	vma "$T/src/boot.vma" && zstd -q --rm "$T/src/boot.vma"
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-pve$$-$RANDOM
	id=$(printf '{"name":"%s","source":{"type":"file","path":"%s"},"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}}' \
	    "$n" "$T/src/boot.vma.zst" | "$HS" -c "$T/conf" submit -)
	run "$HS" -c "$T/conf" wait --timeout 240 "$id"
	echo "$output"
	virsh -c qemu:///session dumpxml "$n" >"$T/dom.xml" 2>/dev/null || true
	virsh -q -c qemu:///session destroy "$n" >/dev/null 2>&1 || true
	virsh -q -c qemu:///session undefine "$n" >/dev/null 2>&1 || true
	[ "$status" -eq 0 ] || { cat "$T"/*.log; false; }
	[ "$(jq -r .result.boot_check "$SP/imported/$id")" = passed ]
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	grep -q "bc:24:11:2a:3b:4c" "$T/dom.xml"
	grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom.xml"
}
