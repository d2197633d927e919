#!/bin/bash
# The systemd units and the sysusers entry, checked with systemd's own tools
# (no systemd as PID 1 is needed).
#   units.sh verify     systemd-analyze verify on both units
#   units.sh content    the directives issues 5 and 12 ask for are there
#   units.sh security   systemd-analyze security --offline stays "safe"
#   units.sh sysusers   systemd-sysusers creates the account in a scratch root
# Environment (set by meson): SERVICE, SOCKET_UNIT, SYSUSERS, UDSBROKERD,
# MANPAGES (built pages, space separated), SBINDIR, SYSCONFDIR.
. "$(dirname "$0")/lib.sh"

# Copies the units into $tmp/units, with the daemon's installed path in the
# service replaced by the built binary so that verify can find it.
stage_units() {
  mkdir -p "$tmp/units"
  grep -q "^ExecStart=$SBINDIR/udsbrokerd " "$SERVICE" ||
    die "$SERVICE: ExecStart does not run $SBINDIR/udsbrokerd"
  sed "s|$SBINDIR/udsbrokerd|$UDSBROKERD|g" "$SERVICE" > "$tmp/units/udsbrokerd.service"
  cp "$SOCKET_UNIT" "$tmp/units/udsbrokerd.socket"
}

# A MANPATH holding the built pages, for the Documentation= check.
stage_man() {
  local page sect
  for page in $MANPAGES; do
    sect=${page##*.}
    mkdir -p "$tmp/man/man$sect"
    ln -s "$page" "$tmp/man/man$sect/"
  done
}

verify() {
  need systemd-analyze:systemd
  make_tmp
  stage_units
  stage_man
  [ -x "$UDSBROKERD" ] || die "$UDSBROKERD is not built"
  # Documentation= is checked with man(1), against the pages just built.
  local man_check=yes
  if ! command -v man >/dev/null 2>&1; then
    echo "note: man (Debian package man-db) is not installed; Documentation= is not checked" >&2
    man_check=no
  fi
  local out
  # verify warns without failing for some problems: any output fails.
  out=$(cd "$tmp/units" && MANPATH="$tmp/man" SYSTEMD_LOG_COLOR=0 \
    systemd-analyze verify --man="$man_check" ./udsbrokerd.socket ./udsbrokerd.service 2>&1)
  local rc=$?
  [ "$rc" -eq 0 ] || fail "systemd-analyze verify exited $rc"
  [ -z "$out" ] || fail "systemd-analyze verify printed: $out"
  [ "$failures" -eq 0 ] && pass "systemd-analyze verify udsbrokerd.socket udsbrokerd.service"
  finish
}

# Fails unless the unit file has the line (exactly, after trimming).
want() {
  local file=$1 line=$2
  if grep -qxF -- "$line" "$file"; then
    pass "$(basename "$file"): $line"
  else
    fail "$(basename "$file") lacks '$line'"
  fi
}

content() {
  local s=$SERVICE k=$SOCKET_UNIT d
  want "$s" "Type=notify"
  want "$s" "ExecStart=$SBINDIR/udsbrokerd -f -c $SYSCONFDIR/udsbroker/udsbrokerd.conf"
  want "$s" "ExecStartPre=$SBINDIR/udsbrokerd -t -c $SYSCONFDIR/udsbroker/udsbrokerd.conf"
  # Reload checks the file first, then signals: a rejected file fails the reload.
  want "$s" "ExecReload=$SBINDIR/udsbrokerd -t -c $SYSCONFDIR/udsbroker/udsbrokerd.conf"
  want "$s" 'ExecReload=/bin/kill -HUP $MAINPID'
  [ "$(grep '^ExecReload=' "$s" | head -n 1)" = \
    "ExecReload=$SBINDIR/udsbrokerd -t -c $SYSCONFDIR/udsbroker/udsbrokerd.conf" ] ||
    fail "$(basename "$s"): the first ExecReload= is not the config check"
  want "$s" "Environment=UDSBROKER_SOCKET=/run/udsbroker.sock"
  want "$s" "Requires=udsbrokerd.socket"
  want "$s" "User=udsbroker"
  want "$s" "Group=udsbroker"
  for d in NoNewPrivileges ProtectSystem=strict ProtectHome PrivateTmp PrivateDevices \
           MemoryDenyWriteExecute ProtectKernelTunables ProtectKernelModules \
           ProtectControlGroups RestrictNamespaces LockPersonality RestrictRealtime \
           RestrictSUIDSGID; do
    case $d in *=*) want "$s" "$d" ;; *) want "$s" "$d=yes" ;; esac
  done
  want "$s" "RestrictAddressFamilies=AF_UNIX"
  want "$s" "SystemCallFilter=@system-service"
  want "$s" "CapabilityBoundingSet="
  want "$k" "ListenStream=/run/udsbroker.sock"
  want "$k" "SocketMode=0660"
  want "$k" "SocketGroup=udsbroker"
  want "$k" "WantedBy=sockets.target"
  finish
}

security() {
  need systemd-analyze:systemd
  make_tmp
  stage_units
  # The score runs from 0 (locked down) to 10 (unprotected); --threshold is
  # in tenths. 1.5 leaves room for systemd to add checks; we score 0.5 today.
  local out
  out=$(cd "$tmp/units" && SYSTEMD_LOG_COLOR=0 systemd-analyze security --offline=true \
    --threshold=15 --no-pager ./udsbrokerd.service 2>&1)
  local rc=$?
  printf '%s\n' "$out" | grep -v '^✓' | grep -v '^ *$'
  [ "$rc" -eq 0 ] || fail "systemd-analyze security: exposure above 1.5 (exit $rc)"
  finish
}

sysusers() {
  need systemd-sysusers:systemd
  make_tmp
  mkdir -p "$tmp/root/etc"
  systemd-sysusers --root="$tmp/root" "$(realpath "$SYSUSERS")" ||
    die "systemd-sysusers rejected $SYSUSERS"
  grep -q '^udsbroker:x:[0-9]*:[0-9]*:[^:]*:/:[^:]*nologin$' "$tmp/root/etc/passwd" ||
    fail "no udsbroker system user with a nologin shell: $(cat "$tmp/root/etc/passwd")"
  grep -q '^udsbroker:x:[0-9]*:' "$tmp/root/etc/group" ||
    fail "no udsbroker group: $(cat "$tmp/root/etc/group")"
  local uid
  uid=$(awk -F: '$1 == "udsbroker" { print $3 }' "$tmp/root/etc/passwd")
  [ -n "$uid" ] && [ "$uid" -lt 1000 ] || fail "udsbroker uid '$uid' is not a system uid"
  [ "$failures" -eq 0 ] && pass "systemd-sysusers creates udsbroker:udsbroker (uid $uid)"
  finish
}

case ${1:-} in
  verify | content | security | sysusers) "$1" ;;
  *) die "usage: units.sh verify|content|security|sysusers" ;;
esac
