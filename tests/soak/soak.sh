#!/bin/sh
# Soak test of udsbrokerd: a mixed load for DURATION seconds, then a
# one-screen report; exits non-zero if a message was lost, a descriptor
# leaked, the memory bound was passed or the daemon crashed.
#
#   tests/soak/soak.sh DURATION [BUILD_DIR]
#
# BUILD_DIR (default: build) is a meson build directory of this tree; the
# daemon is $UDSBROKERD if set, else BUILD_DIR/src/daemon/udsbrokerd. The
# load generator udsb-soak is built there by meson (tests/fault/meson.build).
# The daemon runs on a socket in a fresh directory under /tmp and is stopped
# at the end; nothing else is touched.
set -eu
usage() {
	echo "usage: $0 DURATION [BUILD_DIR]" >&2
	exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
duration=$1
case $duration in
'' | *[!0-9]*) usage ;;
esac
build=${2:-build}
daemon=${UDSBROKERD:-$build/src/daemon/udsbrokerd}
soak=$build/tests/fault/udsb-soak
for f in "$daemon" "$soak"; do
	if [ ! -x "$f" ]; then
		echo "$0: $f: not built (meson setup $build && ninja -C $build)" >&2
		exit 2
	fi
done
exec "$soak" -d "$duration" -D "$daemon"
