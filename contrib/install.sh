#!/bin/sh
# install.sh: install hyperspool from this source tree on this host, as
# root: build and `make install` (PREFIX, default /usr/local), then
# hyperspool-setup (the hyperspool user and group, the spool, the image
# and credentials directories), then enable hyperspool.target without
# starting it. Where systemd is not running (a container, a chroot) the
# units are enabled all the same (systemctl works on the unit files) and
# nothing is started.
#
# usage: contrib/install.sh [PREFIX]      e.g. contrib/install.sh /usr
set -eu
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}

[ "$(id -u)" -eq 0 ] || { echo "install.sh: must run as root" >&2; exit 1; }
make -s all PREFIX="$prefix"
make -s install PREFIX="$prefix"
"$prefix/libexec/hyperspool/hyperspool-setup"

unitdir=$prefix/lib/systemd/system
case $unitdir in
/usr/local/lib/systemd/system|/usr/lib/systemd/system|/lib/systemd/system) ;;
*)	# systemd does not look there: link the units in.
	for u in "$unitdir"/hyperspool*; do
		ln -sf "$u" /etc/systemd/system/
	done ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
fi
systemctl enable hyperspool.target
echo "install.sh: installed in $prefix; start with: systemctl start hyperspool.target"
