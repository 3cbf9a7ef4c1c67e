#!/usr/bin/env bats
# The gcp provider. What is real: GNU tar and gzip making the image
# archives (`tar --format=oldgnu -Sczf`, as Google's import docs ask), the
# four daemons, qemu-img, libvirt, OpenSSL's keys. What is FAKE, and why:
# Google's token endpoint, Compute Engine, Cloud Build and the Cloud
# Storage JSON API have no emulator here, so tests/gcp/fakegcp.py plays
# them (it says so at its top): it verifies the JWT's RS256 signature with
# the test key's public modulus and its claims, wants a live token on
# every call, checks the images and builds it is asked for (the builder,
# the image we made, the credential's bucket), "runs" an export by writing
# the disk's archive into its store, and serves the objects with Range.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
PY=/usr/bin/python3

setup() {
	hs_setup
	mkdir -p "$T/out" "$T/creds" "$T/gcp" "$T/obj"
	chmod 700 "$T/creds"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/gcp/tlskey.pem" \
	    -out "$T/gcp/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/gcp/sa.pem" 2>/dev/null
	MOD=$(openssl rsa -in "$T/gcp/sa.pem" -noout -modulus | sed 's/^Modulus=//')
	# the boot disk, with random data further in, as GCE's export packs it
	"$BATS_TEST_DIRNAME/../../contrib/sample/mkbootdisk" "$T/src/boot.raw" 64M >/dev/null
	head -c 2097152 /dev/urandom | dd of="$T/src/boot.raw" bs=1M seek=40 conv=notrunc status=none
	cp --sparse=always "$T/src/boot.raw" "$T/obj/disk.raw"
	tar --format=oldgnu -Sczf "$T/obj/web1.tar.gz" -C "$T/obj" disk.raw
	# a bigger one (16 MiB of random data) for a download to cut
	mkdir -p "$T/obj/big"
	cp --sparse=always "$T/src/boot.raw" "$T/obj/big/disk.raw"
	head -c 16777216 /dev/urandom | dd of="$T/obj/big/disk.raw" bs=1M seek=8 conv=notrunc status=none
	tar --format=oldgnu -Sczf "$T/obj/big.tar.gz" -C "$T/obj/big" disk.raw
	# web1's data disk: 4 MiB, random data in its second MiB
	truncate -s 4M "$T/src/data.raw"
	head -c 1048576 /dev/urandom | dd of="$T/src/data.raw" bs=1M seek=1 conv=notrunc status=none
	cat >"$T/gcp/conf.json" <<JSON
{"client_email": "migrate@proj-1.iam.gserviceaccount.com", "modulus": "$MOD",
 "project": "proj-1", "export_bucket": "hs-exports", "token_ttl": 3599,
 "objects": {"exports/web1.tar.gz": "$T/obj/web1.tar.gz",
             "exports/big.tar.gz": "$T/obj/big.tar.gz"},
 "machineTypes": {"e2-medium": {"guestCpus": 2, "memoryMb": 4096},
                  "n2-standard-8": {"guestCpus": 8, "memoryMb": 32768}},
 "instances": [
  {"zone": "europe-west1-b", "name": "web1", "machineType": "e2-medium",
   "status": "TERMINATED", "networks": ["default"], "gb": 10,
   "disks": [{"name": "web1", "file": "$T/src/boot.raw"}, {"name": "web1-data", "file": "$T/src/data.raw"}]},
  {"zone": "us-central1-a", "name": "db1", "machineType": "n2-standard-8",
   "status": "RUNNING", "networks": ["default", "backend"], "uefi": true, "gb": 50}
 ]}
JSON
	"$PY" "$BATS_TEST_DIRNAME/../gcp/fakegcp.py" "$T/gcp/conf.json" "$T/gcp/port" \
	    "$T/gcp/cert.pem" "$T/gcp/tlskey.pem" 2>"$T/gcp/log" 3>&- &
	PIDS+=($!)
	wait_for 10 test -s "$T/gcp/port" || { cat "$T/gcp/log"; false; }
	G=https://127.0.0.1:$(cat "$T/gcp/port")
	jq -n --rawfile pk "$T/gcp/sa.pem" --arg uri "$G/token" \
	    '{type: "service_account", project_id: "proj-1", private_key_id: "k1",
	      private_key: $pk, client_email: "migrate@proj-1.iam.gserviceaccount.com",
	      token_uri: $uri}' >"$T/gcp/key.json"
	chmod 600 "$T/gcp/key.json"
	cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
credentials_dir = "$T/creds";
exportd = { gcp_compute_endpoint = "$G"; gcp_storage_endpoint = "$G";
            gcp_cloudbuild_endpoint = "$G"; gcp_poll_interval = 0.2;
            http_retry_delay = 0.2; http_retries = 3; };
CONF
	gcred sa "server = ${G#https://}" "export_bucket = hs-exports" "export_prefix = tmp/"
}

teardown() {
	drop_submitters
	hs_teardown
}

gcred() {	# gcred NAME [EXTRA-LINE...]
	{
		printf 'key_file = %s\nca_file = %s\n' "$T/gcp/key.json" "$T/gcp/cert.pem"
		[ $# -lt 2 ] || printf '%s\n' "${@:2}"
	} >"$T/creds/$1"
	chmod 600 "$T/creds/$1"
}

job() {
	drop "$1" "$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

gsrc() {	# gsrc OBJECT [CREDENTIAL]
	printf '{"type":"gcp","credential":"%s","project":"proj-1","zone":"europe-west1-b","instance":"web1","object":"gs://exports/%s"}' "${2:-sa}" "$1"
}

# an instance to export, no object: the provider makes the export
isrc() {	# isrc [CREDENTIAL]
	printf '{"type":"gcp","credential":"%s","project":"proj-1","zone":"europe-west1-b","instance":"web1"}' "${1:-sa}"
}

export_once() { "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; }
state() { curl -sf --cacert "$T/gcp/cert.pem" "$G/_fake/state"; }
mode() { curl -sf --cacert "$T/gcp/cert.pem" -d "$1" "$G/_fake/mode" >/dev/null; }

# nothing the provider made is left in the fake: no image, no object but
# the two the operator exported
nothing_left() {
	state | jq -e '(.images | length) == 0 and .objects == ["exports/big.tar.gz", "exports/web1.tar.gz"]' >/dev/null ||
	    { state | jq -c '{images, objects, builds}'; false; }
}
building() { state | jq -e '[.builds[] | select(. == "WORKING")] | length == 1' >/dev/null; }

reason() {
	[ -f "$SP/error/$1" ] || { echo "not in error/: $(ls "$SP"/*/"$1")"; cat "$T"/*.log; false; }
	cat "$SP/data/$1/reason"
}

# the daemons this test started ($PIDS) and every process below them
our_procs() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots="${PIDS[*]}" '
	{ pid = $1; sub(/.*\) /, ""); ppid[pid] = $2 }
	END {
		n = split(roots, r, " ")
		for (i = 1; i <= n; i++) mine[r[i]] = 1
		do {
			more = 0
			for (p in ppid)
				if (!(p in mine) && (ppid[p] in mine)) { mine[p] = 1; more = 1 }
		} while (more)
		for (p in mine) print p
	}'
}

# none of them has a private key in its argv (the pattern is no literal:
# grep's own argv would match it; other tests' processes are not ours)
no_key_in_argv() {
	local p
	for p in $(our_procs); do
		! grep -qsE -- "PRIVATE[ ]KEY" "/proc/$p/cmdline" || return 1
	done
}

# the private key is in no job, log, history or reason
no_secret() {
	k=$(sed -n 5p "$T/gcp/sa.pem")
	! grep -rF -- "$k" "$SP" "$T"/*.log
	! grep -rF -- "PRIVATE KEY" "$SP" "$T"/*.log
}

@test "an exported GCE image through all four daemons boots, with the machine type's cpus and memory" {
	import_to_libvirt
	boot_in_libvirt "hs-gcp$$-$RANDOM" "$(gsrc web1.tar.gz)" no_key_in_argv
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	qemu-img compare -f raw -F qcow2 "$T/src/boot.raw" "$(jq -r '.vm.disks[0].output' "$SP/imported/$id")"
	grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom.xml"
	grep -q "<memory unit='KiB'>4194304</memory>" "$T/dom.xml"
	[ "$(jq -r '.vm.nics | length' "$SP/imported/$id")" -eq 1 ]
	[ "$(jq -r '.vm.nics[0].network' "$SP/imported/$id")" = default ]
	grep -q "GCE generates NIC MACs and does not report them" "$SP/data/$id/log"
	# the archive was fetched in Range segments, once, and then removed
	[ "$(state | jq .media_bytes)" -eq "$(stat -c %s "$T/obj/web1.tar.gz")" ]
	[ "$(state | jq .logins)" -ge 1 ]
	no_secret
}

@test "the archive lands sparse; a plain member after another works; a bad archive fails saying why" {
	# plain (not sparse) GNU tar, disk.raw after another member
	echo hello >"$T/obj/README"
	tar --format=gnu -czf "$T/obj/plain.tar.gz" -C "$T/obj" README disk.raw
	tar -czf "$T/obj/nodisk.tar.gz" -C "$T/obj" README
	head -c 100000 "$T/obj/web1.tar.gz" >"$T/obj/cut.tar.gz"
	# a header claiming a 1 PiB disk.raw (GNU base-256 size), then nothing
	"$PY" -c 'import gzip, sys, tarfile
i = tarfile.TarInfo("disk.raw"); i.size = 1 << 50
sys.stdout.buffer.write(gzip.compress(i.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096)))' >"$T/obj/huge.tar.gz"
	jq --arg d "$T/obj" '.objects += {"exports/plain.tar.gz": "\($d)/plain.tar.gz",
	    "exports/nodisk.tar.gz": "\($d)/nodisk.tar.gz", "exports/cut.tar.gz": "\($d)/cut.tar.gz",
	    "exports/huge.tar.gz": "\($d)/huge.tar.gz"}' \
	    "$T/gcp/conf.json" >"$T/gcp/conf2.json"
	# the fake reads its config at start: restart it on the new one
	kill "${PIDS[-1]}"
	rm -f "$T/gcp/port"
	"$PY" "$BATS_TEST_DIRNAME/../gcp/fakegcp.py" "$T/gcp/conf2.json" "$T/gcp/port" \
	    "$T/gcp/cert.pem" "$T/gcp/tlskey.pem" 2>>"$T/gcp/log" 3>&- &
	PIDS+=($!)
	wait_for 10 test -s "$T/gcp/port"
	G2=https://127.0.0.1:$(cat "$T/gcp/port")
	sed -i "s|${G#https://}|${G2#https://}|g" "$T/conf" "$T/gcp/key.json" "$T/creds/sa"
	G=$G2
	a=$(job sparse "$(gsrc web1.tar.gz)")
	b=$(job plain "$(gsrc plain.tar.gz)")
	c=$(job nodisk "$(gsrc nodisk.tar.gz)")
	d=$(job cut "$(gsrc cut.tar.gz)")
	e=$(job huge "$(gsrc huge.tar.gz)")
	export_once
	[ -f "$SP/exported/$a" ] || { cat "$SP/data/$a/log" "$T"/*.log; false; }
	cmp "$T/src/boot.raw" "$SP/data/$a/disk0.raw"
	cmp "$T/src/boot.raw" "$SP/data/$b/disk0.raw"
	# 64 MiB apparent, about 2 MiB on disk: the holes stayed holes
	[ "$(stat -c %s "$SP/data/$a/disk0.raw")" -eq 67108864 ]
	[ "$(($(stat -c %b "$SP/data/$a/disk0.raw") * 512))" -lt $((8 * 1048576)) ]
	[ "$(($(stat -c %b "$SP/data/$b/disk0.raw") * 512))" -lt $((8 * 1048576)) ]
	[ ! -e "$SP/data/$a/disk0.tar.gz" ]
	run reason "$c"
	[ "$output" = "gs://exports/nodisk.tar.gz: no disk.raw in the archive" ]
	run reason "$d"
	[[ $output == "gs://exports/cut.tar.gz: "*"gzip"* ]] || [[ $output == "gs://exports/cut.tar.gz: the archive ends inside a member" ]]
	run reason "$e"
	[ "$output" = "gs://exports/huge.tar.gz: disk.raw claims 1125899906842624 bytes (1125899906842624 stored): more than 64 TiB, or less than it stores" ]
	[ ! -e "$SP/data/$e/.disk0.raw.part" ]
	no_secret
}

@test "hyperspool vms --provider gcp lists the instances; check-provider logs in; a key the endpoint does not trust fails at once" {
	run "$HS" -c "$T/conf" vms --provider gcp --credential sa --json
	[ "$status" -eq 0 ] || { echo "$output"; cat "$T/gcp/log"; false; }
	[ "$(echo "$output" | jq length)" -eq 2 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "db1") | .cpus')" = 8 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "db1") | .memory_mib')" = 32768 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "web1") | .power_state')" = TERMINATED ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "web1") | .zone')" = europe-west1-b ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "db1") | .disk_bytes')" = 53687091200 ]
	run "$HS" -c "$T/conf" check-provider --provider gcp --credential sa --json
	[ "$status" -eq 0 ]
	[[ $(echo "$output" | jq -r .summary) == *"migrate@proj-1.iam.gserviceaccount.com logged in"*"verified with ca_file"* ]]
	# another key, same client_email: the signature does not verify
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/gcp/other.pem" 2>/dev/null
	jq --rawfile pk "$T/gcp/other.pem" '.private_key = $pk' "$T/gcp/key.json" >"$T/gcp/other.json"
	gcred other "server = ${G#https://}"
	sed -i "s|key.json|other.json|" "$T/creds/other"
	SECONDS=0
	run "$HS" -c "$T/conf" check-provider --provider gcp --credential other
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 10 ]
	[[ $output == *"refused: HTTP 400: invalid_grant: Invalid JWT Signature."* ]]
	run "$HS" -c "$T/conf" vms --provider gcp --server x.example --credential sa
	[ "$status" -eq 1 ]
	[[ $output == *"gcp: --server is not taken"* ]]
}

@test "queued refuses gcp sources with a bad field, naming it; one with neither object nor instance is told what to give" {
	j() { printf '{"type":"gcp",%s}' "$1"; }
	declare -A want=(
	    [a]='"object":"gs://b/x.tar.gz"|source.credential: missing'
	    [b]='"credential":"sa","project":"p"|source.object: missing: name the gs://BUCKET/OBJECT.tar.gz the operator exported, or give zone and instance for the provider to export the instance'"'"'s disks'
	    [c]='"credential":"sa","object":"https://b/x.tar.gz"|source.object: must be gs://BUCKET/OBJECT'
	    [d]='"credential":"sa","object":"gs://b/x.vmdk"|source.object: must be a .tar.gz'
	    [e]='"credential":"sa","object":"gs://B_/x.tar.gz"|source.object: must be gs://BUCKET/OBJECT'
	    [f]='"credential":"sa","object":"gs://b/x.tar.gz","zone":"z"|source: '"'zone'"' and '"'instance'"' go together'
	    [g]='"credential":"sa","object":"gs://b/x.tar.gz","zone":"z","instance":"a/b"|source.instance:'
	    [h]='"credential":"sa","object":"gs://b/x.tar.gz","private_key":"x"|private_key'
	)
	for k in "${!want[@]}"; do
		drop "bad-$k" "$(printf '{"name":"g%s","source":%s}' "$k" "$(j "${want[$k]%%|*}")")"
	done
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	for k in "${!want[@]}"; do
		run reason_of "bad-$k"
		echo "$k: $output"
		[[ $output == *"${want[$k]#*|}"* ]]
	done
	[ "$(count_in request)" -eq 0 ]
}

@test "a gcp credential signs only for the token endpoint it is bound to, for the submitters it allows (as unprivileged users)" {
	submitters
	gcred other "server = oauth2.example.com"
	gcred onlyvic "server = ${G#https://}" "allow_users = $VIC"
	chmod 0644 "$T/conf"
	start_daemon "$QUEUED"
	e1=$(as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e1\",\"source\":$(gsrc web1.tar.gz other)}" | tail -n 1)
	e2=$(as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e2\",\"source\":$(gsrc web1.tar.gz onlyvic)}" | tail -n 1)
	export_once
	export_once
	run reason "$e1"
	[[ $output == "credential 'other' is not for server '127.0.0.1:"*"': the operator bound it to another one" ]]
	run reason "$e2"
	[[ $output == "credential 'onlyvic' may not be used by uid $(id -u "$EVE") (not in its allow_users or allow_groups)" ]]
	[ "$(state | jq .logins)" -eq 0 ]
	no_secret
}

# wait_moving QUIET PROBE COND: poll until COND succeeds; fail only when
# PROBE's output (the work's progress) stays the same for QUIET seconds:
# a loaded machine makes the work slower, not the test fail
# dead_or_zombie PID: the process has ended (gone, or a zombie its parent,
# this shell, has not reaped yet); a kill only asks for that
dead_or_zombie() {
	local st
	st=$(sed -n 's/.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# kill_exportd: the exportd started last and its workers SIGKILLed (a
# crash), and all of them ended: a worker still alive (a KILL is only
# asked for) would hold its job past the next exportd's start-up scan
kill_exportd() {
	local p all
	mapfile -t all < <(pgrep -P "$LASTPID")
	# the daemon first: killed after its worker, it may see the worker
	# die and hand the job back as a retry (no crash left to recover)
	all=("$LASTPID" "${all[@]}")
	kill -9 "${all[@]}" 2>/dev/null
	for p in "${all[@]}"; do
		wait_for 10 dead_or_zombie "$p"
	done
}

wait_moving() {
	local quiet=$1 probe=$2 cond=$3 last="" now t=$SECONDS
	until eval "$cond"; do
		now=$(eval "$probe" 2>/dev/null)
		if [ "$now" != "$last" ]; then last=$now; t=$SECONDS; fi
		[ $((SECONDS - t)) -lt "$quiet" ] || return 1
		sleep 0.1
	done
}

@test "a download cut by a crash resumes where it stopped" {
	sed -i 's/http_retries = 3;/http_retries = 3; http_max_rate = 2000000;/' "$T/conf"
	id=$(job cut "$(gsrc big.tar.gz)")
	size=$(stat -c %s "$T/obj/big.tar.gz")
	start_daemon "$EXPORTD" 3>&-
	# killed, daemon and worker, once the saved state (what a resume
	# trusts) holds a quarter of the object
	saved="jq '[.segments[].done] | add' '$SP/data/$id/disk0.tar.gz.part.state' 2>/dev/null || echo 0"
	wait_moving 60 "$saved" "[ \$($saved) -gt $((size / 4)) ]" || { cat "$T"/*.log; false; }
	kill_exportd
	sed -i 's/ http_max_rate = 2000000;//' "$T/conf"
	start_daemon "$EXPORTD" 3>&-
	# the killed daemon is a zombie until this shell waits for it: the
	# new one takes the job back at once, not when its lease runs out
	wait_for 10 grep -q "recovered after a crash" "$T/exportd.log"
	# the disk files' sizes and blocks, and the saved state, as progress
	wait_moving 60 "$saved; stat -c '%n %s %b' '$SP/data/$id'/disk0* '$SP/data/$id'/.disk0*" \
	    "test -f '$SP/exported/$id'" || { cat "$SP/data/$id/log" "$T"/*.log "$T/gcp/log"; ps -eo pid,ppid,stat,wchan:20,args | grep -E '[e]xportd|[f]akegcp'; false; }
	cmp "$T/obj/big/disk.raw" "$SP/data/$id/disk0.raw"
	# the second run fetched only what the first had not
	had=$(sed -n 's/.*resuming disk0.tar.gz: \([0-9]*\) of [0-9]* bytes already here.*/\1/p' "$SP/data/$id/log")
	got=$(sed -n 's/.*disk0.tar.gz complete, [0-9]* bytes (\([0-9]*\) received in this run).*/\1/p' "$SP/data/$id/log")
	echo "had $had, got $got of $size"
	[ "$had" -gt 0 ] && [ "$((had + got))" -eq "$size" ]
}

@test "an instance without an object: the provider exports each disk (image, Cloud Build, object), both land, it boots, nothing is left" {
	import_to_libvirt
	boot_in_libvirt "hs-gcpx$$-$RANDOM" "$(isrc)" no_key_in_argv
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	# disk0 the boot disk, disk1 the data disk, each through its own export
	[ "$(jq -r '.vm.disks | length' "$SP/imported/$id")" -eq 2 ]
	qemu-img compare -f raw -F qcow2 "$T/src/boot.raw" "$(jq -r '.vm.disks[0].output' "$SP/imported/$id")"
	qemu-img compare -f raw -F qcow2 "$T/src/data.raw" "$(jq -r '.vm.disks[1].output' "$SP/imported/$id")"
	img=hs-$(echo "$id" | tr 'A-Z' 'a-z')
	state | jq -r '.log[]' >"$T/fake.log"
	grep -qx "image created: $img-0" "$T/fake.log"
	grep -qx "image created: $img-1" "$T/fake.log"
	grep -q "^build created: .* projects/proj-1/global/images/$img-0 -> gs://hs-exports/tmp/$img-0.tar.gz$" "$T/fake.log"
	grep -qx "object deleted: hs-exports/tmp/$img-1.tar.gz" "$T/fake.log"
	[ "$(state | jq '[.builds[] | select(. == "SUCCESS")] | length')" -eq 2 ]
	# the builds run at once: disk1's began before disk0's object was here
	b1=$(grep -n "build .* exports image $img-1 " "$SP/data/$id/log" | cut -d: -f1)
	d0=$(grep -n "disk0.tar.gz complete" "$SP/data/$id/log" | cut -d: -f1)
	[ -n "$b1" ] && [ -n "$d0" ] && [ "$b1" -lt "$d0" ]
	nothing_left
	[ ! -e "$SP/data/$id/gcp-export.json" ]
	no_secret
}

@test "a failed export build: the job fails with the build's reason, its image and object are deleted" {
	mode '{"build_outcome": "FAILURE", "fail_detail": "step 0: the export instance ran out of disk"}'
	id=$(job failing "$(isrc)")
	gone=$(job gone "$(isrc | jq -c '.instance = "nope"')")
	SECONDS=0
	export_once
	# Google's error: the status name and the message
	run reason "$gone"
	[[ $output == *"/instances/nope: HTTP 404: NOT_FOUND: The resource 'projects/proj-1/zones/europe-west1-b/instances/nope' was not found" ]]
	run reason "$id"
	echo "$output"
	[[ $output == "the export of image hs-"*"-0 (Cloud Build "*") ended FAILURE: step 0: the export instance ran out of disk" ]]
	[ "$SECONDS" -lt 30 ]
	nothing_left
	[ ! -e "$SP/data/$id/gcp-export.json" ]
}

# export_until MODE NAME COND: the fake's mode set, a job NAME exporting
# the instance ($id) run by an exportd until COND holds
export_until() {
	mode "$1"
	id=$(job "$2" "$(isrc)")
	start_daemon "$EXPORTD" 3>&-
	wait_for 60 "$3" || { cat "$T"/*.log; state; false; }
}

@test "a job cancelled while its export builds run (both disks' at once): the builds are cancelled, the images and object deleted" {
	export_until '{"build_outcome": "hang"}' cancelme building
	[ -f "$SP/data/$id/gcp-export.json" ]
	# both disks' images and builds were made at once; the object disk0's
	# build is writing exists
	state | jq -e '(.images | length) == 2 and (.builds | length) == 2 and (.objects | length) == 3' >/dev/null
	"$HS" -c "$T/conf" cancel "$id"
	wait_for 30 test -f "$SP/error/$id" || { cat "$T"/*.log; false; }
	wait_for 10 nothing_left
	[ "$(state | jq '.cancelled | length')" -eq 2 ]
	[ "$(state | jq -c '[.builds[]] | unique')" = '["CANCELLED"]' ]
	[ ! -e "$SP/data/$id/gcp-export.json" ]
}

@test "exportd killed while the export build runs: the next attempt releases what the record names and completes, leaving nothing" {
	export_until '{"build_outcome": "hang"}' crash building
	rec=$(cat "$SP/data/$id/gcp-export.json")
	first=$(echo "$rec" | jq -r '.exports[0].build')
	second=$(echo "$rec" | jq -r '.exports[1].build')
	[ "$(state | jq -c '.builds | keys')" = "$(jq -cn --arg a "$first" --arg b "$second" '[$a, $b] | sort')" ]
	kill_exportd
	mode '{"build_outcome": "SUCCESS", "build_polls": 2}'
	start_daemon "$EXPORTD" 3>&-
	wait_for 120 test -f "$SP/exported/$id" || { cat "$SP/data/$id/log" "$T"/*.log; state | jq -c .log; false; }
	cmp "$T/src/boot.raw" "$SP/data/$id/disk0.raw"
	cmp "$T/src/data.raw" "$SP/data/$id/disk1.raw"
	# the first attempt's builds were cancelled, their images and objects gone
	[ "$(state | jq -r --arg b "$first" '.builds[$b]')" = CANCELLED ]
	[ "$(state | jq -r --arg b "$second" '.builds[$b]')" = CANCELLED ]
	grep -q "gcp-export.json left by an earlier attempt" "$SP/data/$id/log"
	nothing_left
	[ ! -e "$SP/data/$id/gcp-export.json" ]
}

# builds.create's reply held by the fake: the build exists, we never
# learn its ID
held() { state | jq -e '.held == 1' >/dev/null; }
# no build of the fake may still run (write an object)
none_running() {
	state | jq -e '[.builds[] | select(. == "QUEUED" or . == "WORKING")] | length == 0' >/dev/null ||
	    { state | jq -c .builds; false; }
}
# cancelled_first BUILD OBJECT: the fake cancelled BUILD before it first deleted OBJECT
cancelled_first() {
	state | jq -r '.log[]' >"$T/fake.log"
	c=$(grep -nx "build cancelled: $1" "$T/fake.log" | head -n 1 | cut -d: -f1)
	o=$(grep -nx "object deleted: $2" "$T/fake.log" | head -n 1 | cut -d: -f1)
	[ -n "$c" ] && [ -n "$o" ] && [ "$c" -lt "$o" ] || { cat "$T/fake.log"; false; }
}

@test "builds.create's reply lost and exportd killed: the next attempt finds the build by its tag, cancels it before deleting its object, and completes" {
	export_until '{"create_reply": "hold"}' lost held
	# what a crash leaves: a record without the build's ID
	rec=$(cat "$SP/data/$id/gcp-export.json")
	orphan=$(state | jq -r '.builds | keys[0]')
	kill_exportd
	# the build runs on without us and writes its object
	mode '{"create_reply": "answer"}'
	wait_for 10 eval 'state | jq -e --arg b "$orphan" ".builds[\$b] == \"WORKING\"" >/dev/null'
	img=hs-$(echo "$id" | tr 'A-Z' 'a-z')
	state | jq -e --arg o "hs-exports/tmp/$img-0.tar.gz" '.objects | index($o)' >/dev/null
	start_daemon "$EXPORTD" 3>&-
	wait_for 120 test -f "$SP/exported/$id" || { cat "$SP/data/$id/log" "$T"/*.log; state | jq -c .log; false; }
	cmp "$T/src/boot.raw" "$SP/data/$id/disk0.raw"
	cmp "$T/src/data.raw" "$SP/data/$id/disk1.raw"
	# the orphan was found by the tag the record named, and cancelled
	# before its object was deleted
	[ "$(state | jq -r --arg b "$orphan" '.builds[$b]')" = CANCELLED ]
	cancelled_first "$orphan" "hs-exports/tmp/$img-0.tar.gz"
	tag=$(echo "$rec" | jq -r '.exports[0].build_tag')
	[ "$(echo "$rec" | jq -r '.exports[0].build')" = "" ]
	[[ $tag == "$img-0-"* ]]
	grep -q "build $orphan (tag $tag, no reply named it): WORKING" "$SP/data/$id/log"
	none_running
	nothing_left
	[ ! -e "$SP/data/$id/gcp-export.json" ]
}

@test "builds.create's reply lost and exportd killed, the build succeeded meanwhile: the next attempt adopts it and makes no other for that disk" {
	export_until '{"create_reply": "hold", "lost_outcome": "SUCCESS"}' adopt held
	orphan=$(state | jq -r '.builds | keys[0]')
	kill_exportd
	mode '{"create_reply": "answer"}'
	wait_for 10 eval 'state | jq -e --arg b "$orphan" ".builds[\$b] == \"SUCCESS\"" >/dev/null'
	start_daemon "$EXPORTD" 3>&-
	wait_for 120 test -f "$SP/exported/$id" || { cat "$SP/data/$id/log" "$T"/*.log; state | jq -c .log; false; }
	cmp "$T/src/boot.raw" "$SP/data/$id/disk0.raw"
	cmp "$T/src/data.raw" "$SP/data/$id/disk1.raw"
	grep -q "adopting build $orphan, which exported image hs-.*-0" "$SP/data/$id/log"
	# disk0's export is the orphan's; only disk1 got a build of its own
	[ "$(state | jq '.builds | length')" -eq 2 ]
	[ "$(state | jq '.cancelled | length')" -eq 0 ]
	nothing_left
	[ ! -e "$SP/data/$id/gcp-export.json" ]
}

@test "builds.create's reply lost: the attempt's own cleanup finds and cancels the build (two with its tag, listed a page each); the retry completes" {
	mode '{"create_reply": "lose", "lost_copies": 2}'
	id=$(job lose "$(isrc)")
	start_daemon "$EXPORTD" 3>&-
	wait_for 120 test -f "$SP/exported/$id" || { cat "$SP/data/$id/log" "$T"/*.log; state | jq -c .log; false; }
	mapfile -t orphans < <(state | jq -r '.log[]' | sed -n 's/^build reply lost: //p')
	[ "${#orphans[@]}" -eq 2 ]
	img=hs-$(echo "$id" | tr 'A-Z' 'a-z')
	for b in "${orphans[@]}"; do
		[ "$(state | jq -r --arg b "$b" '.builds[$b]')" = CANCELLED ]
		cancelled_first "$b" "hs-exports/tmp/$img-0.tar.gz"
	done
	cmp "$T/src/boot.raw" "$SP/data/$id/disk0.raw"
	none_running
	nothing_left
}

@test "builds.create's reply lost and the build list failing: nothing is deleted under the build, the record keeps it, the retry cancels it first" {
	mode '{"create_reply": "lose", "list_flaky": 3}'
	id=$(job flakylist "$(isrc)")
	start_daemon "$EXPORTD" 3>&-
	wait_for 120 test -f "$SP/exported/$id" || { cat "$SP/data/$id/log" "$T"/*.log; state | jq -c .log; false; }
	orphan=$(state | jq -r '.log[]' | sed -n 's/^build reply lost: //p')
	[ "$(state | jq '[.log[] | select(. == "build list refused: 503")] | length')" -eq 3 ]
	grep -q "the builds tagged hs-.*-0-[0-9a-f]* not listed: .*HTTP 503" "$SP/data/$id/log"
	grep -q "not everything the export made was released" "$SP/data/$id/log"
	[ "$(state | jq -r --arg b "$orphan" '.builds[$b]')" = CANCELLED ]
	img=hs-$(echo "$id" | tr 'A-Z' 'a-z')
	cancelled_first "$orphan" "hs-exports/tmp/$img-0.tar.gz"
	none_running
	nothing_left
}

@test "a job cancelled while builds.create's reply is held: the build is found by its tag and cancelled, nothing is left" {
	export_until '{"create_reply": "hold"}' cancelheld held
	"$HS" -c "$T/conf" cancel "$id"
	wait_for 60 test -f "$SP/error/$id" || { cat "$T"/*.log; false; }
	# the held reply is let go: a build nobody cancelled would start now
	mode '{"create_reply": "answer"}'
	wait_for 10 eval 'state | jq -r ".log[]" | grep -q "^build reply lost: "'
	[ "$(state | jq -r '.builds[]')" = CANCELLED ]
	none_running
	nothing_left
	[ ! -e "$SP/data/$id/gcp-export.json" ]
}

@test "a credential without export_bucket: the job fails at once naming the key, nothing is made" {
	gcred nobucket "server = ${G#https://}"
	id=$(job nobucket "$(isrc nobucket)")
	SECONDS=0
	export_once
	[ "$SECONDS" -lt 10 ]
	run reason "$id"
	[[ $output == "credential 'nobucket' has no export_bucket: "* ]]
	[ "$(state | jq '.log | map(select(startswith("image"))) | length')" -eq 0 ]
	nothing_left
}

@test "a submitter cannot choose where the export goes (as an unprivileged user)" {
	submitters
	chmod 0644 "$T/conf"
	start_daemon "$QUEUED"
	for f in bucket destination export_bucket export_prefix; do
		src=$(isrc | jq -c --arg f "$f" '.[$f] = "eve-bucket"')
		run as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e-$f\",\"source\":$src}"
		echo "$f: $output"
		[ "$status" -ne 0 ]
		[[ $output == *"source.$f: unknown field"* ]]
		# and a job file that bypasses the command: queued refuses it
		drop "q-$f" "{\"name\":\"q-$f\",\"source\":$src}"
	done
	ok=$(as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e-ok\",\"source\":$(isrc)}" | tail -n 1)
	wait_for 20 test -f "$SP/request/$ok" || { cat "$T"/*.log; false; }
	for f in bucket destination export_bucket export_prefix; do
		wait_for 20 reason_of "q-$f" >/dev/null 2>&1
		run reason_of "q-$f"
		[[ $output == *"source.$f: unknown field"* ]]
	done
	[ "$(count_in request)" -eq 1 ]
	# the job that names no bucket exports into the credential's
	export_once
	[ -f "$SP/exported/$ok" ] || { cat "$SP/data/$ok/log" "$T"/*.log; false; }
	state | jq -r '.log[]' | grep -q "^build created: .* -> gs://hs-exports/tmp/hs-"
	! state | jq -r '.log[]' | grep -q eve-bucket
	nothing_left
	no_secret
}

@test "an export that outlives its token renews it on the token's own expires_in; a build look answered 503 is tried again" {
	# tokens live 3 s; the build takes 25 polls of 0.2 s and more; the
	# first three looks at it are refused (503)
	mode '{"token_ttl": 3, "build_polls": 25, "build_flaky": 3}'
	id=$(job renew "$(isrc)")
	export_once
	[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/log" "$T"/*.log; state | jq -c .log; false; }
	grep -q "renewing the GCP token after 1 s" "$SP/data/$id/log"
	[ "$(state | jq .logins)" -ge 3 ]
	# no call was refused for an expired token
	[ "$(state | jq .expired)" -eq 0 ]
	[ "$(state | jq '[.log[] | select(. == "build look refused: 503")] | length')" -eq 3 ]
	grep -q "build .*: .*HTTP 503.*; looking again" "$SP/data/$id/log"
	nothing_left
}

@test "exportd killed while an exported disk downloads: the next attempt reuses that export and resumes the download" {
	sed -i 's/http_retries = 3;/http_retries = 3; http_max_rate = 100000;/' "$T/conf"
	id=$(job reuse "$(isrc)")
	start_daemon "$EXPORTD" 3>&-
	saved="jq '[.segments[].done] | add' '$SP/data/$id/disk0.tar.gz.part.state' 2>/dev/null || echo 0"
	wait_moving 60 "$saved; state | jq -c .builds" "[ \$($saved) -gt 0 ]" || { cat "$T"/*.log; false; }
	[ "$(jq -r '.exports[0].exported' "$SP/data/$id/gcp-export.json")" = true ]
	kill_exportd
	sed -i 's/ http_max_rate = 100000;//' "$T/conf"
	start_daemon "$EXPORTD" 3>&-
	wait_for 10 grep -q "recovered after a crash" "$T/exportd.log"
	wait_moving 60 "stat -c '%n %s %b' '$SP/data/$id'/disk* '$SP/data/$id'/.disk*; state | jq -c .builds" \
	    "test -f '$SP/exported/$id'" || { cat "$SP/data/$id/log" "$T"/*.log "$T/gcp/log"; ps -eo pid,ppid,stat,wchan:20,args | grep -E '[e]xportd|[f]akegcp'; false; }
	cmp "$T/src/boot.raw" "$SP/data/$id/disk0.raw"
	cmp "$T/src/data.raw" "$SP/data/$id/disk1.raw"
	# disk0's export was made once and reused; its download resumed
	grep -q "reusing the export of hs-.*-0: hs-exports/tmp/hs-.*-0.tar.gz" "$SP/data/$id/log"
	grep -q "resuming disk0.tar.gz: [1-9][0-9]* of [0-9]* bytes already here" "$SP/data/$id/log"
	# one build for disk0; disk1's, running when exportd died, was
	# cancelled and made again
	[ "$(state | jq -r '.log[]' | grep -c "^build created: .*/images/hs-.*-0 -> ")" -eq 1 ]
	[ "$(state | jq '.builds | length')" -eq 3 ]
	[ "$(state | jq '[.builds[] | select(. == "CANCELLED")] | length')" -eq 1 ]
	nothing_left
	[ ! -e "$SP/data/$id/gcp-export.json" ]
}

# A policy over GCE instances: each job names the instance, its zone and
# project as `hyperspool vms` lists them, and no object: the provider
# exports it (as the test above). Before, gcp jobs of a policy got a
# `vm` field queued refuses.
@test "a backup policy over gcp instances makes jobs queued takes, one per instance, each exported by the provider" {
	printf '{"provider":"gcp","credential":"sa","vms":["web*"],"job":{"convert":{"format":"raw"}}}' >"$T/p.json"
	run "$HS" -c "$T/conf" policy add nightly "$T/p.json"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$HS" -c "$T/conf" policy run nightly
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == incoming/web1-* ]]
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_in request)" -eq 1 ] || { cat "$T/queued.log" "$SP"/data/*/reason; false; }
	f=$(ls "$SP"/request/*)
	jq -e '.source == {"type":"gcp","credential":"sa","instance":"web1","zone":"europe-west1-b","project":"proj-1"}' "$f"
	id=$(basename "$f")
	export_once
	[ -f "$SP/exported/$id" ] || { cat "$T/exportd.log" "$SP/data/$id/log"; false; }
	nothing_left
	no_secret
}
