#!/usr/bin/env bats
# The vsphere provider against a vSphere simulator: vcsim, govmomi's own
# simulator built offline from Debian's golang-github-vmware-govmomi-dev
# (tests/vcsim/main.go). What is real here: vcsim's SOAP API (login,
# PropertyCollector, SearchIndex, ContainerView, snapshots, power states)
# and its datastore HTTP access (/folder, GET with Range and PUT), the
# four daemons, qemu-img and libvirt. What is SIMULATED, and why: vcsim has
# no ExportVm and no NFC disk downloads, never expires a lease and cannot be
# told to fail, so a small front in the same program (see main.go) answers
# ExportVm with a real vcsim HttpNfcLease object, serves its disk URLs (a
# streamOptimized VMDK made by qemu-img from the datastore disk), expires a
# lease that gets no progress within its timeout, and injects 503s, 401s
# and lease expiry when a test asks (POST /_hs/fault).

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
VCSIM=$HS_TESTDIR/hs-vcsim
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample
PASS='pa ss#"w<rd&'	# quotes, blanks, XML specials: must survive as they are

setup() {
	[ -x "$VCSIM" ] || { echo "$VCSIM missing: make tests (needs golang-go and golang-github-vmware-govmomi-dev)"; false; }
	hs_setup
	mkdir -p "$T/out" "$T/creds" "$T/vc"
	chmod 700 "$T/creds"
	cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
credentials_dir = "$T/creds";
exportd = { http_retry_delay = 0.2; http_retries = 3; };
CONF
	"$SAMPLE/mkbootdisk" "$T/src/boot.raw" 8M >/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/vc/key.pem" \
	    -out "$T/vc/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
}
teardown() { hs_teardown; }

# start_vcsim ARGS...: vcsim (VM0 powered off, 2 vCPU, 96 MiB; VM1 on, with
# snapshot "before"); $VC is its https URL, $SERVER host:port.
start_vcsim() {
	TMPDIR=$T/vc "$VCSIM" -cert "$T/vc/cert.pem" -key "$T/vc/key.pem" \
	    -user hsuser -pass "$PASS" -url-file "$T/vc/url" -on DC0_H0_VM1 \
	    -snapshot DC0_H0_VM1:before -hw DC0_H0_VM0:2:96:bios "$@" \
	    >"$T/vc/inventory" 2>"$T/vc/log" 3>&- &
	PIDS+=($!)
	wait_for 20 test -s "$T/vc/url" || { cat "$T/vc/log"; false; }
	VC=$(cat "$T/vc/url")
	SERVER=${VC#https://}
	cred lab "server = $SERVER" "ca_file = $T/vc/cert.pem"
}

# cred NAME [EXTRA-LINE...]: a credential file for the simulator's user
# (bound to a server only by an extra line "server = ...")
cred() {
	{
		printf 'username = hsuser\npassword = "%s"\n' "$(printf '%s' "$PASS" | sed 's/["\\]/\\&/g')"
		[ $# -lt 2 ] || printf '%s\n' "${@:2}"
	} >"$T/creds/$1"
	chmod 600 "$T/creds/$1"
}

# put VMDIR [BASE RAW]: seed DC0's datastore with a disk (default: the
# boot disk as disk1) as ESXi lays one out (descriptor BASE.vmdk + flat
# extent BASE-flat.vmdk), uploaded with PUT like any client would.
put() {
	local base=${2:-disk1} raw=${3:-$T/src/boot.raw}
	local sectors=$(($(stat -c %s "$raw") / 512))
	printf '# Disk DescriptorFile\nversion=1\nencoding="UTF-8"\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\n\n# Extent description\nRW %d VMFS "%s-flat.vmdk"\n\n# The Disk Data Base\n#DDB\nddb.adapterType = "lsilogic"\nddb.virtualHWVersion = "13"\n' \
	    "$sectors" "$base" >"$T/src/$base.vmdk"
	curl -sSf --cacert "$T/vc/cert.pem" -T "$T/src/$base.vmdk" \
	    "$VC/folder/$1/$base.vmdk?dcPath=DC0&dsName=LocalDS_0"
	curl -sSf --cacert "$T/vc/cert.pem" -T "$raw" \
	    "$VC/folder/$1/$base-flat.vmdk?dcPath=DC0&dsName=LocalDS_0"
}

fault() {
	curl -sSf --cacert "$T/vc/cert.pem" -d "$1" "$VC/_hs/fault" >/dev/null
}

src() {	# src EXTRA-JSON-MEMBERS: a vsphere source on the simulator
	printf '{"type":"vsphere","server":"%s","credential":"lab",%s}' "$SERVER" "$1"
}

export_once() { "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; }

# no_secret: the password is in no job, log or history
no_secret() {
	! grep -rF -- "$PASS" "$SP" "$T"/*.log "$T/vc/log"
}

@test "both modes: a vcsim VM through all four daemons boots, with its disk and hardware" {
	import_to_libvirt
	start_vcsim
	put DC0_H0_VM0
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-vs$$-$RANDOM
	boot='"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}'
	ids=()
	for mode in datastore nfc; do
		ids+=("$(printf '{"name":"%s-%s","source":%s,%s}' "$n" "$mode" \
		    "$(src "\"vm\":\"DC0_H0_VM0\",\"mode\":\"$mode\"")" "$boot" |
		    "$HS" -c "$T/conf" submit -)")
	done
	for id in "${ids[@]}"; do
		run "$HS" -c "$T/conf" wait --timeout 240 "$id"
		[ "$status" -eq 0 ] || { echo "wait: $output"; cat "$SP/data/$id/log" "$T"/*.log; false; }
	done
	i=0
	for mode in datastore nfc; do
		id=${ids[$i]}
		i=$((i + 1))
		virsh -c qemu:///session dumpxml "$n-$mode" >"$T/dom.xml"
		virsh -q -c qemu:///session destroy "$n-$mode" >/dev/null 2>&1 || true
		virsh -q -c qemu:///session undefine "$n-$mode" >/dev/null 2>&1 || true
		grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
		# the disk is the seeded one, byte for byte
		out=$(jq -r '.vm.disks[0].output' "$SP/imported/$id")
		qemu-img compare -f raw -F qcow2 "$T/src/boot.raw" "$out"
		# the hardware is vcsim's: 2 vCPU, 96 MiB, its NIC's MAC and port group
		mac=$(jq -r '.vm.nics[0].mac' "$SP/imported/$id")
		[[ $mac =~ ^00:0c:29:|^00:50:56: ]]
		grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom.xml"
		grep -q "<memory unit='KiB'>98304</memory>" "$T/dom.xml"
		grep -q "$mac" "$T/dom.xml"
		[ "$(jq -r '.vm.nics[0].network' "$SP/imported/$id")" = "VM Network" ]
		[ "$(jq -r '.vm.disks[0].bus' "$SP/imported/$id")" = scsi ]
	done
	[ "$(jq -r '.vm.disks[0].format' "$SP/imported/${ids[0]}")" = raw ]
	[ "$(jq -r '.vm.disks[0].format' "$SP/imported/${ids[1]}")" = vmdk ]
	# the flat extent came from /folder in Range segments; the NFC disk
	# from the lease's URL
	grep -q 'folder GET /folder/DC0_H0_VM0/disk1-flat.vmdk range="bytes=' "$T/vc/log"
	grep -q 'nfc GET /nfc-fake/' "$T/vc/log"
	no_secret
}

run_export_convert() {
	export_once
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
}

# converted ID RAW: the job reached converted/ and its image equals RAW
converted() {
	[ -f "$SP/converted/$1" ] || { cat "$SP/data/$1/reason" 2>/dev/null; cat "$T"/*.log; false; }
	qemu-img compare -f raw -F qcow2 "$2" "$(jq -r '.vm.disks[0].output' "$SP/converted/$1")"
}

# reason ID: the job is in error/; print its reason
reason() {
	[ -f "$SP/error/$1" ] || { echo "not in error/: $(ls "$SP"/*/"$1")"; cat "$T"/*.log; false; }
	cat "$SP/data/$1/reason"
}

# randdisk FILE MIB: a disk of random bytes (incompressible)
randdisk() {
	head -c $(($2 * 1024 * 1024)) /dev/urandom >"$1"
}

@test "datastore mode: a VM by inventory path and by MoRef; a running VM read from its snapshot" {
	start_vcsim
	put DC0_H0_VM0
	put DC0_H0_VM1
	moref=$(awk '$1 == "vm" && $2 == "DC0_H0_VM0" {print $3}' "$T/vc/inventory")
	a=$(job bypath "$(src '"vm_path":"/DC0/vm/DC0_H0_VM0"')")
	b=$(job bymoref "$(src "\"moref\":\"$moref\"")")
	c=$(job snap "$(src '"vm":"DC0_H0_VM1","snapshot":"before"')")
	run_export_convert
	converted "$a" "$T/src/boot.raw"
	converted "$b" "$T/src/boot.raw"
	converted "$c" "$T/src/boot.raw"
	[ "$(jq -r .vm.cpus "$SP/converted/$a")" = 2 ]
	[ "$(jq -r .vm.memory_mib "$SP/converted/$b")" = 96 ]
	[ "$(jq -r .vm.firmware "$SP/converted/$a")" = bios ]
	[ "$(jq -r .vm.os "$SP/converted/$a")" = otherGuest ]
	grep -q "reading the disks of snapshot 'before'" "$SP/data/$c/log"
	# the source jobs name the credential, never a secret
	[ "$(jq -r .source.credential "$SP/converted/$a")" = lab ]
	no_secret
}

@test "an expired session is renewed by logging in again, and the job goes on" {
	start_vcsim
	put DC0_H0_VM0
	fault notauth=1
	id=$(job renew "$(src '"vm":"DC0_H0_VM0"')")
	run_export_convert
	converted "$id" "$T/src/boot.raw"
	grep -q "session reported expired (injected)" "$T/vc/log"
	grep -q "vSphere session on $SERVER expired: logging in again" "$SP/data/$id/log"
	# twice in a row: the renewed session is refused too, the job fails
	# with the server's own words rather than looping
	fault notauth=2
	b=$(job twice "$(src '"vm":"DC0_H0_VM0"')")
	export_once
	run cat "$SP/data/$b/reason"
	[[ $output == *NotAuthenticated* ]]
}

@test "two disks on two controllers, in both modes: each lands whole, in order, with its bus" {
	start_vcsim -disk DC0_H0_VM0:data.vmdk:2:ide
	put DC0_H0_VM0
	randdisk "$T/src/data.raw" 2
	put DC0_H0_VM0 data "$T/src/data.raw"
	a=$(job two "$(src '"vm":"DC0_H0_VM0"')")
	b=$(job twonfc "$(src '"vm":"DC0_H0_VM0","mode":"nfc"')")
	run_export_convert
	for id in "$a" "$b"; do
		converted "$id" "$T/src/boot.raw"
		[ "$(jq '.vm.disks | length' "$SP/converted/$id")" -eq 2 ]
		[ "$(jq -r '.vm.disks[0].bus' "$SP/converted/$id")" = scsi ]
		[ "$(jq -r '.vm.disks[1].bus' "$SP/converted/$id")" = ide ]
		qemu-img compare -f raw -F qcow2 "$T/src/data.raw" \
		    "$(jq -r '.vm.disks[1].output' "$SP/converted/$id")"
	done
}

@test "bad credentials, a missing VM, a powered-on VM, a missing snapshot: each a specific reason" {
	start_vcsim
	put DC0_H0_VM0
	printf 'username = hsuser\npassword = wrong\nca_file = %s\nserver = %s\n' "$T/vc/cert.pem" "$SERVER" >"$T/creds/bad"
	chmod 600 "$T/creds/bad"
	bad=$(job badcred "$(printf '{"type":"vsphere","server":"%s","credential":"bad","vm":"DC0_H0_VM0"}' "$SERVER")")
	nocred=$(job nocred "$(printf '{"type":"vsphere","server":"%s","credential":"absent","vm":"DC0_H0_VM0"}' "$SERVER")")
	missing=$(job missing "$(src '"vm":"no-such-vm"')")
	nopath=$(job nopath "$(src '"vm_path":"/DC0/vm/nowhere"')")
	noref=$(job noref "$(src '"moref":"vm-9999"')")
	on=$(job on "$(src '"vm":"DC0_H0_VM1"')")
	nfcon=$(job nfcon "$(src '"vm":"DC0_H0_VM1","mode":"nfc"')")
	nosnap=$(job nosnap "$(src '"vm":"DC0_H0_VM1","snapshot":"after"')")
	export_once
	run reason "$bad"
	[[ $output == *"refused the login of credential 'bad'"*InvalidLogin* ]]
	run reason "$nocred"
	[[ $output == *"credential 'absent': no such file"* ]]
	run reason "$missing"
	[[ $output == *"has no VM named 'no-such-vm'"* ]]
	run reason "$nopath"
	[[ $output == *"has no VM at inventory path '/DC0/vm/nowhere'"* ]]
	run reason "$noref"
	[[ $output == *"has no VM with MoRef 'vm-9999'"* ]]
	run reason "$on"
	[[ $output == *"VM 'DC0_H0_VM1' is poweredOn: shut it down first, or name a snapshot"* ]]
	run reason "$nfcon"
	[[ $output == *"is poweredOn"*"ExportVm needs a powered-off VM"* ]]
	run reason "$nosnap"
	[[ $output == *"VM 'DC0_H0_VM1' has no snapshot named 'after'"* ]]
	# a permanent failure is not retried: one attempt each
	[ -z "$(ls "$SP"/data/*/retry 2>/dev/null)" ]
	no_secret
}

@test "datastore mode refuses disks it cannot read flat: split, delta, escaping extents" {
	start_vcsim
	# putdesc TEXT: replace VM0's descriptor
	putdesc() {
		printf '%b' "$1" >"$T/src/desc.vmdk"
		curl -sSf --cacert "$T/vc/cert.pem" -T "$T/src/desc.vmdk" \
		    "$VC/folder/DC0_H0_VM0/disk1.vmdk?dcPath=DC0&dsName=LocalDS_0"
	}
	h='# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
	for c in "split|${h}parentCID=ffffffff\ncreateType=\"twoGbMaxExtentFlat\"\nRW 8 FLAT \"a-f001.vmdk\" 0\nRW 8 FLAT \"a-f002.vmdk\" 0\n|2 extents" \
	    "delta|${h}parentCID=12345678\ncreateType=\"vmfsSparse\"\nRW 8 VMFSSPARSE \"a-delta.vmdk\"\n|a snapshot delta disk" \
	    "escape|${h}parentCID=ffffffff\ncreateType=\"vmfs\"\nRW 8 VMFS \"../DC0_H0_VM1/disk1-flat.vmdk\"\n|is not a file next to the descriptor" \
	    "sparse|${h}parentCID=ffffffff\ncreateType=\"vmfs\"\nRW 8 VMFSSPARSE \"x.vmdk\"\n|a VMFSSPARSE extent"; do
		IFS='|' read -r name text want <<<"$c"
		putdesc "$text"
		id=$(job "$name" "$(src '"vm":"DC0_H0_VM0"')")
		export_once
		run reason "$id"
		echo "$name: $output"
		[[ $output == "disk 0: "*"$want"* ]]
		# nothing but the job's records is left behind
		[ -z "$(ls "$SP/data/$id" | grep -v -e history -e log -e reason -e submitted -e progress.json)" ]
	done
}

@test "a 503 storm on the datastore: ridden out with backoff when short, a specific reason when it lasts" {
	sed -i 's/max_attempts = 3;/max_attempts = 2;/' "$T/conf"
	start_vcsim
	put DC0_H0_VM0
	fault folder503=4
	a=$(job short "$(src '"vm":"DC0_H0_VM0"')")
	run_export_convert
	converted "$a" "$T/src/boot.raw"
	[ "$(grep -c 'busy=true' "$T/vc/log")" -eq 4 ]
	grep -q "retrying in\|retries in" "$SP/data/$a/log"
	fault folder503=-1
	b=$(job storm "$(src '"vm":"DC0_H0_VM0"')")
	for i in 1 2 3; do export_once; sleep 0.6; done
	run reason "$b"
	echo "$output"
	[[ $output == "gave up after 2 attempts: "*"503"* ]]
}

@test "an unreachable server is retried, then fails saying so" {
	sed -i 's/max_attempts = 3;/max_attempts = 2;/' "$T/conf"
	SERVER=127.0.0.1:1	# nothing listens there
	cred lab "server = $SERVER"
	run "$HS" -c "$T/conf" check-provider --server "$SERVER" --credential lab
	[ "$status" -eq 1 ]
	[[ $output == *"https://127.0.0.1:1/sdk: "*"onnect"* ]]
	id=$(job gone "$(src '"vm":"x"')")
	for i in 1 2 3; do export_once; sleep 0.6; done
	run reason "$id"
	echo "$output"
	[[ $output == "gave up after 2 attempts: https://127.0.0.1:1/sdk: "*"onnect"* ]]
}

@test "a cut datastore transfer resumes where it stopped" {
	printf 'exportd = { http_max_rate = 2097152; };\n' >>"$T/conf"
	sed -i 's/^exportd = { http_retry_delay.*//' "$T/conf"
	randdisk "$T/src/boot.raw" 12
	start_vcsim
	put DC0_H0_VM0
	id=$(job cut "$(src '"vm":"DC0_H0_VM0"')")
	start_daemon "$EXPORTD"
	pid=$LASTPID
	# a third of the disk is down (the state file says so)
	part() { [ "$(jq '[.segments[].done] | add' "$SP/data/$id/disk0.raw.part.state" \
	    2>/dev/null || echo 0)" -gt 4000000 ]; }
	wait_for 30 part
	kill -9 "$pid"
	sleep 0.5
	[ -f "$SP/exporting/$id" ]
	run_export_convert
	converted "$id" "$T/src/boot.raw"
	grep -q "resuming disk0.raw" "$SP/data/$id/log"
}

@test "nfc mode: ExportVm, a lease kept alive past its timeout by progress reports, then Complete" {
	printf 'exportd = { http_max_rate = 1048576; };\n' >>"$T/conf"
	sed -i 's/^exportd = { http_retry_delay.*//' "$T/conf"
	randdisk "$T/src/boot.raw" 4
	start_vcsim
	put DC0_H0_VM0
	fault leasetimeout=2
	id=$(job nfc "$(src '"vm":"DC0_H0_VM0","mode":"nfc"')")
	run_export_convert
	converted "$id" "$T/src/boot.raw"
	[ "$(jq -r '.vm.disks[0].format' "$SP/data/$id/../../converted/$id")" = vmdk ]
	grep -q "NFC lease .* complete" "$SP/data/$id/log"
	# the download took longer than the lease's timeout: only the
	# progress reports kept it alive
	[ "$(grep -c 'progress' "$T/vc/log")" -ge 4 ]
	grep -q 'nfc GET /nfc-fake/' "$T/vc/log"
	grep -q 'lease .* ended by the client' "$T/vc/log"
	! grep -q 'expired' "$T/vc/log"
}

@test "nfc mode: a lease that expires and a 401 on the disk URL are aborted with a specific reason" {
	sed -i 's/max_attempts = 3;/max_attempts = 2;/' "$T/conf"
	start_vcsim
	put DC0_H0_VM0
	fault expire=2
	a=$(job expire "$(src '"vm":"DC0_H0_VM0","mode":"nfc"')")
	for i in 1 2 3; do export_once; sleep 0.6; done
	run reason "$a"
	echo "$output"
	[[ $output == "gave up after 2 attempts: NFC lease"*"ended during disk 0: Operation timed out"* ]]
	grep -q "NFC lease .* aborted" "$SP/data/$a/log"
	fault nfc401=-1
	b=$(job unauth "$(src '"vm":"DC0_H0_VM0","mode":"nfc"')")
	export_once
	run reason "$b"
	echo "$output"
	[[ $output == "disk 0 (NFC): "*401* ]]
	[ "$(grep -c 'NFC lease .* aborted' "$SP/data/$b/log")" -eq 1 ]
}

@test "TLS: an unknown certificate is refused; a SHA-256 thumbprint pin accepts it, a wrong pin does not" {
	start_vcsim
	put DC0_H0_VM0
	cred nocafile
	tp=$(openssl x509 -in "$T/vc/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
	cred pinned "thumbprint = $tp" "server = $SERVER"
	cred wrongpin "thumbprint = $(printf '%064d' 0)"
	cred sha1pin "thumbprint = $(openssl x509 -in "$T/vc/cert.pem" -noout -fingerprint -sha1 | cut -d= -f2)"
	run "$HS" -c "$T/conf" check-provider --server "$SERVER" --credential nocafile
	[ "$status" -eq 1 ]
	[[ $output == *"TLS verification failed"* ]]
	run "$HS" -c "$T/conf" check-provider --server "$SERVER" --credential pinned
	[ "$status" -eq 0 ]
	[[ $output == "ok: $SERVER (VMware vCenter Server"*"credential 'pinned' accepted, TLS pinned by thumbprint" ]]
	run "$HS" -c "$T/conf" check-provider --server "$SERVER" --credential wrongpin
	[ "$status" -eq 1 ]
	[[ $output == *"TLS verification failed"* ]]
	run "$HS" -c "$T/conf" check-provider --server "$SERVER" --credential sha1pin
	[ "$status" -eq 1 ]
	[[ $output == *"thumbprint must be the SHA-256"* ]]
	# the pin carries over to the datastore downloads
	id=$(job pinned "$(printf '{"type":"vsphere","server":"%s","credential":"pinned","vm":"DC0_H0_VM0"}' "$SERVER")")
	run_export_convert
	converted "$id" "$T/src/boot.raw"
}

@test "hyperspool vms lists the simulator's VMs; check-provider validates a credential" {
	start_vcsim
	cred withserver "server = $SERVER
ca_file = $T/vc/cert.pem"
	run "$HS" -c "$T/conf" vms --provider vsphere --credential withserver
	[ "$status" -eq 0 ]
	[[ ${lines[1]} == DC0_H0_VM0*poweredOff*2*96*/DC0/vm/DC0_H0_VM0 ]] || [[ ${lines[2]} == DC0_H0_VM0*poweredOff*2*96*/DC0/vm/DC0_H0_VM0 ]]
	run "$HS" -c "$T/conf" vms --server "$SERVER" --credential lab --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq length)" -eq 2 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "DC0_H0_VM1") | .power_state')" = poweredOn ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "DC0_H0_VM0") | .path')" = /DC0/vm/DC0_H0_VM0 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "DC0_H0_VM0") | .disks[0].file')" = "[LocalDS_0] DC0_H0_VM0/disk1.vmdk" ]
	run "$HS" -c "$T/conf" check-provider --credential withserver --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .ok)" = true ]
	cred bad "ca_file = $T/vc/cert.pem"
	sed -i 's/^password = .*/password = nope/' "$T/creds/bad"
	run "$HS" -c "$T/conf" check-provider --server "$SERVER" --credential bad
	[ "$status" -eq 1 ]
	[[ $output == *"refused the login of credential 'bad'"* ]]
	cred noserver "ca_file = $T/vc/cert.pem"
	run "$HS" -c "$T/conf" vms --credential noserver
	[ "$status" -eq 1 ]
	[[ $output == *"no vSphere server"* ]]
	! grep -rF -- "$PASS" "$T/vc/log"
}

@test "queued refuses vsphere sources with a bad field, naming it" {
	j() { printf '{"type":"vsphere",%s}' "$1"; }
	declare -A want=(
	    [a]='"credential":"lab","vm":"x"|source.server: missing'
	    [b]='"server":"https://vc","credential":"lab","vm":"x"|source.server: '"'https://vc'"' is not host[:port]'
	    [c]='"server":"vc:99999","credential":"lab","vm":"x"|is not host[:port]'
	    [d]='"server":"vc","vm":"x"|source.credential: missing'
	    [e]='"server":"vc","credential":"lab"|give exactly one of'
	    [f]='"server":"vc","credential":"lab","vm":"x","moref":"vm-1"|give exactly one of'
	    [g]='"server":"vc","credential":"lab","vm_path":"DC/vm/x"|source.vm_path: must be an inventory path'
	    [h]='"server":"vc","credential":"lab","moref":"vm 1"|source.moref:'
	    [i]='"server":"vc","credential":"lab","vm":"x","mode":"ovf"|source.mode: '"'ovf'"' is not one of: datastore, nfc'
	    [k]='"server":"vc","credential":"lab","vm":"x","mode":"nfc","snapshot":"s"|source.snapshot: only mode datastore'
	    [l]='"server":"vc","credential":"lab","vm":"x","password":"p"|password'
	    [m]='"server":"vc","credential":"../x","vm":"x"|source.credential:'
	)
	intake_refuses vsphere v want
	drop good "$(printf '{"name":"good","source":%s}' "$(j '"server":"vc.example.com:443","credential":"lab","vm_path":"/DC/vm/web 01","mode":"nfc"')")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_in request)" -eq 1 ]
}

@test "a credential logs in only to the server it is bound to (issue 21, finding 3)" {
	start_vcsim
	cred other "server = vc.other.example" "ca_file = $T/vc/cert.pem"
	cred unbound "ca_file = $T/vc/cert.pem"
	a=$(job other "$(printf '{"type":"vsphere","server":"%s","credential":"other","vm":"DC0_H0_VM0"}' "$SERVER")")
	b=$(job unbound "$(printf '{"type":"vsphere","server":"%s","credential":"unbound","vm":"DC0_H0_VM0"}' "$SERVER")")
	export_once
	run reason "$a"
	[ "$output" = "credential 'other' is not for server '$SERVER': the operator bound it to another one" ]
	run reason "$b"
	[[ $output == "credential 'unbound' is bound to no server: the operator must add 'server = HOST[:PORT]'"* ]]
	# the simulator saw no login at all
	! grep -q "hsuser" "$T/vc/log"
	no_secret
}
