#!/bin/sh
# Every call the header exports (UDSB_API) is documented in libudsbroker(3):
# named in NAME (.Nm) and declared in the SYNOPSIS (.Fn or .Fo).
set -eu
header=$1 page=$2
calls=$(sed -n 's/^UDSB_API .*[ *]\(udsb_[a-z_]*\)(.*/\1/p' "$header")
[ -n "$calls" ] || { echo "FAIL: no UDSB_API calls found in $header" >&2; exit 1; }
status=0 n=0
for f in $calls; do
	n=$((n + 1))
	grep -Eq "^\.Nm $f( ,)?$" "$page" || { echo "FAIL: $f is not in NAME of $page" >&2; status=1; }
	grep -Eq "^\.(Fn|Fo) $f( |$)" "$page" ||
		{ echo "FAIL: $f is not in the SYNOPSIS of $page" >&2; status=1; }
done
[ $status -eq 0 ] && echo "all $n calls of $header are in $page"
exit $status
