#!/bin/sh
# meson install script, skipped when DESTDIR is set: refreshes the dynamic
# linker's cache after libudsbroker was installed into a directory that
# ld.so.conf lists (/usr/local/lib and its multiarch twin on Debian), so the
# installed udsctl runs at once, as a Debian package's ldconfig trigger would
# do. Only root can write the cache. (meson 1.0 shows a script's output only
# when it fails.)
# Usage: ldconfig.sh LIBDIR
set -eu

libdir=$1
if [ "$(id -u)" -ne 0 ]; then
	echo "note: libudsbroker is in $libdir; run ldconfig as root so programs find it"
	exit 0
fi
for ldconfig in /sbin/ldconfig /usr/sbin/ldconfig ldconfig; do
	if command -v "$ldconfig" >/dev/null 2>&1; then
		[ -n "${MESON_INSTALL_QUIET:-}" ] || echo "Running ldconfig for $libdir"
		exec "$ldconfig"
	fi
done
echo "note: ldconfig not found; run it so programs find libudsbroker in $libdir"
