#!/usr/bin/env bats
# The openstack provider against a REAL Keystone and a REAL Glance:
# Debian's keystone (SQLite, fernet tokens, keystone-wsgi-public's own
# server) and glance-api (SQLite made by glance-manage db_sync, file store,
# no authentication of its own: paste flavor unset), started once by this
# suite on loopback, both behind a real nginx for TLS; nginx lets a Glance
# request through only when Keystone says its token is valid
# (auth_request, as keystonemiddleware would). The user, project, roles,
# application credential and the catalogue are made in Keystone through
# its API. Nova, Cinder and Neutron are FAKES (tests/openstack/fakeos.py,
# which says so at its top: Nova needs a hypervisor, Cinder a storage
# backend); they too ask Keystone about every token. The fake's createImage
# and os-volume_upload_image put the test's boot disk into the real Glance,
# so the image, its os_hash_value (sha512), its ranged download and its
# deletion are Glance's own.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
FAKEOS=$BATS_TEST_DIRNAME/../openstack/fakeos.py
SAMPLE=$BATS_TEST_DIRNAME/../../contrib/sample
PASS='os pa"ss#w<rd&'	# quotes, blanks, JSON specials: must survive
SRV=11111111-2222-3333-4444-555555555555	# image-backed, SHUTOFF
VSRV=66666666-7777-8888-9999-000000000000	# volume-backed, ACTIVE

freeport() {
	local p=$((20000 + RANDOM % 20000))
	while [ -n "$(ss -Htln "sport = :$p")" ]; do p=$((20000 + RANDOM % 20000)); done
	echo "$p"
}

# Glance once for the suite: its database and store in the suite's dir.
setup_file() {
	command -v glance-api >/dev/null || skip "glance-api missing: contrib/install-deps (Debian's glance-api)"
	G=$BATS_FILE_TMPDIR/glance
	mkdir -p "$G/images" "$G/staging" "$G/lock"
	GPORT=$(freeport)
	cat >"$G/glance.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $GPORT
workers = 0
log_file = $G/glance.log
use_stderr = false
node_staging_uri = file://$G/staging
enabled_import_methods = []
[database]
connection = sqlite:///$G/glance.sqlite
[glance_store]
stores = file
default_store = file
filesystem_store_datadir = $G/images
[paste_deploy]
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $G/lock
CONF
	glance-manage --config-file "$G/glance.conf" db_sync >"$G/db_sync.log" 2>&1 ||
	    { cat "$G/db_sync.log"; false; }
	glance-api --config-file "$G/glance.conf" 3>&- </dev/null >"$G/api.out" 2>&1 &
	echo $! >"$G/pid"
	local i
	for i in $(seq 1 300); do
		curl -sf "http://127.0.0.1:$GPORT/v2/images" >/dev/null && break
		sleep 0.1
	done
	curl -sf "http://127.0.0.1:$GPORT/v2/images" >/dev/null ||
	    { cat "$G/api.out" "$G/glance.log"; false; }
	export G GPORT
	keystone_up
}

# Keystone once for the suite, with a user hsuser (password $PASS) member
# of project demo, an application credential of hers, and a catalogue of
# two interfaces in RegionOne: public (all https, Glance at nginx's $SPORT)
# and internal (the same but Glance over plain http, nginx's $PPORT). The
# fake's port ($FPORT) and nginx's are fixed for the suite.
keystone_up() {
	command -v keystone-manage >/dev/null || skip "keystone missing: contrib/install-deps (Debian's keystone)"
	K=$BATS_FILE_TMPDIR/keystone
	mkdir -p "$K/fernet" "$K/cred"
	KPORT=$(freeport) FPORT=$(freeport) SPORT=$(freeport) PPORT=$(freeport)
	KADMIN=admin-$RANDOM$RANDOM$RANDOM
	cat >"$K/ks.conf" <<CONF
[DEFAULT]
log_file = $K/keystone.log
use_stderr = false
[database]
connection = sqlite:///$K/keystone.sqlite
[fernet_tokens]
key_repository = $K/fernet
[credential]
key_repository = $K/cred
[token]
provider = fernet
[catalog]
driver = templated
template_file = $K/catalog.templates
CONF
	# Keystone's templated catalogue (its own file format): through the
	# API, the SQLite catalogue left the database locked after one write
	{
		for i in public internal; do
			printf 'catalog.RegionOne.compute.%sURL = https://127.0.0.1:%s/compute/v2.1\n' $i "$FPORT"
			printf 'catalog.RegionOne.volumev3.%sURL = https://127.0.0.1:%s/volume/v3/$(tenant_id)s\n' $i "$FPORT"
			printf 'catalog.RegionOne.network.%sURL = https://127.0.0.1:%s/network\n' $i "$FPORT"
		done
		printf 'catalog.RegionOne.image.publicURL = https://127.0.0.1:%s\n' "$SPORT"
		printf 'catalog.RegionOne.image.internalURL = http://127.0.0.1:%s\n' "$PPORT"
		for t in compute volumev3 network image; do
			printf 'catalog.RegionOne.%s.name = %s\n' $t $t
		done
	} >"$K/catalog.templates"
	local u g i t
	u=$(id -un) g=$(id -gn)
	{
		keystone-manage --config-file "$K/ks.conf" db_sync &&
		keystone-manage --config-file "$K/ks.conf" fernet_setup --keystone-user "$u" --keystone-group "$g" &&
		keystone-manage --config-file "$K/ks.conf" credential_setup --keystone-user "$u" --keystone-group "$g" &&
		OS_BOOTSTRAP_PASSWORD=$KADMIN keystone-manage --config-file "$K/ks.conf" bootstrap --bootstrap-region-id RegionOne
	} >"$K/manage.log" 2>&1 || { cat "$K/manage.log"; false; }
	keystone-wsgi-public --port "$KPORT" --host 127.0.0.1 -- --config-file "$K/ks.conf" \
	    3>&- </dev/null >"$K/wsgi.out" 2>&1 &
	echo $! >"$K/pid"
	KS=http://127.0.0.1:$KPORT/v3
	for i in $(seq 1 300); do
		curl -sf "$KS" >/dev/null && break
		sleep 0.1
	done
	jq -n --arg p "$KADMIN" '{auth: {identity: {methods: ["password"], password: {user: {name: "admin", domain: {name: "Default"}, password: $p}}}, scope: {project: {name: "admin", domain: {name: "Default"}}}}}' >"$K/admin.json"
	ADM=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' -d @"$K/admin.json" "$KS/auth/tokens" |
	    tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
	[ -n "$ADM" ] || { cat "$K/wsgi.out" "$K/keystone.log"; false; }
	ks() { curl -sf -H "X-Auth-Token: $ADM" -H 'Content-Type: application/json' "$@"; }
	PROJECT=$(ks -d '{"project": {"name": "demo", "domain_id": "default"}}' "$KS/projects" | jq -r .project.id)
	jq -n --arg p "$PASS" '{user: {name: "hsuser", domain_id: "default", password: $p}}' >"$K/user.json"
	local uid member t
	uid=$(ks -d @"$K/user.json" "$KS/users" | jq -r .user.id)
	member=$(ks "$KS/roles?name=member" | jq -r '.roles[0].id')
	ks -X PUT "$KS/projects/$PROJECT/users/$uid/roles/$member"
	# hsuser's application credential (made with her own token)
	jq -n --arg p "$PASS" '{auth: {identity: {methods: ["password"], password: {user: {name: "hsuser", domain: {name: "Default"}, password: $p}}}, scope: {project: {name: "demo", domain: {name: "Default"}}}}}' >"$K/hs.json"
	t=$(curl -sf -D - -o /dev/null -H 'Content-Type: application/json' -d @"$K/hs.json" "$KS/auth/tokens" |
	    tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
	curl -sf -H "X-Auth-Token: $t" -H 'Content-Type: application/json' \
	    -d '{"application_credential": {"name": "hs"}}' "$KS/users/$uid/application_credentials" >"$K/ac.json"
	ACID=$(jq -r .application_credential.id "$K/ac.json")
	ACSECRET=$(jq -r .application_credential.secret "$K/ac.json")
	rm -f "$K/admin.json" "$K/user.json" "$K/hs.json" "$K/ac.json"
	export K KPORT FPORT SPORT PPORT KADMIN PROJECT ACID ACSECRET
}

teardown_file() {
	[ -f "$G/pid" ] && kill "$(cat "$G/pid")" 2>/dev/null || true
	[ -f "$K/pid" ] && kill "$(cat "$K/pid")" 2>/dev/null || true
}

setup() {
	hs_setup
	mkdir -p "$T/out" "$T/creds" "$T/os"
	chmod 700 "$T/creds"
	cat >>"$T/conf" <<CONF
convert = { output_dir = "$T/out"; };
credentials_dir = "$T/creds";
exportd = { http_retry_delay = 0.2; http_retries = 3; openstack_poll_interval = 0.2; };
CONF
	"$SAMPLE/mkbootdisk" "$T/src/boot.raw" 8M >/dev/null
	qemu-img convert -f raw -O qcow2 "$T/src/boot.raw" "$T/src/boot.qcow2"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/os/key.pem" \
	    -out "$T/os/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	# a world: an image-backed server (qcow2 snapshots, UEFI base image)
	# and a volume-backed one with a data volume
	cat >"$T/os/world.json" <<JSON
{"servers": [
 {"id": "$SRV", "name": "web 1", "status": "SHUTOFF",
  "flavor": {"vcpus": 2, "ram": 96, "disk": 1, "original_name": "m1.tiny"},
  "image": "aaaaaaaa-0000-0000-0000-000000000001",
  "disk": "$T/src/boot.qcow2", "format": "qcow2",
  "properties": {"hw_firmware_type": "bios", "os_distro": "debian"},
  "ports": [{"mac": "fa:16:3e:12:34:56", "network": "net-a"},
            {"mac": "fa:16:3e:ab:cd:ef", "network": "net-b"}]},
 {"id": "$VSRV", "name": "db", "status": "ACTIVE",
  "flavor": {"vcpus": 1, "ram": 64, "disk": 0, "original_name": "m1.vol"},
  "image": "", "volumes": ["vol-data", "vol-root"],
  "ports": [{"mac": "fa:16:3e:00:00:01", "network": "net-a"}]},
 {"id": "77777777-0000-0000-0000-000000000000", "name": "broken",
  "status": "SHUTOFF", "flavor": {"vcpus": 1, "ram": 64, "disk": 1},
  "image": "aaaaaaaa-0000-0000-0000-000000000001",
  "disk": "$T/src/boot.raw", "format": "qcow2", "ports": []},
 {"id": "88888888-0000-0000-0000-000000000000", "name": "twin",
  "status": "SHUTOFF", "flavor": {"vcpus": 1, "ram": 64, "disk": 1},
  "image": "x", "disk": "$T/src/boot.raw", "format": "raw", "ports": []},
 {"id": "99999999-0000-0000-0000-000000000000", "name": "twin",
  "status": "ERROR", "flavor": {"vcpus": 1, "ram": 64, "disk": 1},
  "image": "x", "disk": "$T/src/boot.raw", "format": "raw", "ports": []}
],
 "volumes": {
  "vol-root": {"file": "$T/src/boot.raw", "status": "in-use",
               "server": "$VSRV", "device": "/dev/vda",
               "properties": {"hw_firmware_type": "uefi", "hw_disk_bus": "scsi",
                              "os_distro": "ubuntu"}},
  "vol-data": {"file": "$T/src/data.raw", "status": "in-use",
               "server": "$VSRV", "device": "/dev/vdb"}}}
JSON
	head -c 1048576 /dev/urandom >"$T/src/data.raw"
}

teardown() {
	drop_submitters
	# nginx on this suite's fixed ports: stopped with its workers (the
	# kill -9 of hs_teardown would leave them holding the ports)
	if [ -n "${NGINX:-}" ]; then
		kill -TERM "$NGINX" 2>/dev/null
		wait "$NGINX" 2>/dev/null || true
	fi
	hs_teardown
}

# start_os: the fake Nova/Cinder/Neutron (on $FPORT) and nginx with TLS on
# $SPORT in front of the real Keystone (/identity/) and Glance (the rest),
# plain http on $PPORT; $SERVER is nginx's host:port, the credential lab
# is bound to it
start_os() {
	FAKEOS_ADMIN_PASSWORD=$KADMIN python3 "$FAKEOS" --cert "$T/os/cert.pem" --key "$T/os/key.pem" \
	    --port "$FPORT" --port-file "$T/os/port" --glance "http://127.0.0.1:$GPORT" \
	    --keystone "http://127.0.0.1:$KPORT" --project "$PROJECT" --world "$T/os/world.json" \
	    --log "$T/os/calls.log" --store "$G/images" \
	    3>&- 2>"$T/os/fake.err" &
	PIDS+=($!)
	wait_for 10 test -s "$T/os/port" || { cat "$T/os/fake.err"; false; }
	SERVER=127.0.0.1:$SPORT
	mkdir -p "$T/www"
	start_nginx "$T/www" "listen 127.0.0.1:$SPORT ssl; listen 127.0.0.1:$PPORT;
	    ssl_certificate $T/os/cert.pem; ssl_certificate_key $T/os/key.pem;
	    client_max_body_size 0; proxy_buffering off;
	    location /identity/ { proxy_pass http://127.0.0.1:$KPORT/; }
	    location / { auth_request /_auth; proxy_pass http://127.0.0.1:$GPORT; }
	    location = /_auth { internal; proxy_pass https://127.0.0.1:$FPORT/_validate;
	        proxy_set_header X-Original-URI \$request_uri;
	        proxy_pass_request_body off; proxy_set_header Content-Length \"\"; }"
	cred lab "server = $SERVER" "ca_file = $T/os/cert.pem"
}

# logins STATUS: how many logins Keystone answered with STATUS (nginx's log)
logins() {
	grep -c "\"POST /identity/v3/auth/tokens HTTP/1.1\" $1 " "$T/nginx/access.log" || true
}

# cred NAME [EXTRA-LINE...]: a password credential of user hsuser, project demo
cred() {
	{
		printf 'username = hsuser\npassword = "%s"\n' "$(printf '%s' "$PASS" | sed 's/["\\]/\\&/g')"
		printf 'user_domain_name = Default\nproject_name = demo\nproject_domain_name = Default\n'
		printf 'auth_url = https://%s/identity/v3\n' "$SERVER"
		[ $# -lt 2 ] || printf '%s\n' "${@:2}"
	} >"$T/creds/$1"
	chmod 600 "$T/creds/$1"
}

# glance_images: how many images the real Glance holds now (asked directly)
glance_images() {
	curl -sf "http://127.0.0.1:$GPORT/v2/images" | jq '.images | length'
}

src() {	# src EXTRA-JSON-MEMBERS: an openstack source with credential lab
	printf '{"type":"openstack","credential":"lab",%s}' "$1"
}

export_once() { "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; }

run_export_convert() {
	export_once
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
}

# converted ID N RAW: disk N of the converted job equals RAW
converted() {
	[ -f "$SP/converted/$1" ] || { cat "$SP/data/$1/reason" 2>/dev/null; cat "$T"/*.log "$SP/data/$1/log"; false; }
	qemu-img compare -f raw -F qcow2 "$3" "$(jq -r ".vm.disks[$2].output" "$SP/converted/$1")"
}

# reason ID: the job is in error/; print its reason
reason() {
	[ -f "$SP/error/$1" ] || { echo "not in error/: $(ls "$SP"/*/"$1")"; cat "$T"/*.log; false; }
	cat "$SP/data/$1/reason"
}

# no_secret: neither the password, the application credential's secret
# nor a token issued is in the spool, the logs or any process's argv
no_secret() {
	# the patterns from a file: in grep's argv they would be found there
	{ printf '%s\n' "$PASS" "$ACSECRET"; cat "$T/os/calls.log.tokens" 2>/dev/null; } >"$T/os/secrets"
	! grep -rqsF -f "$T/os/secrets" "$SP" "$T"/*.log "$T/os/calls.log"
	! cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' | grep -qF -f "$T/os/secrets"
}

@test "an image-backed server through all four daemons boots; hardware from Nova and Neutron; the snapshot is deleted" {
	import_to_libvirt
	start_os
	for d in queued exportd convertwatch importd; do start_daemon "$HS_BINDIR/$d" 3>&-; done
	n=hs-os$$-$RANDOM
	boot='"import":{"start":true,"expect_serial":"HYPERSPOOL BOOT OK","boot_timeout":120}'
	id=$(printf '{"name":"%s","source":%s,%s}' "$n" "$(src '"vm":"web 1"')" "$boot" |
	    "$HS" -c "$T/conf" submit -)
	while [ ! -f "$SP/data/$id/progress.json" ] && [ ! -f "$SP/imported/$id" ] && [ ! -f "$SP/error/$id" ]; do
		no_secret
		sleep 0.1
	done
	run "$HS" -c "$T/conf" wait --timeout 240 "$id"
	[ "$status" -eq 0 ] || { echo "wait: $output"; cat "$SP/data/$id/log" "$T"/*.log "$T/os/calls.log"; false; }
	virsh -c qemu:///session dumpxml "$n" >"$T/dom.xml"
	virsh -q -c qemu:///session destroy "$n" >/dev/null 2>&1 || true
	virsh -q -c qemu:///session undefine "$n" >/dev/null 2>&1 || true
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	# the disk is the server's, byte for byte, through a qcow2 snapshot
	qemu-img compare -f raw -F qcow2 "$T/src/boot.raw" "$(jq -r '.vm.disks[0].output' "$SP/imported/$id")"
	[ "$(jq -r '.vm.disks[0].format' "$SP/imported/$id")" = qcow2 ]
	# the flavor's 2 vCPU and 96 MiB, Neutron's two MACs and networks
	grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom.xml"
	grep -q "<memory unit='KiB'>98304</memory>" "$T/dom.xml"
	grep -q "fa:16:3e:12:34:56" "$T/dom.xml"
	[ "$(jq -r '[.vm.nics[].mac] | join(" ")' "$SP/imported/$id")" = "fa:16:3e:12:34:56 fa:16:3e:ab:cd:ef" ]
	[ "$(jq -r '.vm.nics[1].network' "$SP/imported/$id")" = net-b ]
	# Nova made the snapshot; Glance's data came in Range requests over
	# TLS with the token, and its sha512 was checked
	grep -q "createImage web 1 hyperspool-$id-disk0 " "$T/os/calls.log"
	grep -q '"GET /v2/images/[0-9a-f-]*/file HTTP/1.1" 206' "$T/nginx/access.log"
	grep -q "sha512" "$SP/data/$id/log"
	# and the temporary image is gone from Glance, and from the record
	[ "$(glance_images)" -eq 0 ]
	[ ! -e "$SP/data/$id/openstack.json" ]
	grep -q "temporary image [0-9a-f-]* deleted" "$SP/data/$id/log"
	no_secret
}

@test "a volume-backed server: each volume through Cinder's upload-to-image (forced: in use), root first; application credential" {
	start_os
	{
		printf 'application_credential_id = %s\napplication_credential_secret = %s\n' "$ACID" "$ACSECRET"
		printf 'auth_url = https://%s/identity/v3\nserver = %s\nca_file = %s\n' "$SERVER" "$SERVER" "$T/os/cert.pem"
	} >"$T/creds/app"
	chmod 600 "$T/creds/app"
	id=$(job vol '{"type":"openstack","credential":"app","vm_id":"'$VSRV'"}')
	run_export_convert
	converted "$id" 0 "$T/src/boot.raw"
	converted "$id" 1 "$T/src/data.raw"
	[ "$(jq -r '.vm.cpus' "$SP/converted/$id")" -eq 1 ]
	# the root volume's image properties (Cinder copies the base image's)
	[ "$(jq -r '"\(.vm.firmware) \(.vm.os) \(.vm.disks[0].bus) \(.vm.disks[1].bus)"' "$SP/converted/$id")" = "uefi ubuntu scsi scsi" ]
	# Keystone took the application credential (the file has no password)
	[ "$(logins 201)" -eq 1 ]
	grep -q "upload_image vol-root hyperspool-$id-disk0 " "$T/os/calls.log"
	grep -q "upload_image vol-data hyperspool-$id-disk1 " "$T/os/calls.log"
	! grep -q createImage "$T/os/calls.log"
	grep -q "is ACTIVE: its disks are read crash-consistent" "$SP/data/$id/log"
	[ "$(glance_images)" -eq 0 ]
	no_secret
}

@test "a refused login fails in seconds with a reason; nothing is created" {
	start_os
	cred bad "server = $SERVER" "ca_file = $T/os/cert.pem"
	sed -i 's/^password = .*/password = wrong/' "$T/creds/bad"
	id=$(job bad '{"type":"openstack","credential":"bad","vm":"web 1"}')
	t0=$(date +%s)
	export_once
	[ $(($(date +%s) - t0)) -lt 10 ]
	run reason "$id"
	[[ $output == *"Keystone at https://$SERVER/identity/v3 refused the login of credential 'bad' (HTTP 401)"* ]]
	[ "$(logins 401)" -eq 1 ]
	! grep -q createImage "$T/os/calls.log"
	[ "$(glance_images)" -eq 0 ]
}

# big_world: server "web 1" holds 12 MiB of random raw bytes, downloaded
# at 2 MiB/s (time enough to crash or cancel the download)
big_world() {
	head -c $((12 * 1024 * 1024)) /dev/urandom >"$T/src/big.raw"
	jq --arg f "$T/src/big.raw" '.servers[0].disk = $f | .servers[0].format = "raw"' \
	    "$T/os/world.json" >"$T/os/w2" && mv "$T/os/w2" "$T/os/world.json"
	sed -i 's/^exportd = { /exportd = { http_max_rate = 2097152; /' "$T/conf"
}

# partway ID: a quarter of disk0.raw is down (the state file says so)
partway() {
	[ "$(jq '[.segments[].done] | add' "$SP/data/$1/disk0.raw.part.state" \
	    2>/dev/null || echo 0)" -gt 3000000 ]
}

@test "the temporary image is deleted after a failure past its creation" {
	start_os
	# "broken" says qcow2 but holds raw bytes: refused once landed
	id=$(job broken "$(src '"vm":"broken"')")
	export_once
	run reason "$id"
	[[ $output == *qcow2* ]]
	grep -q "createImage broken hyperspool-$id-disk0 " "$T/os/calls.log"
	[ "$(glance_images)" -eq 0 ]
	[ ! -e "$SP/data/$id/openstack.json" ]
}

@test "Glance's os_hash_value is checked: a snapshot damaged in the store fails, and is deleted" {
	jq '.servers[0].corrupt = true' "$T/os/world.json" >"$T/os/w2" && mv "$T/os/w2" "$T/os/world.json"
	start_os
	id=$(job bad "$(src '"vm":"web 1"')")
	export_once
	grep -q "corrupted .* in Glance's store" "$T/os/calls.log"
	run reason "$id"
	[[ $output == *"disk 0: sha512 mismatch: expected "* ]]
	[ "$(glance_images)" -eq 0 ]
	[ ! -e "$SP/data/$id/openstack.json" ]
}

@test "createImage done but its reply lost: the retry's second image and the first are both deleted" {
	jq '.servers[0].lose_reply = true' "$T/os/world.json" >"$T/os/w2" && mv "$T/os/w2" "$T/os/world.json"
	start_os
	id=$(job lost "$(src '"vm":"web 1"')")
	run_export_convert
	converted "$id" 0 "$T/src/boot.raw"
	[ "$(grep -c "createImage web 1 hyperspool-$id-disk0 " "$T/os/calls.log")" -eq 2 ]
	[ "$(glance_images)" -eq 0 ]
}

@test "a token that expires before the download: Glance's 401 leads to a new login, and the disk lands" {
	jq '.servers[0].properties.x_revoke_tokens = "yes"' "$T/os/world.json" >"$T/os/w2" && mv "$T/os/w2" "$T/os/world.json"
	start_os
	id=$(job expire "$(src '"vm":"web 1"')")
	run_export_convert
	converted "$id" 0 "$T/src/boot.raw"
	grep -q "token revoked in Keystone (HTTP 204)" "$T/os/calls.log"
	[ "$(logins 201)" -eq 2 ]
	grep -q "Glance refused the token (.*HTTP 401 from .*): logging in again" "$SP/data/$id/log"
	[ "$(glance_images)" -eq 0 ]
}

@test "after a crash mid-download the retry reuses the recorded image, resumes, then deletes it" {
	big_world
	start_os
	id=$(job cut "$(src '"vm":"web 1"')")
	start_daemon "$EXPORTD"
	pid=$LASTPID
	wait_for 40 partway "$id" || { cat "$SP/data/$id/log"; false; }
	kill -9 "$pid"
	[ "$(jq '.images | length' "$SP/data/$id/openstack.json")" -eq 1 ]
	[ "$(glance_images)" -eq 1 ]
	run_export_convert
	converted "$id" 0 "$T/src/big.raw"
	[ "$(grep -c "createImage web 1 hyperspool-$id-disk0 " "$T/os/calls.log")" -eq 1 ]
	grep -q "reusing temporary image" "$SP/data/$id/log"
	grep -q "resuming disk0.raw" "$SP/data/$id/log"
	[ "$(glance_images)" -eq 0 ]
	[ ! -e "$SP/data/$id/openstack.json" ]
}

@test "a cancel mid-download deletes the temporary image" {
	big_world
	start_os
	id=$(job cancel "$(src '"vm":"web 1"')")
	start_daemon "$EXPORTD"
	wait_for 40 partway "$id" || { cat "$SP/data/$id/log"; false; }
	[ "$(glance_images)" -eq 1 ]
	"$HS" -c "$T/conf" cancel "$id"
	wait_for 30 test -f "$SP/error/$id"
	[[ $(cat "$SP/data/$id/reason") == *"cancelled by the operator"* ]]
	[ "$(glance_images)" -eq 0 ]
	[ ! -e "$SP/data/$id/openstack.json" ]
	grep -q "temporary image [0-9a-f-]* deleted" "$SP/data/$id/log"
}

@test "a missing server, two of one name, a server in ERROR: each a specific reason" {
	start_os
	a=$(job none "$(src '"vm":"nope"')")
	b=$(job twin "$(src '"vm":"twin"')")
	c=$(job err "$(src '"vm_id":"99999999-0000-0000-0000-000000000000"')")
	d=$(job noid "$(src '"vm_id":"12345678-0000-0000-0000-000000000000"')")
	export_once; export_once; export_once; export_once
	[[ $(reason "$a") == *"no server named 'nope' in project demo"* ]]
	[[ $(reason "$b") == *"2 servers are named 'twin': name one by source.vm_id"* ]]
	[[ $(reason "$c") == *"server 'twin' is ERROR"* ]]
	[[ $(reason "$d") == *"no server with id 12345678-0000-0000-0000-000000000000"* ]]
	! grep -q createImage "$T/os/calls.log"
}

@test "TLS: a Keystone the credential does not trust is refused; an endpoint over plain http never gets the token" {
	start_os
	cred nocas "server = $SERVER"
	a=$(job nocas '{"type":"openstack","credential":"nocas","vm":"web 1"}')
	export_once
	[[ $(reason "$a") == *"TLS verification failed"* ]]
	! grep -q "/identity/" "$T/nginx/access.log"
	# the internal interface publishes Glance over plain http: refused
	cred plain "server = $SERVER" "ca_file = $T/os/cert.pem" "interface = internal" "region = RegionOne"
	b=$(job plain '{"type":"openstack","credential":"plain","vm":"web 1"}')
	export_once
	[[ $(reason "$b") == *"the image (Glance) endpoint http://127.0.0.1:$PPORT is not https: the token is never sent readable"* ]]
	! grep -q "GET /v2" "$T/nginx/access.log"
	[ "$(logins 201)" -eq 1 ]
}

@test "a credential logs in only where it is bound, for the submitters it allows" {
	start_os
	cred other "server = keystone.other.example" "ca_file = $T/os/cert.pem"
	cred unbound "ca_file = $T/os/cert.pem"
	cred rootonly "server = $SERVER" "ca_file = $T/os/cert.pem" "allow_users = root"
	a=$(job other '{"type":"openstack","credential":"other","vm":"web 1"}')
	b=$(job unbound '{"type":"openstack","credential":"unbound","vm":"web 1"}')
	export_once; export_once
	[[ $(reason "$a") == *"credential 'other' is not for 127.0.0.1"* ]]
	[[ $(reason "$b") == *"credential 'unbound' is bound to no server"* ]]
	# an unprivileged submitter: a credential that does not allow her,
	# and one that does, pointed by her job at another Keystone
	submitters
	eve() {	# eve NAME SOURCE: a job dropped by $EVE herself
		as_user "$EVE" sh -c "cat >'$SP/incoming/.$1' && mv '$SP/incoming/.$1' '$SP/incoming/$1'" \
		    <<<"$(printf '{"name":"%s","source":%s}' "$1" "$2")"
	}
	eve eve1 '{"type":"openstack","credential":"rootonly","vm":"web 1"}'
	eve eve2 '{"type":"openstack","credential":"lab","server":"keystone.other.example","vm":"web 1"}'
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	export_once; export_once
	run reason_of eve1
	[[ $output == *"credential 'rootonly' may not be used by uid $(id -u "$EVE")"* ]]
	run reason_of eve2
	[[ $output == *"logs in at its auth_url, which is not on server 'keystone.other.example'"* ]]
	! grep -q "/identity/" "$T/nginx/access.log"
}

@test "hyperspool vms lists the servers; check-provider validates a credential" {
	start_os
	run "$HS" -c "$T/conf" vms --provider openstack --credential lab --json
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(echo "$output" | jq length)" -eq 5 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "web 1") | "\(.id) \(.power_state) \(.cpus) \(.memory_mib) \(.boot) \(.path)"')" = "$SRV SHUTOFF 2 96 image demo/web 1" ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "db") | "\(.boot) \(.volumes)"')" = "volume 2" ]
	run "$HS" -c "$T/conf" vms --provider openstack --credential lab
	[ "$status" -eq 0 ]
	[[ $output == *"web 1"*SHUTOFF* ]]
	run "$HS" -c "$T/conf" check-provider --provider openstack --credential lab --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .ok)" = true ]
	[ "$(echo "$output" | jq -r .services)" = "compute, image, volume, network" ]
	cred bad "server = $SERVER" "ca_file = $T/os/cert.pem"
	sed -i 's/^password = .*/password = nope/' "$T/creds/bad"
	run "$HS" -c "$T/conf" check-provider --provider openstack --credential bad
	[ "$status" -eq 1 ]
	[[ $output == *"refused the login of credential 'bad'"* ]]
	no_secret
}

@test "queued refuses openstack sources with a bad field, naming it" {
	j() { printf '{"type":"openstack",%s}' "$1"; }
	declare -A want=(
	    [a]='"vm":"x"|source.credential: missing'
	    [b]='"credential":"lab"|give exactly one of'
	    [c]='"credential":"lab","vm":"x","vm_id":"1234"|give exactly one of'
	    [d]='"credential":"lab","vm_id":"12 34"|source.vm_id:'
	    [e]='"credential":"lab","server":"https://ks","vm":"x"|source.server:'
	    [f]='"credential":"lab","vm":"x","password":"p"|password'
	    [g]='"credential":"../x","vm":"x"|source.credential:'
	    [h]='"credential":"lab","vm":"x","auth_url":"https://evil/v3"|auth_url'
	)
	intake_refuses openstack o want
	drop good "$(printf '{"name":"good","source":%s}' "$(j '"credential":"lab","server":"keystone.example.com:5000","vm":"web 01"')")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_in request)" -eq 1 ]
}
