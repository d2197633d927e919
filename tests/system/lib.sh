# Shared by the shell tests of tests/system: failing, skipping, temporary
# directories and reading the SYNOPSIS of an mdoc page.
# Meson reads exit status 77 as "skipped"; anything but 0 and 77 is a failure.

set -u

# `udsbrokerd -t` resolves the socket path as start-up does, and a user
# other than root without XDG_RUNTIME_DIR (su, sudo -u, cron) has no
# default: these tests check configs, not discovery, so they name one.
export UDSBROKER_SOCKET="${UDSBROKER_SOCKET:-/run/udsbroker.sock}"

failures=0

# Prints a failure and remembers it; the script goes on to report the rest.
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Prints a passed check.
pass() {
  echo "ok: $*"
}

# Stops the test as failed at once.
die() {
  echo "FAIL: $*" >&2
  exit 1
}

# Skips the whole test because a tool is missing; CI installs it.
skip() {
  echo "SKIP: $*" >&2
  exit 77
}

# Skips unless every named program is on PATH. Each is TOOL, or
# TOOL:PACKAGE when the Debian package has another name.
need() {
  local arg tool pkg
  for arg in "$@"; do
    tool=${arg%%:*} pkg=${arg#*:}
    command -v "$tool" >/dev/null 2>&1 ||
      skip "$tool is not installed (Debian package $pkg; .ci/run installs it)"
  done
}

# Exits with the verdict of the checks made so far.
finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  exit 0
}

# Makes $tmp, a fresh directory removed when the script exits.
make_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/udsb-system.XXXXXX") || die "mktemp failed"
  trap 'rm -rf "$tmp"' EXIT
}

# The options in the SYNOPSIS of an mdoc page, one per line: every argument
# of an Fl macro with its dash ("Fl c" is -c, "Fl -help" is --help).
synopsis_options() {
  awk '/^\.Sh / { in_syn = ($2 == "SYNOPSIS") }
       in_syn { sub(/^\./, "", $1); for (i = 1; i < NF; i++) if ($i == "Fl") print "-" $(i + 1) }' "$1" |
    sort -u
}

# The subcommands (Cm) in the SYNOPSIS of an mdoc page, one per line.
synopsis_commands() {
  awk '/^\.Sh / { in_syn = ($2 == "SYNOPSIS") }
       in_syn { sub(/^\./, "", $1); for (i = 1; i < NF; i++) if ($i == "Cm") print $(i + 1) }' "$1" |
    sort -u
}

# True if word (letters, digits, - and _ only) appears in text as a whole
# option or word, not inside a longer one (-c is not found in -cx or --color).
has_word() {
  case $1 in
    *[!A-Za-z0-9_-]*) die "has_word: '$1' is not a plain word" ;;
  esac
  printf '%s\n' "$2" | grep -qE -- "(^|[^[:alnum:]_-])$1([^[:alnum:]_-]|\$)"
}
