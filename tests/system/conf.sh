#!/bin/bash
# The shipped conf/udsbrokerd.conf is valid and really holds the defaults:
# udsbrokerd -t accepts it, and the effective settings it prints are the
# same as for an empty file. A broken file is reported with its line.
# The example configurations in udsbrokerd.conf(5) are valid too.
# Usage: conf.sh UDSBROKERD CONF PAGE-SOURCE
. "$(dirname "$0")/lib.sh"

[ $# -eq 3 ] || die "usage: conf.sh UDSBROKERD CONF PAGE-SOURCE"
daemon=$1 conf=$2 page=$3
[ -x "$daemon" ] || die "$daemon is not built"
make_tmp
# lib.sh names a socket (UDSBROKER_SOCKET): -t resolves one, and prints only
# the config's own socket key, so it changes nothing in what is compared.

"$daemon" -t -c "$conf" > "$tmp/example.out" 2> "$tmp/example.err"
rc=$?
if [ "$rc" -eq 0 ]; then
  pass "udsbrokerd -t -c $(basename "$conf") exits 0"
else
  fail "udsbrokerd -t -c $conf exited $rc: $(cat "$tmp/example.err")"
fi

: > "$tmp/empty.conf"
"$daemon" -t -c "$tmp/empty.conf" > "$tmp/defaults.out" 2> "$tmp/defaults.err" ||
  fail "udsbrokerd -t on an empty file failed: $(cat "$tmp/defaults.err")"
if diff -u "$tmp/defaults.out" "$tmp/example.out"; then
  pass "every value in $(basename "$conf") is the default"
else
  fail "$conf differs from the defaults (diff above: - defaults, + example)"
fi

# The printed settings are themselves a valid config file.
sed '/^;/d' "$tmp/example.out" > "$tmp/printed.conf"
"$daemon" -t -c "$tmp/printed.conf" > /dev/null 2> "$tmp/printed.err" ||
  fail "the output of -t is not a valid config: $(cat "$tmp/printed.err")"

# Every literal block of the page that starts with a [section] line is a
# config example. User and group names become ids, and socket_group (which
# must name a group at load) our own group: the names the examples use need
# not exist on this machine.
awk -v dir="$tmp" '
  /^\.Bd -literal/ { inb = 1; n = 0; next }
  inb && /^\.Ed/ { inb = 0; next }
  inb && n == 0 && !/^\[/ { inb = 0; next }
  inb { if (n++ == 0) file = sprintf("%s/page-example-%d.conf", dir, ++count); print > file }
' "$page"
examples=0
for ex in "$tmp"/page-example-*.conf; do
  [ -f "$ex" ] || continue
  examples=$((examples + 1))
  sed -i -e 's/\\&//g' -e 's/user=[^ ]*/uid=0/g' -e 's/group=[^ ]*/gid=0/g' \
    -e "s/^socket_group *=.*/socket_group = $(id -gn)/" "$ex"
  if "$daemon" -t -c "$ex" > /dev/null 2> "$tmp/ex.err"; then
    pass "example $examples of $(basename "$page") is a valid config"
  else
    fail "example $examples of $page is not valid: $(cat "$tmp/ex.err")"
    sed 's/^/  | /' "$ex" >&2
  fi
done
[ "$examples" -gt 0 ] || fail "found no config example in $page"

# An error names the file and the line, and exits 1.
printf '[broker]\nmax_clients = 10\nmax_clients = 20\n' > "$tmp/dup.conf"
"$daemon" -t -c "$tmp/dup.conf" > /dev/null 2> "$tmp/dup.err"
rc=$?
[ "$rc" -eq 1 ] || fail "udsbrokerd -t on a bad file exited $rc, not 1"
grep -qF "$tmp/dup.conf:3:" "$tmp/dup.err" ||
  fail "the error does not name $tmp/dup.conf:3: $(cat "$tmp/dup.err")"
finish
