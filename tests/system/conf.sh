#!/bin/bash
# The shipped conf/udsbrokerd.conf is valid and really holds the defaults:
# udsbrokerd -t accepts it, and the effective settings it prints are the
# same as for an empty file. A broken file is reported with its line.
# Usage: conf.sh UDSBROKERD CONF
. "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: conf.sh UDSBROKERD CONF"
daemon=$1 conf=$2
[ -x "$daemon" ] || die "$daemon is not built"
make_tmp
unset UDSBROKER_SOCKET

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

# An error names the file and the line, and exits 1.
printf '[broker]\nmax_clients = 10\nmax_clients = 20\n' > "$tmp/dup.conf"
"$daemon" -t -c "$tmp/dup.conf" > /dev/null 2> "$tmp/dup.err"
rc=$?
[ "$rc" -eq 1 ] || fail "udsbrokerd -t on a bad file exited $rc, not 1"
grep -qF "$tmp/dup.conf:3:" "$tmp/dup.err" ||
  fail "the error does not name $tmp/dup.conf:3: $(cat "$tmp/dup.err")"
finish
