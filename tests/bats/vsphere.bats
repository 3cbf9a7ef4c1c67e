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
	cred lab "ca_file = $T/vc/cert.pem"
}

# cred NAME [EXTRA-LINE]: a credential file for the simulator's user
cred() {
	{
		printf 'username = hsuser\npassword = "%s"\n' "$(printf '%s' "$PASS" | sed 's/["\\]/\\&/g')"
		[ -z "${2:-}" ] || printf '%s\n' "$2"
	} >"$T/creds/$1"
	chmod 600 "$T/creds/$1"
}

# put VMDIR: seed DC0's datastore with the boot disk as ESXi lays a disk
# out (descriptor + flat extent), uploaded with PUT like any client would.
put() {
	local sectors=$(($(stat -c %s "$T/src/boot.raw") / 512))
	printf '# Disk DescriptorFile\nversion=1\nencoding="UTF-8"\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\n\n# Extent description\nRW %d VMFS "disk1-flat.vmdk"\n\n# The Disk Data Base\n#DDB\nddb.adapterType = "lsilogic"\nddb.virtualHWVersion = "13"\n' \
	    "$sectors" >"$T/src/disk1.vmdk"
	for f in disk1.vmdk:disk1.vmdk boot.raw:disk1-flat.vmdk; do
		curl -sSf --cacert "$T/vc/cert.pem" -T "$T/src/${f%%:*}" \
		    "$VC/folder/$1/${f#*:}?dcPath=DC0&dsName=LocalDS_0"
	done
}

fault() {
	curl -sSf --cacert "$T/vc/cert.pem" -d "$1" "$VC/_hs/fault" >/dev/null
}

# job NAME SOURCE-JSON: publish a job v1 through queued --once, print its ID
job() {
	drop "$1" "$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

src() {	# src EXTRA-JSON-MEMBERS: a vsphere source on the simulator
	printf '{"type":"vsphere","server":"%s","credential":"lab",%s}' "$SERVER" "$1"
}

export_once() { "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; }

# no_secret: the password is in no job, log or history
no_secret() {
	! grep -rF -- "$PASS" "$SP" "$T"/*.log "$T/vc/log"
}

@test "datastore mode: a vcsim VM through all four daemons boots, with its disk and hardware" {
	command -v virsh >/dev/null || { echo "libvirt clients missing"; false; }
	"$BATS_TEST_DIRNAME/../../contrib/start-libvirt"
	chmod 0711 "$T"
	cat >>"$T/conf" <<'CONF'
importd = { domain_type = "qemu"; };
defaults = { import = { uri = "qemu:///session"; network = "user"; }; };
CONF
	start_vcsim
	put DC0_H0_VM0
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-vs$$-$RANDOM
	id=$(printf '{"name":"%s","source":%s,"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}}' \
	    "$n" "$(src '"vm":"DC0_H0_VM0"')" | "$HS" -c "$T/conf" submit -)
	run "$HS" -c "$T/conf" wait --timeout 240 "$id"
	[ "$status" -eq 0 ] || { echo "wait: $output"; cat "$SP/data/$id/log" "$T"/*.log; false; }
	virsh -c qemu:///session dumpxml "$n" >"$T/dom.xml"
	virsh -q -c qemu:///session destroy "$n" >/dev/null 2>&1 || true
	virsh -q -c qemu:///session undefine "$n" >/dev/null 2>&1 || true
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	# the disk is the seeded one, byte for byte
	out=$(jq -r '.vm.disks[0].output' "$SP/imported/$id")
	qemu-img compare -f raw -F qcow2 "$T/src/boot.raw" "$out"
	# the hardware is vcsim's: 2 vCPU, 96 MiB, its NIC's MAC
	mac=$(jq -r '.vm.nics[0].mac' "$SP/imported/$id")
	[[ $mac =~ ^00:0c:29:|^00:50:56: ]]
	grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom.xml"
	grep -q "<memory unit='KiB'>98304</memory>" "$T/dom.xml"
	grep -q "$mac" "$T/dom.xml"
	[ "$(jq -r '.vm.nics[0].network' "$SP/imported/$id")" = "VM Network" ]
	[ "$(jq -r '.vm.disks[0].bus' "$SP/imported/$id")" = scsi ]
	# the flat extent came from /folder, with Range segments
	grep -q 'folder GET /folder/DC0_H0_VM0/disk1-flat.vmdk range="bytes=' "$T/vc/log"
	no_secret
}
