#!/usr/bin/env bats
# Errors that no retry can fix fail at once and say the fix (issue 15,
# part 3): each case here must end in error/ on the first attempt (no
# data/ID/retry, no "attempt N of M" in the log), with a reason that names
# the setting to change, and with no domain left defined. Real libvirt
# (qemu:///session via import_to_libvirt), real qemu-img; importd and
# convertwatch run with --once, which never waits for a retry: a job that
# was retried stays in its input stage instead of reaching error/.

load helpers

IMPORTD=$HS_BINDIR/importd
EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
URI=qemu:///session
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample

virsh_() { timeout 60 virsh -q -c "$URI" "$@"; }
defined() { virsh_ dominfo "$1" >/dev/null 2>&1; }

setup() {
	hs_setup
	import_to_libvirt
	mkdir -m 0755 "$T/out"
	"$SAMPLE/mkbootdisk" "$T/boot.raw"
	qemu-img convert -q -f raw -O qcow2 "$T/boot.raw" "$T/out/boot.qcow2"
	NAME="hs-ff-$$-$RANDOM"
}

teardown() {
	virsh_ destroy "$NAME" >/dev/null 2>&1 || true
	virsh_ undefine --nvram "$NAME" >/dev/null 2>&1 || true
	hs_teardown
}

# put_job IMAGE [JQ-FILTER]: a converted job in converted/; prints its ID
put_job() {
	local id
	id=$(date -u +%Y%m%dT%H%M%S)-$(printf '%06d' $((RANDOM * 30 % 1000000)))-00000000-$(printf '%08x' $$)-$(printf '%08x' $((RANDOM * 65536 + RANDOM)))
	mkdir -p "$SP/data/$id"
	jq -n --arg id "$id" --arg n "$NAME" --arg img "$1" --arg p "$T/src/x.raw" '
	    {version: 1, id: $id, name: $n, submitted: "2026-11-22T03:15:00Z",
	     source: {type: "file", path: $p},
	     vm: {cpus: 1, memory_mib: 64, firmware: "bios",
	          disks: [{file: "x.raw", format: "raw", virtual_size: 67108864,
	                   boot_order: 0, output: $img, output_format: "qcow2"}],
	          nics: [{mac: "52:54:00:12:34:57", model: "vmxnet3",
	                  network: "VM Network"}]},
	    convert: {format: "qcow2", compress: false, compare: false,
	              guest: "none"},
	    import: {connection: "session", start: true, autostart: false,
	             disk_bus: "virtio"},
	    origin: {dialect: "hyperspool-v1", uid: 0, user: "root", host: "h"}}
	    | '"${2:-.}" >"$SP/tmp/$id"
	mv "$SP/tmp/$id" "$SP/converted/$id"
	echo "$id"
}

run_importd() {
	"$IMPORTD" -c "$T/conf" --once 2>>"$T/importd.log"
}

# failed_at_once ID STAGE: in error/, no retry recorded or logged
failed_at_once() {
	[ -f "$SP/error/$1" ] || { cat "$T"/*.log; false; }
	[ ! -e "$SP/data/$1/retry" ]
	! grep -q "attempt [0-9]* of" "$SP/data/$1/log"
	! grep -q "gave up after" "$SP/data/$1/reason"
}

@test "a network the connection lacks: fails at once naming import.network and network_map; the domain is undefined again, the name free" {
	id=$(put_job "$T/out/boot.qcow2" '.import.network = "nosuchnet"')
	run_importd
	failed_at_once "$id"
	r=$(cat "$SP/data/$id/reason")
	[[ "$r" == *"nosuchnet"* ]]
	[[ "$r" == *"import.network"* ]]
	[[ "$r" == *"importd.network_map"* ]]
	[[ "$r" == *"undefined again"* ]]
	! defined "$NAME"
	# the same name, fixed: no "already exists"
	id2=$(put_job "$T/out/boot.qcow2" '.import.network = "user"')
	run_importd
	[ -f "$SP/imported/$id2" ] || { cat "$SP/data/$id2/reason"; false; }
	[ "$(virsh_ domstate "$NAME")" = running ]
}

@test "images qemu cannot reach: fails at once, names the directory and convert.output_dir, undefines the domain" {
	chmod 0700 "$T"
	id=$(put_job "$T/out/boot.qcow2")
	run_importd
	failed_at_once "$id"
	r=$(cat "$SP/data/$id/reason")
	[[ "$r" == *"Permission denied"* ]]
	[[ "$r" == *"$T is not searchable by other users"* ]]
	[[ "$r" == *"convert.output_dir"* ]]
	[[ "$r" == *"undefined again"* ]]
	! defined "$NAME"
}

@test "a bad importd key is the operator's: fails at once naming it, nothing defined" {
	sed -i 's/domain_type = "qemu"/domain_type = "xen"/' "$T/conf"
	id=$(put_job "$T/out/boot.qcow2")
	run_importd
	failed_at_once "$id"
	grep -q "importd.domain_type 'xen' is not kvm, qemu or auto" "$SP/data/$id/reason"
	! defined "$NAME"
}

@test "inspect with domain_type auto; network_map written out as documented behaves as left out" {
	sed -i 's/domain_type = "qemu"/domain_type = "auto"/' "$T/conf"
	# "auto", as hyperspool.conf(5) recommends: a kvm or qemu domain
	"$SAMPLE/mkova" "$T/src" >/dev/null
	run "$HS" -c "$T/conf" inspect "$T/src/hs-sample.ova"
	[ "$status" -eq 0 ]
	[[ "$output" == *"<domain type=\"kvm\">"* || "$output" == *"<domain type=\"qemu\">"* ]]
	left=$output
	# the default of importd.network_map as hyperspool.conf(5) states it,
	# written out, must change nothing
	doc=$(awk '/^\.B importd\.network_map$/ { f = 1 } f && /^Default$/ { getline; print; exit }' \
	    "$BATS_TEST_DIRNAME/../../man/hyperspool.conf.5.in" |
	    sed -e 's/^\.BR* //' -e 's/ \.$//' -e 's/\\(dq/"/g' -e 's/\\ / /g')
	[ -n "$doc" ]
	sed -i "s/domain_type = \"auto\";/domain_type = \"auto\"; network_map = $doc;/" "$T/conf"
	grep -qF "network_map = $doc;" "$T/conf"
	run "$HS" -c "$T/conf" inspect "$T/src/hs-sample.ova"
	[ "$status" -eq 0 ]
	[ "$output" = "$left" ]
	[[ "$output" == *"<interface type=\"user\">"* ]]
}

@test "convert.output_dir missing: created with its parents as hyperspool-setup makes them" {
	"$SAMPLE/mkova" "$T/src" >/dev/null
	printf 'convert = { output_dir = "%s/lib/hyperspool/images"; };\n' "$T" >>"$T/conf"
	drop j "$(printf '{"name":"%s","source":{"type":"file","path":"%s/src/hs-sample.raw"}}' "$NAME" "$T")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	id=$(basename "$(grep -l " from incoming/j " "$SP"/data/*/history | xargs dirname)")
	[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason"; false; }
	[ "$(stat -c %a "$T/lib")" = 755 ]
	[ "$(stat -c %a "$T/lib/hyperspool")" = 755 ]
	[ "$(stat -c %a "$T/lib/hyperspool/images")" = 711 ]
	[ -f "$(jq -r '.vm.disks[0].output' "$SP/converted/$id")" ]
}

@test "convert.output_dir that cannot be created: fails at once naming the key" {
	"$SAMPLE/mkova" "$T/src" >/dev/null
	: >"$T/afile"
	printf 'convert = { output_dir = "%s/afile/images"; };\n' "$T" >>"$T/conf"
	drop j "$(printf '{"name":"%s","source":{"type":"file","path":"%s/src/hs-sample.raw"}}' "$NAME" "$T")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	id=$(basename "$(grep -l " from incoming/j " "$SP"/data/*/history | xargs dirname)")
	failed_at_once "$id"
	grep -q "cannot create $T/afile/images/$id: Not a directory: set convert.output_dir" \
	    "$SP/data/$id/reason"
}

@test "an OVA submitted as vhd: the reason names the tar" {
	"$SAMPLE/mkova" "$T/src" >/dev/null
	run "$HS" -c "$T/conf" inspect --format vhd "$T/src/hs-sample.ova"
	[ "$status" -eq 1 ]
	[[ "$output" == *"declared vhd but the file looks like a tar archive (an OVA? source.format \"ova\")"* ]]
}
