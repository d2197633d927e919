#!/bin/sh
# Stands in for a test whose tool is missing at configure time: says why,
# then exits 77, which meson reports as SKIP. CI installs the tools.
echo "SKIP: $*" >&2
exit 77
