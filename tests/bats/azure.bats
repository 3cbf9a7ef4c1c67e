#!/usr/bin/env bats
# The azure provider. What is real: Azurite (npm `azurite`, the Azure
# Storage emulator, tests/npm/azure/) serving the page blobs over HTTPS
# with a test certificate, checking every SAS and SharedKey signature; the
# four daemons, qemu-img and libvirt. What is FAKE, and why: Azure
# Resource Manager and the login endpoint have no emulator, so
# tests/azure/fakearm.py plays them (it says so at its top): it checks the
# client-credentials login and the bearer token of every call, answers
# beginGetAccess with a long-running operation whose result is a real SAS
# for a blob in Azurite, and can be told to refuse beginGetAccess or never
# finish it; /_fake/state says which grants are still active.
# tests/azure/azstore.py uploads the blobs (SharedKey-signed, as an SDK).

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
NPMDIR=$BATS_TEST_DIRNAME/../npm/azure
AZDIR=$BATS_TEST_DIRNAME/../azure
AZKEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
SECRET='s3cr3t~Az "quoted"&=+%'	# the service principal's: must never leak
PY=/usr/bin/python3

# Azurite and the blobs, once for the file: a 1 GiB fixed VHD with a boot
# sector and 64 MiB of random data in 64 scattered 1 MiB pieces (the rest
# never written: not allocated in the page blob), a small data disk, and a
# block blob.
setup_file() {
	command -v node >/dev/null || { echo "node missing (contrib/packages.txt: nodejs, npm)"; false; }
	if [ ! -x "$NPMDIR/node_modules/.bin/azurite-blob" ]; then
		npm ci --prefix "$NPMDIR" --no-audit --no-fund >&3 2>&1 ||
		    { echo "npm ci --prefix $NPMDIR failed"; false; }
	fi
	export AZF=$BATS_FILE_TMPDIR/az
	mkdir -p "$AZF/data"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$AZF/key.pem" \
	    -out "$AZF/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	AZPORT=$((20000 + RANDOM % 20000))
	while [ -n "$(ss -Htln "sport = :$AZPORT")" ]; do AZPORT=$((20000 + RANDOM % 20000)); done
	"$NPMDIR/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
	    --blobPort "$AZPORT" --location "$AZF/data" --cert "$AZF/cert.pem" \
	    --key "$AZF/key.pem" --skipApiVersionCheck --disableTelemetry \
	    --silent >"$AZF/azurite.log" 2>&1 3>&- &
	echo $! >"$AZF/azurite.pid"
	export AZBASE=https://127.0.0.1:$AZPORT/devstoreaccount1
	export AZ_CA=$AZF/cert.pem
	for _ in $(seq 300); do
		curl -s -o /dev/null --cacert "$AZ_CA" "$AZBASE?comp=list" && break
		sleep 0.1
	done
	"$BATS_TEST_DIRNAME/../../contrib/sample/mkbootdisk" "$AZF/big.raw" 1G >/dev/null
	for k in $(seq 0 63); do
		head -c 1048576 /dev/urandom | dd of="$AZF/big.raw" bs=1M \
		    seek=$((k * 16 + 3)) conv=notrunc status=none
	done
	qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$AZF/big.raw" "$AZF/big.vhd"
	"$PY" "$AZDIR/azstore.py" "$AZBASE" "$AZKEY" upload disks big.vhd "$AZF/big.vhd" >"$AZF/big.written"
	truncate -s 4M "$AZF/data.raw"
	head -c 1048576 /dev/urandom | dd of="$AZF/data.raw" bs=1M seek=2 conv=notrunc status=none
	qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$AZF/data.raw" "$AZF/data.vhd"
	"$PY" "$AZDIR/azstore.py" "$AZBASE" "$AZKEY" upload disks data.vhd "$AZF/data.vhd" >/dev/null
	"$PY" "$AZDIR/azstore.py" "$AZBASE" "$AZKEY" block disks notadisk.vhd "$AZF/data.raw"
	"$PY" "$AZDIR/azstore.py" "$AZBASE" "$AZKEY" upload disks plain.raw "$AZF/data.raw" >/dev/null
}

teardown_file() {
	[ -f "$AZF/azurite.pid" ] && kill "$(cat "$AZF/azurite.pid")" 2>/dev/null
	true
}

setup() {
	hs_setup
	mkdir -p "$T/out" "$T/creds" "$T/arm"
	chmod 700 "$T/creds"
	printf '%s\n' "$SECRET" >"$T/arm/secret"
	cat >"$T/arm/conf.json" <<JSON
{"tenant": "tenant-1", "client_id": "app-1", "secret_file": "$T/arm/secret",
 "blob_base": "$AZBASE", "account_key": "$AZKEY", "subscription": "sub-1",
 "sizes": [{"name": "Standard_B2s", "numberOfCores": 2, "memoryInMB": 4096},
           {"name": "Standard_D4s_v5", "numberOfCores": 4, "memoryInMB": 16384}],
 "vms": [
  {"rg": "rg-1", "name": "web1", "size": "Standard_B2s", "location": "westeurope",
   "power": "deallocated", "nics": [{"name": "web1-nic", "mac": "00-0D-3A-AA-BB-01"}],
   "disks": [{"name": "web1-os", "blob": "disks/big.vhd", "gen": "V1", "lun": null, "gb": 1},
             {"name": "web1-data", "blob": "disks/data.vhd", "lun": 0, "gb": 1}]},
  {"rg": "rg-1", "name": "db1", "size": "Standard_D4s_v5", "location": "westeurope",
   "power": "running", "nics": [{"name": "db1-nic", "mac": "00-0D-3A-AA-BB-02"}],
   "disks": [{"name": "db1-os", "blob": "disks/data.vhd", "gen": "V2", "lun": null}]}
 ]}
JSON
	"$PY" "$AZDIR/fakearm.py" "$T/arm/conf.json" "$T/arm/port" "$AZF/cert.pem" \
	    "$AZF/key.pem" 2>"$T/arm/log" 3>&- &
	PIDS+=($!)
	wait_for 10 test -s "$T/arm/port" || { cat "$T/arm/log"; false; }
	ARM=https://127.0.0.1:$(cat "$T/arm/port")
	cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
credentials_dir = "$T/creds";
exportd = { azure_login_endpoint = "$ARM"; azure_arm_endpoint = "$ARM";
            azure_operation_timeout = 5; http_retry_delay = 0.2; http_retries = 3;
            http_max_rate = ${MAXRATE:-0}; };
CONF
	spcred sp "server = ${ARM#https://}"
}

teardown() {
	drop_submitters
	hs_teardown
}

# spcred NAME [EXTRA-LINE...]: the service principal's credential
spcred() {
	{
		printf 'tenant_id = tenant-1\nclient_id = app-1\nsubscription_id = sub-1\n'
		printf 'client_secret = "%s"\n' "$(printf '%s' "$SECRET" | sed 's/["\\]/\\&/g')"
		printf 'ca_file = %s\n' "$AZF/cert.pem"
		[ $# -lt 2 ] || printf '%s\n' "${@:2}"
	} >"$T/creds/$1"
	chmod 600 "$T/creds/$1"
}

# job NAME SOURCE-JSON: publish a job through queued --once, print its ID
job() {
	drop "$1" "$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

vmsrc() {	# vmsrc VM [CREDENTIAL]
	printf '{"type":"azure","credential":"%s","subscription":"sub-1","resource_group":"rg-1","vm":"%s"}' "${2:-sp}" "$1"
}

export_once() { "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; }

state() { curl -sf --cacert "$AZF/cert.pem" "$ARM/_fake/state"; }
active() { state | jq -r '.active | length'; }
fault() { curl -sf --cacert "$AZF/cert.pem" -d "{\"begin\":\"$1\"}" "$ARM/_fake/fault" >/dev/null; }

# reason ID: the job is in error/; print its reason
reason() {
	[ -f "$SP/error/$1" ] || { echo "not in error/: $(ls "$SP"/*/"$1")"; cat "$T"/*.log; false; }
	cat "$SP/data/$1/reason"
}

# no_secret: the client secret is in no job, log, history or reason
no_secret() {
	! grep -rF -- "$SECRET" "$SP" "$T"/*.log
	! grep -rIF -- 'sig=' "$SP" "$T"/*.log
}

@test "a deallocated VM through all four daemons boots; only the allocated pages of its 1 GiB disk are fetched" {
	import_to_libvirt
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-az$$-$RANDOM
	id=$(printf '{"name":"%s","source":%s,"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}}' \
	    "$n" "$(vmsrc web1)" | "$HS" -c "$T/conf" submit -)
	# while it runs, no process shows the secret on its command line
	for _ in $(seq 50); do
		! grep -lF -- "$SECRET" /proc/[0-9]*/cmdline 2>/dev/null
		[ -f "$SP/imported/$id" ] && break
		sleep 0.1
	done
	run "$HS" -c "$T/conf" wait --timeout 300 "$id"
	[ "$status" -eq 0 ] || { echo "wait: $output"; cat "$SP/data/$id/log" "$T"/*.log "$T/arm/log"; false; }
	virsh -c qemu:///session dumpxml "$n" >"$T/dom.xml"
	virsh -q -c qemu:///session destroy "$n" >/dev/null 2>&1 || true
	virsh -q -c qemu:///session undefine "$n" >/dev/null 2>&1 || true
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	# both disks, in order, equal to the originals
	qemu-img compare -f raw -F qcow2 "$AZF/big.raw" "$(jq -r '.vm.disks[0].output' "$SP/imported/$id")"
	qemu-img compare -f raw -F qcow2 "$AZF/data.raw" "$(jq -r '.vm.disks[1].output' "$SP/imported/$id")"
	[ "$(jq -r '.vm.disks[0].virtual_size' "$SP/imported/$id")" -eq 1073741824 ]
	# of the 1 GiB disk only the allocated pages crossed the network:
	# 64 MiB + the boot sector + the footer, at most 70 MiB
	got=$(sed -n 's/.*disk0.vhd complete, [0-9]* bytes (\([0-9]*\) received in this run).*/\1/p' "$SP/data/$id/log")
	echo "received: $got bytes (Azurite holds $(cat "$AZF/big.written"))"
	[ -n "$got" ] && [ "$got" -le $((70 * 1024 * 1024)) ] && [ "$got" -ge $((64 * 1024 * 1024)) ]
	grep -q "page blob of 1073742336 bytes, 3 allocated range(s)\|page blob of 1073742336 bytes, [0-9]* allocated range(s), 671[0-9]* bytes to fetch" "$SP/data/$id/log"
	# the hardware: the size's cpus and memory, the NIC's MAC
	grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom.xml"
	grep -q "<memory unit='KiB'>4194304</memory>" "$T/dom.xml"
	[ "$(jq -r '.vm.nics[0].mac' "$SP/imported/$id")" = 00:0d:3a:aa:bb:01 ]
	grep -q "00:0d:3a:aa:bb:01" "$T/dom.xml"
	# every grant ended, in order, and nothing recorded is left
	[ "$(active)" -eq 0 ]
	[ "$(state | jq -c '[.log[] | select(startswith("begin") or startswith("end"))]')" = '["begin web1-os","end web1-os","begin web1-data","end web1-data"]' ]
	[ ! -e "$SP/data/$id/azure-access.json" ]
	no_secret
}

@test "hyperspool vms --provider azure lists the VMs; check-provider logs in; a wrong secret fails at once with the reason" {
	run "$HS" -c "$T/conf" vms --provider azure --credential sp --json
	[ "$status" -eq 0 ] || { echo "$output"; cat "$T/arm/log"; false; }
	[ "$(echo "$output" | jq length)" -eq 2 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "web1") | .power_state')" = deallocated ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "db1") | .power_state')" = running ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "db1") | .cpus')" = 4 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "db1") | .memory_mib')" = 16384 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "web1") | .resource_group')" = rg-1 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "web1") | .disk_bytes')" = 2147483648 ]
	run "$HS" -c "$T/conf" vms --provider azure --credential sp
	[ "$status" -eq 0 ]
	[[ $output == *web1*deallocated* ]]
	run "$HS" -c "$T/conf" vms --provider azure --server elsewhere.example --credential sp
	[ "$status" -eq 1 ]
	[[ $output == *"azure: --server is not taken"* ]]
	run "$HS" -c "$T/conf" check-provider --provider azure --credential sp --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .ok)" = true ]
	[[ $(echo "$output" | jq -r .summary) == *"hyperspool fake subscription"*"verified with ca_file"* ]]
	spcred wrong "server = ${ARM#https://}"
	sed -i 's/^client_secret = .*/client_secret = nope/' "$T/creds/wrong"
	SECONDS=0
	run "$HS" -c "$T/conf" check-provider --provider azure --credential wrong
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 10 ]
	[[ $output == *"refused: HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided."* ]]
	! grep -rF -- "$SECRET" "$T/arm/log"
}

@test "beginGetAccess refused, or its operation never ending: the job fails saying so, and no grant stays active" {
	fault fail
	a=$(job refused "$(vmsrc web1)")
	export_once
	run reason "$a"
	[[ $output == *"HTTP 409: OperationNotAllowed: Cannot grant access: the disk is being snapshotted (injected)."* ]]
	[ "$(active)" -eq 0 ]
	fault timeout
	b=$(job slow "$(vmsrc web1)")
	export_once
	# temporary: it waits in retry; the grant the operation was making is ended
	grep -q "the operation did not finish within 5 s (exportd.azure_operation_timeout)" "$SP/data/$b/log"
	[ "$(active)" -eq 0 ]
	state | jq -r '.log[]' | grep -qx "end web1-os"
	[ ! -e "$SP/data/$b/azure-access.json" ]
	# a running VM is refused before any grant is asked
	c=$(job running "$(vmsrc db1)")
	fault ""
	export_once
	run reason "$c"
	[[ $output == "VM 'db1' is running: deallocate it first"* ]]
	! state | jq -r '.log[]' | grep -q "db1-os"
	no_secret
}

@test "a crash in the middle of a download: the next attempt ends the recorded grant and resumes" {
	MAXRATE=2000000 setup_rate
	id=$(job crash "$(vmsrc web1)")
	start_daemon "$EXPORTD" 3>&-
	# killed (daemon and worker) once the first disk's download runs
	wait_for 60 test -f "$SP/data/$id/disk0.vhd.part.state" || { cat "$T"/*.log; false; }
	kids=$(pgrep -P "$LASTPID")	# the daemon first: it cannot react
	kill -9 "$LASTPID" $kids
	cat "$SP/data/$id/azure-access.json"
	grep -q web1-os "$SP/data/$id/azure-access.json"
	[ "$(active)" -eq 1 ]	# the dead worker's grant is still open
	sed -i 's/http_max_rate = [0-9]*/http_max_rate = 0/' "$T/conf"
	start_daemon "$EXPORTD" 3>&-
	wait_for 120 test -f "$SP/exported/$id" || { cat "$SP/data/$id/log" "$T"/*.log; false; }
	grep -q "an earlier attempt left read access to .*/disks/web1-os: ending it" "$SP/data/$id/log"
	grep -q "resuming disk0.vhd" "$SP/data/$id/log"
	[ "$(active)" -eq 0 ]
	[ "$(state | jq -c '[.log[] | select(startswith("begin web1-os") or startswith("end web1-os"))]')" = '["begin web1-os","end web1-os","begin web1-os","end web1-os"]' ]
	[ ! -e "$SP/data/$id/azure-access.json" ]
}

@test "a cancelled export releases its grant" {
	MAXRATE=4000000 setup_rate
	id=$(job cancel "$(vmsrc web1)")
	start_daemon "$EXPORTD" 3>&-
	wait_for 60 test -f "$SP/data/$id/disk0.vhd.part.state" || { cat "$T"/*.log; false; }
	[ "$(active)" -eq 1 ]
	"$HS" -c "$T/conf" cancel "$id"
	wait_for 30 test -f "$SP/error/$id" || { cat "$T"/*.log; false; }
	[ "$(active)" -eq 0 ]
	state | jq -r '.log[]' | grep -qx "end web1-os"
	[ ! -e "$SP/data/$id/azure-access.json" ]
}

@test "a page blob by URL: SharedKey with the account key, or a SAS in the credential; a block blob is refused" {
	url=$AZBASE/disks/big.vhd
	cat >"$T/creds/key" <<EOF
url_prefix = $AZBASE/disks/
account_name = devstoreaccount1
account_key = $AZKEY
ca_file = $AZF/cert.pem
EOF
	sas=$(AZ_CA=$AZF/cert.pem "$PY" "$AZDIR/azstore.py" "$AZBASE" "$AZKEY" sas disks data.vhd 600)
	printf 'url_prefix = %s/disks/\nsas = "%s"\nca_file = %s\n' "$AZBASE" "$sas" "$AZF/cert.pem" >"$T/creds/sas"
	chmod 600 "$T/creds/key" "$T/creds/sas"
	a=$(job bykey "{\"type\":\"azure\",\"credential\":\"key\",\"blob_url\":\"$url\"}")
	b=$(job bysas "{\"type\":\"azure\",\"credential\":\"sas\",\"blob_url\":\"$AZBASE/disks/data.vhd\"}")
	c=$(job block "{\"type\":\"azure\",\"credential\":\"key\",\"blob_url\":\"$AZBASE/disks/notadisk.vhd\"}")
	d=$(job badkey "{\"type\":\"azure\",\"credential\":\"sas\",\"blob_url\":\"$url\"}")
	e=$(job novhd "{\"type\":\"azure\",\"credential\":\"key\",\"blob_url\":\"$AZBASE/disks/plain.raw\"}")
	f=$(job elsewhere "{\"type\":\"azure\",\"credential\":\"key\",\"blob_url\":\"$AZBASE/other/big.vhd\"}")
	export_once
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	[ -f "$SP/converted/$a" ] || { cat "$SP/data/$a/log" "$T"/*.log; false; }
	qemu-img compare -f raw -F qcow2 "$AZF/big.raw" "$(jq -r '.vm.disks[0].output' "$SP/converted/$a")"
	qemu-img compare -f raw -F qcow2 "$AZF/data.raw" "$(jq -r '.vm.disks[0].output' "$SP/converted/$b")"
	run reason "$c"
	echo "block blob: $output"
	[[ $output == *"Get Page Ranges of $AZBASE/disks/notadisk.vhd: HTTP 409: InvalidBlobType"* ]]
	# the SAS is for data.vhd only: Azurite refuses it for big.vhd
	run reason "$d"
	[[ $output == *"Get Page Ranges of $url: HTTP 403"* ]]
	# a page blob that is not a VHD is refused, its download removed
	run reason "$e"
	[ "$output" = "disk0.vhd: no VHD footer (cookie 'conectix') in its last 512 bytes: not a VHD" ]
	[ ! -e "$SP/data/$e/disk0.vhd" ]
	# the key goes only under its url_prefix
	run reason "$f"
	[[ $output == "credential 'key' is not for 127.0.0.1:"*"/other/big.vhd"* ]] || [[ $output == "credential 'key' is not for 127.0.0.1:"* ]]
	! grep -rF -- "$AZKEY" "$SP" "$T"/*.log
	no_secret
}

@test "queued refuses azure sources with a bad field, naming it" {
	j() { printf '{"type":"azure",%s}' "$1"; }
	declare -A want=(
	    [a]='"subscription":"s","resource_group":"r","vm":"v"|source.credential: missing'
	    [b]='"credential":"sp","subscription":"s","vm":"v"|give either'
	    [c]='"credential":"sp"|give either'
	    [d]='"credential":"sp","subscription":"s","resource_group":"r","vm":"v","blob_url":"https://x/c/b"|give either'
	    [e]='"credential":"sp","subscription":"s","resource_group":"r/../x","vm":"v"|source.resource_group:'
	    [f]='"credential":"sp","blob_url":"http://x/c/b.vhd"|source.blob_url: must start with https://'
	    [g]='"credential":"sp","blob_url":"https://x/c/b.vhd?sv=1&sig=abc"|source.blob_url: no query string: a SAS is a secret'
	    [h]='"credential":"sp","blob_url":"https://u:p@x/c/b.vhd"|source.blob_url: credentials in the URL'
	    [i]='"credential":"sp","subscription":"s","resource_group":"r","vm":"v?x"|source.vm:'
	    [k]='"credential":"sp","subscription":"s","resource_group":"r","vm":"v","client_secret":"x"|client_secret'
	)
	for k in "${!want[@]}"; do
		drop "bad-$k" "$(printf '{"name":"a%s","source":%s}' "$k" "$(j "${want[$k]%%|*}")")"
	done
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	for k in "${!want[@]}"; do
		run reason_of "bad-$k"
		echo "$k: $output"
		[[ $output == *"${want[$k]#*|}"* ]]
	done
	[ "$(count_in request)" -eq 0 ]
}

@test "a credential goes only where it is bound, and only for the submitters it allows (as unprivileged users)" {
	submitters
	spcred other "server = login.example.com"
	spcred onlyvic "server = ${ARM#https://}" "allow_users = $VIC"
	chmod 0644 "$T/conf"
	start_daemon "$QUEUED"
	e1=$(as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e1\",\"source\":$(vmsrc web1 other)}" | tail -n 1)
	e2=$(as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e2\",\"source\":$(vmsrc web1 onlyvic)}" | tail -n 1)
	export_once
	export_once
	run reason "$e1"
	[[ $output == "credential 'other' is not for server '127.0.0.1:"*"': the operator bound it to another one" ]]
	run reason "$e2"
	[[ $output == "credential 'onlyvic' may not be used by uid $(id -u "$EVE") (not in its allow_users or allow_groups)" ]]
	# the fake saw no login at all
	! state | jq -r '.log[]' | grep -q login
	no_secret
}

# setup_rate: rewrite the rate cap from $MAXRATE (a download slow enough to
# be interrupted)
setup_rate() {
	sed -i "s/http_max_rate = [0-9]*/http_max_rate = $MAXRATE/" "$T/conf"
}
