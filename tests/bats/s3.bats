#!/usr/bin/env bats
# s3.bats - the "s3" source against s3rver (npm, a real S3 emulator, in
# tests/npm/s3; started here on loopback over TLS by tests/npm/s3/start.js,
# which adds the SigV4 signature check s3rver lacks - see there): objects
# downloaded signed in parallel Range segments, path-style and
# virtual-host, with a session token; an OVA and a disk converted equal
# to the original, a disk booting in libvirt; a wrong secret failing at
# once saying so; the credential's binding and allow_users honoured for an
# unprivileged submitter, and the secret in no spool file, log or command
# line; a .tar.gz object (disk.raw inside, as GCP exports) landed as a
# sparse raw disk through the gcp source's reader (targz.c), and an http
# URL to one (nginx) too, bad archives failing with its reasons. Needs
# node and npm (the npm registry, or its cache, for npm ci).

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample
NPMDIR=$BATS_TEST_DIRNAME/../npm/s3
AK=AKIAHSTESTKEY0000001
SECRET=hs-s3-secret-$$-wJalrXUtnFEMI
TOKEN=hs-s3-token-$$-FwoGZXIvYXdz

setup_file() {
	command -v node >/dev/null || { echo "node missing" >&2; return 1; }
	npm ci --prefix "$NPMDIR" --no-audit --no-fund >/dev/null 2>&1 ||
	    { echo "npm ci in $NPMDIR failed" >&2; return 1; }
}

setup() {
	hs_setup
	mkdir -m 0700 "$T/creds"
	mkdir -p "$T/out" "$T/tls"
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
convert = { output_dir = "$T/out"; };
CONF
	"$SAMPLE/mkova" "$T/src" >/dev/null
	RAW=$T/src/hs-sample.raw
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls/key.pem" \
	    -out "$T/tls/cert.pem" -days 2 -subj /CN=s3.localhost \
	    -addext "subjectAltName=DNS:s3.localhost,DNS:vms.s3.localhost,IP:127.0.0.1" \
	    2>/dev/null
	s3_start
	# the objects, uploaded signed (the secret in a curl config, not argv)
	qemu-img convert -q -f raw -O qcow2 "$RAW" "$T/src/disk.qcow2"
	s3_put "$T/src/hs-sample.ova" "exports/lab/hs-sample.ova"
	s3_put "$T/src/disk.qcow2" "exports/lab/disk.qcow2"
	s3_put "$RAW" "exports/lab/boot.raw"
	: >"$T/s3req.log"
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
DOMS=()

# s3_start: s3rver on 127.0.0.1:$S3PORT (TLS, our CA), bucket "vms",
# signatures checked against $AK/$SECRET, session token $TOKEN required
s3_start() {
	jq -n --arg d "$T/s3data" --arg c "$T/tls/cert.pem" --arg k "$T/tls/key.pem" \
	    --arg ak "$AK" --arg s "$SECRET" --arg tok "$TOKEN" --arg p "$T/s3port" \
	    --arg l "$T/s3req.log" '{dir: $d, cert: $c, key: $k, bucket: "vms",
	    access_key: $ak, secret: $s, token: $tok, endpoint: "localhost",
	    portfile: $p, log: $l}' >"$T/s3.json"
	chmod 600 "$T/s3.json"
	node "$NPMDIR/start.js" "$T/s3.json" 3>&- </dev/null >>"$T/s3rver.log" 2>&1 &
	PIDS+=($!)
	wait_for 20 test -s "$T/s3port" || { cat "$T/s3rver.log"; false; }
	S3PORT=$(cat "$T/s3port")
	printf 'user = "%s:%s"\nheader = "x-amz-security-token: %s"\n' \
	    "$AK" "$SECRET" "$TOKEN" >"$T/curl.conf"
	chmod 600 "$T/curl.conf"
}

# s3_put FILE KEY: upload FILE into bucket vms, signed
s3_put() {
	curl -sSf -K "$T/curl.conf" --cacert "$T/tls/cert.pem" \
	    --aws-sigv4 aws:amz:us-east-1:s3 \
	    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$1" \
	    "https://127.0.0.1:$S3PORT/vms/$2" >/dev/null
}

# cred NAME LINES...: an s3 credential file (root's, 0600) for $AK
cred() {
	local n=$1
	shift
	printf '%s\n' "access_key_id = $AK" "secret_access_key = $SECRET" \
	    "ca_file = $T/tls/cert.pem" "$@" >"$T/creds/$n"
	chmod 600 "$T/creds/$n"
}

# s3src KEY CRED [EXTRA-JSON-MEMBERS]: a source object for bucket vms
s3src() {
	printf '{"type":"s3","endpoint":"https://127.0.0.1:%s","bucket":"vms","key":"%s","credential":"%s"%s}' \
	    "$S3PORT" "$1" "$2" "${3:-}"
}

# reason ID: the reason of a job in error/
reason() {
	[ -f "$SP/error/$1" ] || { echo "not in error/: $(ls "$SP"/*/"$1")"; cat "$T"/*.log; false; }
	cat "$SP/data/$1/reason"
}

# no_secret: neither the secret nor the token in the spool or our logs
no_secret() {
	! grep -rqF -e "$SECRET" -e "$TOKEN" "$SP" "$T"/*.log
}

@test "s3: an OVA and a raw disk, signed with a session token, in parallel ranges: converted equal; nothing secret left behind" {
	cred lab "server = 127.0.0.1:$S3PORT" "session_token = $TOKEN"
	ova=$(job ova "$(s3src exports/lab/hs-sample.ova lab)")
	dsk=$(job dsk "$(s3src exports/lab/boot.raw lab)")
	# exportd in the background: its command line is looked at meanwhile
	start_daemon "$EXPORTD" 3>&-
	wait_for 60 test -f "$SP/exported/$ova" -a -f "$SP/exported/$dsk" ||
	    { cat "$SP"/data/*/reason "$T"/*.log; false; }
	! grep -sqaF -e "$SECRET" -e "$TOKEN" /proc/[0-9]*/cmdline
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	converted_ok "$ova"
	converted_ok "$dsk"
	# the OVA's hardware came through (sample.ovf: its MAC)
	jq -e '.vm.nics[0].mac == "00:50:56:8a:12:34"' "$SP/converted/$ova"
	# every request signed and accepted; the 64 MiB disk came in several
	# ranges (exportd.http_segments, 4 by default)
	! grep -q '"refused":"' "$T/s3req.log"
	n=$(grep -c '"url":"/vms/exports/lab/boot.raw","host":"127.0.0.1:[0-9]*","range":"bytes=[1-9]' "$T/s3req.log")
	echo "ranged GETs of the disk: $n"
	[ "$n" -ge 2 ]
	no_secret
}

@test "s3: virtual-host addressing (BUCKET.HOST/KEY) with a region; a qcow2 disk boots in libvirt" {
	import_to_libvirt
	# bound to the bucket's host: that is where the signature goes
	cred vh "server = vms.s3.localhost:$S3PORT" "session_token = $TOKEN"
	n=hs-s3-$$-$RANDOM
	DOMS+=("$n")
	src=$(printf '{"type":"s3","endpoint":"https://s3.localhost:%s","addressing":"virtual","region":"eu-west-3","bucket":"vms","key":"exports/lab/disk.qcow2","credential":"vh"}' "$S3PORT")
	boot_in_libvirt "$n" "$src"
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	# asked of the bucket's own host name, signed for the region given
	grep -q '"url":"/exports/lab/disk.qcow2","host":"vms.s3.localhost:' "$T/s3req.log"
	! grep -q '"refused":"' "$T/s3req.log"
	no_secret
}

@test "s3: a wrong secret is refused by the store; the job fails at once saying so" {
	cred bad "server = 127.0.0.1:$S3PORT" "session_token = $TOKEN"
	sed -i "s/^secret_access_key = .*/secret_access_key = not-the-secret/" "$T/creds/bad"
	id=$(job bad "$(s3src exports/lab/disk.qcow2 bad)")
	run timeout 30 "$EXPORTD" -c "$T/conf" --once
	r=$(reason "$id")
	echo "$r"
	[[ $r == *"HTTP 403"* ]]
	[[ $r == *"the store refused the request: a wrong access key or secret"* ]]
	grep -q '"refused":"SignatureDoesNotMatch"' "$T/s3req.log"
	# and without the session token the store refuses too
	cred notok "server = 127.0.0.1:$S3PORT"
	id=$(job notok "$(s3src exports/lab/disk.qcow2 notok)")
	run timeout 30 "$EXPORTD" -c "$T/conf" --once
	[[ $(reason "$id") == *"HTTP 403"* ]]
	grep -q '"refused":"InvalidToken"' "$T/s3req.log"
}

@test "s3 as an unprivileged submitter: the credential only to its server, over https, for whom it allows" {
	submitters
	chmod 0755 "$T/creds"
	cred other "server = 127.0.0.1:1" "session_token = $TOKEN"
	cred vic "server = 127.0.0.1:$S3PORT" "session_token = $TOKEN" "allow_users = $VIC"
	mkdir "$T/eve"
	chown "$EVE" "$T/eve"
	start_daemon "$QUEUED" 3>&-
	submit_eve() {
		printf '{"name":"%s","source":%s}\n' "$1" "$2" >"$T/eve/j.json"
		chown "$EVE" "$T/eve/j.json"
		as_user "$EVE" "$HS" -c "$T/conf" submit "$T/eve/j.json" | tail -n 1
	}
	# bound elsewhere: eve's endpoint gets nothing signed
	id1=$(submit_eve a "$(s3src exports/lab/disk.qcow2 other)")
	# the victim's credential
	id2=$(submit_eve b "$(s3src exports/lab/disk.qcow2 vic)")
	# plain http: never signed
	id3=$(submit_eve c "$(printf '{"type":"s3","endpoint":"http://127.0.0.1:%s","bucket":"vms","key":"exports/lab/disk.qcow2","credential":"vic"}' "$S3PORT")")
	for i in 1 2 3; do timeout 30 "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; done
	r=$(reason "$id1"); echo "$r"
	[[ $r == "credential 'other' is not for 127.0.0.1:$S3PORT: the operator bound it to another server or URL prefix" ]]
	r=$(reason "$id2"); echo "$r"
	[[ $r == "credential 'vic' may not be used by uid $(id -u "$EVE") (not in its allow_users or allow_groups)" ]]
	r=$(reason "$id3"); echo "$r"
	[[ $r == *"refused over plain http"* ]]
	# nothing reached the store
	[ ! -s "$T/s3req.log" ]
	no_secret
}

@test "s3 fields are checked at intake, each refusal naming the field" {
	start_daemon "$QUEUED" 3>&-
	bad() {
		run "$HS" -c "$T/conf" submit - <<<"{\"name\":\"x\",\"source\":$1}"
		echo "$output"
		[ "$status" -ne 0 ]
		[[ $output == *"$2"* ]]
	}
	bad '{"type":"s3","key":"a.raw"}' "source.bucket"
	bad '{"type":"s3","bucket":"Bad_Bucket","key":"a.raw"}' "source.bucket: an S3 bucket name"
	bad '{"type":"s3","bucket":"vms","key":"a/../b.raw"}' "source.key: must be printable"
	bad '{"type":"s3","bucket":"vms","key":"/a.raw"}' "source.key"
	bad '{"type":"s3","bucket":"vms","key":"a.raw","endpoint":"https://h/vms"}' "source.endpoint: the host and port only"
	bad '{"type":"s3","bucket":"vms","key":"a.raw","endpoint":"https://u:p@h"}' "source.endpoint"
	bad '{"type":"s3","bucket":"vms","key":"a.raw","addressing":"dns"}' "source.addressing"
	bad '{"type":"s3","bucket":"vms","key":"a.raw","region":"US East"}' "source.region"
	bad '{"type":"s3","bucket":"vms","key":"a.raw","url":"https://h/x"}' "source.url: unknown field"
	bad '{"type":"s3","bucket":"vms","key":"a.raw","credential":"../x"}' "source.credential"
}

# third_done ID: exportd has a third of the object (progress.json)
third_done() {
	local d
	d=$(jq -r '.bytes_done // 0' "$SP/data/$1/progress.json" 2>/dev/null) || return 1
	[ "${d:-0}" -ge $((64 * 1048576 / 3)) ]
}

@test "s3: exportd stopped a third of the way through a throttled signed download resumes it; the store sends the object about once" {
	# a real nginx over TLS in front of s3rver, 4 MB/s per connection
	chmod 0644 "$T/tls/"*.pem
	mkdir -p "$T/www"
	SPORT=$((20000 + RANDOM % 20000))
	while [ -n "$(ss -Htln "sport = :$SPORT")" ]; do SPORT=$((20000 + RANDOM % 20000)); done
	start_nginx "$T/www" "listen 127.0.0.1:$SPORT ssl; ssl_certificate $T/tls/cert.pem; ssl_certificate_key $T/tls/key.pem; limit_rate 4m; location /vms/ { proxy_pass https://127.0.0.1:$S3PORT; proxy_set_header Host \$http_host; proxy_max_temp_file_size 0; }"
	cred thr "server = 127.0.0.1:$SPORT" "session_token = $TOKEN"
	id=$(job thr "$(printf '{"type":"s3","endpoint":"https://127.0.0.1:%s","bucket":"vms","key":"exports/lab/boot.raw","credential":"thr"}' "$SPORT")")
	start_daemon "$EXPORTD" 3>&-
	ex=$LASTPID
	wait_for 60 third_done "$id" || { cat "$T"/*.log; false; }
	kill -TERM "$ex"
	wait "$ex" || true
	[ ! -f "$SP/exported/$id" ]
	start_daemon "$EXPORTD" 3>&-
	wait_for 120 test -f "$SP/exported/$id" || { cat "$SP/data/$id/reason" "$T"/*.log; false; }
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	converted_ok "$id"
	sleep 0.5	# nginx logs a request when it is over
	sent=$(awk '$7 == "/vms/exports/lab/boot.raw" { s += $10 } END { printf "%.0f\n", s }' "$T/nginx/access.log")
	echo "sent $sent of $((64 * 1048576))"
	[ "$sent" -le $((64 * 1048576 * 11 / 10)) ]
	! grep -q '"refused":"' "$T/s3req.log"
	kill -QUIT "$NGINX"
	no_secret
}

# targz_files: in $T/arc a boot-sector disk.raw (32 MiB, 1 MiB of random
# data at 20 MiB) packed sparse by GNU tar (as GCE's export does) into
# web1.tar.gz and plain by python into plain.tgz; nodisk.tar.gz (no
# disk.raw) and cut.tar.gz (web1's first 20000 bytes)
targz_files() {
	mkdir -p "$T/arc/bad"
	"$SAMPLE/mkbootdisk" "$T/arc/disk.raw" 32M >/dev/null
	head -c 1048576 /dev/urandom | dd of="$T/arc/disk.raw" bs=1M seek=20 \
	    conv=notrunc status=none
	tar --format=oldgnu -Sczf "$T/arc/web1.tar.gz" -C "$T/arc" disk.raw
	python3 -c 'import sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t: t.add(sys.argv[2], "disk.raw")' \
	    "$T/arc/plain.tgz" "$T/arc/disk.raw"
	echo hello >"$T/arc/bad/README"
	tar -czf "$T/arc/nodisk.tar.gz" -C "$T/arc/bad" README
	head -c 20000 "$T/arc/web1.tar.gz" >"$T/arc/cut.tar.gz"
}

@test "s3: a .tar.gz object (disk.raw inside, as GCP exports) lands as a sparse raw disk, converted equal; a bad archive fails saying why" {
	cred lab "server = 127.0.0.1:$S3PORT" "session_token = $TOKEN"
	targz_files
	s3_put "$T/arc/web1.tar.gz" exports/lab/web1.tar.gz
	s3_put "$T/arc/plain.tgz" exports/lab/image
	s3_put "$T/arc/nodisk.tar.gz" exports/lab/nodisk.tar.gz
	s3_put "$T/arc/cut.tar.gz" exports/lab/cut.tar.gz
	a=$(job sparse "$(s3src exports/lab/web1.tar.gz lab)")
	b=$(job named "$(s3src exports/lab/image lab ',"format":"targz"')")
	c=$(job nodisk "$(s3src exports/lab/nodisk.tar.gz lab)")
	d=$(job cut "$(s3src exports/lab/cut.tar.gz lab)")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/exported/$a" ] || { cat "$SP/data/$a/reason" "$T"/*.log; false; }
	[ -f "$SP/exported/$b" ] || { cat "$SP/data/$b/reason" "$T"/*.log; false; }
	cmp "$T/arc/disk.raw" "$SP/data/$a/web1.raw"
	cmp "$T/arc/disk.raw" "$SP/data/$b/image.raw"
	# 32 MiB apparent, about 1 MiB on disk: the holes stayed holes
	[ "$(stat -c %s "$SP/data/$a/web1.raw")" -eq 33554432 ]
	[ "$(($(stat -c %b "$SP/data/$a/web1.raw") * 512))" -lt $((4 * 1048576)) ]
	[ "$(($(stat -c %b "$SP/data/$b/image.raw") * 512))" -lt $((4 * 1048576)) ]
	# the archive is gone once unpacked; the description names the raw disk
	[ ! -e "$SP/data/$a/web1.tar.gz" ] && [ ! -e "$SP/data/$b/image" ]
	[ "$(jq -r '.vm.disks[0].format' "$SP/exported/$a")" = raw ]
	[ "$(jq -r '.vm.disks[0].virtual_size' "$SP/exported/$a")" = 33554432 ]
	run reason "$c"
	[ "$output" = "nodisk.tar.gz: no disk.raw in the archive" ]
	run reason "$d"
	[[ $output == "cut.tar.gz: "*"gzip"* ]] || [[ $output == "cut.tar.gz: the archive ends inside a member" ]]
	[ ! -e "$SP/data/$d/.cut.raw.part" ]
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	RAW=$T/arc/disk.raw converted_ok "$a"
	no_secret
}

@test "http: a .tar.gz URL lands the same way (nginx); inspect names its raw disk; a bad one fails saying why" {
	targz_files
	start_nginx "$T/arc"
	run "$HS" -c "$T/conf" inspect --json "http://127.0.0.1:$PORT/web1.tar.gz"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.disks[0].file' <<<"$output")" = web1.raw ]
	[ "$(jq -r '.disks[0].format' <<<"$output")" = raw ]
	a=$(job web "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/web1.tar.gz\",\"sha256\":\"$(sha256sum "$T/arc/web1.tar.gz" | cut -d' ' -f1)\"}")
	c=$(job nodisk "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/nodisk.tar.gz\"}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/exported/$a" ] || { cat "$SP/data/$a/reason" "$T"/*.log; false; }
	cmp "$T/arc/disk.raw" "$SP/data/$a/web1.raw"
	[ "$(($(stat -c %b "$SP/data/$a/web1.raw") * 512))" -lt $((4 * 1048576)) ]
	[ ! -e "$SP/data/$a/web1.tar.gz" ]
	run reason "$c"
	[ "$output" = "nodisk.tar.gz: no disk.raw in the archive" ]
	kill -QUIT "$NGINX"
}
