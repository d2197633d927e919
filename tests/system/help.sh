#!/bin/bash
# The built programs' help agrees with their manual pages: every option and
# subcommand in a page's SYNOPSIS appears in the help output, and every
# option in the help output appears in the SYNOPSIS.
# Usage: help.sh PROGRAM HELP-OPTION PAGE-SOURCE
#   e.g. help.sh build/src/daemon/udsbrokerd -h man/udsbrokerd.8.in
. "$(dirname "$0")/lib.sh"

[ $# -eq 3 ] || die "usage: help.sh PROGRAM HELP-OPTION PAGE-SOURCE"
prog=$1 helpopt=$2 page=$3
name=$(basename "$prog")

# A program that is not built is a failure, never a pass.
[ -x "$prog" ] || die "$prog is not built, so its help cannot be checked against $page"

help=$("$prog" "$helpopt" 2>/dev/null)
rc=$?
[ "$rc" -eq 0 ] || fail "$name $helpopt exited $rc"
[ -n "$help" ] || die "$name $helpopt printed nothing on standard output"

page_opts=$(synopsis_options "$page")
[ -n "$page_opts" ] || die "found no options in the SYNOPSIS of $page"
for opt in $page_opts $(synopsis_commands "$page"); do
  if has_word "$opt" "$help"; then
    pass "$name $helpopt mentions $opt"
  else
    fail "$name $helpopt does not mention $opt, which the SYNOPSIS of $(basename "$page") has"
  fi
done

# The other way round: options the help offers must be in the page.
help_opts=$(printf '%s\n' "$help" | grep -oE -- '(^|[][ |,(])--?[A-Za-z][A-Za-z0-9-]*' |
  sed 's/^[][ |,(]*//' | sort -u)
for opt in $help_opts; do
  if printf '%s\n' "$page_opts" | grep -qxF -- "$opt"; then
    pass "$(basename "$page") documents $opt"
  else
    fail "$name $helpopt offers $opt, which the SYNOPSIS of $(basename "$page") lacks"
  fi
done
finish
