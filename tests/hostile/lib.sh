# lib.sh - helpers for the hostile corpus's per-case `setup` scripts.
#
# tests/bats/hostile.bats runs each case's `setup` (if any) with bash, in
# the case's own directory under the test's source root, after sourcing
# this file. The environment names the places a case may use:
#   ROOT      the configured source root (source_roots = [ ROOT ])
#   CASE      ROOT/NAME, the case's directory (the current directory)
#   NAME      the case's name, also its file name in incoming/
#   OUTSIDE   a directory outside every root holding the canaries: files
#             whose content must never appear in the spool or the output
#             (canary.raw, canary.vmdk + canary-flat.vmdk, canary.ova)
#   INCOMING  the spool's incoming/ (for cases that drop odd files there)
#   SAMPLE    contrib/sample (sample.ovf)
# Binary artefacts are made here, at test time, with the real tools
# (qemu-img, tar), never committed. Any failing command fails the case.
set -eu

# raw FILE [SIZE]: a raw disk whose first sector says which file it is
raw() {
	truncate -s "${2:-1M}" "$1"
	printf 'hyperspool hostile corpus: %s' "$1" | dd of="$1" conv=notrunc status=none
}

# Made once per run by qemu-img into $T/vmdk-cache, then copied: qemu-img
# is slow to start, and the cases need dozens of these.
cached() {
	local d=$T/vmdk-cache/$1
	[ -d "$d" ] && return 0
	mkdir -p "$d.new"
	# all zeros: no grain is allocated, so a parent's data would show
	truncate -s 1M "$d.new/c.raw"
	qemu-img convert -f raw -O vmdk -o "subformat=$1" "$d.new/c.raw" "$d.new/c.vmdk"
	rm "$d.new/c.raw"
	mv "$d.new" "$d"
}

# flat NAME: NAME.vmdk (monolithicFlat descriptor) + NAME-flat.vmdk
flat() {
	cached monolithicFlat
	sed "s|\"c-flat.vmdk\"|\"$1-flat.vmdk\"|" "$T/vmdk-cache/monolithicFlat/c.vmdk" >"$1.vmdk"
	cp "$T/vmdk-cache/monolithicFlat/c-flat.vmdk" "$1-flat.vmdk"
}

# sparse NAME.vmdk [SUBFORMAT]: a one-file VMDK (default streamOptimized)
sparse() {
	cached "${2:-streamOptimized}"
	cp "$T/vmdk-cache/${2:-streamOptimized}/c.vmdk" "$1"
}

# ovf FILE HREF: the sample OVF with its one disk named HREF
ovf() {
	sed "s|ovf:href=\"hs-sample-disk1.vmdk\"|ovf:href=\"$2\"|" "$SAMPLE/sample.ovf" >"$1"
}

# manifest FILE...: SHA256 lines for FILE... on stdout
manifest() {
	local f
	for f in "$@"; do
		printf 'SHA256(%s)= %s\n' "$f" "$(sha256sum "$f" | cut -d' ' -f1)"
	done
}

# desc_set FILE KEY VALUE-LINE: replace the line starting with KEY in a
# VMDK text descriptor (or add it after the header line)
desc_line() {
	sed -i "s|^$2.*|$3|" "$1"
	grep -qF "$3" "$1" || sed -i "1a $3" "$1"
}

# vma FILE ARGS...: a Proxmox vzdump archive written from the format's
# specification by tests/pve/mkvma.py (--dev NAME=RAW, --break WHAT)
vma() {
	python3 "$SAMPLE/../../tests/pve/mkvma.py" "$@"
}
