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

check "ping pub req serve stats sub" udsctl ""
check "serve stats sub" udsctl s
check "--help --version -s" udsctl -
check "--version" udsctl --v
check "ping pub req serve stats sub" udsctl -s /x ""
check "--help --json --no-reconnect --retained-only -F -R -T -W -n -v" udsctl sub -
check "--help --json --no-reconnect --retained-only" udsctl -s /x sub -v --
check "--help --json --no-reconnect --retained-only -F -R -T -W -n -v" udsctl sub "t/#" -W 3 -
check "" udsctl sub -n ""
check "" udsctl sub -T ""
check "" udsctl sub -F ""
check "--help -r" udsctl pub -
check "" udsctl pub topic ""
check "--help -W -n" udsctl req -
check "" udsctl req -W ""
check "-- --group --help --no-reconnect" udsctl serve -
check "" udsctl serve --group ""
check "--help -c" udsctl ping -
check "" udsctl ping -c ""
check "--help" udsctl stats -
check "" udsctl stats ""
# After "--" nothing is an option: the word is an operand.
check "" udsctl sub -- -
check "" udsctl pub t -- -
# serve: the COMMAND after "--" is a command name.
case " $(complete_line udsctl serve t/x -- dat) " in
  *" date "*) pass "serve ... -- dat offers date" ;;
  *) fail "serve ... -- dat does not offer date" ;;
esac
touch "$tmp/broker.sock" "$tmp/other"
check "$tmp/broker.sock" udsctl -s "$tmp/br"
check "$tmp/broker.sock" udsctl sub -s "$tmp/br"

# Everything in the SYNOPSIS is offered somewhere.
offered=" $(complete_line udsctl -) $(complete_line udsctl "")"
for sub in pub sub req serve ping stats; do
  offered="$offered $(complete_line udsctl "$sub" -)"
done
offered="$offered "
for word in $(synopsis_options "$page") $(synopsis_commands "$page"); do
  case $offered in
    *" $word "*) pass "completion offers $word from the SYNOPSIS" ;;
    *) fail "completion never offers $word, which the SYNOPSIS of udsctl(1) has" ;;
  esac
done
finish
