#!/usr/bin/env bats
# secconn.bats - what a job may choose about connections (issue 21,
# findings 1, 3 and 6), tried as an unprivileged submitter ($EVE, made by
# `submitters`) against daemons running as root:
#   - a libvirt connection: only one the operator configured
#     (importd.connections, by name); a qemu+ext URI with command= never
#     runs its command, at intake or in importd;
#   - a stored credential: only to the server (or URL prefix) it is bound
#     to, never over plain http, only for the submitters it allows; the
#     server is a real nginx that challenges for Basic auth and logs the
#     user name it got ($remote_user in its "combined" log);
#   - the time a job holds an exportd worker: no CA file of the job's (a
#     FIFO blocked workers), a minimum rate over a window (nginx's
#     limit_rate trickling 2 bytes/s), a deadline per job.
# Real components throughout: nginx, libvirt (qemu:///session), qemu-img.

load helpers

IMPORTD=$HS_BINDIR/importd
EXPORTD=$HS_BINDIR/exportd
MKBOOTDISK=$BATS_TEST_DIRNAME/../../contrib/sample/mkbootdisk

setup() {
	hs_setup
	submitters
	mkdir -m 0700 "$T/creds" "$T/out"
	mkdir "$T/eve"
	chown "$EVE" "$T/eve"
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
convert = { output_dir = "$T/out"; };
CONF
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

# eve_submit JSON: $EVE submits it with hyperspool submit (queued must
# run); sets status and output like `run`
eve_submit() {
	printf '%s\n' "$1" >"$T/eve/job.json"
	chown "$EVE" "$T/eve/job.json"
	run as_user "$EVE" "$HS" -c "$T/conf" submit "$T/eve/job.json"
	echo "submit: $status: $output"
}

# eve_job JSON: $EVE submits it and it must be accepted; prints the ID
eve_job() {
	eve_submit "$1" >&2
	[ "$status" -eq 0 ] || return 1
	echo "${lines[-1]}"
}

# the script a qemu+ext URI would run: it leaves $T/pwned behind
ext_script() {
	printf '#!/bin/sh\nid >%s/pwned\n' "$T" >"$T/eve/x.sh"
	chmod 0755 "$T/eve/x.sh"
	chown "$EVE" "$T/eve/x.sh"
}

# cred NAME LINES...: a credential file (root's, 0600)
cred() {
	local n=$1
	shift
	printf '%s\n' "username = hsuser" "password = s3cret-$n" "$@" >"$T/creds/$n"
	chmod 600 "$T/creds/$n"
}

# tls: a self-signed certificate for 127.0.0.1 in $T/tls
tls() {
	mkdir -p "$T/tls"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls/key.pem" \
	    -out "$T/tls/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
}

# nginx_auth: nginx over http ($PORT) and https ($SPORT) serving $T/www,
# asking for Basic auth (user hsuser) everywhere
nginx_auth() {
	tls
	mkdir -p "$T/www"
	head -c 65536 /dev/urandom >"$T/www/x.raw"
	chmod -R a+rX "$T/www"
	printf 'hsuser:%s\n' "$(openssl passwd -apr1 s3cret-lab)" >"$T/htpasswd"
	chmod 644 "$T/htpasswd"
	SPORT=$((20000 + RANDOM % 20000))
	start_nginx "$T/www" "listen 127.0.0.1:$SPORT ssl; ssl_certificate $T/tls/cert.pem; ssl_certificate_key $T/tls/key.pem; auth_basic lab; auth_basic_user_file $T/htpasswd;"
}

# reason ID: the reason of a job in error/
reason() {
	[ -f "$SP/error/$1" ] || { echo "not in error/: $(ls "$SP"/*/"$1")"; cat "$T"/*.log; false; }
	cat "$SP/data/$1/reason"
}

# put_converted NAME JQ-FILTER: a converted job in converted/ (as exportd
# and convertwatch leave one, with a real qcow2 image); prints its ID
put_converted() {
	local id
	id=$(date -u +%Y%m%dT%H%M%S)-$(printf '%06d' $((RANDOM * 30 % 1000000)))-00000000-$(printf '%08x' $$)-$(printf '%08x' $((RANDOM * 65536 + RANDOM)))
	[ -f "$T/out/boot.qcow2" ] || {
		"$MKBOOTDISK" "$T/boot.raw" >/dev/null
		qemu-img convert -q -f raw -O qcow2 "$T/boot.raw" "$T/out/boot.qcow2"
		chmod 0755 "$T/out"
	}
	mkdir -p "$SP/data/$id"
	jq -n --arg id "$id" --arg n "$1" --arg p "$T/src/x.raw" \
	    --arg img "$T/out/boot.qcow2" --argjson uid "$(id -u "$EVE")" '
	    {version: 1, id: $id, name: $n, submitted: "2026-11-22T03:15:00Z",
	     source: {type: "file", path: $p},
	     vm: {cpus: 1, memory_mib: 64, firmware: "bios",
	          disks: [{file: "x.raw", format: "raw", virtual_size: 67108864,
	                   boot_order: 0, output: $img, output_format: "qcow2"}]},
	    convert: {format: "qcow2", compress: false, compare: false,
	              guest: "none"},
	    import: {start: false, autostart: false, boot_timeout: 60,
	             network: "user", disk_bus: "virtio"},
	    origin: {dialect: "hyperspool-v1", uid: $uid, user: "eve", host: "h"}}
	    | '"$2" >"$SP/tmp/$id"
	mv "$SP/tmp/$id" "$SP/converted/$id"
	echo "$id"
}

# -- finding 1: import.uri -------------------------------------------------

@test "import.uri: a qemu+ext URI with command= from a submitter is refused at intake and never runs" {
	ext_script
	start_daemon "$QUEUED"
	eve_submit "{\"name\":\"x\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/x.raw\"},\"import\":{\"uri\":\"qemu+ext:///system?command=$T/eve/x.sh\"}}"
	[ "$status" -eq 1 ]
	[[ $output == *"import.uri: a job may not choose a libvirt URI the operator has not configured; name a connection with import.connection (configured: none)"* ]]
	[ "$(count_in request)" -eq 0 ]
	[ ! -e "$T/pwned" ]
	# the default connection stays usable without naming it
	eve_submit "{\"name\":\"y\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/x.raw\"}}"
	[ "$status" -eq 0 ]
	[ "$(jq -r .import.uri "$SP/request/${lines[-1]}")" = qemu:///system ]
}

@test "import.uri: importd does not trust a job in converted/: a qemu+ext URI fails it, the command never runs" {
	ext_script
	id=$(put_converted "hs-sec-$$" ".import.uri = \"qemu+ext:///system?command=$T/eve/x.sh\"")
	"$IMPORTD" -c "$T/conf" --once 2>>"$T/importd.log" || true
	[ ! -e "$T/pwned" ] || { echo "the command ran: $(cat "$T/pwned")"; false; }
	run reason "$id"
	echo "$output"
	[[ $output == "import.uri: a job may not choose a libvirt URI the operator has not configured"* ]]
}

@test "import.connection: a configured name is accepted at intake and importd defines the domain on it" {
	import_to_libvirt
	# the default stays defaults.import.uri; the job names another one
	sed -i 's|defaults = { import = { uri = "qemu:///session";|defaults = { import = { uri = "qemu:///system";|' "$T/conf"
	start_daemon "$QUEUED"
	head -c 1048576 /dev/zero >"$T/src/x.raw"
	eve_submit "{\"name\":\"x\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/x.raw\"},\"import\":{\"connection\":\"nope\"}}"
	[ "$status" -eq 1 ]
	[[ $output == *"import.connection: 'nope' is not a configured connection (configured: session)"* ]]
	id=$(eve_job "{\"name\":\"x\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/x.raw\"},\"import\":{\"connection\":\"session\"}}")
	[ "$(jq -r .import.uri "$SP/request/$id")" = qemu:///session ]
	[ "$(jq -r .import.connection "$SP/request/$id")" = session ]
	# importd takes the URI from its configuration, by that name
	DOMS+=("hs-sec-$$")
	id=$(put_converted "hs-sec-$$" '.import.connection = "session"')
	"$IMPORTD" -c "$T/conf" --once 2>>"$T/importd.log"
	[ -f "$SP/imported/$id" ] || { cat "$T/importd.log" "$SP/data/$id/reason"; false; }
	[ "$(jq -r .result.uri "$SP/imported/$id")" = qemu:///session ]
	virsh -q -c qemu:///session dominfo "hs-sec-$$" >/dev/null
}

# -- finding 3: credentials --------------------------------------------------

@test "credentials: one bound elsewhere, or over plain http, reaches no server" {
	nginx_auth
	cred vcenter-lab "server = vc.lab.example"
	start_daemon "$QUEUED"
	a=$(eve_job "{\"name\":\"a\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/x.raw\",\"credential\":\"vcenter-lab\"}}")
	b=$(eve_job "{\"name\":\"b\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:$SPORT/x.raw\",\"credential\":\"vcenter-lab\"}}")
	cred nohost
	c=$(eve_job "{\"name\":\"c\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:$SPORT/x.raw\",\"credential\":\"nohost\"}}")
	cred lab "server = 127.0.0.1:$SPORT"
	d=$(eve_job "{\"name\":\"d\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:$SPORT/x.raw\",\"credential\":\"lab\",\"insecure\":true}}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log" || true
	run reason "$a"
	[[ $output == "credential 'vcenter-lab': refused over plain http"* ]]
	run reason "$b"
	[[ $output == "credential 'vcenter-lab' is not for 127.0.0.1:$SPORT: the operator bound it to another server or URL prefix" ]]
	run reason "$c"
	[[ $output == *"credential 'nohost' is bound to no server: the operator must add 'server = HOST[:PORT]'"* ]]
	run reason "$d"
	[[ $output == "credential 'lab': refused with source.insecure (an unverified server could be anyone)"* ]]
	# not one request for the file reached nginx, let alone a password
	! grep -q x.raw "$T/nginx/access.log"
	! grep -rF s3cret "$SP" "$T"/*.log
}

@test "credentials: bound to the server they go there (https, Basic auth); allow_users keeps the others out" {
	nginx_auth
	cred lab "server = 127.0.0.1:$SPORT" "ca_file = $T/tls/cert.pem"
	cred vic-only "url_prefix = https://127.0.0.1:$SPORT/" "ca_file = $T/tls/cert.pem" "allow_users = $VIC"
	sed -i "s/^password = .*/password = s3cret-lab/" "$T/creds/vic-only"
	start_daemon "$QUEUED"
	a=$(eve_job "{\"name\":\"a\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:$SPORT/x.raw\",\"credential\":\"lab\"}}")
	b=$(eve_job "{\"name\":\"b\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:$SPORT/x.raw\",\"credential\":\"vic-only\"}}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log" || true
	[ -f "$SP/exported/$a" ] || { cat "$T/exportd.log" "$SP/data/$a/reason"; false; }
	cmp "$T/www/x.raw" "$SP/data/$a/x.raw"
	run reason "$b"
	[[ $output == "credential 'vic-only' may not be used by uid $(id -u "$EVE") (not in its allow_users or allow_groups)" ]]
	# nginx got the credential's user for the allowed job
	grep -q '^127.0.0.1 - hsuser .*"GET /x.raw HTTP/1.1" 20[06] ' "$T/nginx/access.log"
	# allow_groups: members of the submitters' group may use this one
	cred grp "server = 127.0.0.1:$SPORT" "ca_file = $T/tls/cert.pem" "allow_groups = nogroup, $SUBGROUP"
	sed -i "s/^password = .*/password = s3cret-lab/" "$T/creds/grp"
	g=$(eve_job "{\"name\":\"g\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:$SPORT/x.raw\",\"credential\":\"grp\"}}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log" || true
	[ -f "$SP/exported/$g" ] || { cat "$T/exportd.log" "$SP/data/$g/reason"; false; }
	# $VIC may use hers
	v=$(as_user "$VIC" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"v\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:$SPORT/x.raw\",\"credential\":\"vic-only\"}}" | tail -n 1)
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log" || true
	[ -f "$SP/exported/$v" ] || { cat "$T/exportd.log" "$SP/data/$v/reason"; false; }
}

# -- finding 6: what holds a worker ------------------------------------------

@test "ca_file: refused in a job at intake; a FIFO as the operator's ca_file fails the job at once" {
	mkfifo "$T/eve/fifo"
	chown "$EVE" "$T/eve/fifo"
	start_daemon "$QUEUED"
	eve_submit "{\"name\":\"a\",\"source\":{\"type\":\"http\",\"url\":\"https://127.0.0.1:1/x.raw\",\"ca_file\":\"$T/eve/fifo\"}}"
	[ "$status" -eq 1 ]
	[[ $output == *"source.ca_file: a job may not name a CA file; the operator sets one in the credential (ca_file = ...) or in the configuration (exportd.http_ca_file)"* ]]
	# the configuration's CA file is opened without blocking: a FIFO there
	# is a clear permanent failure, not a worker stuck for good
	cat >>"$T/conf" <<CONF
exportd = { http_ca_file = "$T/eve/fifo"; };
CONF
	id=$(eve_job '{"name":"b","source":{"type":"http","url":"https://127.0.0.1:1/x.raw"}}')
	timeout 60 "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log" || true
	run reason "$id"
	[[ $output == "ca_file $T/eve/fifo: not a regular file of at most 4194304 bytes" ]]
}

@test "a server trickling 2 bytes/s fails the job within the rate window, with a reason naming the rate" {
	mkdir -p "$T/www/head"
	head -c 65536 /dev/urandom >"$T/www/x.raw"
	cp "$T/www/x.raw" "$T/www/head/x.raw"
	chmod -R a+rX "$T/www"
	# /x.raw: headers and 4 KiB at once, then 2 bytes/s; /head/x.raw: all
	# of it at 2 bytes/s, headers too
	start_nginx "$T/www" "location = /x.raw { limit_rate_after 4k; limit_rate 2; } location /head/ { limit_rate 2; }"
	cat >>"$T/conf" <<CONF
exportd = { http_min_rate = 1024; http_min_rate_window = 2; http_stall_timeout = 600; http_retries = 2; };
CONF
	start_daemon "$QUEUED"
	a=$(eve_job "{\"name\":\"a\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/x.raw\"}}")
	b=$(eve_job "{\"name\":\"b\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/head/x.raw\"}}")
	start_daemon "$EXPORTD"
	# three attempts (retry.max_attempts) of a window or two each: far
	# less than the 9 hours 64 KiB take at 2 bytes/s
	wait_for 90 test -f "$SP/error/$a" -a -f "$SP/error/$b" || { cat "$T"/*.log; false; }
	run reason "$a"
	echo "$output"
	[[ $output == "gave up after 3 attempts: http://127.0.0.1:$PORT/x.raw: slower than the minimum rate of 1024 bytes/s (exportd.http_min_rate): "*" bytes in the last "*" s; "*" of 65536 bytes done" ]]
	run reason "$b"
	echo "$output"
	[[ $output == "gave up after 3 attempts: http://127.0.0.1:$PORT/head/x.raw: slower than the minimum rate of 1024 bytes/s (exportd.http_min_rate): "*" bytes of the reply in "*" s (gave up after 2 attempts)"* ]]
}

@test "exportd.job_deadline ends a download that would otherwise go on, permanently" {
	mkdir -p "$T/www/slow"
	head -c 65536 /dev/urandom >"$T/www/x.raw"
	cp "$T/www/x.raw" "$T/www/slow/x.raw"
	chmod -R a+rX "$T/www"
	# /slow/x.raw: 2 bytes/s from the first byte (the probe waits);
	# /x.raw: headers and 4 KiB at once, then 2 bytes/s (the transfer waits)
	start_nginx "$T/www" "location /slow/ { limit_rate 2; } location = /x.raw { limit_rate_after 4k; limit_rate 2; }"
	cat >>"$T/conf" <<CONF
exportd = { http_min_rate = 0; http_stall_timeout = 600; job_deadline = 3; };
CONF
	start_daemon "$QUEUED"
	a=$(eve_job "{\"name\":\"a\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/slow/x.raw\"}}")
	b=$(eve_job "{\"name\":\"b\",\"source\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/x.raw\"}}")
	start_daemon "$EXPORTD"
	wait_for 60 test -f "$SP/error/$a" -a -f "$SP/error/$b" || { cat "$T"/*.log; false; }
	for id in "$a" "$b"; do
		run reason "$id"
		[ "$output" = "the export took longer than its deadline of 3 s (exportd.job_deadline)" ]
		# permanent: one attempt only, and nothing of it is left behind
		[ "$(grep -c ' exporting ' "$SP/data/$id/history")" -eq 1 ]
		[ ! -e "$SP/data/$id/x.raw.part" ]
	done
	grep -q '"GET /x.raw HTTP/1.1" 200' "$T/nginx/access.log"
}
