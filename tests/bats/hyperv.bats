#!/usr/bin/env bats
# Hyper-V exports as file sources (source.format "hyperv"): an export laid
# out by tests/hyperv/mkexport (VHDX made by qemu-img from the sample boot
# disk; the 2012 R2 XML configuration, UTF-16; the JSON of Get-VM |
# ConvertTo-Json beside it) through the real daemons and qemu-img; what
# cannot be read (.vmcx, checkpoints) is refused saying what to do, and
# disk paths in the configuration cannot lead out of the export.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample
MKEXPORT=$BATS_TEST_DIRNAME/../hyperv/mkexport
XML="Virtual Machines/0AA394FA-7C4A-4070-BA32-773D43B28A68.xml"

setup() {
	hs_setup
	mkdir -p "$T/out"
	printf 'convert = { output_dir = "%s/out"; };\n' "$T" >>"$T/conf"
	"$SAMPLE/mkova" "$T/src" >/dev/null
	RAW=$T/src/hs-sample.raw
}
teardown() { hs_teardown; }

job() {
	drop "$1" "$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

@test "hyperv: the XML configuration of a 2012 R2 export (generation 1) and the JSON of Get-VM (generation 2): hardware, disks found in the export, converted identical" {
	"$MKEXPORT" "$T/src/exp" web "$RAW"
	a=$(job xml "{\"type\":\"file\",\"path\":\"$T/src/exp/web/$XML\"}")
	b=$(job json "{\"type\":\"file\",\"path\":\"$T/src/exp/web/vm.json\",\"format\":\"hyperv\"}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	for id in "$a" "$b"; do
		[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/reason"; cat "$T"/*.log; false; }
	done
	j=$SP/exported/$a
	[ "$(jq -r .vm.cpus "$j")" = 2 ]
	[ "$(jq -r .vm.memory_mib "$j")" = 96 ]
	[ "$(jq -r .vm.firmware "$j")" = bios ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = ide ]
	[ "$(jq -r .vm.disks[0].format "$j")" = vhdx ]
	[ "$(jq -r '.vm.disks | length' "$j")" = 1 ]	# the ISO is not a disk
	[ "$(jq -r .vm.nics[0].mac "$j")" = 00:15:5d:01:07:dc ]
	[ "$(jq -r .vm.nics[0].network "$j")" = "Virtual External Switch" ]
	j=$SP/exported/$b
	[ "$(jq -r .vm.cpus "$j")" = 3 ]
	[ "$(jq -r .vm.memory_mib "$j")" = 128 ]
	[ "$(jq -r .vm.firmware "$j")" = uefi ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = scsi ]
	[ "$(jq -r .vm.nics[0].mac "$j")" = 00:15:5d:01:07:dd ]
	# read in place: the record names the export's Virtual Hard Disks/
	jq -e '.disks[0].path == "exp/web/Virtual Hard Disks/web.vhdx"' "$SP/data/$a/inplace.json"
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	for id in "$a" "$b"; do
		[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason"; cat "$T"/*.log; false; }
		qemu-img compare -f raw -F qcow2 "$RAW" "$(jq -r .vm.disks[0].output "$SP/converted/$id")"
	done
}

@test "hyperv: .vmcx, a checkpoint's .avhdx, a disk path leading out, a DOCTYPE are refused with their reason" {
	"$MKEXPORT" "$T/src/exp" web "$RAW" json
	mkdir -p "$T/src/exp/new/Virtual Machines" "$T/outside"
	head -c 4096 /dev/urandom >"$T/src/exp/new/Virtual Machines/1234.vmcx"
	cp "$RAW" "$T/outside/canary.vhdx"
	sed 's/web.vhdx/web_1A2B.avhdx/' "$T/src/exp/web/vm.json" >"$T/src/exp/web/ckpt.json"
	sed 's/\\\\Virtual Hard Disks\\\\web.vhdx/\\\\..\\\\..\\\\..\\\\outside\\\\canary.vhdx/' "$T/src/exp/web/vm.json" >"$T/src/exp/web/out.json"
	grep -q 'outside\\\\canary.vhdx' "$T/src/exp/web/out.json"
	printf '<?xml version="1.0"?>\n<!DOCTYPE c [<!ENTITY x SYSTEM "file://%s/outside/canary.vhdx">]>\n<configuration><properties><name>&x;</name></properties></configuration>\n' "$T" >"$T/src/exp/web/xxe.xml"
	v=$(job vmcx "{\"type\":\"file\",\"path\":\"$T/src/exp/new/Virtual Machines/1234.vmcx\"}")
	c=$(job ckpt "{\"type\":\"file\",\"path\":\"$T/src/exp/web/ckpt.json\",\"format\":\"hyperv\"}")
	o=$(job out "{\"type\":\"file\",\"path\":\"$T/src/exp/web/out.json\",\"format\":\"hyperv\"}")
	x=$(job xxe "{\"type\":\"file\",\"path\":\"$T/src/exp/web/xxe.xml\"}")
	for i in 1 2 3 4; do "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; done
	for e in "$v|1234.vmcx: .vmcx is Hyper-V's undocumented binary configuration format; export the hardware as JSON" \
	    "$c|ckpt.json: disk 'web_1A2B.avhdx' is not a VHD or VHDX (.avhdx/.avhd: a checkpoint's differencing disk" \
	    "$o|canary.vhdx: not found, or not readable by uid 0, beneath the source roots" \
	    "$x|xxe.xml: Hyper-V configuration with a DOCTYPE or entities: refused"; do
		id=${e%%|*}
		[ -f "$SP/error/$id" ] || { echo "$id not in error/"; false; }
		cat "$SP/data/$id/reason"
		grep -qF "${e#*|}" "$SP/data/$id/reason"
	done
}

@test "hyperv: an export the submitter cannot read is refused (as an unprivileged user)" {
	submitters
	"$MKEXPORT" "$T/src/exp" web "$RAW" json
	chmod 0600 "$T/src/exp/web/Virtual Hard Disks/web.vhdx"
	chmod -R a+rX "$T/src/exp"
	chmod 0600 "$T/src/exp/web/Virtual Hard Disks/web.vhdx"
	printf '{"name":"eve","source":{"type":"file","path":"%s","format":"hyperv"}}\n' "$T/src/exp/web/vm.json" |
	    as_user "$EVE" tee "$SP/incoming/.eve" >/dev/null
	as_user "$EVE" mv "$SP/incoming/.eve" "$SP/incoming/eve"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	run reason_of eve
	echo "$output"
	[[ $output == *"web.vhdx: not found, or not readable by uid $(id -u "$EVE")"* ]]
	drop_submitters
}

@test "hyperv: an exported Hyper-V VM reaches a booting domain in libvirt" {
	import_to_libvirt
	"$MKEXPORT" "$T/src/exp" boot "$RAW" xml
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-hv$$-$RANDOM
	id=$(printf '{"name":"%s","source":{"type":"file","path":"%s"},"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}}' \
	    "$n" "$T/src/exp/boot/$XML" | "$HS" -c "$T/conf" submit -)
	run "$HS" -c "$T/conf" wait --timeout 240 "$id"
	echo "$output"
	virsh -c qemu:///session dumpxml "$n" >"$T/dom.xml" 2>/dev/null || true
	virsh -q -c qemu:///session destroy "$n" >/dev/null 2>&1 || true
	virsh -q -c qemu:///session undefine "$n" >/dev/null 2>&1 || true
	[ "$status" -eq 0 ] || { cat "$T"/*.log; false; }
	[ "$(jq -r .result.boot_check "$SP/imported/$id")" = passed ]
	grep -q "00:15:5d:01:07:dc" "$T/dom.xml"
}
