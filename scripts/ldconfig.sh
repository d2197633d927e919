#!/bin/sh
# meson install script, skipped when DESTDIR is set: refreshes the dynamic
# linker's cache after libudsbroker was installed into a directory that
# ld.so.conf lists (/usr/local/lib and its multiarch twin on Debian), so the
# installed udsctl runs at once, as a Debian package's ldconfig trigger would
# do, and fails if the loader still cannot find the library (meson 1.0 shows
# a script's output only when it fails). Only root can write the cache.
# Usage: ldconfig.sh LIBDIR
set -eu

libdir=$1
if [ "$(id -u)" -ne 0 ]; then
	echo "note: libudsbroker is in $libdir; run ldconfig as root so programs find it"
	exit 0
fi
for ldconfig in /sbin/ldconfig /usr/sbin/ldconfig; do
	[ -x "$ldconfig" ] && break
done
"$ldconfig"
# Fail, so that meson shows why, if the loader still cannot find it.
# The cache may name it by another path (/lib is /usr/lib on Debian 12).
want=$(readlink -f "$libdir/libudsbroker.so.1")
found=no
for path in $("$ldconfig" -p | sed -n 's/^[[:space:]]*libudsbroker\.so\.1 .*=> //p'); do
	[ "$(readlink -f "$path")" = "$want" ] && found=yes
done
if [ "$found" = no ]; then
	echo "error: the dynamic linker does not search $libdir (not in /etc/ld.so.conf):" >&2
	echo "programs will not find libudsbroker.so.1. On Debian, install dpkg-dev and set up a" >&2
	echo "new build directory (meson then uses lib/<multiarch>), or pass --libdir." >&2
	exit 1
fi
