#!/bin/sh
# Each example of libudsbroker(3) must be its file in tests/client, byte for
# byte, so the code people copy is the code the test suite compiles and
# runs. An example is the .Bd -literal block after a line
# '.\" example: NAME.c' in the page; roff's \e is a backslash there.
# Then: the reconnecting subscriber may be at most 20 lines longer than the
# plain one (issue 16), and the difference is printed.
set -eu
page=$1
shift
for file in "$@"; do
	name=$(basename "$file")
	block=$(awk -v want=".\\\\\" example: $name" '
		$0 == want { found = 1; next }
		found && /^\.Bd -literal/ { on = 1; next }
		on && /^\.Ed$/ { exit }
		on { gsub(/\\e/, "\\"); print }
	' "$page")
	if [ -z "$block" ]; then
		echo "FAIL: no example $name in $page" >&2
		exit 1
	fi
	if [ "$block" != "$(cat "$file")" ]; then
		echo "FAIL: the example $name in $page differs from $file:" >&2
		printf '%s\n' "$block" | diff -u "$file" - >&2 || true
		exit 1
	fi
	echo "$name: $(wc -l <"$file") lines, as in $page"
done
dir=$(dirname "$1")
plain=$(wc -l <"$dir/man_sub.c")
again=$(wc -l <"$dir/man_sub_reconnect.c")
echo "surviving a broker restart costs $((again - plain)) lines ($plain -> $again)"
if [ $((again - plain)) -gt 20 ]; then
	echo "FAIL: more than 20 lines" >&2
	exit 1
fi
