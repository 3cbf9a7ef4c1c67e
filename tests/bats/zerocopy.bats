#!/usr/bin/env bats
# Local sources read in place (issue 15, part 1): exportd checks a source
# with its submitter's rights and records what it checked (data/ID/
# inplace.json) instead of copying it into data/ID/; convertwatch reopens
# it confined beneath its source root (no symlinks), compares it with the
# record before and after converting, and hands qemu-img that descriptor.
# Real exportd, convertwatch and qemu-img; the sources are changed,
# replaced and swapped for symlinks between export and conversion, the
# swap also as an unprivileged submitter against a victim's disk.

load helpers

EXPORTD=$HS_BINDIR/exportd
CONVERTWATCH=$HS_BINDIR/convertwatch

setup() {
	hs_setup_sample
}
teardown() {
	hs_teardown
	[ -z "${EVE:-}" ] || drop_submitters
}

export_all() { "$EXPORTD" -c "$T/conf" --once 2>>"$T/exportd.log"; }
convert_all() { "$CONVERTWATCH" -c "$T/conf" --once 2>>"$T/convertwatch.log"; }

exported() {
	[ -f "$SP/exported/$1" ] || { cat "$SP/data/$1/reason"; cat "$T"/*.log; false; }
}

# failed ID TEXT: the job is in error/ and its reason holds TEXT
failed() {
	[ -f "$SP/error/$1" ] || { echo "$1 is not in error/"; cat "$T"/*.log; false; }
	grep -qF -- "$2" "$SP/data/$1/reason" ||
	    { echo "reason: $(cat "$SP/data/$1/reason")"; false; }
}

# no disk in data/ID/ (only the spool's own files and the record)
no_copy() {
	local f
	for f in "$SP/data/$1"/*; do
		case ${f##*/} in
		history|log|submitted|reason|retry|owner|progress.json|source.ovf|inplace.json) ;;
		*) echo "copied: $f"; false ;;
		esac
	done
}

@test "an OVA member is converted in place: no copy, the archive unchanged, the image equal" {
	sum=$(sha256sum <"$T/src/hs-sample.ova")
	id=$(job ova "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\"}")
	export_all
	exported "$id"
	no_copy "$id"
	rec=$SP/data/$id/inplace.json
	[ "$(jq -r '.disks[0].file' "$rec")" = hs-sample-disk1.vmdk ]
	[ "$(jq -r '.disks[0].path' "$rec")" = hs-sample.ova ]
	[ "$(jq -r '.disks[0].root' "$rec")" = "$T/src" ]
	[ "$(jq -r '.disks[0].ino' "$rec")" = "$(stat -c %i "$T/src/hs-sample.ova")" ]
	# the member's place in the archive is where tar put it
	off=$(jq -r '.disks[0].offset' "$rec")
	len=$(jq -r '.disks[0].length' "$rec")
	[ "$len" = "$(stat -c %s "$T/src/hs-sample-disk1.vmdk")" ]
	cmp <(tail -c +"$((off + 1))" "$T/src/hs-sample.ova" | head -c "$len") \
	    "$T/src/hs-sample-disk1.vmdk"
	convert_all
	converted_ok "$id" "$RAW"
	grep -q "read in place from $T/src/hs-sample.ova (an archive member)" "$SP/data/$id/log"
	[ "$(sha256sum <"$T/src/hs-sample.ova")" = "$sum" ]
}

@test "bare disks and an OVF directory are read in place; source.sha256 and disks[].sha256 still checked" {
	mkdir "$T/src/d"
	qemu-img convert -f raw -O qcow2 "$RAW" "$T/src/d/q.qcow2"
	cp "$RAW" "$T/src/d/r.raw"
	sums=$(cd "$T/src" && sha256sum d/q.qcow2 d/r.raw hs-sample-disk1.vmdk)
	q=$(job q "{\"type\":\"file\",\"path\":\"$T/src/d/q.qcow2\"}")
	r=$(job r "{\"type\":\"file\",\"disks\":[{\"path\":\"$T/src/d/r.raw\",\"sha256\":\"$(sha256sum <"$RAW" | cut -d' ' -f1)\"}]}")
	bad=$(job bad "{\"type\":\"file\",\"disks\":[{\"path\":\"$T/src/d/r.raw\",\"sha256\":\"$(printf '0%.0s' $(seq 64))\"}]}")
	o=$(job ovf "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ovf\"}")
	export_all
	for id in "$q" "$r" "$o"; do exported "$id"; no_copy "$id"; done
	failed "$bad" "sha256 mismatch"
	[ "$(jq -r '.disks[0].path' "$SP/data/$q/inplace.json")" = d/q.qcow2 ]
	[ "$(jq -r '.disks[0].path' "$SP/data/$r/inplace.json")" = d/r.raw ]
	[ "$(jq -r '.disks[0].path' "$SP/data/$o/inplace.json")" = hs-sample-disk1.vmdk ]
	[ "$(jq -r '.disks[0] | has("offset")' "$SP/data/$o/inplace.json")" = false ]
	convert_all
	for id in "$q" "$r" "$o"; do converted_ok "$id" "$RAW"; done
	[ "$(cd "$T/src" && sha256sum d/q.qcow2 d/r.raw hs-sample-disk1.vmdk)" = "$sums" ]
}

@test "a source changed after export fails clearly: content with its mtime put back, or another inode renamed in" {
	cp "$RAW" "$T/src/a.raw"
	cp "$RAW" "$T/src/b.raw"
	cp "$RAW" "$T/src/c.raw"
	a=$(job a "{\"type\":\"file\",\"path\":\"$T/src/a.raw\"}")
	b=$(job b "{\"type\":\"file\",\"path\":\"$T/src/b.raw\"}")
	c=$(job c "{\"type\":\"file\",\"path\":\"$T/src/c.raw\"}")
	export_all
	for id in "$a" "$b" "$c"; do exported "$id"; done
	# a: one sector rewritten, size kept, mtime set back (only ctime says)
	touch -r "$T/src/a.raw" "$T/ref"
	printf 'MIXED' | dd of="$T/src/a.raw" bs=1 seek=4096 conv=notrunc status=none
	touch -r "$T/ref" "$T/src/a.raw"
	# b: the same bytes under another inode, renamed over the path
	cp "$RAW" "$T/src/b.new"
	mv "$T/src/b.new" "$T/src/b.raw"
	# c: grown by a sector
	head -c 512 /dev/zero >>"$T/src/c.raw"
	convert_all
	failed "$a" "changed since export (its ctime)"
	failed "$b" "changed since export (another file (device or inode))"
	failed "$c" "changed since export (its size)"
	# nothing half-made in the output directory
	[ -z "$(find "$T/out" -type f)" ]
}

@test "a symlink swapped in at the path after export is not followed, even to a file the submitter may read" {
	submitters
	start_daemon "$QUEUED"
	# the victim's 0600 disk, and $EVE's own directory with her own disk
	install -d -m 0700 -o "$VIC" "$T/src/vic"
	cp "$RAW" "$T/src/vic/vic.raw"
	printf 'CANARY-5a1f' | dd of="$T/src/vic/vic.raw" bs=1 seek=8192 conv=notrunc status=none
	chown "$VIC" "$T/src/vic/vic.raw"
	chmod 0600 "$T/src/vic/vic.raw"
	install -d -m 0755 -o "$EVE" "$T/src/eve"
	as_user "$EVE" cp "$RAW" "$T/src/eve/e.raw"
	as_user "$EVE" cp "$RAW" "$T/src/eve/mine.raw"
	id=$(as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/e.raw\"}}")
	id2=$(as_user "$EVE" "$HS" -c "$T/conf" submit - <<<"{\"name\":\"e2\",\"source\":{\"type\":\"file\",\"path\":\"$T/src/eve/mine.raw\"}}")
	wait_for 10 test -f "$SP/request/$id2"
	export_all
	exported "$id"
	exported "$id2"
	# $EVE swaps her files for symlinks: to the victim's disk, and to a
	# hard link of her own file (same inode: only the symlink is wrong)
	as_user "$EVE" ln -sf "$T/src/vic/vic.raw" "$T/src/eve/e.raw"
	as_user "$EVE" ln "$T/src/eve/mine.raw" "$T/src/eve/mine.link"
	as_user "$EVE" ln -sf mine.link "$T/src/eve/mine.raw"
	convert_all
	failed "$id" "replaced by a symbolic link since export (not followed)"
	failed "$id2" "replaced by a symbolic link since export (not followed)"
	[ -z "$(find "$T/out" -type f)" ]
	! grep -rlF CANARY-5a1f "$SP" "$T/out"
}

@test "source.copy: true, or exportd.copy_sources, copies as before" {
	cp "$RAW" "$T/src/x.raw"
	id=$(job cp "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\",\"copy\":true}")
	id2=$(job cp2 "{\"type\":\"file\",\"path\":\"$T/src/x.raw\",\"copy\":true}")
	export_all
	exported "$id"
	exported "$id2"
	[ -f "$SP/data/$id/hs-sample-disk1.vmdk" ]
	cmp "$RAW" "$SP/data/$id2/x.raw"
	[ ! -e "$SP/data/$id/inplace.json" ]
	[ ! -e "$SP/data/$id2/inplace.json" ]
	# a copy is a copy: the source may go away before conversion
	rm "$T/src/x.raw"
	convert_all
	converted_ok "$id" "$RAW"
	converted_ok "$id2" "$RAW"
	# the configuration's default, and a job that asks for in place anyway
	printf 'exportd = { copy_sources = true; };\n' >>"$T/conf"
	cp "$RAW" "$T/src/y.raw"
	id3=$(job cfg "{\"type\":\"file\",\"path\":\"$T/src/y.raw\"}")
	id4=$(job inpl "{\"type\":\"file\",\"path\":\"$T/src/y.raw\",\"copy\":false}")
	export_all
	exported "$id3"
	exported "$id4"
	cmp "$RAW" "$SP/data/$id3/y.raw"
	no_copy "$id4"
	[ -f "$SP/data/$id4/inplace.json" ]
}

@test "a source root convertwatch does not know fails the job, naming source.copy" {
	cp "$RAW" "$T/src/z.raw"
	id=$(job z "{\"type\":\"file\",\"path\":\"$T/src/z.raw\"}")
	export_all
	exported "$id"
	# convertwatch on a host whose source_roots lack the exporter's root
	sed "s|source_roots = .*|source_roots = [ \"$T/out\" ];|" "$T/conf" >"$T/conf2"
	"$CONVERTWATCH" -c "$T/conf2" --once 2>>"$T/convertwatch.log"
	failed "$id" "not in this host's source_roots"
	failed "$id" "source.copy"
}

@test "an HTTP OVA is converted from the download without unpacking it, which goes once converted" {
	start_nginx "$T/src"
	chmod 0644 "$T/src"/*
	id=$(job web "{\"type\":\"http\",\"url\":\"http://127.0.0.1:$PORT/hs-sample.ova\"}")
	export_all
	exported "$id"
	# the archive is there, its disk member not unpacked beside it
	cmp "$T/src/hs-sample.ova" "$SP/data/$id/hs-sample.ova"
	[ ! -e "$SP/data/$id/hs-sample-disk1.vmdk" ]
	rec=$SP/data/$id/inplace.json
	[ "$(jq -r '.disks[0].data' "$rec")" = true ]
	[ "$(jq -r '.disks[0].path' "$rec")" = hs-sample.ova ]
	[ "$(jq -r '.disks[0] | has("root")' "$rec")" = false ]
	convert_all
	converted_ok "$id" "$RAW"
	grep -q "read in place from data/hs-sample.ova (an archive member)" "$SP/data/$id/log"
	[ ! -e "$SP/data/$id/hs-sample.ova" ]
}

@test "an OVA member read in place: the manifest's digest is checked while it converts, a mismatch publishes nothing" {
	mkdir "$T/src/bad"
	cp "$T/src/hs-sample.ovf" "$T/src/hs-sample-disk1.vmdk" "$T/src/bad/"
	{ grep hs-sample.ovf "$T/src/hs-sample.mf"
	  printf 'SHA256(hs-sample-disk1.vmdk)= %064d\n' 0; } >"$T/src/bad/hs-sample.mf"
	tar --format=ustar -C "$T/src/bad" -cf "$T/src/bad.ova" hs-sample.ovf hs-sample.mf hs-sample-disk1.vmdk
	good=$(job good "{\"type\":\"file\",\"path\":\"$T/src/hs-sample.ova\"}")
	bad=$(job bad "{\"type\":\"file\",\"path\":\"$T/src/bad.ova\"}")
	export_all
	exported "$good"
	exported "$bad"
	# exportd did not read the member: convertwatch checks it
	[ "$(jq -r '.disks[0].sha256' "$SP/data/$bad/inplace.json")" = "$(printf '%064d' 0)" ]
	convert_all
	converted_ok "$good" "$RAW"
	grep -q "SHA256 as the manifest says" "$SP/data/$good/log"
	failed "$bad" "bad.ova: SHA256 of hs-sample-disk1.vmdk does not match the manifest"
	[ -z "$(find "$T/out/$bad" -type f 2>/dev/null)" ]
}
