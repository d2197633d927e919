#!/bin/sh
# The README's C example must be tests/client/example.c, byte for byte, so
# the code people copy is the code the test suite compiles and runs.
# Usage: readme_example.sh README EXAMPLE [N]: the Nth C block (default 1).
set -eu
readme=$1 example=$2 nth=${3:-1}
block=$(awk -v nth="$nth" '/^```c$/ { if (++n == nth) on = 1; next }
  /^```$/ { if (on) exit } on' "$readme")
if [ "$block" != "$(cat "$example")" ]; then
	echo "FAIL: the C block in $readme differs from $example:" >&2
	printf '%s\n' "$block" | diff -u "$example" - >&2 || true
	exit 1
fi
echo "README example matches $example"
