#!/bin/bash
# meson install --destdir puts every file where a distribution expects it,
# and the installed pieces work: the daemon checks the installed config,
# udsctl runs against the installed library, and a program builds with the
# installed header and pkg-config file.
# Environment (set by meson): MESON, BUILD_ROOT, CONF_SRC, PKG_CONFIG, CC,
# SANITIZE (the build's b_sanitize: programs linked with the library need it) and
# the expected absolute directories PREFIX BINDIR SBINDIR LIBDIR INCLUDEDIR
# SYSCONFDIR MANDIR UNITDIR SYSUSERSDIR COMPLETIONSDIR.
. "$(dirname "$0")/lib.sh"

make_tmp
root=$tmp/root
sanflags=""
[ "${SANITIZE:-none}" = none ] || sanflags="-fsanitize=$SANITIZE"

"$MESON" install -C "$BUILD_ROOT" --destdir "$root" --no-rebuild --quiet > "$tmp/install.log" 2>&1 ||
  die "meson install failed: $(cat "$tmp/install.log")"

# Fails unless the installed tree has path (absolute, below $root).
want() {
  local path=$1 mode=${2:-f}
  if [ "$mode" = x ] && [ -x "$root$path" ] && [ -f "$root$path" ]; then
    pass "installed $path (executable)"
  elif [ "$mode" = f ] && [ -s "$root$path" ]; then
    pass "installed $path"
  else
    fail "missing from the installed tree: $path"
  fi
}

want "$SBINDIR/udsbrokerd" x
want "$BINDIR/udsctl" x
want "$LIBDIR/libudsbroker.so"
want "$LIBDIR/libudsbroker.so.0"
want "$LIBDIR/pkgconfig/udsbroker.pc"
want "$INCLUDEDIR/udsbroker.h"
want "$SYSCONFDIR/udsbroker/udsbrokerd.conf"
want "$UNITDIR/udsbrokerd.service"
want "$UNITDIR/udsbrokerd.socket"
want "$SYSUSERSDIR/udsbroker.conf"
want "$COMPLETIONSDIR/udsctl"
want "$MANDIR/man1/udsctl.1"
want "$MANDIR/man3/libudsbroker.3"
want "$MANDIR/man5/udsbrokerd.conf.5"
want "$MANDIR/man7/udsbroker.7"
want "$MANDIR/man8/udsbrokerd.8"

# Nothing lands outside the directories above.
(cd "$root" && find . -type f -o -type l) | sed 's|^\.||' | sort > "$tmp/files"
while read -r f; do
  case $f in
    "$SBINDIR"/* | "$BINDIR"/* | "$LIBDIR"/* | "$INCLUDEDIR"/* | "$SYSCONFDIR"/udsbroker/* | \
      "$UNITDIR"/* | "$SYSUSERSDIR"/* | "$COMPLETIONSDIR"/* | "$MANDIR"/*) ;;
    *) fail "installed outside the expected directories: $f" ;;
  esac
done < "$tmp/files"
echo "installed tree:"
sed 's/^/  /' "$tmp/files"

# The example config is installed as it is in the source tree.
cmp -s "$CONF_SRC" "$root$SYSCONFDIR/udsbroker/udsbrokerd.conf" ||
  fail "the installed udsbrokerd.conf differs from $CONF_SRC"

# The units run the installed daemon on the installed config.
unit=$root$UNITDIR/udsbrokerd.service
if [ -f "$unit" ]; then
  grep -qxF "ExecStart=$SBINDIR/udsbrokerd -f -c $SYSCONFDIR/udsbroker/udsbrokerd.conf" "$unit" ||
    fail "the installed unit does not start $SBINDIR/udsbrokerd with $SYSCONFDIR/udsbroker/udsbrokerd.conf"
  if grep -n '@[a-z_]*@' "$unit"; then fail "placeholders left in $unit"; fi
fi

# The installed daemon accepts the installed config.
if [ -x "$root$SBINDIR/udsbrokerd" ]; then
  "$root$SBINDIR/udsbrokerd" -t -c "$root$SYSCONFDIR/udsbroker/udsbrokerd.conf" > /dev/null 2> "$tmp/t.err" &&
    pass "installed udsbrokerd -t accepts the installed config" ||
    fail "installed udsbrokerd -t: $(cat "$tmp/t.err")"
fi

# The installed udsctl runs against the installed library.
export LD_LIBRARY_PATH="$root$LIBDIR"
if [ -x "$root$BINDIR/udsctl" ]; then
  "$root$BINDIR/udsctl" --version > "$tmp/v.out" 2>&1 &&
    pass "installed udsctl --version: $(cat "$tmp/v.out")" ||
    fail "installed udsctl --version failed: $(cat "$tmp/v.out")"
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
    version=$("$tmp/prog")
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
finish
