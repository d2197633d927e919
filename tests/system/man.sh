#!/bin/bash
# Lints the built manual pages: mandoc -Tlint must report nothing at warning
# level or above, and groff, when present, must format them without a warning.
# Usage: man.sh PAGE...
. "$(dirname "$0")/lib.sh"

need mandoc
[ $# -gt 0 ] || die "usage: man.sh PAGE..."

have_groff=0
if command -v groff >/dev/null 2>&1; then
  have_groff=1
else
  echo "note: groff is not installed; only mandoc checks the pages" >&2
fi

for page in "$@"; do
  [ -s "$page" ] || { fail "$page is missing or empty"; continue; }
  out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
  rc=$?
  # mandoc also complains about its own outdated database; that is no fault
  # of the page and does not change the exit status.
  out=$(printf '%s\n' "$out" | grep -v 'outdated mandoc.db' | grep -v '^$')
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    fail "mandoc -Tlint $page: $out"
  else
    pass "mandoc -Tlint -Wwarning $(basename "$page")"
  fi
  if [ "$have_groff" -eq 1 ]; then
    out=$(groff -ww -z -mdoc "$page" 2>&1)
    if [ $? -ne 0 ] || [ -n "$out" ]; then
      fail "groff -ww $page: $out"
    else
      pass "groff -ww -z -mdoc $(basename "$page")"
    fi
  fi
  # A placeholder the build did not fill in would show up as @NAME@.
  if grep -n '@[A-Z_]*@' "$page" >/dev/null; then
    fail "$page still has placeholders: $(grep -o '@[A-Z_]*@' "$page" | sort -u | tr '\n' ' ')"
  fi
done
finish
