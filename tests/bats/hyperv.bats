#!/usr/bin/env bats
# Hyper-V. Exports as file sources (source.format "hyperv"): an export laid
# out by tests/hyperv/mkexport (VHDX made by qemu-img from the sample boot
# disk; the 2012 R2 XML configuration, UTF-16; the JSON of Get-VM |
# ConvertTo-Json beside it) through the real daemons and qemu-img; what
# cannot be read (.vmcx, checkpoints) is refused saying what to do, and
# disk paths in the configuration cannot lead out of the export.
# The hyperv provider (WinRM): against tests/hyperv/fakewinrm.py, a fake
# WinRM endpoint that says it is one (no Windows host runs here) and checks
# the SOAP, the authentication and the fixed scripts it gets; a VM name
# with quotes, ';' and $(...) must reach it as stdin data only.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
MKEXPORT=$BATS_TEST_DIRNAME/../hyperv/mkexport
XML="Virtual Machines/0AA394FA-7C4A-4070-BA32-773D43B28A68.xml"

setup() {
	hs_setup_sample
}
teardown() { hs_teardown; }

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
	failed_with "$v|1234.vmcx: .vmcx is Hyper-V's undocumented binary configuration format; export the hardware as JSON" \
	    "$c|ckpt.json: disk 'web_1A2B.avhdx' is not a VHD or VHDX (.avhdx/.avhd: a checkpoint's differencing disk" \
	    "$o|canary.vhdx: not found, or not readable by uid 0, beneath the source roots" \
	    "$x|xxe.xml: Hyper-V configuration with a DOCTYPE or entities: refused"
}

@test "hyperv: an export the submitter cannot read is refused (as an unprivileged user)" {
	submitters
	"$MKEXPORT" "$T/src/exp" web "$RAW" json
	chmod 0600 "$T/src/exp/web/Virtual Hard Disks/web.vhdx"
	chmod -R a+rX "$T/src/exp"
	chmod 0600 "$T/src/exp/web/Virtual Hard Disks/web.vhdx"
	user_export "$EVE" eve "$(printf '{"name":"eve","source":{"type":"file","path":"%s","format":"hyperv"}}' \
	    "$T/src/exp/web/vm.json")"
	[[ $output == *"web.vhdx: not found, or not readable by uid $(id -u "$EVE")"* ]]
	drop_submitters
}

@test "hyperv: an exported Hyper-V VM reaches a booting domain in libvirt" {
	import_to_libvirt
	"$MKEXPORT" "$T/src/exp" boot "$RAW" xml
	boot_in_libvirt "hs-hv$$-$RANDOM" \
	    "$(printf '{"type":"file","path":"%s"}' "$T/src/exp/boot/$XML")"
	grep -q "00:15:5d:01:07:dc" "$T/dom.xml"
}

# ---- the WinRM provider -------------------------------------------------------

FAKEWINRM=$BATS_TEST_DIRNAME/../hyperv/fakewinrm.py
HVPASS='p"a ss;$(w)'
ID1=6B9E3E2A-1C4D-4F7A-9A51-0E3B5C7D9F11
ID2=0D1C2B3A-4E5F-4A6B-8C7D-9E0F1A2B3C4D
EVIL="x'; Remove-Item -Recurse -Force C:\\ ; \$(Stop-Computer) \"y"

# winrm_setup: the fake (its VMs: web by ID1, and one whose name is $EVIL,
# by ID2), its certificate, the share it exports to ($T/share, known to it
# as \\files\hvexport), the operator's config, a credential "hv" pinned
winrm_setup() {
	mkdir -p "$T/hv" "$T/share" "$T/creds"
	chmod 700 "$T/creds"
	qemu-img convert -f raw -O vhdx "$RAW" "$T/hv/web.vhdx"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/hv/key.pem" \
	    -out "$T/hv/cert.pem" -days 2 -subj /CN=hv01 2>/dev/null
	printf '%s\n' "$HVPASS" >"$T/hv/password"
	chmod 600 "$T/hv/password"
	jq -n --arg disk "$T/hv/web.vhdx" --arg evil "$EVIL" --arg id1 "$ID1" --arg id2 "$ID2" '[
	 {Name: "web", Id: $id1, State: 3, Generation: 1, ProcessorCount: 2,
	  MemoryStartup: 100663296, disk: $disk,
	  HardDrives: [{Path: "C:\\VMs\\web\\Virtual Hard Disks\\web.vhdx",
	    ControllerType: 0, ControllerNumber: 0, ControllerLocation: 0}],
	  NetworkAdapters: [{MacAddress: "00155D0107DE", SwitchName: "External"}]},
	 {Name: $evil, Id: $id2, State: 2, Generation: 2, ProcessorCount: 1,
	  MemoryStartup: 134217728, disk: $disk,
	  HardDrives: [{Path: "C:\\VMs\\evil\\evil.vhdx", ControllerType: 1,
	    ControllerNumber: 0, ControllerLocation: 0}],
	  NetworkAdapters: []}]' >"$T/hv/vms.json"
	python3 "$FAKEWINRM" --cert "$T/hv/cert.pem" --key "$T/hv/key.pem" \
	    --port-file "$T/hv/port" --user 'HV01\migrator' \
	    --password-file "$T/hv/password" --vms "$T/hv/vms.json" \
	    --export-dir '\\files\hvexport' --export-mount "$T/share" \
	    --scripts "$T/hv/scripts" --inputs "$T/hv/inputs" \
	    --export-fails "$T/hv/fail" --export-hold "$T/hv/hold" \
	    2>"$T/hv/fake.log" 3>&- &
	PIDS+=($!)
	wait_for 10 test -s "$T/hv/port" || { cat "$T/hv/fake.log"; false; }
	SERVER=127.0.0.1:$(cat "$T/hv/port")
	TP=$(openssl x509 -in "$T/hv/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
hyperv = { export_dir = "\\\\\\\\files\\\\hvexport"; export_mount = "$T/share"; };
CONF
	hcred hv "$HVPASS"
}

# hcred NAME PASSWORD: a credential for the fake, bound to it, pinned
hcred() {
	printf 'server = %s\nusername = "HV01\\\\migrator"\npassword = "%s"\nauth = basic\nthumbprint = %s\n' \
	    "$SERVER" "$(printf '%s' "$2" | sed 's/["\\]/\\&/g')" "$TP" >"$T/creds/$1"
	chmod 600 "$T/creds/$1"
}

hjob() {
	job "$1" "$(jq -cn --arg s "$SERVER" --arg k "$2" --arg v "$3" \
	    '{type: "hyperv", server: $s, credential: "hv"} + {($k): $v}')"
}

no_password() {
	local procs
	local files
	files=$(grep -rlsF "$HVPASS" "$SP" "$T"/*.log) || true
	[ -z "$files" ] || { echo "password in: $files"; false; }
	procs=$(grep -lF "$HVPASS" /proc/[0-9]*/cmdline 2>/dev/null) || true
	[ -z "$procs" ] || { echo "password in the command line of: $procs"; false; }
}

@test "hyperv WinRM: check-provider and vms against the fake (TLS pinned, Basic); a wrong password fails in seconds" {
	winrm_setup
	grep -q 'export_dir = "\\\\\\\\files\\\\hvexport"' "$T/conf"
	run "$HS" -c "$T/conf" check-provider --provider hyperv --credential hv
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"$SERVER (HV01, PowerShell 5.1.17763.1): credential 'hv' accepted, TLS pinned by thumbprint"* ]]
	run "$HS" -c "$T/conf" vms --provider hyperv --credential hv --json
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[] | select(.name == "web") | .power_state' <<<"$output")" = off ]
	[ "$(jq -r '.[] | select(.name == "web") | .memory_mib' <<<"$output")" = 96 ]
	[ "$(jq -r '.[] | select(.name == "web") | .id' <<<"$output")" = "$ID1" ]
	hcred bad nope
	s=$(date +%s)
	run "$HS" -c "$T/conf" check-provider --provider hyperv --credential bad
	echo "$output"
	[ "$status" -ne 0 ]
	[ $(($(date +%s) - s)) -lt 10 ]
	[[ $output == *"$SERVER refused the login of credential 'bad' (HTTP 401"* ]]
	no_password
}

@test "hyperv WinRM: a VM by ID exported with Export-VM to the share, its VHDX landed and converted identical, the export removed" {
	winrm_setup
	id=$(hjob web vm_id "$ID1")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	j=$SP/exported/$id
	[ -f "$j" ] || { cat "$SP/data/$id/reason"; cat "$T"/*.log "$T/hv/fake.log"; false; }
	[ "$(jq -r .vm.cpus "$j")" = 2 ]
	[ "$(jq -r .vm.memory_mib "$j")" = 96 ]
	[ "$(jq -r .vm.firmware "$j")" = bios ]
	[ "$(jq -r .vm.disks[0].file "$j")" = web.vhdx ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = ide ]
	[ "$(jq -r .vm.nics[0].mac "$j")" = 00:15:5d:01:07:de ]
	# the export went to \\files\hvexport\ID and is gone again
	grep -qF "\"path\":\"\\\\\\\\files\\\\hvexport\\\\$id\"" "$T/hv/inputs"
	[ -z "$(ls "$T/share")" ]
	[ ! -e "$SP/data/$id/hyperv.json" ]
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	qemu-img compare -f raw -F qcow2 "$RAW" "$(jq -r .vm.disks[0].output "$SP/converted/$id")"
	no_password
}

@test "hyperv WinRM: a VM name with quotes, ';' and \$(...) reaches PowerShell as data only, never in a script" {
	winrm_setup
	id=$(hjob evil vm "$EVIL")
	nope=$(hjob nope vm "a\"; \$(Remove-Item C:\\) ; '")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	# the name went on stdin, as JSON, exactly
	grep -qF "$(jq -cn --arg n "$EVIL" '{name: $n}')" "$T/hv/inputs"
	# and into no script text the host ran
	[ -s "$T/hv/scripts" ]
	run grep -cE 'Stop-Computer|Remove-Item C:|hvexport' "$T/hv/scripts"
	[ "$output" = 0 ]
	[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/reason"; false; }
	[ "$(jq -r .vm.firmware "$SP/exported/$id")" = uefi ]
	[ -f "$SP/error/$nope" ]
	grep -qF "has no VM named 'a\"; \$(Remove-Item C:\\) ; ''" "$SP/data/$nope/reason"
}

@test "hyperv WinRM: a failed Export-VM and a crashed attempt's leftover export are both removed from the share" {
	winrm_setup
	touch "$T/hv/fail"
	id=$(hjob web vm_id "$ID1")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/error/$id" ]
	grep -q "Export-VM on $SERVER failed (exit code 5)" "$SP/data/$id/reason"
	[ -z "$(ls "$T/share")" ]
	rm "$T/hv/fail"
	# a crash between Export-VM and the removal leaves the export and its
	# record; the next attempt removes it before exporting again
	id2=$(hjob web2 vm_id "$ID1")
	mkdir -p "$T/share/$id2/web/Virtual Hard Disks"
	printf '{"path":"\\\\\\\\files\\\\hvexport\\\\%s"}' "$id2" >"$SP/data/$id2/hyperv.json"
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/exported/$id2" ] || { cat "$SP/data/$id2/reason"; cat "$T/exportd.log"; false; }
	grep -q "a previous attempt left an export: removing it" "$T/exportd.log"
	[ "$(grep -c '"path"' "$T/hv/inputs")" -ge 4 ]
	[ -z "$(ls "$T/share")" ]
}

@test "hyperv WinRM: a VM from the Hyper-V host reaches a booting domain in libvirt" {
	winrm_setup
	import_to_libvirt
	boot_in_libvirt "hs-hvw$$-$RANDOM" "$(printf \
	    '{"type":"hyperv","server":"%s","credential":"hv","vm_id":"%s"}' \
	    "$SERVER" "$ID1")"
	no_password
}

@test "hyperv WinRM: a credential allowed to another submitter is refused before anything reaches the host (as an unprivileged user)" {
	winrm_setup
	submitters
	hcred hv "$HVPASS"
	printf 'allow_users = %s\n' "$VIC" >>"$T/creds/hv"
	user_export "$EVE" eve "$(jq -cn --arg s "$SERVER" --arg id "$ID1" \
	    '{name: "eve", source: {type: "hyperv", server: $s, credential: "hv", vm_id: $id}}')"
	[[ $output == *"credential 'hv' may not be used by uid $(id -u "$EVE")"* ]]
	[ ! -e "$T/hv/inputs" ]
	drop_submitters
}

@test "hyperv: intake refuses a VM ID that is no GUID, both or neither of vm and vm_id, a path" {
	for x in 'bad|{"type":"hyperv","server":"hv01","credential":"hv","vm_id":"../../etc"}|source.vm_id: '"'"'../../etc'"'"' is not a VM ID (a GUID)' \
	    'both|{"type":"hyperv","server":"hv01","credential":"hv","vm":"a","vm_id":"6B9E3E2A-1C4D-4F7A-9A51-0E3B5C7D9F11"}|source: give exactly one of '"'"'vm'"'"' (a name) and '"'"'vm_id'"'"'' \
	    'none|{"type":"hyperv","server":"hv01","credential":"hv"}|source: give exactly one of' \
	    'path|{"type":"hyperv","server":"hv01","credential":"hv","vm":"a","path":"/etc/shadow"}|source.path: unknown field'; do
		IFS='|' read -r name src want <<<"$x"
		drop "$name" "{\"name\":\"$name\",\"source\":$src}"
		"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
		run reason_of "$name"
		echo "$output"
		[[ $output == *"$want"* ]]
	done
}

@test "hyperv WinRM: a job cancelled while Export-VM runs removes the export before it stops" {
	winrm_setup
	touch "$T/hv/hold"
	start_daemon "$QUEUED" 3>&-
	start_daemon "$EXPORTD" 3>&-
	id=$(jq -cn --arg s "$SERVER" --arg id "$ID1" '{name: "cancel", source: {type: "hyperv", server: $s, credential: "hv", vm_id: $id}}' |
	    "$HS" -c "$T/conf" submit -)
	wait_for 30 test -d "$T/share/$id" || { cat "$T"/*.log; false; }
	[ -f "$SP/data/$id/hyperv.json" ]
	"$HS" -c "$T/conf" cancel "$id"
	# exportd looks for cancels every second: by then the worker has its
	# SIGTERM and still waits for Export-VM (checked below in its log)
	sleep 2.5
	rm "$T/hv/hold"
	wait_for 30 test -f "$SP/error/$id" || { cat "$T"/*.log; false; }
	grep -q "cancelled by the operator" "$SP/data/$id/reason"
	wait_for 10 test -z "$(ls "$T/share")" || { ls -R "$T/share"; false; }
	[ ! -e "$SP/data/$id/hyperv.json" ]
	cat "$SP/data/$id/log"
	grep -q "asked to stop during the export: removing it first" "$SP/data/$id/log"
	grep -q "removed the export" "$SP/data/$id/log"
}
