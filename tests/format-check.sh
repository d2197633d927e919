#!/usr/bin/env bash
# Lists the C files under src/ and include/ that clang-format would change
# (with the repository's .clang-format) and exits 1 if there is any; 0 when
# every file is formatted, 2 when clang-format cannot be run.
#
#   tests/format-check.sh [FILE...]     default: every *.c and *.h in src/ include/
#
# CLANG_FORMAT names the binary (default clang-format). The style is tuned
# for clang-format 14 (Debian 12); other versions may disagree on details.
# To fix a file: clang-format -i FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
	echo "format-check: $cf not found (set CLANG_FORMAT)" >&2
	exit 2
fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	mapfile -t files < <(find src include -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
bad=0
for f in "${files[@]}"; do
	# Byte for byte, trailing newlines included.
	if ! "$cf" --style=file "$f" >"$tmp"; then
		echo "format-check: $cf failed on $f" >&2
		exit 2
	fi
	if ! cmp -s "$tmp" "$f"; then
		echo "$f"
		bad=$((bad + 1))
	fi
done
if [ "$bad" -gt 0 ]; then
	echo "format-check: $bad of ${#files[@]} files are not formatted ($("$cf" --version));" \
		"run: $cf -i FILE" >&2
	exit 1
fi
