#!/usr/bin/env bats
# policy: backup policies (common/policy.c, cli/policycmd.c, queued's
# origin.policy). What is real: the vSphere simulator's inventory (vcsim,
# as in vsphere.bats) for `policy run`, queued, qemu-img images and libvirt
# domains on qemu:///session (as importd.bats) for `policy prune`. The
# imported copies `prune` looks at are made by queued (origin.policy
# recorded by queued from a root-owned file, as `policy run` writes them)
# and then moved to imported/ by the test with the result importd would
# record, aged by their `submitted` time: running four daemons per copy
# would only make the suite slower, not the retention more real.
# Tick time for `run --due` comes from libfaketime, as in schedule.bats.

load helpers

VCSIM=$HS_TESTDIR/hs-vcsim
URI=qemu:///session
MKBOOTDISK=$BATS_TEST_DIRNAME/../../contrib/sample/mkbootdisk
PASS='pa ss#"w<rd&'

virsh_() { timeout 60 virsh -q -c "$URI" "$@"; }

setup() {
	hs_setup
	mkdir -p "$T/creds" "$T/vc"
	chmod 700 "$T/creds"
	cat >>"$T/conf" <<CONF
credentials_dir = "$T/creds";
convert = { output_dir = "$T/out"; };
finished_max_age = 0;
CONF
	DOMS=()
}

teardown() {
	local d
	# by name: copy() runs in a subshell (read < <(copy ...)), so what it
	# adds to DOMS never reaches this shell; $$ is the test's in both
	for d in "${DOMS[@]}" $(virsh_ list --all --name 2>/dev/null | grep "^hs-pol-$$-"); do
		virsh_ destroy "$d" >/dev/null 2>&1 || true
		virsh_ undefine --nvram "$d" >/dev/null 2>&1 || true
	done
	[ -n "${EVE:-}" ] && drop_submitters
	hs_teardown
}

# start_vcsim: the simulator (DC0_H0_VM0 and DC0_H0_VM1 in /DC0/vm), a
# credential "lab" bound to it
start_vcsim() {
	[ -x "$VCSIM" ] || { echo "$VCSIM missing: make tests"; false; }
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/vc/key.pem" \
	    -out "$T/vc/cert.pem" -days 3 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	TMPDIR=$T/vc "$VCSIM" -cert "$T/vc/cert.pem" -key "$T/vc/key.pem" \
	    -user hsuser -pass "$PASS" -url-file "$T/vc/url" \
	    >"$T/vc/inventory" 2>"$T/vc/log" 3>&- &
	PIDS+=($!)
	wait_for 20 test -s "$T/vc/url" || { cat "$T/vc/log"; false; }
	SERVER=$(cat "$T/vc/url")
	SERVER=${SERVER#https://}
	{
		printf 'username = hsuser\npassword = "%s"\n' "$(printf '%s' "$PASS" | sed 's/["\\]/\\&/g')"
		printf 'server = %s\nca_file = %s\n' "$SERVER" "$T/vc/cert.pem"
	} >"$T/creds/lab"
	chmod 600 "$T/creds/lab"
}

# policy NAME EXTRA-JSON-MEMBERS: add policy NAME (vsphere, credential lab)
policy() {
	printf '{"provider":"vsphere","credential":"lab","server":"%s",%s}\n' "$SERVER" "$2" >"$T/$1.json"
	"$HS" -c "$T/conf" policy add "$1" "$T/$1.json"
}

@test "policy run: one job per VM the filter takes, named VM-TIMESTAMP, origin.policy kept by queued" {
	start_vcsim
	policy all '"vms":["DC0_H0_VM*"],"paths":["/DC0/vm/*"],"job":{"convert":{"format":"raw"}},"keep_last":2'
	run "$HS" -c "$T/conf" policy run all
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ ${lines[0]} =~ ^incoming/DC0_H0_VM[01]-[0-9]{8}T[0-9]{6}Z$ ]]
	[[ ${lines[1]} =~ ^incoming/DC0_H0_VM[01]-[0-9]{8}T[0-9]{6}Z$ ]]
	[ "${lines[0]}" != "${lines[1]}" ]
	[ "$(count_in incoming)" -eq 2 ]
	# the same second again: distinct names, nothing replaced
	"$HS" -c "$T/conf" policy run all >/dev/null
	[ "$(count_in incoming)" -eq 4 ]
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_in request)" -eq 4 ]
	for f in "$SP"/request/*; do
		jq -e '.origin.policy == "all" and .origin.tick == "manual"' "$f"
		jq -e '.source.type == "vsphere" and .source.credential == "lab" and .source.vm == .origin.vm' "$f"
		jq -e '.name == (.origin.vm + "-" + (.name | split("-") | last))' "$f"
		jq -e '.convert.format == "raw"' "$f"
	done
	[ "$(jq -r .origin.vm "$SP"/request/* | sort -u | tr '\n' ' ')" = "DC0_H0_VM0 DC0_H0_VM1 " ]
	# a template whose jobs queued would refuse is refused at once
	printf '{"provider":"vsphere","credential":"lab","vms":["*"]}' >"$T/bad.json"
	run "$HS" -c "$T/conf" policy add bad "$T/bad.json"
	[ "$status" -eq 1 ]
	[[ $output == *"policy bad: not added: its jobs would be refused: source.server: missing"* ]]
	# the filter: one VM by name; none by path
	policy one '"vms":["*_VM1"]'
	run "$HS" -c "$T/conf" policy run one
	[ "$status" -eq 0 ]
	[[ $output == incoming/DC0_H0_VM1-* ]]
	[ "${#lines[@]}" -eq 1 ]
	policy nowhere '"vms":["*"],"paths":["/DC1/*"]'
	run "$HS" -c "$T/conf" policy run nowhere
	[[ $output == *"no VM matches its filter"* ]]
	[ "$(count_in incoming)" -eq 1 ]
	# no secret anywhere in the spool; each run is audited
	! grep -rF -- "$PASS" "$SP" "$T"/*.log
	grep -q "policy.run all 2 job(s) (by hand)" "$SP/audit/$(hostname -s).log"
	run "$HS" -c "$T/conf" policy list --json
	[ "$(echo "$output" | jq -r '[.[].name] | join(",")')" = all,nowhere,one ]
}

@test "policy run --due: each cron tick once, claimed in ticks/@NAME; a disabled policy does not run" {
	start_vcsim
	policy daily '"vms":["DC0_H0_VM0"],"cron":"0 3 * * *","tz":"UTC"'
	policy off '"vms":["*"],"cron":"0 3 * * *","enabled":false'
	when=$(date -u -d 'tomorrow 03:00:30' '+%Y-%m-%d %H:%M:%S')
	due() { NO_FAKE_STAT=1 FAKETIME_DONT_FAKE_MONOTONIC=1 TZ=UTC faketime -f "@$when" "$HS" -c "$T/conf" policy run --due; }
	run due
	[ "$status" -eq 0 ]
	[ "$output" = "incoming/DC0_H0_VM0-$(date -u -d "$when UTC" +%Y%m%d)T030000Z" ]
	ls "$SP/ticks/@daily/"
	[ "$(ls "$SP/ticks/@daily" | wc -l)" -eq 1 ]
	[ ! -e "$SP/ticks/@off" ]
	# the same tick again (a second host, a second timer): nothing
	run due
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(count_in incoming)" -eq 1 ]
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	jq -e --arg t "$(date -u -d "$when UTC" +%Y-%m-%d)T03:00:00Z" '.origin.tick == $t and .origin.policy == "daily"' "$SP"/request/*
}

# hyperspool-policy.service runs `policy run --due` under a system call
# filter, address families and RestrictSUIDSGID= (which refuses openat2):
# a real run against vcsim, traced, must stay inside all three.
@test "policy run --due stays inside hyperspool-policy.service's syscall filter and address families" {
	[ "${SAN:-}" != 1 ] || skip "the sanitizer runtime makes calls the release build does not"
	unit=$BATS_TEST_DIRNAME/../../systemd/hyperspool-policy@.service.in
	start_vcsim
	policy each '"vms":["DC0_H0_VM0"],"cron":"* * * * *","tz":"UTC"'
	touch -d '2 minutes ago' "$SP/policies/each"	# its first tick has come
	strace -f -qq -o "$T/trace" "$HS" -c "$T/conf" policy run --due >"$T/out"
	grep -q '^incoming/DC0_H0_VM0-' "$T/out"
	[ "$(count_in incoming)" -eq 1 ]
	used=$(syscalls_in "$T/trace")
	[ "$(echo "$used" | wc -l)" -gt 20 ]
	extra=$(comm -23 <(echo "$used") <(allowed_syscalls "$unit"))
	echo "# policy run --due: $(echo "$used" | wc -l) syscalls, outside the filter: ${extra:-none}" >&3
	[ -z "$extra" ]
	! grep -q '^[0-9]* *openat2(' "$T/trace"
	! grep -E 'PROT_(READ\|)?WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE' "$T/trace"
	allowed_af=$(sed -n 's/^RestrictAddressFamilies=//p' "$unit")
	for af in $(grep -oE 'socket\((AF_[A-Z0-9]+)' "$T/trace" | cut -d'(' -f2 | sort -u); do
		[[ " $allowed_af " == *" $af "* ]] || { echo "policy run uses $af"; false; }
	done
}

@test "policies are the operator's: a submitter cannot add, run, prune or remove one, a policy others may write is refused, origin.policy cannot be forged" {
	submitters
	printf '{"provider":"vsphere","credential":"lab","server":"vc.example:443","vms":["*"],"keep_last":1}\n' >"$T/p.json"
	chmod 0644 "$T/p.json"
	run as_user "$EVE" "$HS" -c "$T/conf" policy add evil "$T/p.json"
	[ "$status" -ne 0 ]
	[[ $output == *"ermission denied"* ]]
	[ ! -e "$SP/policies/evil" ]
	"$HS" -c "$T/conf" policy add nightly "$T/p.json"
	for sub in run prune remove; do
		run as_user "$EVE" "$HS" -c "$T/conf" policy $sub nightly
		[ "$status" -ne 0 ]
		[[ $output == *"ermission denied"* ]]
	done
	run as_user "$EVE" "$HS" -c "$T/conf" policy run --due
	[ "$status" -ne 0 ]
	[ -e "$SP/policies/nightly" ]
	run as_user "$EVE" sh -c "echo x >'$SP/policies/nightly'"
	[ "$status" -ne 0 ]
	# an operator's slip: the file writable by the submitters' group
	chmod g+w "$SP/policies/nightly"
	run "$HS" -c "$T/conf" policy run nightly
	[ "$status" -ne 0 ]
	[[ $output == *"policies/nightly is writable by its group (mode 0660): refused"* ]]
	run "$HS" -c "$T/conf" policy prune nightly
	[ "$status" -ne 0 ]
	[[ $output == *"refused"* ]]
	chmod g-w "$SP/policies/nightly"
	chown "$EVE" "$SP/policies/nightly"
	run "$HS" -c "$T/conf" policy run nightly
	[[ $output == *"belongs to uid $(id -u "$EVE"), neither root nor the spool's owner: refused"* ]]
	# a submitter's job claiming to be a policy's copy is rejected
	printf '{"name":"x","source":{"type":"file","path":"%s/src/x.ova"},"origin":{"policy":"nightly","vm":"x","tick":"manual"}}\n' "$T" >"$T/forged.json"
	chmod 0644 "$T/forged.json"
	as_user "$EVE" sh -c "cat '$T/forged.json' >'$SP/incoming/x-forged'"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	[ "$(count_in request)" -eq 0 ]
	id=$(ls "$SP/error")
	grep -q "origin: set by hyperspool" "$SP/data/$id/reason"
}

# copy POLICY VM DAYS-OLD [running]: an imported copy of VM made by POLICY
# (POLICY "-": hand-submitted), DAYS-OLD days ago: queued takes a job file
# of root's, the test completes it as importd would (image in
# convert.output_dir/ID/, a domain defined with the recorded UUID) and
# moves it to imported/. Prints the ID.
copy() {
	local pol=$1 vm=$2 days=$3 name origin id img dom uuid sub
	name="$vm-$(date -u -d "$days days ago" +%Y%m%dT%H%M%SZ)"
	origin=
	[ "$pol" = - ] || origin=$(printf ',"origin":{"policy":"%s","vm":"%s","tick":"manual"}' "$pol" "$vm")
	drop "$name-$pol" "$(printf '{"name":"%s","source":{"type":"file","path":"%s/src/%s.ova"}%s}' "$name" "$T" "$vm" "$origin")"
	"$QUEUED" -c "$T/conf" --once 2>>"$T/queued.log"
	id=$(basename "$(grep -l " from incoming/$name-$pol " "$SP"/data/*/history | xargs dirname)")
	[ -e "$SP/request/$id" ] || { cat "$SP/data/$id/reason" >&2; return 1; }
	mkdir -p -m 0755 "$T/out/$id"
	img=$T/out/$id/$name-disk0.qcow2
	qemu-img convert -q -f raw -O qcow2 "$T/boot.raw" "$img"
	chmod 0644 "$img"
	dom="hs-pol-$$-$RANDOM"
	DOMS+=("$dom")
	uuid=$(cat /proc/sys/kernel/random/uuid)
	printf "<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>32</memory><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='hda' bus='ide'/></disk><graphics type='vnc' autoport='yes' listen='127.0.0.1'/></devices></domain>" \
	    "$dom" "$uuid" "$img" >"$T/$dom.xml"
	virsh_ define "$T/$dom.xml" >/dev/null
	[ "${4:-}" != running ] || virsh_ start "$dom" >/dev/null
	sub=$(date -u -d "$days days ago" +%Y-%m-%dT%H:%M:%SZ)
	jq --arg s "$sub" --arg img "$img" --arg d "$dom" --arg u "$uuid" --arg uri "$URI" \
	    '.submitted = $s | .vm = {"disks": [{"output": $img}]} | .result = {"domain": $d, "uuid": $u, "uri": $uri}' \
	    "$SP/request/$id" >"$SP/imported/$id"
	rm "$SP/request/$id"
	echo "$id $dom $img"
}

defined() { virsh_ dominfo "$1" >/dev/null 2>&1; }

@test "policy prune: per VM the newest keep_last and those younger than keep_days stay; only the policy's own old copies go; a running domain is kept; --dry-run removes nothing" {
	command -v virsh >/dev/null || { echo "libvirt clients missing"; false; }
	"$BATS_TEST_DIRNAME/../../contrib/start-libvirt"
	chmod 0711 "$T"
	mkdir -m 0755 "$T/out"
	"$MKBOOTDISK" "$T/boot.raw"
	printf '{"provider":"vsphere","credential":"lab","server":"vc.example:443","vms":["*"],"keep_last":1,"keep_days":3}\n' >"$T/p.json"
	"$HS" -c "$T/conf" policy add nightly "$T/p.json"
	"$HS" -c "$T/conf" policy add other "$T/p.json"
	read -r a1 a1d a1i < <(copy nightly web 1)
	read -r a2 a2d a2i < <(copy nightly web 2)
	read -r a5 a5d a5i < <(copy nightly web 5)
	read -r a6 a6d a6i < <(copy nightly web 6)
	read -r b1 b1d b1i < <(copy nightly db 1)
	read -r b9 b9d b9i < <(copy nightly db 9 running)
	read -r o9 o9d o9i < <(copy other web 9)
	read -r h9 h9d h9i < <(copy - web 9)
	[ "$(count_in imported)" -eq 8 ]
	# the hand-submitted copy has no policy
	[ "$(jq -r '.origin.policy // "none"' "$SP/imported/$h9")" = none ]
	run "$HS" -c "$T/conf" policy prune --dry-run nightly
	[ "$status" -eq 0 ]
	[[ $output == *"would remove $a5 web "*"domain $a5d $a5i"* ]]
	[[ $output == *"would remove $a6 web "*"domain $a6d $a6i"* ]]
	[[ $output == *"kept $b9 db "*"domain $b9d is running"* ]]
	[ "$(echo "$output" | grep -c '^would remove')" -eq 2 ]
	for x in $a5i $a6i $a1i $b9i $o9i $h9i; do [ -f "$x" ]; done
	for d in $a5d $a6d; do defined "$d"; done
	# for real
	run "$HS" -c "$T/conf" policy prune nightly
	[ "$status" -eq 0 ]
	[[ $output == *"removed $a5 web "*"domain $a5d, 1 image(s)"* ]]
	[[ $output == *"removed $a6 web "*"domain $a6d, 1 image(s)"* ]]
	[[ $output == *"kept $b9 db "*"domain $b9d is running"* ]]
	for x in $a5i $a6i; do [ ! -e "$x" ]; done
	for id in $a5 $a6; do [ ! -e "$T/out/$id" ]; done
	for d in $a5d $a6d; do ! defined "$d"; done
	# everything else is untouched: the newest, the young, the running
	# one, another policy's, a hand-submitted one
	for x in $a1i $a2i $b1i $b9i $o9i $h9i; do [ -f "$x" ]; done
	for d in $a1d $a2d $b1d $b9d $o9d $h9d; do defined "$d"; done
	[ "$(virsh_ domstate "$b9d")" = running ]
	[ "$(count_in imported)" -eq 8 ]
	[ "$(grep -c "policy.prune" "$SP/audit/$(hostname -s).log")" -eq 2 ]
	grep -q "policy.prune $a5 policy nightly vm web domain $a5d images 1" "$SP/audit/$(hostname -s).log"
	# again: nothing left to remove, the running one still said
	run "$HS" -c "$T/conf" policy prune nightly
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '^removed')" -eq 0 ]
	[[ $output == *"kept $b9 "* ]]
	# an image path outside convert.output_dir/ID is never removed
	jq --arg p "$o9i" '.vm.disks[0].output = $p' "$SP/imported/$a1" >"$SP/imported/.x" && mv "$SP/imported/.x" "$SP/imported/$a1"
	printf '{"provider":"vsphere","credential":"lab","server":"vc.example:443","vms":["*"],"keep_days":1}\n' >"$T/p.json"
	"$HS" -c "$T/conf" policy add --replace nightly "$T/p.json"
	run "$HS" -c "$T/conf" policy prune nightly
	[[ $output == *"is not in convert.output_dir/$a1/: left alone"* ]]
	[ -f "$o9i" ]
	! defined "$a1d"
}
