#!/bin/bash
# The install as the README does it (--prefix=/usr) and as a local one
# (--prefix=/opt/udsb --sysconfdir=etc): each in a build directory of its
# own, configured from the source tree, installed into a DESTDIR and checked
# file by file by install.sh against the directories a Debian administrator
# expects, written out here.
# Environment (set by meson): MESON, NINJA, SOURCE_ROOT, CONF_SRC, PKG_CONFIG,
# CC, INSTALL_SH.
. "$(dirname "$0")/lib.sh"

make_tmp
build=$tmp/build

# The value of a built-in option of the build in $build.
option() {
  "$MESON" introspect "$build" --buildoptions |
    python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}

# Builds what is installed; the tests are not needed for that.
setup_and_build() {
  "$MESON" setup "$build" "$SOURCE_ROOT" -Dtests=disabled "$@" > "$tmp/setup.log" 2>&1 ||
    die "meson setup $*: $(cat "$tmp/setup.log")"
  "$MESON" compile -C "$build" > "$tmp/compile.log" 2>&1 ||
    die "meson compile: $(tail -n 30 "$tmp/compile.log")"
}

run_install_sh() {
  local libdir
  libdir=$(option libdir)
  # Debian's loader searches lib and the multiarch dir, never lib64, which
  # meson picks when dpkg-dev is missing.
  case $1:$libdir in
    /usr:lib | /usr:lib/*-linux-gnu* | /opt/*) ;;
    *) fail "meson's libdir for prefix $1 is $libdir, which Debian's dynamic linker does not search (is dpkg-dev installed?)" ;;
  esac
  env MESON="$MESON" NINJA="$NINJA" BUILD_ROOT="$build" CONF_SRC="$CONF_SRC" PKG_CONFIG="$PKG_CONFIG" \
    CC="$CC" SANITIZE=none PREFIX="$1" LIBDIR="$1/$libdir" "${@:2}" "$INSTALL_SH" ||
    fail "install.sh for --prefix=$1 failed (above)"
}

systemd_var() {
  "$PKG_CONFIG" --variable="$1" systemd 2>/dev/null || echo "$2"
}

echo "== --prefix=/usr (the README's install)"
setup_and_build --prefix=/usr
run_install_sh /usr BINDIR=/usr/bin SBINDIR=/usr/sbin INCLUDEDIR=/usr/include \
  SYSCONFDIR=/etc MANDIR=/usr/share/man DOCDIR=/usr/share/doc/udsbroker \
  UNITDIR="$(systemd_var systemdsystemunitdir /usr/lib/systemd/system)" \
  SYSUSERSDIR="$(systemd_var sysusersdir /usr/lib/sysusers.d)" \
  COMPLETIONSDIR=/usr/share/bash-completion/completions

echo "== --prefix=/opt/udsb --sysconfdir=etc (nothing outside the prefix)"
"$MESON" configure "$build" -Dprefix=/opt/udsb -Dsysconfdir=etc > "$tmp/configure.log" 2>&1 ||
  die "meson configure: $(cat "$tmp/configure.log")"
"$MESON" compile -C "$build" > "$tmp/compile.log" 2>&1 ||
  die "meson compile: $(tail -n 30 "$tmp/compile.log")"
run_install_sh /opt/udsb BINDIR=/opt/udsb/bin SBINDIR=/opt/udsb/sbin \
  INCLUDEDIR=/opt/udsb/include SYSCONFDIR=/opt/udsb/etc MANDIR=/opt/udsb/share/man \
  DOCDIR=/opt/udsb/share/doc/udsbroker UNITDIR=/opt/udsb/lib/systemd/system \
  SYSUSERSDIR=/opt/udsb/lib/sysusers.d COMPLETIONSDIR=/opt/udsb/share/bash-completion/completions
finish
