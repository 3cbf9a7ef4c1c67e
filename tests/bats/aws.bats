#!/usr/bin/env bats
# aws.bats - the "aws" source (mode ebs) against tests/aws/fakeaws.py, a
# FAKE of EC2 and of the EBS direct APIs (no emulator of the latter
# exists) that checks every request's SigV4 signature, x-amz-date and
# session token: an instance's volumes snapshotted, read block by block in
# parallel with their SHA-256 checked, landed sparse and booted in
# libvirt, hardware and MACs from the instance, snapshots deleted after;
# throttling 503s retried; exportd.job_deadline ending a run that
# throttling, a stalled server or pending snapshots would hold (released
# all the same); a checksum mismatch failing the job without
# landing the block; a wrong secret refused at once; a crashed attempt's
# snapshots released by the next; hyperspool vms (volume sizes, one
# DescribeVolumes per page of instances) / check-provider; the
# secret nowhere in the spool, the logs or a command line. Mode export's
# bucket is s3rver (npm, a real S3 emulator; tests/npm/s3/start.js checks
# SigV4), which the fake's export tasks write into: nothing of a job is
# left there, whatever happened to the attempt. Needs node and npm (the
# npm registry, or its cache, for npm ci).

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
MKBOOTDISK=$BATS_TEST_DIRNAME/../../contrib/sample/mkbootdisk
FAKE=$BATS_TEST_DIRNAME/../aws/fakeaws.py
AK=AKIAHSFAKEEC2KEY0001
SECRET=hs-aws-secret-$$-wJalrXUtnFEMIK7MDENG
TOKEN=hs-aws-token-$$-IQoJb3JpZ2luX2Vj
IID=i-0123456789abcdef0
NPMDIR=$BATS_TEST_DIRNAME/../npm/s3

setup_file() {
	command -v node >/dev/null || { echo "node missing (mode export's tests need s3rver)" >&2; return 1; }
	npm ci --prefix "$NPMDIR" --no-audit --no-fund >/dev/null 2>&1 ||
	    { echo "npm ci in $NPMDIR failed" >&2; return 1; }
}

setup() {
	hs_setup
	mkdir -m 0700 "$T/creds"
	mkdir -p "$T/out" "$T/tls" "$T/vols"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls/key.pem" \
	    -out "$T/tls/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	"$MKBOOTDISK" "$T/vols/boot.raw" 64M >/dev/null
	# a data volume: 3 MiB of random data at 0 and at 700 MiB
	head -c 3145728 /dev/urandom >"$T/vols/data.raw"
	dd if=/dev/urandom of="$T/vols/data.raw" bs=1M count=3 seek=700 \
	    conv=notrunc status=none
	DOMS=()
}

teardown() {
	local d
	for d in "${DOMS[@]}"; do
		virsh -q -c qemu:///session destroy "$d" >/dev/null 2>&1 || true
		virsh -q -c qemu:///session undefine "$d" >/dev/null 2>&1 || true
	done
	drop_submitters
	hs_teardown
}

# s3rver: the bucket "exports" on 127.0.0.1:$S3PORT (TLS, our CA, SigV4
# with $AK/$SECRET and $TOKEN checked); a later fake() points
# exportd.aws_s3_endpoint and the fake's export tasks at it, and $S3BIND
# binds a credential to the bucket as well
s3rver() {
	jq -n --arg d "$T/s3data" --arg c "$T/tls/cert.pem" --arg k "$T/tls/key.pem" \
	    --arg ak "$AK" --arg s "$SECRET" --arg tok "$TOKEN" --arg p "$T/s3port" \
	    --arg l "$T/s3req.log" '{dir: $d, cert: $c, key: $k, bucket: "exports",
	    access_key: $ak, secret: $s, token: $tok, portfile: $p, log: $l}' >"$T/s3.json"
	chmod 600 "$T/s3.json"
	node "$NPMDIR/start.js" "$T/s3.json" 3>&- </dev/null >>"$T/s3rver.log" 2>&1 &
	PIDS+=($!)
	wait_for 20 test -s "$T/s3port" || { cat "$T/s3rver.log"; false; }
	S3PORT=$(cat "$T/s3port")
	S3BIND="url_prefix = https://127.0.0.1:$S3PORT/exports/"
	printf 'user = "%s:%s"\nheader = "x-amz-security-token: %s"\n' \
	    "$AK" "$SECRET" "$TOKEN" >"$T/curl.conf"
	chmod 600 "$T/curl.conf"
}

# s3keys: the keys in s3rver's bucket, one a line (ListObjects, signed)
# (fails when the bucket cannot be listed: an empty answer must mean empty)
s3keys() {
	local out
	out=$(curl -sSf -K "$T/curl.conf" --cacert "$T/tls/cert.pem" \
	    --aws-sigv4 aws:amz:us-east-1:s3 -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
	    "https://127.0.0.1:$S3PORT/exports") || return 1
	grep -o '<Key>[^<]*</Key>' <<<"$out" | sed 's/<[^>]*>//g' || true
}

# s3empty: the bucket was listed and holds nothing
s3empty() {
	local keys
	keys=$(s3keys) || { echo "s3rver's bucket could not be listed"; return 1; }
	[ -z "$keys" ] || { echo "left in the bucket: $keys"; return 1; }
}

# crash_restart PID KEY=N: exportd PID and its workers die (kill -9, by
# their ids), the fake's KEY is set to N, a new exportd starts
crash_restart() {
	local kids
	kids=$(ps -o pid= --ppid "$1" || true)
	kill -9 "$1" $kids
	curl -sS --cacert "$T/tls/cert.pem" "https://127.0.0.1:$APORT/fake/set?$2" >/dev/null
	start_daemon "$EXPORTD" 3>&-
}

# s3has KEY: is KEY in the bucket?
s3has() {
	s3keys | grep -qxF "$1"
}

# ntasks N: does the fake hold N export tasks?
ntasks() {
	[ "$(state | jq '.tasks | length')" -eq "$1" ]
}

# fake [JQ-ASSIGNMENTS]: start fakeaws.py on $APORT with the instance
fake() {
	jq -n --arg c "$T/tls/cert.pem" --arg k "$T/tls/key.pem" \
	    --arg p "$T/aport" --arg ak "$AK" --arg s "$SECRET" --arg tok "$TOKEN" \
	    --arg iid "$IID" --arg boot "$T/vols/boot.raw" --arg data "$T/vols/data.raw" \
	    --arg s3 "${S3PORT:-0}" '
	    {cert: $c, key: $k, portfile: $p, access_key: $ak, secret: $s,
	     token: $tok, pending_polls: 2, s3: {port: ($s3 | tonumber)},
	     types: {"t3.small": [2, 2048]},
	     instances: [{id: $iid, type: "t3.small", name: "web-1",
	       state: "stopped", boot_mode: "legacy-bios",
	       macs: ["0a:1b:2c:3d:4e:5f"],
	       volumes: [{id: "vol-0aaa", device: "/dev/xvda", file: $boot, size_gib: 1},
	                 {id: "vol-0bbb", device: "/dev/xvdf", file: $data, size_gib: 1}]}]}
	    '"${1:+| $1}" >"$T/fake.json"
	python3 "$FAKE" "$T/fake.json" 3>&- </dev/null >>"$T/fake.log" 2>&1 &
	PIDS+=($!)
	FAKEPID=$!
	wait_for 10 test -s "$T/aport" || { cat "$T/fake.log"; false; }
	APORT=$(cat "$T/aport")
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
convert = { output_dir = "$T/out"; };
exportd = { aws_ec2_endpoint = "https://127.0.0.1:$APORT";
	aws_ebs_endpoint = "https://127.0.0.1:$APORT";
	aws_s3_endpoint = "https://127.0.0.1:${S3PORT:-$APORT}";
	aws_poll_interval = 0.1; http_retry_delay = ${RDELAY:-0.1}; aws_connections = 4;
	${XCONF:-} };
CONF
}

# cred NAME LINES...: an aws credential (root's, 0600)
cred() {
	local n=$1
	shift
	printf '%s\n' "access_key_id = $AK" "secret_access_key = $SECRET" \
	    "session_token = $TOKEN" "ca_file = $T/tls/cert.pem" "$@" >"$T/creds/$n"
	chmod 600 "$T/creds/$n"
}

state() {
	curl -sS --cacert "$T/tls/cert.pem" "https://127.0.0.1:$APORT/fake/state"
}

awssrc() {
	printf '{"type":"aws","instance_id":"%s","region":"eu-west-3","credential":"%s"%s}' \
	    "$IID" "$1" "${2:-}"
}

# job NAME SOURCE-JSON: publish a job through queued --once, print its ID
job() {
	drop "$1" "$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	basename "$(grep -l " from incoming/$1 " "$SP"/data/*/history | xargs dirname)"
}

reason() {
	[ -f "$SP/error/$1" ] || { echo "not in error/: $(ls "$SP"/*/"$1")"; cat "$T"/*.log; false; }
	cat "$SP/data/$1/reason"
}

no_secret() {
	! grep -rqF -e "$SECRET" -e "$TOKEN" "$SP" "$T"/*.log
}

@test "aws ebs: snapshots read block by block (EC2 and EBS throttled, retried), a booting domain; hardware and MAC from EC2; snapshots deleted; no secret anywhere" {
	import_to_libvirt
	fake '.throttle_every = 3 | .ec2_throttle_every = 4'
	cred aws "server = 127.0.0.1:$APORT"
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-aws-$$-$RANDOM
	DOMS+=("$n")
	id=$(printf '{"name":"%s","source":%s,"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}}' \
	    "$n" "$(awssrc aws)" | "$HS" -c "$T/conf" submit -)
	# the command lines while it runs
	for i in $(seq 50); do
		! grep -sqaF -e "$SECRET" -e "$TOKEN" /proc/[0-9]*/cmdline
		[ -f "$SP/exported/$id" ] || [ -f "$SP/converted/$id" ] ||
		    [ -f "$SP/imported/$id" ] || [ -f "$SP/error/$id" ] && break
		sleep 0.1
	done
	run "$HS" -c "$T/conf" wait --timeout 240 "$id"
	echo "$output"
	[ "$status" -eq 0 ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	[ "$(jq -r .result.boot_check "$SP/imported/$id")" = passed ]
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	# the hardware of the instance type, the ENI's MAC, two disks
	jq -e '.vm.cpus == 2 and .vm.memory_mib == 2048' "$SP/imported/$id"
	jq -e '.vm.nics[0].mac == "0a:1b:2c:3d:4e:5f"' "$SP/imported/$id"
	jq -e '(.vm.disks | length) == 2 and .vm.disks[0].virtual_size == 1073741824' "$SP/imported/$id"
	virsh -q -c qemu:///session destroy "$n" >/dev/null 2>&1 || true
	# both disks equal their volumes (qemu-img compares the tail as zeros)
	qemu-img compare -f raw -F qcow2 "$T/vols/boot.raw" "$(jq -r '.vm.disks[0].output' "$SP/imported/$id")"
	qemu-img compare -f raw -F qcow2 "$T/vols/data.raw" "$(jq -r '.vm.disks[1].output' "$SP/imported/$id")"
	st=$(state)
	echo "$st"
	# throttled blocks were retried; every request signed; nothing left
	[ "$(jq '.throttled' <<<"$st")" -ge 1 ]
	[ "$(jq '.ec2_throttled' <<<"$st")" -ge 1 ]
	[ "$(jq '.refused | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.created' <<<"$st")" -eq 2 ]
	[ "$(jq '.deleted | length' <<<"$st")" -eq 2 ]
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	# only the blocks with data were asked for (64 MiB + 2 x 3 MiB)
	[ "$(jq '.block_gets - .throttled' <<<"$st")" -le $((128 + 12 + 2)) ]
	[ ! -e "$SP/data/$id/aws-snapshots.json" ]
	no_secret
}

@test "aws: throttled EC2 and EBS requests wait what Retry-After asks, not the (long) backoff" {
	RDELAY=120
	fake '.throttle_every = 4 | .ec2_throttle_every = 5 | .retry_after = 1'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job ra "$(awssrc aws)")
	# 120 s of backoff would outlast the timeout; Retry-After: 1 does not
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	st=$(state)
	echo "$st"
	[ "$(jq '.throttled' <<<"$st")" -ge 1 ]
	[ "$(jq '.ec2_throttled' <<<"$st")" -ge 1 ]
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
}

@test "aws ebs: a credential without a session token sends none; source.keep_snapshots keeps the snapshots, naming them" {
	fake 'del(.token)'
	printf '%s\n' "access_key_id = $AK" "secret_access_key = $SECRET" \
	    "ca_file = $T/tls/cert.pem" "server = 127.0.0.1:$APORT" >"$T/creds/aws"
	chmod 600 "$T/creds/aws"
	id=$(job keep "$(awssrc aws ',"keep_snapshots":true')")
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	st=$(state)
	echo "$st"
	[ "$(jq '.refused | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 2 ]
	[ "$(jq '.deleted | length' <<<"$st")" -eq 0 ]
	[ ! -e "$SP/data/$id/aws-snapshots.json" ]
	for s in $(jq -r '.snapshots | keys[]' <<<"$st"); do
		grep -q "keeping snapshot $s (source.keep_snapshots)" "$SP/data/$id/log"
	done
}

@test "aws: the NICs in the order of their device index, whatever order EC2 lists them in; the boot mode the instance boots with now" {
	fake '.instances[0].macs = ["0a:00:00:00:00:01", "0a:00:00:00:00:02", "0a:00:00:00:00:03"] |
	    .instances[0].enis_reversed = true | .instances[0].boot_mode = "uefi-preferred" |
	    .instances[0].current_boot_mode = "legacy-bios"'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job nics "$(awssrc aws)")
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	jq -c '.vm.nics, .vm.firmware' "$SP/exported/$id"
	jq -e '[.vm.nics[].mac] == ["0a:00:00:00:00:01", "0a:00:00:00:00:02", "0a:00:00:00:00:03"]' "$SP/exported/$id"
	jq -e '.vm.firmware == "bios"' "$SP/exported/$id"
}

@test "aws ebs: a block whose checksum does not match fails the job and is never written; snapshots still deleted" {
	fake '.corrupt_block = 1'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job bad "$(awssrc aws)")
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	r=$(reason "$id")
	echo "$r"
	[[ $r == "block 1 of snap-"*": checksum mismatch (x-amz-Checksum "*"); nothing of it was written" ]]
	# no disk of it left in the spool
	! ls "$SP/data/$id/"disk*.raw
	st=$(state)
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.deleted | length' <<<"$st")" -eq 2 ]
}

@test "aws ebs: a block listed beyond the volume's size fails the job; nothing is written there" {
	fake '.bogus_block = 4096'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job big "$(awssrc aws)")
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	r=$(reason "$id")
	echo "$r"
	[[ $r == "ListSnapshotBlocks snap-"*": block 4096 lies beyond the volume's 1073741824 bytes" ]]
	! ls "$SP/data/$id/"disk*.raw
	[ "$(state | jq '.snapshots | length')" -eq 0 ]
}

# the deadline of the tests below: short, yet long enough for the
# requests before the one the test stalls on a loaded machine
DL=10

# dead JOB: it failed at the deadline, in one attempt, its snapshots and
# images gone from the fake, nothing of it left in data/JOB
dead() {
	local r st
	r=$(reason "$1")
	echo "$r"
	[[ $r == "${2:-}the export took longer than its deadline of $DL s (exportd.job_deadline)" ]]
	[ "$(grep -c ' exporting ' "$SP/data/$1/history")" -eq 1 ]
	st=$(state)
	echo "$st"
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.images | length' <<<"$st")" -eq 0 ]
	[ ! -e "$SP/data/$1/aws-snapshots.json" ]
	! ls "$SP/data/$1/"disk*.raw
	no_secret
}

@test "aws ebs: blocks throttled for good (503, Retry-After) end at exportd.job_deadline, not after the retries: the job fails in seconds, its snapshots deleted" {
	XCONF="job_deadline = $DL; http_retries = 1000;"
	fake '.block_throttle = 1'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job thr "$(awssrc aws)")
	SECONDS=0
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	echo "took $SECONDS s"
	[ "$SECONDS" -lt 30 ]
	dead "$id"
	[ "$(state | jq '.throttled')" -ge 1 ]
	[ "$(state | jq '.deleted | length')" -eq 2 ]
}

@test "aws ebs: a block read the server never answers ends at exportd.job_deadline, not at the request timeout; snapshots deleted" {
	XCONF="job_deadline = $DL;"
	fake '.block_stall = 1'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job stall "$(awssrc aws)")
	SECONDS=0
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	echo "took $SECONDS s"
	[ "$SECONDS" -lt 30 ]
	dead "$id"
	[ "$(state | jq '.stalled')" -ge 1 ]
	[ "$(state | jq '.deleted | length')" -eq 2 ]
}

@test "aws: snapshots (ebs) or an image (export) that never complete end at exportd.job_deadline, not at aws_snapshot_timeout; released" {
	XCONF="job_deadline = $DL; aws_snapshot_timeout = 3600;"
	fake '.pending_polls = 100000'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job pend "$(awssrc aws)")
	id2=$(job pendexp "$(awssrc aws ',"mode":"export","bucket":"exports"')")
	SECONDS=0
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	echo "took $SECONDS s"
	[ "$SECONDS" -lt 90 ]
	dead "$id" "EC2 DescribeSnapshots: "
	dead "$id2" "EC2 DescribeImages: "
	st=$(state)
	[ "$(jq '.deleted | length' <<<"$st")" -eq 4 ]
	[ "$(jq '.deregistered | length' <<<"$st")" -eq 1 ]
}

@test "aws export: an export task that never completes ends at exportd.job_deadline: the task is cancelled, what it wrote deleted, the image gone" {
	XCONF="job_deadline = $DL; aws_snapshot_timeout = 3600;"
	s3rver
	fake '.task_pending_polls = 100000'
	cred aws "server = 127.0.0.1:$APORT" "$S3BIND"
	id=$(job pendtask "$(awssrc aws ',"mode":"export","bucket":"exports"')")
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	dead "$id" "EC2 DescribeExportImageTasks: "
	st=$(state)
	task=$(jq -r '.tasks | keys[0]' <<<"$st")
	jq -e --arg t "$task" '.cancelled == [$t] and .tasks[$t].status == "deleted"' <<<"$st"
	[ "$(jq '.deregistered | length' <<<"$st")" -eq 1 ]
	grep -q "deleted s3://exports/hyperspool/hs-$id/$task.raw" "$SP/data/$id/log" "$T"/*.log
	s3empty
}

@test "aws: snapshots CreateSnapshots made without saying so (a lost reply, retried) are deleted by the job's tag" {
	fake '.create_fails = 1'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job lost "$(awssrc aws)")
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	# retried later (temporary): the job's log says why
	cat "$SP/data/$id/log"
	grep -q "EC2 CreateSnapshots: HTTP 503 from https://127.0.0.1:$APORT: InternalError (gave up after 5 attempts)" "$SP/data/$id/log"
	st=$(state)
	echo "$st"
	# five attempts, two volumes: ten made, none left
	[ "$(jq '.created' <<<"$st")" -eq 10 ]
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.deleted | length' <<<"$st")" -eq 10 ]
	[ ! -e "$SP/data/$id/aws-snapshots.json" ]
}

@test "aws: nothing is created in the cloud when its record cannot be written first" {
	fake
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job norec "$(awssrc aws)")
	id2=$(job norecexp "$(awssrc aws ',"mode":"export","bucket":"exports"')")
	# the record's name is taken by a directory: it is no record (nothing
	# of an earlier attempt to release) and the new one cannot be renamed
	# onto it
	mkdir "$SP/data/$id/aws-snapshots.json" "$SP/data/$id2/aws-snapshots.json"
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	for j in "$id" "$id2"; do
		cat "$SP/data/$j/log"
		grep -q "data/$j/aws-snapshots.json: Is a directory: nothing is created in the cloud that could not be recorded" "$SP/data/$j/log"
	done
	st=$(state)
	echo "$st"
	[ "$(jq '.created' <<<"$st")" -eq 0 ]
}

@test "aws: a wrong secret is refused by EC2 and fails the job at once; no snapshot made" {
	fake
	cred aws "server = 127.0.0.1:$APORT"
	sed -i "s/^secret_access_key = .*/secret_access_key = not-the-secret/" "$T/creds/aws"
	id=$(job bad "$(awssrc aws)")
	SECONDS=0
	run timeout 60 "$EXPORTD" -c "$T/conf" --once
	[ "$SECONDS" -lt 20 ]
	r=$(reason "$id")
	echo "$r"
	[[ $r == "EC2 DescribeInstances: HTTP 403 from https://127.0.0.1:$APORT: SignatureDoesNotMatch" ]]
	[ "$(state | jq '.created')" -eq 0 ]
	# and check-provider says so too
	run "$HS" -c "$T/conf" check-provider --provider aws --credential aws
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"EC2 DescribeRegions: HTTP 403 from https://127.0.0.1:$APORT: SignatureDoesNotMatch"* ]]
}

@test "aws: exportd killed while the snapshots are pending; the next attempt deletes them and makes its own" {
	fake '.pending_polls = 100000'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job crash "$(awssrc aws)")
	start_daemon "$EXPORTD" 3>&-
	ex=$LASTPID
	wait_for 30 sh -c "[ \"\$(curl -s --cacert '$T/tls/cert.pem' https://127.0.0.1:$APORT/fake/state | jq .created)\" -eq 2 ]"
	[ -f "$SP/data/$id/aws-snapshots.json" ]
	first=$(state | jq -c '[.snapshots | keys[]]')
	crash_restart "$ex" pending_polls=1
	wait_for 60 test -f "$SP/exported/$id" || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	st=$(state)
	echo "$st"
	# the first attempt's two were deleted, then the second's two
	[ "$(jq '.created' <<<"$st")" -eq 4 ]
	jq -e --argjson f "$first" '($f - .deleted) == []' <<<"$st"
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	grep -q "aws-snapshots.json left by an earlier attempt: deleting its snapshots" "$T/exportd.log"
}

@test "aws: a job cancelled while its snapshots are pending: exportd deletes them" {
	fake '.pending_polls = 100000'
	cred aws "server = 127.0.0.1:$APORT"
	id=$(job cancelme "$(awssrc aws)")
	start_daemon "$EXPORTD" 3>&-
	wait_for 30 sh -c "[ \"\$(curl -s --cacert '$T/tls/cert.pem' https://127.0.0.1:$APORT/fake/state | jq .created)\" -eq 2 ]"
	"$HS" -c "$T/conf" cancel "$id"
	wait_for 60 test -f "$SP/error/$id" || { cat "$T"/*.log; false; }
	[[ $(cat "$SP/data/$id/reason") == *"cancelled"* ]]
	wait_for 10 sh -c "[ \"\$(curl -s --cacert '$T/tls/cert.pem' https://127.0.0.1:$APORT/fake/state | jq '.snapshots | length')\" -eq 0 ]"
	[ "$(state | jq '.deleted | length')" -eq 2 ]
	[ ! -e "$SP/data/$id/aws-snapshots.json" ]
}

@test "aws export: the instance as an AMI exported to S3, downloaded signed in ranges; image, snapshots and object removed" {
	s3rver
	fake
	cred aws "server = 127.0.0.1:$APORT" "$S3BIND"
	id=$(job exp "$(awssrc aws ',"mode":"export","bucket":"exports","prefix":"vm/"')")
	run timeout 120 "$EXPORTD" -c "$T/conf" --once
	[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	# the root volume, equal; the hardware as in mode ebs
	qemu-img compare -f raw -F qcow2 "$T/vols/boot.raw" "$(jq -r '.vm.disks[0].output' "$SP/converted/$id")"
	jq -e '.vm.cpus == 2 and .vm.nics[0].mac == "0a:1b:2c:3d:4e:5f"' "$SP/converted/$id"
	st=$(state)
	echo "$st"
	[ "$(jq '.refused | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.deregistered | length' <<<"$st")" -eq 1 ]
	[ "$(jq '.images | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	# the object was the task's, under the job's own prefix; now gone
	grep -q "deleted s3://exports/vm/hs-$id/export-ami-[0-9a-f]*\.raw" "$T/exportd.log" "$SP/data/$id/log"
	s3empty
	# several ranged GETs of the 64 MiB object, none refused
	[ "$(jq -s '[.[] | select(.method == "GET" and .range != null)] | length' "$T/s3req.log")" -ge 3 ]
	[ "$(jq -s '[.[] | select(.refused != null)] | length' "$T/s3req.log")" -eq 0 ]
	[ ! -e "$SP/data/$id/aws-snapshots.json" ]
	no_secret
}

@test "aws export: exportd killed while the image is pending; the next attempt deregisters it and exports its own" {
	s3rver
	fake '.pending_polls = 100000'
	cred aws "server = 127.0.0.1:$APORT" "$S3BIND"
	id=$(job expcrash "$(awssrc aws ',"mode":"export","bucket":"exports"')")
	start_daemon "$EXPORTD" 3>&-
	ex=$LASTPID
	wait_for 30 sh -c "[ \"\$(curl -s --cacert '$T/tls/cert.pem' https://127.0.0.1:$APORT/fake/state | jq '.images | length')\" -eq 1 ]"
	first=$(state | jq -r '.images | keys[0]')
	crash_restart "$ex" pending_polls=1
	wait_for 60 test -f "$SP/exported/$id" || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	st=$(state)
	echo "$st"
	jq -e --arg f "$first" '.deregistered | index($f) != null' <<<"$st"
	[ "$(jq '.deregistered | length' <<<"$st")" -eq 2 ]
	[ "$(jq '.images | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	s3empty
}

@test "aws export: a job cancelled while its image is pending: exportd deregisters it and deletes its snapshots" {
	s3rver
	fake '.pending_polls = 100000'
	cred aws "server = 127.0.0.1:$APORT" "$S3BIND"
	id=$(job cancelexp "$(awssrc aws ',"mode":"export","bucket":"exports"')")
	start_daemon "$EXPORTD" 3>&-
	wait_for 30 sh -c "[ \"\$(curl -s --cacert '$T/tls/cert.pem' https://127.0.0.1:$APORT/fake/state | jq '.images | length')\" -eq 1 ]"
	[ -f "$SP/data/$id/aws-snapshots.json" ]
	"$HS" -c "$T/conf" cancel "$id"
	wait_for 60 test -f "$SP/error/$id" || { cat "$T"/*.log; false; }
	[[ $(cat "$SP/data/$id/reason") == *"cancelled"* ]]
	wait_for 10 sh -c "[ \"\$(curl -s --cacert '$T/tls/cert.pem' https://127.0.0.1:$APORT/fake/state | jq '(.images | length) + (.snapshots | length)')\" -eq 0 ]"
	st=$(state)
	echo "$st"
	[ "$(jq '.deregistered | length' <<<"$st")" -eq 1 ]
	[ "$(jq '.deleted | length' <<<"$st")" -eq 2 ]
	[ ! -e "$SP/data/$id/aws-snapshots.json" ]
}

@test "aws export: ExportImage's reply lost and exportd killed: the next attempt cancels the task it never heard of and removes what it wrote; nothing of the job left" {
	s3rver
	fake '.export_lost = 1'
	cred aws "server = 127.0.0.1:$APORT" "$S3BIND"
	id=$(job explost "$(awssrc aws ',"mode":"export","bucket":"exports","prefix":"vm/"')")
	start_daemon "$EXPORTD" 3>&-
	ex=$LASTPID
	# the task runs and has written into the bucket; its ID never came back
	wait_for 60 ntasks 1
	first=$(state | jq -r '.tasks | keys[0]')
	wait_for 30 s3has "vm/hs-$id/$first.raw"
	crash_restart "$ex" export_lost=0
	wait_for 90 test -f "$SP/exported/$id" || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	st=$(state)
	echo "$st"
	# the lost task cancelled, its object removed; the second attempt's
	# own task completed, its object removed after the download
	jq -e --arg f "$first" '.cancelled == [$f]' <<<"$st"
	[ "$(jq '[.tasks[] | select(.status == "active")] | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.tasks | length' <<<"$st")" -eq 2 ]
	[ "$(jq '.images | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.snapshots | length' <<<"$st")" -eq 0 ]
	[ "$(jq '.deregistered | length' <<<"$st")" -eq 2 ]
	s3keys
	s3empty
	grep -q "cancelled export task $first" "$T/exportd.log" "$SP/data/$id/log"
	grep -q "deleted s3://exports/vm/hs-$id/$first.raw" "$T/exportd.log" "$SP/data/$id/log"
	[ ! -e "$SP/data/$id/aws-snapshots.json" ]
	no_secret
}

@test "hyperspool vms --provider aws lists the instances with their volumes' sizes, page by page; check-provider accepts the credential" {
	# three instances in pages of two: the first has two 1 GiB volumes
	fake '.page_size = 2 | .types["m5.large"] = [2, 8192] |
	    .instances += [
	      {id: "i-0bbbbbbbbbbbbbbb1", type: "m5.large", name: "db-1",
	       state: "running", macs: [], volumes: [
	         {id: "vol-0ccc", device: "/dev/sda1", file: "/nonexistent", size_gib: 20},
	         {id: "vol-0ddd", device: "/dev/sdf", file: "/nonexistent", size_gib: 300}]},
	      {id: "i-0bbbbbbbbbbbbbbb2", type: "t3.small", name: "app-1",
	       state: "running", macs: [], volumes: [
	         {id: "vol-0eee", device: "/dev/xvda", file: "/nonexistent", size_gib: 8}]}]'
	cred aws "server = 127.0.0.1:$APORT" "region = eu-west-3"
	run "$HS" -c "$T/conf" vms --provider aws --credential aws --json
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e --arg i "$IID" '.[0].name == "web-1" and .[0].instance_id == $i and
	    .[0].cpus == 2 and .[0].memory_mib == 2048 and .[0].power_state == "stopped"' <<<"$output"
	jq -e 'length == 3 and ([.[].disk_bytes] == [2147483648, 343597383680, 8589934592])' <<<"$output"
	jq -e '.[1].name == "db-1" and .[1].cpus == 2 and .[1].memory_mib == 8192 and .[1].volumes == 2' <<<"$output"
	# one DescribeVolumes per page of instances, not one per volume
	st=$(state)
	[ "$(jq '.describe_instances' <<<"$st")" -eq 2 ]
	[ "$(jq '.describe_volumes' <<<"$st")" -eq 2 ]
	# the table shows the sizes too
	run "$HS" -c "$T/conf" vms --provider aws --credential aws
	echo "$output"
	[ "$status" -eq 0 ]
	grep -Eq "^db-1 +running +2 +8192 +343597383680  eu-west-3$" <<<"$output"
	run "$HS" -c "$T/conf" check-provider --provider aws --credential aws --json
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e '.ok == true and .provider == "aws"' <<<"$output"
	[[ $(jq -r .summary <<<"$output") == "EC2 at https://127.0.0.1:$APORT answered DescribeRegions (2 regions): credential 'aws' accepted (signed for eu-west-3), TLS verified with the CA file" ]]
}

@test "aws as an unprivileged submitter: a credential bound elsewhere or not for them reaches nothing; fields checked at intake" {
	fake
	submitters
	chmod 0755 "$T/creds"
	cred other "server = 127.0.0.1:1"
	cred vic "server = 127.0.0.1:$APORT" "allow_users = $VIC"
	mkdir "$T/eve"
	chown "$EVE" "$T/eve"
	start_daemon "$QUEUED" 3>&-
	submit_eve() {
		printf '{"name":"%s","source":%s}\n' "$1" "$2" >"$T/eve/j.json"
		chown "$EVE" "$T/eve/j.json"
		as_user "$EVE" "$HS" -c "$T/conf" submit "$T/eve/j.json"
	}
	id1=$(submit_eve a "$(awssrc other)" | tail -n 1)
	id2=$(submit_eve b "$(awssrc vic)" | tail -n 1)
	for i in 1 2; do timeout 30 "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; done
	[[ $(reason "$id1") == "credential 'other' is not for 127.0.0.1:$APORT: the operator bound it to another server or URL prefix" ]]
	[[ $(reason "$id2") == "credential 'vic' may not be used by uid $(id -u "$EVE") (not in its allow_users or allow_groups)" ]]
	[ "$(state | jq '.requests')" -eq 0 ]
	run submit_eve c "$(awssrc vic ',"mode":"export"')"
	[[ $output == *"source.bucket: mode export needs the S3 bucket"* ]]
	run submit_eve c2 "$(awssrc vic ',"bucket":"exports"')"
	[[ $output == *"source.bucket: only for mode export"* ]]
	run submit_eve c3 "$(awssrc vic ',"mode":"export","bucket":"exports","prefix":"a/../b/"')"
	[[ $output == *"source.prefix: an S3 key prefix"* ]]
	run submit_eve d '{"type":"aws","instance_id":"ami-123","credential":"vic"}'
	[[ $output == *"source.instance_id: an EC2 instance ID like i-0123456789abcdef0"* ]]
	run submit_eve e '{"type":"aws","instance_id":"i-0abc"}'
	[[ $output == *"source.credential"* ]]
	run submit_eve f "$(awssrc vic ',"mode":"ami"')"
	[[ $output == *"source.mode"* ]]
	no_secret
}
