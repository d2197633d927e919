#!/bin/bash
# meson install --destdir puts every file where a Debian administrator
# expects it, and nothing else; the installed pieces work: the daemon checks
# the installed config, the installed udsctl runs at once (RUNPATH outside
# /usr and /usr/local, the ldconfig cache within), and a program builds with
# the installed header and pkg-config file. An edited config survives a
# second install and an uninstall.
# Environment (set by meson or install-prefixes.sh): MESON, NINJA, BUILD_ROOT,
# CONF_SRC, PKG_CONFIG, CC, SANITIZE (the build's b_sanitize: programs linked
# with the library need it) and the expected absolute directories PREFIX
# BINDIR SBINDIR LIBDIR INCLUDEDIR SYSCONFDIR MANDIR DOCDIR UNITDIR
# SYSUSERSDIR COMPLETIONSDIR.
. "$(dirname "$0")/lib.sh"

make_tmp
root=$tmp/root
sanflags=""
[ "${SANITIZE:-none}" = none ] || sanflags="-fsanitize=$SANITIZE"
conf=$SYSCONFDIR/udsbroker/udsbrokerd.conf
echo "prefix $PREFIX, build $BUILD_ROOT"

install_into() {
  "$MESON" install -C "$BUILD_ROOT" --destdir "$root" --no-rebuild > "$tmp/install.log" 2>&1 ||
    die "meson install failed: $(cat "$tmp/install.log")"
}
install_into

# Exactly these files, no more, no fewer.
{
  echo "$SBINDIR/udsbrokerd"
  echo "$BINDIR/udsctl"
  echo "$LIBDIR/libudsbroker.so"
  echo "$LIBDIR/libudsbroker.so.1"
  echo "$LIBDIR/libudsbroker.so.1.0.0"
  echo "$LIBDIR/libudsbroker.a"
  echo "$LIBDIR/pkgconfig/udsbroker.pc"
  echo "$INCLUDEDIR/udsbroker.h"
  echo "$conf"
  echo "$DOCDIR/examples/udsbrokerd.conf"
  echo "$UNITDIR/udsbrokerd.service"
  echo "$UNITDIR/udsbrokerd.socket"
  echo "$SYSUSERSDIR/udsbroker.conf"
  echo "$COMPLETIONSDIR/udsctl"
  echo "$MANDIR/man1/udsctl.1"
  echo "$MANDIR/man3/libudsbroker.3"
  echo "$MANDIR/man5/udsbrokerd.conf.5"
  echo "$MANDIR/man7/udsbroker.7"
  echo "$MANDIR/man8/udsbrokerd.8"
} | sort > "$tmp/want"
(cd "$root" && find . -type f -o -type l) | sed 's|^\.||' | sort > "$tmp/files"
echo "installed tree:"
sed 's/^/  /' "$tmp/files"
if diff -u "$tmp/want" "$tmp/files" > "$tmp/diff"; then
  pass "every file is where it belongs ($(wc -l < "$tmp/files") files)"
else
  fail "the installed tree is not the expected one (- expected, + installed):"
  sed 's/^/  /' "$tmp/diff" >&2
fi
for f in "$SBINDIR/udsbrokerd" "$BINDIR/udsctl"; do
  [ -x "$root$f" ] || fail "$f is not executable"
done

# Nothing outside the prefix, but the config when sysconfdir is outside it
# and, for /usr, the units in systemd's own directory (/lib/systemd/system on
# Debian 12).
while read -r f; do
  case $f in
    "$PREFIX"/*) ;;
    "$conf") echo "note: $f is outside the prefix: sysconfdir is $SYSCONFDIR" ;;
    "$UNITDIR"/*) [ "$PREFIX" = /usr ] || fail "unit outside the prefix $PREFIX: $f" ;;
    *) fail "installed outside the prefix $PREFIX: $f" ;;
  esac
done < "$tmp/files"

# The example config is installed as it is in the source tree, twice.
for f in "$conf" "$DOCDIR/examples/udsbrokerd.conf"; do
  cmp -s "$CONF_SRC" "$root$f" || fail "the installed $f differs from $CONF_SRC"
done

# The units run the installed daemon on the installed config.
unit=$root$UNITDIR/udsbrokerd.service
if [ -f "$unit" ]; then
  grep -qxF "ExecStart=$SBINDIR/udsbrokerd -f -c $conf" "$unit" ||
    fail "the installed unit does not start $SBINDIR/udsbrokerd with $conf"
  grep -qxF "ExecReload=$SBINDIR/udsbrokerd -t -c $conf" "$unit" ||
    fail "the installed unit does not check $conf on reload"
  if grep -n '@[a-z_]*@' "$unit"; then fail "placeholders left in $unit"; fi
fi

# The installed daemon accepts the installed config.
if [ -x "$root$SBINDIR/udsbrokerd" ]; then
  "$root$SBINDIR/udsbrokerd" -t -c "$root$conf" > /dev/null 2> "$tmp/t.err" &&
    pass "installed udsbrokerd -t accepts the installed config" ||
    fail "installed udsbrokerd -t: $(cat "$tmp/t.err")"
fi

# The installed udsctl finds the installed library. Outside /usr and
# /usr/local it does so by itself, through a RUNPATH relative to $ORIGIN, so
# even from the DESTDIR; within them it has no RUNPATH (the ldconfig cache
# finds the library), so from the DESTDIR it needs LD_LIBRARY_PATH.
if [ -x "$root$BINDIR/udsctl" ]; then
  runpath=$(readelf -d "$root$BINDIR/udsctl" 2>/dev/null | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p')
  case $PREFIX in
    /usr | /usr/local)
      [ -z "$runpath" ] && pass "installed udsctl has no RUNPATH" ||
        fail "installed udsctl has a RUNPATH under $PREFIX: $runpath"
      ctl_env="LD_LIBRARY_PATH=$root$LIBDIR" ;;
    *)
      case $runpath in
        # shellcheck disable=SC2016 # a literal $ORIGIN
        '$ORIGIN/'*) pass "installed udsctl has RUNPATH $runpath" ;;
        *) fail "installed udsctl has RUNPATH '$runpath', not one relative to \$ORIGIN" ;;
      esac
      ctl_env="UDSB_NO_LD_LIBRARY_PATH=1" ;;
  esac
  env -u LD_LIBRARY_PATH "$ctl_env" "$root$BINDIR/udsctl" --version > "$tmp/v.out" 2>&1 &&
    pass "installed udsctl --version ($ctl_env): $(cat "$tmp/v.out")" ||
    fail "installed udsctl --version ($ctl_env) failed: $(cat "$tmp/v.out")"
fi

# A program builds against the installed header and library via pkg-config.
if [ -f "$root$LIBDIR/pkgconfig/udsbroker.pc" ]; then
  cat > "$tmp/prog.c" <<'PROG'
#include <stdio.h>
#include <udsbroker.h>

int
main(void)
{
	struct udsb *c = udsb_new();

	if (c == NULL)
		return 1;
	printf("%s\n", udsb_version());
	udsb_free(c);
	return 0;
}
PROG
  flags=$(PKG_CONFIG_PATH="$root$LIBDIR/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" \
    "$PKG_CONFIG" --cflags --libs udsbroker 2> "$tmp/pc.err") ||
    fail "pkg-config udsbroker: $(cat "$tmp/pc.err")"
  # shellcheck disable=SC2086 # the flags are words
  if $CC $sanflags -o "$tmp/prog" "$tmp/prog.c" $flags > "$tmp/cc.log" 2>&1; then
    version=$(LD_LIBRARY_PATH="$root$LIBDIR" "$tmp/prog")
    [ -n "$version" ] && pass "built and ran a program with pkg-config udsbroker ($version)" ||
      fail "the program built with the installed library did not run"
  else
    fail "cannot build a program with '$flags': $(cat "$tmp/cc.log")"
  fi
  # So does the first example of libudsbroker(3), as printed there.
  page=$root$MANDIR/man3/libudsbroker.3
  if [ -f "$page" ]; then
    awk '/^\.Sh EXAMPLES/ { ex = 1 } ex && /^\.Bd -literal/ { inb = 1; next }
         inb && /^\.Ed/ { exit } inb' "$page" | sed 's/\\e/\\/g' > "$tmp/example.c"
    # shellcheck disable=SC2086
    if grep -q 'main(void)' "$tmp/example.c" &&
      $CC $sanflags -Wall -Werror -o "$tmp/example" "$tmp/example.c" $flags > "$tmp/cc.log" 2>&1; then
      pass "the first example of libudsbroker(3) builds"
    else
      fail "the first example of libudsbroker(3) does not build: $(cat "$tmp/cc.log")"
    fi
  fi
fi

# An edited config survives a second install, and an uninstall; the example
# under the doc dir is refreshed by the one and removed by the other.
echo "; edited by the administrator" >> "$root$conf"
cp "$root$conf" "$tmp/edited.conf"
echo "; stale" >> "$root$DOCDIR/examples/udsbrokerd.conf"
install_into
if cmp -s "$tmp/edited.conf" "$root$conf"; then
  pass "a second install keeps the edited $conf"
else
  fail "a second install overwrote the edited $conf"
fi
cmp -s "$CONF_SRC" "$root$DOCDIR/examples/udsbrokerd.conf" ||
  fail "the second install did not refresh $DOCDIR/examples/udsbrokerd.conf"
if [ -n "${NINJA:-}" ]; then
  "$NINJA" -C "$BUILD_ROOT" uninstall > "$tmp/uninstall.log" 2>&1 ||
    fail "ninja uninstall failed: $(cat "$tmp/uninstall.log")"
  (cd "$root" && find . -type f -o -type l) | sed 's|^\.||' > "$tmp/left"
  if [ "$(cat "$tmp/left")" = "$conf" ] && cmp -s "$tmp/edited.conf" "$root$conf"; then
    pass "uninstall removes everything but the edited $conf"
  else
    fail "after uninstall, the tree holds: $(tr '\n' ' ' < "$tmp/left")"
  fi
fi
finish
