#!/usr/bin/env bats
# exportd and convertwatch on every input kind, with real qemu-img: each
# source goes request/ -> exported/ -> converted/ and the converted image
# must equal the original raw disk (qemu-img compare); bad sources end in
# error/ with their specific reason.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch

setup() {
	hs_setup_sample
}
teardown() {
	local d
	# the domains of a boot test that failed half-way (hs-p$$-...)
	for d in $(virsh -q -c qemu:///session list --all --name 2>/dev/null | grep "^hs-p$$-"); do
		virsh -q -c qemu:///session destroy "$d" >/dev/null 2>&1 || true
		virsh -q -c qemu:///session undefine "$d" >/dev/null 2>&1 || true
	done
	hs_teardown
}

@test "an OVA: disks streamed out, manifest checked, hardware described, converted identical" {
	id=$(job ova "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\"}")
	run_export_convert
	converted_ok "$id"
	j=$SP/converted/$id
	[ "$(jq -r .vm.cpus "$j")" = 1 ]
	[ "$(jq -r .vm.memory_mib "$j")" = 64 ]
	[ "$(jq -r .vm.firmware "$j")" = bios ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = scsi ]
	[ "$(jq -r .vm.disks[0].virtual_size "$j")" = 67108864 ]
	[ "$(jq -r .vm.nics[0].mac "$j")" = 00:50:56:8a:12:34 ]
	[ "$(jq -r .vm.nics[0].model "$j")" = vmxnet3 ]
	[ -f "$SP/data/$id/source.ovf" ]
	# the exported copy is gone once converted, the source untouched
	[ ! -e "$SP/data/$id/hs-sample-disk1.vmdk" ]
	tar tf "$T/src/hs-sample.ova" | grep -q hs-sample-disk1.vmdk
	[ "$(jq -r .stage "$SP/data/$id/progress.json")" = converting ]
}

@test "an OVF directory and a VMX with a descriptor + flat extent" {
	mkdir "$T/src/vmx"
	qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat "$RAW" "$T/src/vmx/web.vmdk"
	[ -f "$T/src/vmx/web-flat.vmdk" ]
	cat >"$T/src/vmx/web.vmx" <<'VMX'
.encoding = "UTF-8"
displayName = "web"
numvcpus = "2"
memsize = "128"
scsi0.present = "TRUE"
scsi0.virtualDev = "lsilogic"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "web.vmdk"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "e1000"
ethernet0.addressType = "static"
ethernet0.address = "00:50:56:01:02:03"
ethernet0.networkName = "Prod"
VMX
	id1=$(job ovf "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ovf\"}")
	id2=$(job vmx "{\"type\":\"file\",\"path\":\"$T/src/vmx/web.vmx\"}")
	run_export_convert
	converted_ok "$id1"
	converted_ok "$id2"
	[ "$(jq -r .vm.cpus "$SP/converted/$id2")" = 2 ]
	[ "$(jq -r .vm.memory_mib "$SP/converted/$id2")" = 128 ]
	[ "$(jq -r .vm.nics[0].mac "$SP/converted/$id2")" = 00:50:56:01:02:03 ]
	[ "$(jq -r .vm.nics[0].network "$SP/converted/$id2")" = Prod ]
}

@test "bare disks in every flavour: VMDK sparse, split sparse, flat, VHD, VHDX, raw, qcow2" {
	ids=()
	for spec in "vmdk:subformat=monolithicSparse:sparse.vmdk" \
	    "vmdk:subformat=twoGbMaxExtentSparse:split.vmdk" \
	    "vmdk:subformat=monolithicFlat:flat.vmdk" \
	    "vpc::disk.vhd" "vhdx::disk.vhdx" "raw::disk.img" "qcow2::disk.qcow2"; do
		IFS=: read -r fmt opt file <<<"$spec"
		qemu-img convert -f raw -O "$fmt" ${opt:+-o "$opt"} "$RAW" "$T/src/$file"
		ids+=("$(job "d-${file//./-}" "{\"type\":\"file\",\"path\":\"$T/src/$file\"}")")
	done
	# a raw disk of no whole number of sectors: its virtual size (which
	# exportd takes from the file's size) is what qemu-img says it is
	head -c 1000000 /dev/urandom >"$T/src/odd.raw"
	odd=$(job d-odd "{\"type\":\"file\",\"path\":\"$T/src/odd.raw\"}")
	run_export_convert
	for id in "${ids[@]}"; do converted_ok "$id"; done
	[ -f "$SP/converted/$odd" ] || { cat "$SP/data/$odd/reason"; false; }
	want=$(qemu-img info -f raw --output=json "$T/src/odd.raw" | jq '."virtual-size"')
	[ "$want" = 1000448 ]
	[ "$(jq -r .vm.disks[0].virtual_size "$SP/converted/$odd")" = "$want" ]
	qemu-img compare -f raw -F qcow2 "$T/src/odd.raw" \
	    "$(jq -r '.vm.disks[0].output' "$SP/converted/$odd")"
	# a bare disk gets one NIC (libvirt picks the MAC) and sane defaults
	[ "$(jq -r '.vm.nics | length' "$SP/converted/${ids[5]}")" = 1 ]
	[ "$(jq -r .vm.memory_mib "$SP/converted/${ids[5]}")" = 1024 ]
}

@test "the job's sha256: a match passes, a mismatch fails with both digests" {
	sum=$(sha256sum "$T/src/hs-sample.ova" | cut -d' ' -f1)
	good=$(job good "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\",\"sha256\":\"$sum\"}")
	bad=$(job bad "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\",\"sha256\":\"$(printf '%064d' 0)\"}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/exported/$good" ]
	[ -f "$SP/error/$bad" ]
	grep -q "sha256 mismatch: expected 0000.*, got $sum" "$SP/data/$bad/reason"
	# nothing the failed export landed is left behind
	[ ! -e "$SP/data/$bad/hs-sample-disk1.vmdk" ]
}

@test "hostile and broken sources end in error/ with a specific reason" {
	cd "$T/src"
	# OVA whose manifest does not match its disk
	mkdir badmf && cp hs-sample.ovf hs-sample-disk1.vmdk badmf/
	printf 'SHA256(hs-sample-disk1.vmdk)= %064d\n' 0 >badmf/hs-sample.mf
	tar --format=ustar -C badmf -cf badmf.ova hs-sample.ovf hs-sample.mf hs-sample-disk1.vmdk
	# OVA with a ../ member
	tar --format=ustar -P --transform='s|^hs-sample-disk1|../hs-sample-disk1|' \
	    -cf dotdot.ova hs-sample.ovf hs-sample-disk1.vmdk 2>/dev/null
	# OVA with a symlink member
	ln -s /etc/passwd link.vmdk
	tar --format=ustar -cf symlink.ova hs-sample.ovf link.vmdk
	# descriptor whose flat extent is missing, one whose extent escapes
	qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat hs-sample.raw gone.vmdk
	rm gone-flat.vmdk
	qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat hs-sample.raw esc.vmdk
	sed -i 's|"esc-flat.vmdk"|"/etc/passwd"|' esc.vmdk
	# an extent that is a symlink
	qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat hs-sample.raw sym.vmdk
	rm sym-flat.vmdk && ln -s /etc/passwd sym-flat.vmdk
	# a qcow2 that is not one, a raw that is a qcow2, a qcow2 with a backing file
	{ printf 'QFI\373\000\000\000\077'; head -c 504 /dev/zero; } >broken.qcow2
	qemu-img convert -f raw -O qcow2 hs-sample.raw liar.img
	qemu-img create -q -f qcow2 -b "$T/src/liar.img" -F qcow2 overlay.qcow2
	cd - >/dev/null
	while IFS='|' read -r name path reason; do
		ids+=("$(job "$name" "{\"type\":\"file\",\"path\":\"$T/src/$path\"}")|$reason")
	done <<'EOF2'
badmf|badmf.ova|SHA256 of hs-sample-disk1.vmdk does not match the manifest
dotdot|dotdot.ova|contains '..': refused
symlink|symlink.ova|is not a regular file (tar type '2')
gone|gone.vmdk|extent 'gone-flat.vmdk': not found, or not readable by uid 0
esc|esc.vmdk|is not a file next to the descriptor
sym|sym.vmdk|extent 'sym-flat.vmdk': not found, or not readable by uid 0
broken|broken.qcow2|qemu-img info -f qcow2 failed
liar|liar.img|declared raw but the file looks like qcow2
overlay|overlay.qcow2|qcow2 with a backing file
nofile|nope.ova|source.path: not found, or not readable by uid 0
EOF2
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	# an OVA member read in place: its digest is checked as it converts
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	failed_with "${ids[@]}"
	# the daemon never wrote outside data/ID
	[ "$(cat /etc/passwd | wc -l)" -gt 0 ]
}

@test "retrying a failed conversion does not export again" {
	id=$(job rc "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\"}")
	rmdir "$T/out" && touch "$T/out"	# conversion cannot create its dir
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	# no retry can fix that: error/ on the first attempt, naming the key
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	[ -f "$SP/error/$id" ]
	grep -q "Not a directory: set convert.output_dir" "$SP/data/$id/reason"
	rm "$T/out" && mkdir "$T/out"
	"$HS" -c "$T/conf" retry "$id"
	[ -f "$SP/exported/$id" ]
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	converted_ok "$id"
	[ "$(grep -c ' exporting ' "$SP/data/$id/history")" -eq 1 ]
}

@test "all four daemons: an OVA, a VMX and an HTTP disk end up running in libvirt and boot" {
	import_to_libvirt
	mkdir "$T/src/vmx"
	qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat "$RAW" "$T/src/vmx/b.vmdk"
	printf 'numvcpus = "2"\nmemsize = "96"\nscsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "b.vmdk"\nethernet0.present = "TRUE"\nethernet0.address = "00:50:56:0a:0b:0c"\nethernet0.addressType = "static"\n' >"$T/src/vmx/b.vmx"
	start_nginx "$T/src"
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-p$$-$RANDOM
	boot='"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}'
	ids=()
	for src in "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\"}" \
	    "{\"type\":\"file\",\"path\":\"$T/src/vmx/b.vmx\"}" \
	    "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/hs-sample.raw\",\"sha256\":\"$(sha256sum "$RAW" | cut -d' ' -f1)\"}"; do
		i=${#ids[@]}
		ids+=("$(printf '{"name":"%s-%d","source":%s,%s}' "$n" "$i" "$src" "$boot" |
		    "$HS" -c "$T/conf" submit -)")
	done
	for id in "${ids[@]}"; do
		run "$HS" -c "$T/conf" wait --timeout 240 "$id"
		echo "$id: $output"
		[ "$status" -eq 0 ] || { cat "$T"/*.log; false; }
	done
	for i in 0 1 2; do
		id=${ids[$i]}
		[ "$(jq -r .result.boot_check "$SP/imported/$id")" = passed ]
		grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
		virsh -c qemu:///session dumpxml "$n-$i" >"$T/dom$i.xml"
		virsh -q -c qemu:///session destroy "$n-$i" >/dev/null 2>&1 || true
		virsh -q -c qemu:///session undefine "$n-$i" >/dev/null 2>&1 || true
		# the guest wrote nothing to its disk: still equal to the source
		out=$(jq -r '.vm.disks[0].output' "$SP/imported/$id")
		qemu-img compare -f raw -F qcow2 "$RAW" "$out"
	done
	grep -q "00:50:56:8a:12:34" "$T/dom0.xml"
	grep -q "<memory unit='KiB'>65536</memory>" "$T/dom0.xml"
	grep -q "00:50:56:0a:0b:0c" "$T/dom1.xml"
	grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom1.xml"
	# the HTTP source came from nginx, in Range segments or whole
	grep -q "GET /hs-sample.raw" "$T/nginx/access.log"
	kill -QUIT "$NGINX"	# graceful: the workers go too
}

@test "inspect: the description and domain XML of an OVA, a file or a URL, nothing copied" {
	run "$HS" -c "$T/conf" inspect --json "$T/src/hs-sample.ova"
	[ "$status" -eq 0 ]
	j=$output
	[ "$(jq -r .cpus <<<"$j")" = 1 ]
	[ "$(jq -r .memory_mib <<<"$j")" = 64 ]
	[ "$(jq -r .firmware <<<"$j")" = bios ]
	[ "$(jq -r .os <<<"$j")" = otherGuest ]
	[ "$(jq -r .disks[0].format <<<"$j")" = vmdk ]
	[ "$(jq -r .disks[0].virtual_size <<<"$j")" = 67108864 ]
	[ "$(jq -r .disks[0].bus <<<"$j")" = scsi ]
	[ "$(jq -r .nics[0].mac <<<"$j")" = 00:50:56:8a:12:34 ]
	[ "$(jq -r .nics[0].model <<<"$j")" = vmxnet3 ]
	[ "$(jq -r .nics[0].network <<<"$j")" = "VM Network" ]
	run "$HS" -c "$T/conf" inspect "$T/src/hs-sample.ova"
	[ "$status" -eq 0 ]
	[[ "$output" == *"<mac address=\"00:50:56:8a:12:34\"/>"* ]]
	[[ "$output" == *"<memory unit=\"MiB\">64</memory>"* ]]
	start_nginx "$T/src"
	run "$HS" -c "$T/conf" inspect --json "http://127.0.0.1:$PORT/hs-sample.ova"
	[ "$status" -eq 0 ]
	[ "$(jq -r .nics[0].mac <<<"$output")" = 00:50:56:8a:12:34 ]
	run "$HS" -c "$T/conf" inspect --json "http://127.0.0.1:$PORT/hs-sample.raw"
	[ "$(jq -r .disks[0].virtual_size <<<"$output")" = 67108864 ]
	kill -QUIT "$NGINX"
	# a missing file is the user's own: said plainly, no job field named
	run "$HS" -c "$T/conf" inspect "$T/src/nope.ova"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/src/nope.ova: No such file or directory"* ]]
	[[ "$output" != *"source.path"* ]]
	# nothing was written anywhere in the spool
	[ "$(find "$SP/data" -mindepth 1 | wc -l)" -eq 0 ]
}
