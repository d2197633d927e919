#!/bin/sh
# Runs the Python client's tests (src/python/tests) with pytest against the
# daemon named by $UDSBROKERD. Exit 77 (meson's "skipped") with the reason
# when no python3 with pytest is found.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for py in ${PYTHON:-} python3 /usr/bin/python3; do
	if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import pytest' 2>/dev/null; then
		cd "$here/../.."
		exec "$py" -m pytest -ra -p no:cacheprovider "$@" src/python/tests
	fi
done
echo "SKIP: no python3 with pytest (apt-get install python3-pytest)" >&2
exit 77
