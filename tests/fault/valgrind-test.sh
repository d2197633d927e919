#!/bin/sh
# The exe_wrapper of the meson test setup `valgrind`:
#   meson test -C BUILD --setup valgrind --suite integration --suite fault
# The test itself runs natively (criterion forks a worker per test; its own
# allocations are not what is under test). Every udsbrokerd the test starts
# through $UDSBROKERD runs under valgrind instead (valgrind-udsbrokerd.sh),
# each writing its report to a log here. The test fails if it failed, or if
# any of those reports holds an error or a leak -- whether or not the test
# looked at the daemon's exit status.
set -u
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)

logdir=$(mktemp -d "${TMPDIR:-/tmp}/udsb-valgrind.XXXXXX") || exit 1
export UDSB_VALGRIND_LOGDIR="$logdir"
if [ -n "${UDSBROKERD:-}" ]; then
	export UDSB_REAL_UDSBROKERD="$UDSBROKERD"
	export UDSBROKERD="$here/valgrind-udsbrokerd.sh"
fi

"$@"
rc=$?

bad=0
for log in "$logdir"/*.log; do
	[ -e "$log" ] || continue
	if grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
		continue
	fi
	if ! grep -q 'ERROR SUMMARY:' "$log"; then
		# Killed before it could sum up (a test SIGKILLs it, or gave
		# up on it): judge the errors it reported as it went.
		grep -Eq '^==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination|Argument|Process terminating)' "$log" || continue
	fi
	bad=1
	echo "valgrind-test: errors in $log:" >&2
	cat "$log" >&2
done
if [ "$bad" = 1 ]; then
	echo "valgrind-test: valgrind found errors or leaks in udsbrokerd (logs kept in $logdir)" >&2
	[ "$rc" = 0 ] && rc=1
else
	rm -rf "$logdir"
fi
exit "$rc"
