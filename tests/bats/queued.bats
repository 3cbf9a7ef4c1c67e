#!/usr/bin/env bats
# queued: intake of job files from incoming/ into request/ or error/,
# run as the real binary on a temp spool.

load helpers

setup() { hs_setup; }
teardown() { drop_submitters; hs_teardown; }

good() { printf '{"name":"%s","source":{"type":"file","path":"%s/src/%s.ova"}}' "$1" "$T" "$1"; }

# Pickup is event-driven: with the rescan 60 s away, every job must be in
# request/ within seconds, which only inotify can do. How fast is a figure
# for bench/01-pickup.sh (p50/p99 against its target), not a bound here:
# a timed assertion fails on a loaded machine without a fault in the code.
@test "a job dropped with tmp+mv is taken by inotify, not by the next rescan" {
	echo 'watch = { rescan_interval = 60; };' >>"$T/conf"
	start_daemon "$QUEUED"
	wait_for 5 test -e "$SP/run/queued@$(hostname -s)"
	lat=()
	for i in 1 2 3 4 5 6 7 8 9; do
		n=$(count_in request)
		printf '%s\n' "$(good lat$i)" >"$SP/incoming/.l$i"
		t0=$(date +%s%N)
		mv "$SP/incoming/.l$i" "$SP/incoming/l$i"
		until [ "$(count_in request)" -gt "$n" ]; do
			[ $(( $(date +%s%N) - t0 )) -lt 10000000000 ] ||
				{ echo "job $i not taken within 10 s"; false; }
		done
		lat+=($(( ($(date +%s%N) - t0) / 1000000 )))
	done
	echo "# latencies ms: ${lat[*]}" >&3
}

@test "poll mode picks a job up within the poll interval + 1 s" {
	start_daemon "$QUEUED" --poll 1
	wait_for 5 test -e "$SP/run/queued@$(hostname -s)"
	grep -q "polling every 1s" "$T/queued.log"
	sleep 0.3
	t0=$(date +%s%N)
	drop p1 "$(good p1)"
	wait_for 2 has_n request 1
	echo "took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

@test "the normalised job in request/ carries id, defaults and origin" {
	start_daemon "$QUEUED"
	drop n1 "$(good web01)"
	wait_for 5 has_n request 1
	f=$(ls "$SP/request")
	[ "$(jq -r .id "$SP/request/$f")" = "$f" ]
	[ "$(jq -r .name "$SP/request/$f")" = web01 ]
	[ "$(jq -r .version "$SP/request/$f")" = 1 ]
	[ "$(jq -r .convert.format "$SP/request/$f")" = qcow2 ]
	[ "$(jq -r .import.uri "$SP/request/$f")" = qemu:///system ]
	[ "$(jq -r .origin.dialect "$SP/request/$f")" = hyperspool-v1 ]
	[ "$(jq -r .origin.uid "$SP/request/$f")" = "$(id -u)" ]
	grep -q "web01" "$SP/data/$f/submitted"
	[ "$(count_in incoming)" -eq 0 ] && [ "$(count_in intake)" -eq 0 ]
}

@test "all three input dialects are accepted and normalised" {
	start_daemon "$QUEUED"
	mkdir -p "$T/src/vm"
	drop manifest "$(printf '{"manifest_version":"1.0","source":{"provider":"vsphere","vm_name":"db 01"},"vm":{"cpu":4,"mem_gb":8},"disks":[{"id":"d0","source_format":"vmdk","bytes":1024,"local_path":"%s/src/vm/d0.vmdk","boot_order_hint":0}]}' "$T")"
	drop seed "$(printf '{"vm_identifier":"%s/src/app.ova","provider":"file","export_method":"ova","hyper2kvm_integration":{"enabled":true,"daemon_mode":true}}' "$T")"
	wait_for 5 has_n request 2
	cd "$SP/request"
	m=$(grep -l '"db_01"' *)
	[ "$(jq -r .source.disks[0].format "$m")" = vmdk ]
	[ "$(jq -r .vm.memory_mib "$m")" = 8192 ]
	[ "$(jq -r .origin.dialect "$m")" = hypersdk-manifest-1.0 ]
	s=$(grep -l '"app"' *)
	[ "$(jq -r .source.path "$s")" = "$T/src/app.ova" ]
	[ "$(jq -r .origin.dialect "$s")" = hypersdk-submit ]
}

# name | content (printf format, %s = $T) | expected reason (grep -F)
bad_jobs() {
	cat <<'EOF2'
syntax|{"name":|not valid JSON
empty||empty file
array|[1,2]|not a JSON object
noname|{"source":{"type":"file","path":"%s/src/a"}}|name: missing
badname|{"name":"../etc","source":{"type":"file","path":"%s/src/a"}}|name: '../etc' is not a valid name
spacename|{"name":"a b","source":{"type":"file","path":"%s/src/a"}}|is not a valid name
unknown|{"name":"a","colour":"red","source":{"type":"file","path":"%s/src/a"}}|colour: unknown field
dupkey|{"name":"a","name":"b","source":{"type":"file","path":"%s/src/a"}}|name: duplicate key
nosource|{"name":"a"}|source: missing
badtype|{"name":"a","source":{"type":"ftp","path":"%s/src/a"}}|source.type: 'ftp' is not supported
relative|{"name":"a","source":{"type":"file","path":"src/a.ova"}}|must be an absolute path
dotdot|{"name":"a","source":{"type":"file","path":"%s/src/../../etc/passwd"}}|without '.', '..'
outside|{"name":"a","source":{"type":"file","path":"/etc/passwd"}}|is outside source_roots
password|{"name":"a","source":{"type":"http","url":"https://h/x.ova","password":"hunter2"}}|secrets are not accepted
userinfo|{"name":"a","source":{"type":"http","url":"https://u:p@h/x.ova"}}|credentials in the URL are refused
scheme|{"name":"a","source":{"type":"http","url":"ftp://h/x.ova"}}|must start with http://
format|{"name":"a","source":{"type":"file","path":"%s/src/a"},"convert":{"format":"vmdk"}}|convert.format: 'vmdk' is not one of
givenid|{"id":"x","name":"a","source":{"type":"file","path":"%s/src/a"}}|id: set by hyperspool
manifest|{"manifest_version":"2.0","disks":[]}|manifest_version: only "1.0"
noexport|{"vm_identifier":"vm-1","provider":"vsphere","hyper2kvm_integration":{"enabled":false}}|export without conversion
provider|{"vm_identifier":"vm-1","provider":"oci"}|source.type: 'oci' is not supported
vsphere|{"vm_identifier":"/DC0/vm/vm-1","provider":"vsphere"}|source.server: missing
mac|{"name":"a","source":{"type":"file","path":"%s/src/a"},"vm":{"nics":[{"mac":"zz"}]}}|vm.nics[0].mac
EOF2
}

@test "bad job files each land in error/ with their specific reason; queued keeps serving" {
	start_daemon "$QUEUED"
	n=0
	while IFS='|' read -r name content reason; do
		drop "$name" "$(printf "$content" "$T")"
		n=$((n + 1))
	done < <(bad_jobs)
	# Hostile files that are not JSON at all.
	printf '{"name":"\xc3\x28"}' >"$SP/incoming/.utf8" && mv "$SP/incoming/.utf8" "$SP/incoming/utf8"
	head -c 1100000 /dev/zero | tr '\0' ' ' >"$SP/incoming/.huge" && mv "$SP/incoming/.huge" "$SP/incoming/huge"
	printf '%*s' 100000 '' | tr ' ' '[' >"$SP/incoming/.deep" && mv "$SP/incoming/.deep" "$SP/incoming/deep"
	mkfifo "$SP/incoming/fifo"
	ln -s /etc/passwd "$SP/incoming/symlink"
	mkdir "$SP/incoming/dir"
	echo '{}' >"$T/src/mine.json" && ln "$T/src/mine.json" "$SP/incoming/hardlink"
	n=$((n + 7))
	wait_for 15 has_n error "$n" || { ls -la "$SP"/*/; cat "$SP"/data/*/reason; cat "$T/queued.log"; false; }
	while IFS='|' read -r name content reason; do
		got=$(reason_of "$name")
		echo "$name: $got"
		[[ "$got" == *"$reason"* ]]
	done < <(bad_jobs; printf '%s\n' 'utf8||not valid UTF-8' \
	    'huge||larger than the 1048576 bytes' 'deep||not valid JSON' \
	    'fifo||a FIFO' 'symlink||a symbolic link' 'dir||a directory' \
	    'hardlink||hard links')
	# nothing was followed or touched
	[ -f /etc/passwd ] && [ -L "$SP/error/$(basename "$(dirname "$(grep -l 'incoming/symlink ' "$SP"/data/*/history)")")" ]
	# still serving
	kill -0 "$LASTPID"
	drop after "$(good after)"
	wait_for 5 has_n request 1
	[ "$(count_in incoming)" -eq 0 ] && [ "$(count_in intake)" -eq 0 ]
}

@test "kill -9 during 1,000 submissions: every job accepted exactly once" {
	start_daemon "$QUEUED" --workers 4
	qpid=$LASTPID
	for i in $(seq 1 1000); do
		drop "j$i" "$(good "job$i")"
		if [ $((i % 250)) -eq 0 ] && [ "$i" -lt 1000 ]; then
			kill -9 "$qpid"
			start_daemon "$QUEUED" --workers 4
			qpid=$LASTPID
		fi
	done
	wait_for 120 has_n incoming 0
	wait_for 60 has_n intake 0
	[ "$(count_in error)" -eq 0 ]
	[ "$(count_in request)" -eq 1000 ]
	# each name exactly once, each file whole and naming itself
	names=$(cd "$SP/request" && for f in *; do jq -er --arg f "$f" 'select(.id == $f) | .name' "$f"; done | sort)
	[ "$(echo "$names" | wc -l)" -eq 1000 ]
	[ "$(echo "$names" | sort -u | wc -l)" -eq 1000 ]
	[ "$(count_in tmp)" -eq 0 ]
	grep -q "resuming\|recovered" "$T/queued.log" || true
}

@test "a job left in intake/ by a crash is resumed, not lost or doubled" {
	# A raw submission claimed but not processed, and one already normalised.
	start_daemon "$QUEUED" --once
	wait "$LASTPID"
	id1=20261122T000000-000001-00000000-00000001-00000001
	good web01 >"$SP/intake/$id1"
	id2=20261122T000000-000002-00000000-00000001-00000002
	jq -n --arg id "$id2" --arg p "$T/src/x.ova" \
	    '{version:1,id:$id,name:"web02",submitted:"2026-11-22T00:00:00Z",source:{type:"file",path:$p}}' >"$SP/intake/$id2"
	start_daemon "$QUEUED" --once
	wait "$LASTPID"
	[ "$(count_in intake)" -eq 0 ]
	[ "$(jq -r .name "$SP/request/$id1")" = web01 ]
	[ "$(jq -r .name "$SP/request/$id2")" = web02 ]
	grep -q "recovered 2 job" "$T/queued.log"
}

@test "a file found by a scan while still young is left to settle first" {
	good young >"$SP/incoming/young"	# written in place, no event yet
	start_daemon "$QUEUED" --once
	wait "$LASTPID"
	[ "$(count_in request)" -eq 1 ]
	grep -q "young" "$SP/request/"*
}

# A submitter (the CLI, apid) killed between its write and its rename
# leaves incoming/.submit-PID-RANDOM.tmp; queued removes such files once
# older than tmp_max_age, and nothing else a submitter may leave there.
@test "a submitter's stale .submit-*.tmp in incoming/ is collected, nothing else" {
	submitters
	inc=$SP/incoming
	as_user "$EVE" sh -c "echo '{\"name\":\"half' >'$inc/.submit-4242-0badcafe.tmp'"
	as_user "$EVE" sh -c "echo fresh >'$inc/.submit-4243-0badcaff.tmp'"
	as_user "$EVE" sh -c "echo mine >'$inc/.mine.tmp'"
	as_user "$EVE" sh -c "echo odd >'$inc/.submit-1-0BADCAFE.tmp'"
	echo precious >"$T/precious"
	as_user "$EVE" ln -s "$T/precious" "$inc/.submit-4244-00000001.tmp"
	for f in .submit-4242-0badcafe.tmp .mine.tmp .submit-1-0BADCAFE.tmp; do
		touch -d '2 hours ago' "$inc/$f"
	done
	touch -h -d '2 hours ago' "$inc/.submit-4244-00000001.tmp"
	start_daemon "$QUEUED" --once
	wait "$LASTPID"
	# the stale one is gone, and the log names it and its owner
	[ ! -e "$inc/.submit-4242-0badcafe.tmp" ]
	grep -q "removed stale incoming/.submit-4242-0badcafe.tmp (uid $(id -u "$EVE")" "$T/queued.log"
	# a young one, other names, a symlink (and what it points to) stay
	[ -f "$inc/.submit-4243-0badcaff.tmp" ]
	[ -f "$inc/.mine.tmp" ] && [ -f "$inc/.submit-1-0BADCAFE.tmp" ]
	[ -L "$inc/.submit-4244-00000001.tmp" ]
	[ "$(cat "$T/precious")" = precious ]
	[ "$(grep -c 'removed stale incoming/' "$T/queued.log")" -eq 1 ]
	# tmp_max_age is the bound: at 3 hours the 2-hour-old files stay
	touch -d '2 hours ago' "$inc/.submit-4243-0badcaff.tmp"
	echo 'tmp_max_age = 10800;' >>"$T/conf"
	start_daemon "$QUEUED" --once
	wait "$LASTPID"
	[ -f "$inc/.submit-4243-0badcaff.tmp" ]
}

@test "configuration errors name the key and stop the daemon with status 100" {
	echo 'spool = "/x"; colour = "red";' >"$T/bad.conf"
	run "$QUEUED" -c "$T/bad.conf" --once
	[ "$status" -eq 100 ]
	[[ "$output" == *"unknown key 'colour'"* ]]
	echo 'watch = { poll_interval = "soon"; };' >"$T/bad.conf"
	run "$QUEUED" -c "$T/bad.conf" --once
	[ "$status" -eq 100 ]
	[[ "$output" == *"'watch.poll_interval' must be a number"* ]]
	run "$QUEUED" -c "$T/missing.conf" --once
	[ "$status" -eq 100 ]
	[[ "$output" == *"missing.conf"* ]]
}

@test "a missing spool is a clear error, exit 111" {
	run "$QUEUED" -c "$T/conf" -s "$T/nope" --once
	[ "$status" -eq 111 ]
	[[ "$output" == *"cannot open spool $T/nope"*"hyperspool init"* ]]
}

@test "--help documents the options" {
	run "$QUEUED" --help
	[ "$status" -eq 0 ]
	for o in --config --spool --once --poll --workers --verbose; do
		[[ "$output" == *"$o"* ]]
	done
}
