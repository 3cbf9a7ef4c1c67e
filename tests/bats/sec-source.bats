#!/usr/bin/env bats
# Local sources are read with the submitter's rights (issue 21, findings 4,
# 5 and 10), tried as unprivileged submitters would: $EVE, the attacker,
# and $VIC, a victim, throwaway members of a throwaway submitters' group
# (helpers.bash `submitters`), submitting with `hyperspool submit` to
# queued and exportd running as root (as in the demo).
#   - confused deputy: a job may not make exportd read a file its
#     submitter could not read (mode bits, groups, POSIX ACLs; the path,
#     a descriptor's disks, VMDK extents, source.disks[]);
#   - a symlink swapped in by renameat2(RENAME_EXCHANGE) while exports run
#     never yields the file it points at;
#   - the reason a submitter reads is the same for a file that exists but
#     is not theirs to read and for one that does not exist.

load helpers

EXPORTD=$HS_BINDIR/exportd
EXCHANGE=$BATS_TEST_DIRNAME/../sec/exchange.py

setup() {
	hs_setup
	submitters
	start_daemon "$QUEUED"
}

# the exchange loop's pid (exchange.py itself, not the as_user shell)
stop_swapper() {
	[ -n "${SWAPPER:-}" ] || return 0
	kill "$SWAPPER" 2>/dev/null
	while kill -0 "$SWAPPER" 2>/dev/null; do sleep 0.05; done
	SWAPPER=
}

teardown() {
	stop_swapper
	hs_teardown
	[ -z "${DAEMONU:-}" ] || userdel "$DAEMONU" 2>/dev/null
	drop_submitters
}

# submit_as USER JSON: submit JSON as USER with `hyperspool submit -`,
# print the job ID
submit_as() {
	as_user "$1" "$HS" -c "$T/conf" submit - <<<"$2"
}

# file_job USER PATH [FORMAT]: a file job for PATH, submitted as USER
file_job() {
	submit_as "$1" "$(jq -cn --arg p "$2" --arg f "${3:-}" \
	    '{name: "s", source: ({type: "file", path: $p} +
	      (if $f == "" then {} else {format: $f} end))}')"
}

export_all() {
	"$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
}

# denied ID USER WHAT: the job failed with the one generic reason
denied() {
	[ -f "$SP/error/$1" ] || { echo "$1 is not in error/"; cat "$T"/*.log; false; }
	local want="$3: not found, or not readable by uid $(id -u "$2"), beneath the source roots (symbolic links are not followed)"
	[ "$(cat "$SP/data/$1/reason")" = "$want" ] ||
	    { echo "reason: $(cat "$SP/data/$1/reason")"; false; }
}

# no_canary: the canary's bytes are nowhere in the spool
no_canary() {
	! grep -rlF CANARY-b7e1 "$SP"
}

# a victim's disk: $T/src/vic (0700) holding vic.raw (0600), both $VIC's
victim_disk() {
	install -d -m 0700 -o "$VIC" "$T/src/vic"
	printf 'CANARY-b7e1 the victim disk\n' >"$T/src/vic/vic.raw"
	truncate -s 1M "$T/src/vic/vic.raw"
	chown "$VIC" "$T/src/vic/vic.raw"
	chmod 0600 "$T/src/vic/vic.raw"
}

@test "confused deputy: a job cannot read the victim's 0600 disk; the victim's own job can" {
	victim_disk
	id=$(file_job "$EVE" "$T/src/vic/vic.raw")
	mine=$(file_job "$VIC" "$T/src/vic/vic.raw")
	# origin.uid is queued's word about who dropped the file
	[ "$(jq -r .origin.uid "$SP/request/$id")" = "$(id -u "$EVE")" ]
	export_all
	denied "$id" "$EVE" source.path
	[ ! -e "$SP/data/$id/vic.raw" ]
	# the victim's own job: the same file, exported (exportd as root)
	[ -f "$SP/exported/$mine" ] || { cat "$SP/data/$mine/reason"; false; }
	# (read in place: recorded for convertwatch, not copied)
	[ "$(jq -r '.disks[0].path' "$SP/data/$mine/inplace.json")" = vic/vic.raw ]
	[ ! -e "$SP/data/$mine/vic.raw" ]
	no_canary
}

@test "confused deputy: every file a job names is opened as its submitter" {
	victim_disk
	# a shared sticky directory where both may create files
	install -d -m 1777 "$T/src/shared"
	cp "$T/src/vic/vic.raw" "$T/src/shared/v-flat.vmdk"
	chown "$VIC" "$T/src/shared/v-flat.vmdk"
	chmod 0600 "$T/src/shared/v-flat.vmdk"
	# $EVE's own descriptor naming the victim's file as its flat extent
	as_user "$EVE" sh -c "cat >'$T/src/shared/e.vmdk'" <<EOF
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicFlat"

RW 2048 FLAT "v-flat.vmdk" 0

ddb.adapterType = "ide"
EOF
	ext=$(file_job "$EVE" "$T/src/shared/e.vmdk")
	# $EVE's own VMX whose disk is in the victim's directory, reached
	# through a directory of the victim's inside the shared one
	install -d -m 0700 -o "$VIC" "$T/src/shared/vicdir"
	qemu-img convert -f raw -O vmdk "$T/src/vic/vic.raw" "$T/src/shared/vicdir/d.vmdk"
	chown "$VIC" "$T/src/shared/vicdir/d.vmdk"
	chmod 0600 "$T/src/shared/vicdir/d.vmdk"
	as_user "$EVE" sh -c "printf '%s\n' 'scsi0.present = \"TRUE\"' \
	    'scsi0:0.present = \"TRUE\"' 'scsi0:0.fileName = \"vicdir/d.vmdk\"' \
	    >'$T/src/shared/e.vmx'"
	vmx=$(file_job "$EVE" "$T/src/shared/e.vmx")
	# a HyperSDK manifest (disks[].local_path) naming the victim's disk
	man=$(submit_as "$EVE" "$(jq -cn --arg p "$T/src/vic/vic.raw" \
	    '{manifest_version: "1.0", source: {vm_name: "m"},
	      disks: [{id: "d0", source_format: "raw", local_path: $p}]}')")
	export_all
	denied "$ext" "$EVE" "e.vmdk: extent 'v-flat.vmdk'"
	denied "$vmx" "$EVE" vicdir/d.vmdk
	denied "$man" "$EVE" "source.disks[0].path"
	no_canary
}

@test "confused deputy: groups and POSIX ACLs count as the kernel counts them" {
	command -v setfacl >/dev/null || { echo "setfacl missing (package acl)"; false; }
	install -d -m 0755 -o "$VIC" "$T/src/vic"
	for f in group group-deny acl-grant acl-deny acl-group acl-mask; do
		printf 'CANARY-b7e1 %s\n' "$f" >"$T/src/vic/$f.raw"
		chown "$VIC:$SUBGROUP" "$T/src/vic/$f.raw"
	done
	# group: 0640, group the submitters' group, of which $EVE is a member
	chmod 0640 "$T/src/vic/group.raw"
	# 0604: "other" may read, the group (hence $EVE) may not
	chmod 0604 "$T/src/vic/group-deny.raw"
	# an ACL naming $EVE grants what the mode's "other" bits do not...
	chmod 0600 "$T/src/vic/acl-grant.raw"
	setfacl -m "u:$EVE:r" "$T/src/vic/acl-grant.raw"
	# ...and one naming $EVE with no rights denies what "other" grants
	chmod 0604 "$T/src/vic/acl-deny.raw"
	setfacl -m "u:$EVE:-" "$T/src/vic/acl-deny.raw"
	# a named group entry grants; a mask takes a named user's right away
	chmod 0600 "$T/src/vic/acl-group.raw" "$T/src/vic/acl-mask.raw"
	chgrp root "$T/src/vic/acl-group.raw"
	setfacl -m "g:$SUBGROUP:r" "$T/src/vic/acl-group.raw"
	setfacl -m "u:$EVE:r,m::-" "$T/src/vic/acl-mask.raw"
	g=$(file_job "$EVE" "$T/src/vic/group.raw")
	a=$(file_job "$EVE" "$T/src/vic/acl-grant.raw")
	d=$(file_job "$EVE" "$T/src/vic/acl-deny.raw")
	gd=$(file_job "$EVE" "$T/src/vic/group-deny.raw")
	ag=$(file_job "$EVE" "$T/src/vic/acl-group.raw")
	am=$(file_job "$EVE" "$T/src/vic/acl-mask.raw")
	# what the kernel says $EVE may read, for comparison
	as_user "$EVE" cat "$T/src/vic/group.raw" "$T/src/vic/acl-grant.raw" \
	    "$T/src/vic/acl-group.raw" >/dev/null
	! as_user "$EVE" cat "$T/src/vic/acl-mask.raw" 2>/dev/null
	! as_user "$EVE" cat "$T/src/vic/acl-deny.raw" 2>/dev/null
	! as_user "$EVE" cat "$T/src/vic/group-deny.raw" 2>/dev/null
	export_all
	[ -f "$SP/exported/$g" ]
	[ -f "$SP/exported/$a" ]
	[ -f "$SP/exported/$ag" ]
	denied "$am" "$EVE" source.path
	denied "$d" "$EVE" source.path
	denied "$gd" "$EVE" source.path
}

@test "race: a renameat2 exchange loop on source.path never yields the symlink's target (30 jobs)" {
	# the canary: root's, outside every source root
	install -d -m 0755 "$T/outside"
	printf 'CANARY-b7e1 root only\n' >"$T/outside/canary.raw"
	truncate -s 64K "$T/outside/canary.raw"
	chmod 0600 "$T/outside/canary.raw"
	install -d -m 0755 -o "$EVE" "$T/src/eve"
	as_user "$EVE" sh -c "cd '$T/src/eve' && truncate -s 64K d.raw &&
	    ln -s '$T/outside/canary.raw' link"
	ids=()
	for i in $(seq 30); do
		ids+=("$(file_job "$EVE" "$T/src/eve/d.raw" raw)")
	done
	as_user "$EVE" "$EXCHANGE" "$T/src/eve" d.raw link 3>&- &
	wait_for 10 test -s "$T/src/eve/.swapping"
	SWAPPER=$(cat "$T/src/eve/.swapping")
	export_all
	stop_swapper
	no_canary
	ok=0
	for id in "${ids[@]}"; do
		if [ -f "$SP/exported/$id" ]; then
			ok=$((ok + 1))
			continue
		fi
		denied "$id" "$EVE" source.path
	done
	echo "# $ok of 30 exported (the file), $((30 - ok)) refused (the symlink)" >&3
}

@test "oracle: a root-only file that exists and one that does not get the same reason" {
	# inside the root, in a directory $EVE cannot enter
	install -d -m 0700 "$T/src/rootonly"
	printf 'CANARY-b7e1\n' >"$T/src/rootonly/exists.raw"
	# and through $EVE's symlinks to a root-only directory outside
	install -d -m 0700 "$T/hidden"
	printf 'CANARY-b7e1\n' >"$T/hidden/exists.raw"
	install -d -m 0755 -o "$EVE" "$T/src/eve"
	as_user "$EVE" ln -s "$T/hidden/exists.raw" "$T/src/eve/a.raw"
	as_user "$EVE" ln -s "$T/hidden/nonexistent.raw" "$T/src/eve/b.raw"
	e1=$(file_job "$EVE" "$T/src/rootonly/exists.raw")
	n1=$(file_job "$EVE" "$T/src/rootonly/nonexistent.raw")
	e2=$(file_job "$EVE" "$T/src/eve/a.raw")
	n2=$(file_job "$EVE" "$T/src/eve/b.raw")
	export_all
	for id in "$e1" "$n1" "$e2" "$n2"; do
		denied "$id" "$EVE" source.path
	done
	[ "$(cat "$SP/data/$e1/reason")" = "$(cat "$SP/data/$n1/reason")" ]
	[ "$(cat "$SP/data/$e2/reason")" = "$(cat "$SP/data/$n2/reason")" ]
	# what $EVE can read of the jobs' logs holds no more than the reason
	for id in "$e1" "$n1" "$e2" "$n2"; do
		run as_user "$EVE" "$HS" -c "$T/conf" logs "$id"
		[ "$status" -eq 0 ]
		! grep -E 'resolves|does not exist|missing|denied|hidden|nonexistent' <<<"$output"
	done
	no_canary
}

@test "origin.uid: a submitter cannot set it, and a job without it opens nothing" {
	printf 'x' >"$T/src/x.raw"
	run submit_as "$EVE" "{\"name\":\"o\",\"origin\":{\"uid\":0},\"source\":{\"type\":\"file\",\"path\":\"$T/src/x.raw\"}}"
	[ "$status" -ne 0 ]
	grep -q "origin: set by hyperspool, not by the submitter" "$SP"/data/*/reason
	# a job put straight into request/ (not through queued) has no origin
	id=$(file_job "$VIC" "$T/src/x.raw")
	jq 'del(.origin)' "$SP/request/$id" >"$SP/tmp/$id" && mv "$SP/tmp/$id" "$SP/request/$id"
	export_all
	[ -f "$SP/error/$id" ]
	grep -q "^origin.uid: missing" "$SP/data/$id/reason"
}

@test "exportd as an unprivileged daemon user: only what both it and the submitter may read" {
	# a daemon user like the packaged `hyperspool` one: in the submitters'
	# group, owning the spool; queued and exportd run as it
	DAEMONU=${SUBGROUP%g}d
	useradd -M -N -g "$SUBGROUP" -d /nonexistent -s /usr/sbin/nologin "$DAEMONU"
	kill "${PIDS[0]}" && wait "${PIDS[0]}" 2>/dev/null || true
	chown -R "$DAEMONU" "$SP"
	setpriv --reuid="$DAEMONU" --regid="$SUBGROUP" --init-groups -- \
	    "$QUEUED" -c "$T/conf" 2>>"$T/queued.log" &
	PIDS+=($!)
	install -d -m 0755 -o "$EVE" "$T/src/eve"
	as_user "$EVE" sh -c "printf 'eve disk\n' >'$T/src/eve/e.raw' && chmod 0644 '$T/src/eve/e.raw'"
	# the victim's file, which the operator let the daemon user read (ACL)
	victim_disk
	setfacl -m "u:$DAEMONU:x" "$T/src/vic"
	setfacl -m "u:$DAEMONU:r" "$T/src/vic/vic.raw"
	setpriv --reuid="$DAEMONU" --regid="$SUBGROUP" --init-groups -- \
	    cat "$T/src/vic/vic.raw" >/dev/null
	own=$(file_job "$EVE" "$T/src/eve/e.raw")
	vic=$(file_job "$EVE" "$T/src/vic/vic.raw")
	setpriv --reuid="$DAEMONU" --regid="$SUBGROUP" --init-groups -- \
	    "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"
	[ -f "$SP/exported/$own" ] || { cat "$SP/data/$own/reason" "$T"/*.log; false; }
	[ "$(jq -r '.disks[0].path' "$SP/data/$own/inplace.json")" = eve/e.raw ]
	denied "$vic" "$EVE" source.path
	no_canary
}

@test "origin: a submitter's file rewritten after the claim is not taken for a resumed intake" {
	kill "${PIDS[0]}" && wait "${PIDS[0]}" 2>/dev/null || true
	id=20261122T000000-000003-00000000-00000001-00000003
	# $EVE kept a descriptor of the file she dropped and, once queued
	# claimed it as intake/ID (its owner stays hers), rewrote it into a
	# "normalised" job with root's origin; the claim's rename is done here
	install -d -m 0755 -o "$EVE" "$T/src/eve"
	as_user "$EVE" sh -c "jq -n --arg id '$id' --arg p '$T/src/eve/x.raw' \
	    '{version: 1, id: \$id, name: \"f\", submitted: \"2026-11-22T00:00:00Z\",
	      source: {type: \"file\", path: \$p},
	      origin: {dialect: \"hyperspool-v1\", uid: 0, user: \"root\"}}' \
	    >'$T/src/eve/forged'"
	mv "$T/src/eve/forged" "$SP/intake/$id"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ ! -e "$SP/request/$id" ]
	[ -f "$SP/error/$id" ]
	grep -q "set by hyperspool, not by the submitter" "$SP/data/$id/reason"
}
