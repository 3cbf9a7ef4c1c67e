#!/usr/bin/env bats
# Proxmox VE sources. The vzdump archive (VMA): archives written by
# tests/pve/mkvma.py from the format's public specification (never by the
# reader under test), plain, zstd, gzip and lzop, as file and http sources,
# through the real daemons and qemu-img; the disks must come out equal to
# the raw disk that went in, sparse, with the hardware of the archive's
# qemu-server.conf; one reaches a booting domain in libvirt.
# The proxmox provider (PVE API): against tests/pve/fakepve.py, a fake that
# says it is one (no real PVE node runs here), over TLS pinned by
# thumbprint, with an API token from a named credential; disks read from a
# directory storage mapped by the operator, or from a vzdump backup that is
# released on every path, a crash included.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch
MKVMA=$BATS_TEST_DIRNAME/../pve/mkvma.py

setup() {
	hs_setup_sample
	cat >"$T/src/qemu-server.conf" <<'CONF'
#web server%3A migrated
boot: order=scsi0;ide2;net0
cores: 2
ide2: none,media=cdrom
memory: 96
name: pve-web
net0: virtio=BC:24:11:2A:3B:4C,bridge=vmbr0,firewall=1
numa: 0
ostype: l26
scsi0: local-lvm:vm-100-disk-0,iothread=1,size=64M
scsihw: virtio-scsi-single
smbios1: uuid=0f4f2f7e-54b3-4d6b-9a52-3c1d7b6f1a10
sockets: 1

[before-upgrade]
cores: 16
memory: 65536
CONF
}
teardown() { hs_teardown; }

# vma OUT ARGS...: an archive of the sample's boot disk as drive-scsi0
vma() {
	local out=$1
	shift
	python3 "$MKVMA" "$out" --config "$T/src/qemu-server.conf" \
	    --dev "drive-scsi0=$RAW" "$@"
}

# exported_ok ID: the archive's one disk landed as scsi0.raw, sparse,
# equal to $RAW, with the configuration's hardware
exported_ok() {
	local j=$SP/exported/$1 f=$SP/data/$1/scsi0.raw
	[ -f "$j" ] || { cat "$SP/data/$1/reason" 2>/dev/null; cat "$T"/*.log; false; }
	cmp "$RAW" "$f"
	# holes: the 64 MiB disk holds a few KiB of data
	[ "$(stat -c %b "$f")" -lt 2048 ]
	[ "$(jq -r .vm.cpus "$j")" = 2 ]
	[ "$(jq -r .vm.memory_mib "$j")" = 96 ]
	[ "$(jq -r .vm.firmware "$j")" = bios ]
	[ "$(jq -r '.vm.disks | length' "$j")" = 1 ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = scsi ]
	[ "$(jq -r .vm.disks[0].virtual_size "$j")" = 67108864 ]
	[ "$(jq -r .vm.nics[0].mac "$j")" = bc:24:11:2a:3b:4c ]
	[ "$(jq -r .vm.nics[0].model "$j")" = virtio ]
}

@test "vma: a plain, a zstd, a gzip and an lzop vzdump archive land as sparse raw disks with the VM's hardware, and convert" {
	vma "$T/src/vzdump-qemu-100-2026_01_01-00_00_00.vma"
	vma "$T/src/z.vma" && zstd -q --rm "$T/src/z.vma"
	vma "$T/src/g.vma" && gzip "$T/src/g.vma"
	vma "$T/src/l.vma" && lzop -U "$T/src/l.vma"
	a=$(job plain "{\"type\":\"file\",\"path\":\"$T/src/vzdump-qemu-100-2026_01_01-00_00_00.vma\"}")
	b=$(job zst "{\"type\":\"file\",\"path\":\"$T/src/z.vma.zst\"}")
	c=$(job gz "{\"type\":\"file\",\"path\":\"$T/src/g.vma.gz\",\"format\":\"vma\"}")
	d=$(job lzo "{\"type\":\"file\",\"path\":\"$T/src/l.vma.lzo\"}")
	for i in 1 2 3 4; do "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; done
	for id in "$a" "$b" "$c" "$d"; do exported_ok "$id"; done
	for i in 1 2 3 4; do "$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"; done
	for id in "$a" "$b" "$c" "$d"; do
		[ -f "$SP/converted/$id" ] || { cat "$SP/data/$id/reason"; false; }
		qemu-img compare -f raw -F qcow2 "$RAW" "$(jq -r .vm.disks[0].output "$SP/converted/$id")"
	done
}

@test "vma: several disks, the boot order of the configuration, firmware state and RAM state left out" {
	truncate -s 4M "$T/src/data.raw"
	printf 'second disk' | dd of="$T/src/data.raw" bs=1 seek=1048576 conv=notrunc status=none
	truncate -s 128K "$T/src/efi.raw"
	printf 'EFI VARS' | dd of="$T/src/efi.raw" conv=notrunc status=none
	truncate -s 1M "$T/src/ram.raw"
	printf 'RAM' | dd of="$T/src/ram.raw" conv=notrunc status=none
	sed -i -e 's/^boot: .*/boot: order=virtio1;scsi0/' -e 's/^cores: 2/bios: ovmf\ncores: 2/' "$T/src/qemu-server.conf"
	printf 'virtio1: local:100/vm-100-disk-1.qcow2,size=4M\nefidisk0: local:100/vm-100-disk-2.raw,size=128K\n' >>"$T/src/x"
	# the disk lines go before the snapshot section
	sed -i "/^sockets: 1/r $T/src/x" "$T/src/qemu-server.conf"
	python3 "$MKVMA" "$T/src/multi.vma" --config "$T/src/qemu-server.conf" \
	    --dev "drive-scsi0=$RAW" --dev "drive-efidisk0=$T/src/efi.raw" \
	    --dev "drive-virtio1=$T/src/data.raw" --dev "vmstate=$T/src/ram.raw"
	id=$(job multi "{\"type\":\"file\",\"path\":\"$T/src/multi.vma\"}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	j=$SP/exported/$id
	[ -f "$j" ] || { cat "$SP/data/$id/reason"; false; }
	[ "$(jq -r .vm.firmware "$j")" = uefi ]
	[ "$(jq -r '.vm.disks | length' "$j")" = 2 ]
	[ "$(jq -r .vm.disks[0].file "$j")" = virtio1.raw ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = virtio ]
	[ "$(jq -r .vm.disks[1].file "$j")" = scsi0.raw ]
	cmp "$T/src/data.raw" "$SP/data/$id/virtio1.raw"
	cmp "$RAW" "$SP/data/$id/scsi0.raw"
	[ ! -e "$SP/data/$id/efidisk0.raw" ]
	run grep -l "EFI VARS\|RAM" "$SP/data/$id/"*.raw
	[ "$status" -eq 1 ]
}

@test "vma: an http source (nginx) downloads the archive, lands its disks and removes it; inspect reads only the header" {
	vma "$T/src/h.vma" && zstd -q --rm "$T/src/h.vma"
	start_nginx "$T/src"
	run "$HS" -c "$T/conf" inspect --json "http://127.0.0.1:$PORT/h.vma.zst"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r .cpus <<<"$output")" = 2 ]
	[ "$(jq -r .disks[0].virtual_size <<<"$output")" = 67108864 ]
	id=$(job web "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/h.vma.zst\",\"sha256\":\"$(sha256sum "$T/src/h.vma.zst" | cut -d' ' -f1)\"}")
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	exported_ok "$id"
	[ ! -e "$SP/data/$id/h.vma.zst" ]
	grep -q "GET /h.vma.zst" "$T/nginx/access.log"
	kill -QUIT "$NGINX"
}

@test "vma: an archive the submitter cannot read is refused as any unreadable source (as an unprivileged user)" {
	submitters
	vma "$T/src/secret.vma"
	chmod 0600 "$T/src/secret.vma"
	user_export "$EVE" steal \
	    "$(printf '{"name":"steal","source":{"type":"file","path":"%s"}}' "$T/src/secret.vma")"
	[[ "$output" == *"source.path: not found, or not readable by uid $(id -u "$EVE")"* ]]
	run find "$SP/data" -name '*.raw'
	[ -z "$output" ]
	drop_submitters
}

@test "vma: a vzdump archive reaches a booting domain in libvirt" {
	import_to_libvirt
	vma "$T/src/boot.vma" && zstd -q --rm "$T/src/boot.vma"
	boot_in_libvirt "hs-pve$$-$RANDOM" \
	    "$(printf '{"type":"file","path":"%s"}' "$T/src/boot.vma.zst")"
	grep -q "HYPERSPOOL BOOT OK" "$SP/data/$id/serial.log"
	grep -q "bc:24:11:2a:3b:4c" "$T/dom.xml"
	grep -q "<vcpu placement='static'>2</vcpu>" "$T/dom.xml"
}

# ---- the PVE API provider ------------------------------------------------

SECRET=5f1b7c1e-9d2a-4c4e-8f3b-2a6d9e0c7b11
FAKEPVE=$BATS_TEST_DIRNAME/../pve/fakepve.py

# pve_setup: a storage "local" in $T/pve/local holding VM 100's disk as
# qcow2, the VMs of the fake, its certificate, the operator's config and a
# credential "pve" pinned to the certificate; the fake started ($SERVER)
pve_setup() {
	mkdir -p "$T/pve/local/images/100" "$T/pve/local/images/101" "$T/creds"
	chmod 700 "$T/creds"
	qemu-img convert -f raw -O qcow2 "$RAW" "$T/pve/local/images/100/vm-100-disk-0.qcow2"
	cp "$T/pve/local/images/100/vm-100-disk-0.qcow2" "$T/pve/local/images/101/vm-101-disk-0.qcow2"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/pve/key.pem" \
	    -out "$T/pve/cert.pem" -days 2 -subj /CN=pve1 2>/dev/null
	printf '%s\n' "$SECRET" >"$T/pve/secret"
	chmod 600 "$T/pve/secret"
	cat >"$T/pve/vms.json" <<JSON
[
 {"vmid": 100, "node": "pve1", "name": "pve-web", "status": "stopped",
  "raw": {"scsi0": "$RAW"},
  "config": {"boot": "order=scsi0;ide2;net0", "cores": 2, "memory": "96",
   "name": "pve-web", "net0": "virtio=BC:24:11:2A:3B:4C,bridge=vmbr0",
   "ide2": "none,media=cdrom", "ostype": "l26", "sockets": 1,
   "scsi0": "local:100/vm-100-disk-0.qcow2,iothread=1,size=64M",
   "scsihw": "virtio-scsi-single", "digest": "0123abcd"}},
 {"vmid": 101, "node": "pve1", "name": "pve-running", "status": "running",
  "raw": {"scsi0": "$RAW"},
  "config": {"cores": 1, "memory": 128, "name": "pve-running", "bios": "ovmf",
   "net0": "e1000=BC:24:11:00:00:01,bridge=vmbr1",
   "scsi0": "local:101/vm-101-disk-0.qcow2,size=64M"}},
 {"vmid": 102, "node": "pve1", "name": "linked", "status": "stopped",
  "raw": {}, "config": {"scsi0": "local:base-9000-disk-0/102/vm-102-disk-0.qcow2,size=64M"}},
 {"vmid": 103, "node": "pve1", "name": "on-ceph", "status": "stopped",
  "raw": {}, "config": {"scsi0": "ceph:vm-103-disk-0,size=64M"}},
 {"vmid": 104, "node": "pve1", "name": "sneaky", "status": "stopped",
  "raw": {}, "config": {"scsi0": "local:104/../../../../etc/shadow.raw,size=1M"}},
 {"vmid": 105, "node": "pve1", "name": "on-nfs", "status": "stopped",
  "raw": {}, "config": {"scsi0": "nfs1:105/vm-105-disk-0.qcow2,size=64M"}},
 {"vmid": 106, "node": "pve1", "name": "symlinked", "status": "stopped",
  "raw": {}, "config": {"scsi0": "local:106/vm-106-disk-0.raw,size=1M"}}
]
JSON
	python3 "$FAKEPVE" --cert "$T/pve/cert.pem" --key "$T/pve/key.pem" \
	    --port-file "$T/pve/port" --token-id 'root@pam!hs' \
	    --secret-file "$T/pve/secret" --vms "$T/pve/vms.json" \
	    --storage "local=$T/pve/local" --hold "$T/pve/hold" \
	    --log "$T/pve/requests" --mkvma "$MKVMA" 2>"$T/pve/fake.log" 3>&- &
	PIDS+=($!)
	wait_for 10 test -s "$T/pve/port" || { cat "$T/pve/fake.log"; false; }
	SERVER=127.0.0.1:$(cat "$T/pve/port")
	TP=$(openssl x509 -in "$T/pve/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
proxmox = { storages = { local = "$T/pve/local"; }; dump_storage = "local"; task_poll = 0.1; };
CONF
	pcred pve "$SECRET"
}

# pcred NAME SECRET [EXTRA-LINE...]: a PVE token credential bound to $SERVER
pcred() {
	printf 'server = %s\ntoken_id = root@pam!hs\ntoken_secret = %s\nthumbprint = %s\n' \
	    "$SERVER" "$2" "$TP" >"$T/creds/$1"
	[ $# -lt 3 ] || printf '%s\n' "${@:3}" >>"$T/creds/$1"
	chmod 600 "$T/creds/$1"
}

# pjob NAME VMID [MODE]: a proxmox job through queued, its ID printed
pjob() {
	job "$1" "$(printf '{"type":"proxmox","server":"%s","credential":"pve","vmid":%d%s}' \
	    "$SERVER" "$2" "${3:+,\"mode\":\"$3\"}")"
}

# no_secret: the token's secret is nowhere in the spool, the logs, or a
# command line
no_secret() {
	run grep -rlF "$SECRET" "$SP" "$T"/*.log
	[ "$status" -eq 1 ] || { echo "secret in: $output"; false; }
	local procs
	procs=$(grep -lF "$SECRET" /proc/[0-9]*/cmdline 2>/dev/null) || true
	[ -z "$procs" ] || { echo "secret in the command line of: $procs"; false; }
}

@test "proxmox: check-provider (TLS pinned), vms lists the VMs; a refused token or a wrong pin fails in seconds with a reason" {
	pve_setup
	run "$HS" -c "$T/conf" check-provider --provider proxmox --credential pve
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"$SERVER (Proxmox VE 8.2.4): credential 'pve' accepted, TLS pinned by thumbprint"* ]]
	run "$HS" -c "$T/conf" vms --provider proxmox --credential pve --json
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[] | select(.vmid == 100) | .name' <<<"$output")" = pve-web ]
	[ "$(jq -r '.[] | select(.vmid == 101) | .power_state' <<<"$output")" = running ]
	[ "$(jq -r '.[] | select(.vmid == 100) | .cpus' <<<"$output")" = 2 ]
	[ "$(jq -r '.[] | select(.vmid == 100) | .memory_mib' <<<"$output")" = 96 ]
	[ "$(jq 'length' <<<"$output")" = 7 ]	# the container is not a VM
	pcred wrong 00000000-0000-0000-0000-000000000000
	s=$(date +%s)
	run "$HS" -c "$T/conf" check-provider --provider proxmox --credential wrong
	echo "$output"
	[ "$status" -ne 0 ]
	[ $(($(date +%s) - s)) -lt 10 ]
	[[ $output == *"$SERVER refused the API token of credential 'wrong' (HTTP 401"* ]]
	printf 'server = %s\ntoken_id = root@pam!hs\ntoken_secret = %s\nthumbprint = %064d\n' "$SERVER" "$SECRET" 0 >"$T/creds/badpin"
	chmod 600 "$T/creds/badpin"
	run "$HS" -c "$T/conf" check-provider --provider proxmox --credential badpin
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"TLS: the server's certificate is not trusted"* ]]
	[[ $output != *"$SECRET"* ]]
	# the fake saw the right token for the good credential
	grep -q "GET /api2/json/cluster/resources" "$T/pve/requests"
}

@test "proxmox storage mode: a stopped VM's qcow2 read from the mapped storage, its hardware from the API, converted identical" {
	pve_setup
	id=$(pjob web 100)
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	j=$SP/exported/$id
	[ -f "$j" ] || { cat "$SP/data/$id/reason"; cat "$T"/*.log; false; }
	[ "$(jq -r .vm.cpus "$j")" = 2 ]
	[ "$(jq -r .vm.memory_mib "$j")" = 96 ]
	[ "$(jq -r .vm.disks[0].file "$j")" = scsi0.qcow2 ]
	[ "$(jq -r .vm.disks[0].format "$j")" = qcow2 ]
	[ "$(jq -r .vm.disks[0].bus "$j")" = scsi ]
	[ "$(jq -r .vm.nics[0].mac "$j")" = bc:24:11:2a:3b:4c ]
	"$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"
	qemu-img compare -f raw -F qcow2 "$RAW" "$(jq -r .vm.disks[0].output "$SP/converted/$id")"
	no_secret
}

@test "proxmox storage mode refuses a running VM, a linked clone, a block storage, an unmapped storage, a volume that climbs out, a symlink" {
	pve_setup
	a=$(pjob running 101)
	b=$(pjob linked 102)
	c=$(pjob ceph 103)
	d=$(pjob sneaky 104)
	e=$(pjob nfs 105)
	mkdir -p "$T/pve/local/images/106"
	ln -s /etc/shadow "$T/pve/local/images/106/vm-106-disk-0.raw"
	f=$(pjob symlinked 106)
	for i in 1 2 3 4 5 6; do "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; done
	failed_with "$a|VM 101 on pve1 is running: stop it, or use source.mode vzdump" \
	    "$b|scsi0: volume 'local:base-9000-disk-0/102/vm-102-disk-0.qcow2' is not a file of VM 102 on a directory storage" \
	    "$c|scsi0: volume 'ceph:vm-103-disk-0' is not a file of VM 103" \
	    "$d|scsi0: volume 'local:104/../../../../etc/shadow.raw' is not a file of VM 104" \
	    "$e|scsi0 is on storage 'nfs1', which proxmox.storages does not map to a directory on this host" \
	    "$f|scsi0: local/images/106/vm-106-disk-0.raw: Too many levels of symbolic links"
	# a job may not name a path or a storage directory: unknown fields
	drop path '{"name":"path","source":{"type":"proxmox","server":"127.0.0.1:8006","credential":"pve","vmid":100,"path":"/etc/shadow"}}'
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	run reason_of path
	[[ $output == *"source.path: unknown field"* ]]
}

@test "proxmox vzdump mode: a backup of a running VM started through the API, read as VMA, then deleted" {
	pve_setup
	id=$(pjob dump 101 vzdump)
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	j=$SP/exported/$id
	[ -f "$j" ] || { cat "$SP/data/$id/reason"; cat "$T"/*.log "$T/pve/fake.log"; false; }
	[ "$(jq -r .vm.firmware "$j")" = uefi ]
	[ "$(jq -r .vm.memory_mib "$j")" = 128 ]
	[ "$(jq -r .vm.nics[0].model "$j")" = e1000 ]
	cmp "$RAW" "$SP/data/$id/scsi0.raw"
	grep -q "POST /api2/json/nodes/pve1/vzdump" "$T/pve/requests"
	grep -q "DELETE /api2/json/nodes/pve1/storage/local/content/local:backup/vzdump-qemu-101-" "$T/pve/requests"
	# the backup is gone, and so is the record of it
	[ -z "$(ls "$T/pve/local/dump")" ]
	[ ! -e "$SP/data/$id/proxmox.json" ]
	no_secret
}

@test "proxmox vzdump mode: exportd killed while the backup runs; the next attempt stops it and deletes its archive" {
	pve_setup
	touch "$T/pve/hold"
	start_daemon "$QUEUED" 3>&-
	start_daemon "$EXPORTD" 3>&-
	e=$LASTPID
	id=$(printf '{"name":"crash","source":{"type":"proxmox","server":"%s","credential":"pve","vmid":101,"mode":"vzdump"}}' "$SERVER" |
	    "$HS" -c "$T/conf" submit -)
	wait_for 30 grep -q '"upid"' "$SP/data/$id/proxmox.json" || { cat "$T"/*.log; false; }
	first=$(jq -r .upid "$SP/data/$id/proxmox.json")
	[ -n "$(ls "$T/pve/local/dump")" ]
	# while the first backup runs, its secret is in no command line
	no_secret
	kill -9 $(pgrep -P "$e") "$e"
	wait "$e" 2>/dev/null || true
	rm "$T/pve/hold"
	start_daemon "$EXPORTD" 3>&-
	wait_for 60 test -f "$SP/exported/$id" -o -f "$SP/error/$id"
	[ -f "$SP/exported/$id" ] || { cat "$SP/data/$id/reason"; cat "$T"/*.log; false; }
	# the first task was stopped and its archive deleted, then the second's
	grep -qF "DELETE /api2/json/nodes/pve1/tasks/$first" "$T/pve/requests"
	[ "$(grep -c "DELETE /api2/json/nodes/pve1/storage/local/content/" "$T/pve/requests")" -eq 2 ]
	[ -z "$(ls "$T/pve/local/dump")" ]
	[ ! -e "$SP/data/$id/proxmox.json" ]
	grep -q "a previous attempt left a backup task: releasing it" "$T/exportd.log"
}

@test "proxmox vzdump mode: a job cancelled while the backup runs stops the task and deletes its archive" {
	pve_setup
	touch "$T/pve/hold"
	start_daemon "$QUEUED" 3>&-
	start_daemon "$EXPORTD" 3>&-
	id=$(printf '{"name":"cancel","source":{"type":"proxmox","server":"%s","credential":"pve","vmid":101,"mode":"vzdump"}}' "$SERVER" |
	    "$HS" -c "$T/conf" submit -)
	wait_for 30 grep -q '"upid"' "$SP/data/$id/proxmox.json" || { cat "$T"/*.log; false; }
	upid=$(jq -r .upid "$SP/data/$id/proxmox.json")
	[ -n "$(ls "$T/pve/local/dump")" ]
	"$HS" -c "$T/conf" cancel "$id"
	wait_for 30 test -f "$SP/error/$id" || { cat "$T"/*.log; false; }
	grep -q "cancelled by the operator" "$SP/data/$id/reason"
	grep -qF "DELETE /api2/json/nodes/pve1/tasks/$upid" "$T/pve/requests"
	grep -q "DELETE /api2/json/nodes/pve1/storage/local/content/local:backup/vzdump-qemu-101-" "$T/pve/requests"
	[ -z "$(ls "$T/pve/local/dump")" ]
	[ ! -e "$SP/data/$id/proxmox.json" ]
	grep -q "asked to stop while the backup runs: releasing it first" "$SP/data/$id/log"
}

@test "proxmox: a credential allowed to another submitter is refused before anything reaches the server (as an unprivileged user)" {
	pve_setup
	submitters
	pcred pve "$SECRET" "allow_users = $VIC"
	: >"$T/pve/requests"
	user_export "$EVE" eve "$(printf '{"name":"eve","source":{"type":"proxmox","server":"%s","credential":"pve","vmid":100}}' "$SERVER")"
	[[ $output == *"credential 'pve' may not be used by uid $(id -u "$EVE")"* ]]
	[ ! -s "$T/pve/requests" ]
	drop_submitters
}

@test "proxmox: a VM from the PVE API reaches a booting domain in libvirt" {
	pve_setup
	import_to_libvirt
	boot_in_libvirt "hs-pveapi$$-$RANDOM" "$(printf \
	    '{"type":"proxmox","server":"%s","credential":"pve","vmid":100}' \
	    "$SERVER")"
	no_secret
}
