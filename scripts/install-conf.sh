#!/bin/sh
# meson install script: installs the example configuration as the daemon's
# configuration file only if there is none, so an edited file survives every
# later install. It is not in meson's install log either, so uninstall leaves
# it in place (as dpkg keeps a conffile on remove). The example itself is
# also installed, always, under the doc dir.
# Usage: install-conf.sh EXAMPLE TARGET   (TARGET absolute; $DESTDIR honoured)
set -eu

src=$1
dst=${DESTDIR:-}$2
say() {
	[ -n "${MESON_INSTALL_QUIET:-}" ] || echo "$*"
}

if [ -e "$dst" ] || [ -L "$dst" ]; then
	say "Keeping the existing $dst (the shipped example is under the doc dir)"
	exit 0
fi
install -d -m 0755 "$(dirname "$dst")"
install -m 0644 "$src" "$dst"
say "Installing $src to $dst (it was absent)"
