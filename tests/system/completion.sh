#!/bin/bash
# udsctl's bash completion offers the subcommands and each one's options,
# file names after -s, and everything the SYNOPSIS of udsctl(1) lists.
# Usage: completion.sh COMPLETION-FILE PAGE-SOURCE
. "$(dirname "$0")/lib.sh"

[ $# -eq 2 ] || die "usage: completion.sh COMPLETION-FILE PAGE-SOURCE"
compfile=$1 page=$2
make_tmp

# shellcheck source=/dev/null
. "$compfile" || die "cannot source $compfile"
[ "$(complete -p udsctl 2>/dev/null)" = "complete -F _udsctl udsctl" ] ||
  die "$compfile does not register _udsctl for udsctl"

# Prints, sorted on one line, what completing the command line offers; the
# word under the cursor is the last one (give "" to complete a new word).
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _udsctl udsctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}

# Fails unless completing the line offers exactly want.
check() {
  local want=$1 got
  shift
  got=$(complete_line "$@")
  if [ "$got" = "$want" ]; then
    pass "'$*' offers: ${want:-nothing}"
  else
    fail "'$*' offers '$got', not '$want'"
  fi
}

check "ping pub stats sub" udsctl ""
check "stats sub" udsctl s
check "--help --version -s" udsctl -
check "--version" udsctl --v
check "ping pub stats sub" udsctl -s /x ""
check "-W -n -v" udsctl sub -
check "-W -n -v" udsctl -s /x sub -v -
check "-c" udsctl ping -
check "" udsctl sub -n ""
check "" udsctl ping -c ""
check "" udsctl stats ""
check "" udsctl pub topic ""
touch "$tmp/broker.sock" "$tmp/other"
check "$tmp/broker.sock" udsctl -s "$tmp/br"

# Everything in the SYNOPSIS is offered somewhere.
offered=" $(complete_line udsctl -) $(complete_line udsctl "") $(complete_line udsctl sub -) $(complete_line udsctl ping -) "
for word in $(synopsis_options "$page") $(synopsis_commands "$page"); do
  case $offered in
    *" $word "*) pass "completion offers $word from the SYNOPSIS" ;;
    *) fail "completion never offers $word, which the SYNOPSIS of udsctl(1) has" ;;
  esac
done
finish
