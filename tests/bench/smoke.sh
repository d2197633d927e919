#!/bin/bash
# meson test udsbench-smoke: a tiny correctness pass of udsbench (a few
# hundred messages per scenario) against a real udsbrokerd and against the
# relay, each on a socket in a temporary directory, plus the relay's fault
# hooks to prove udsbench fails on loss, duplicates and reordering; then
# the release-2 modes: --meta subscribers, reqrep (own topics and a shared
# group of responders), the share scenario, a TCP listener and lines
# listeners (Unix and TCP) when this udsbrokerd has [listener] sections, and
# reqrep against nats-server when it is installed.
# Correctness only: no timing is asserted.
#
# Needs UDSBROKERD, UDSBENCH and RELAY (meson sets them).
set -euo pipefail

: "${UDSBROKERD:?path of udsbrokerd}" "${UDSBENCH:?path of udsbench}" "${RELAY:?path of relay}"
for exe in "$UDSBROKERD" "$UDSBENCH" "$RELAY"; do
	[ -x "$exe" ] || { echo "smoke.sh: not an executable: $exe" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/udsbench-smoke.XXXXXX")
pids=()

# Stops what this script started, by PID, and removes the directory.
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT

# Stops one started process with SIGTERM; its exit status goes to $stopped.
stopped=0
stop() {
	stopped=0
	kill "$1" 2>/dev/null || true
	wait "$1" || stopped=$?
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# A TCP port nobody listens on (from /proc/net/tcp*), not one of "$@".
free_port() {
	local p i used
	used=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		while read -r _ a _; do [ "$a" = local_address ] || echo "$((16#${a##*:}))"; done)
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 30000))
		grep -x "$p" <<<"$used" >/dev/null && continue
		[[ " $* " == *" $p "* ]] && continue
		echo "$p"
		return
	done
	echo "smoke.sh: no free TCP port" >&2
	exit 1
}

# A small queue_limit so the --stall run below makes the broker drop. The
# listeners of release 2 when this udsbrokerd knows them (-t says).
tcp_port=$(free_port)
lines_port=$(free_port "$tcp_port")
listeners=$(printf '[listener tcp]\ntcp = 127.0.0.1:%s\n[listener lines]\nsocket = %s\nmode = lines\ntopic = bench/all\n[listener linestcp]\ntcp = 127.0.0.1:%s\nmode = lines\ntopic = bench/all\n' \
	"$tcp_port" "$dir/lines.sock" "$lines_port")
base_conf='[broker]\nmax_line = 128K\nqueue_limit = 1M\n[log]\nlevel = warn\n'
# shellcheck disable=SC2059 # the format is ours
printf "$base_conf%s\n" "$listeners" >"$dir/uds.conf"
if "$UDSBROKERD" -t -s "$dir/probe.sock" -c "$dir/uds.conf" >/dev/null 2>"$dir/probe.err"; then
	has_listeners=1
else
	has_listeners=0
	echo "SKIP: this udsbrokerd has no [listener] sections ($(head -n 1 "$dir/probe.err")):" \
		"no TCP or lines listener checks"
	# shellcheck disable=SC2059
	printf "$base_conf" >"$dir/uds.conf"
fi
"$UDSBROKERD" -f -s "$dir/uds.sock" -c "$dir/uds.conf" 2>"$dir/uds.log" &
uds_pid=$!
pids+=("$uds_pid")
"$RELAY" -s "$dir/relay.sock" 2>"$dir/relay.log" &
pids+=("$!")

failed=0
# Runs udsbench; a failure is reported and counted, the pass goes on. An
# open-loop rate not kept (exit 3) says the machine is busy, not that
# anything is wrong: it is reported, not counted.
bench() {
	local status=0
	echo "+ udsbench $*"
	"$UDSBENCH" -q --timeout 30 "$@" || status=$?
	if [ "$status" -eq 3 ]; then
		echo "(rate not kept: the machine is busy; not a failure)"
	elif [ "$status" -ne 0 ]; then
		echo "FAILED: udsbench $* (exit $status)"
		failed=$((failed + 1))
	fi
}

for t in uds relay; do
	s=(-t "$t" -s "$dir/$t.sock")
	bench "${s[@]}" -n 3 -m 300 fanout
	bench "${s[@]}" -n 2 -m 100 -S 64K fanout
	bench "${s[@]}" -p 3 -m 300 fanin
	bench "${s[@]}" -n 50 --wild 20 -m 300 topics
	bench "${s[@]}" -n 3 -r 2000 -m 200 latency
	bench "${s[@]}" -n 100 idle
done

# A slow consumer on the real broker: open loop, subscriber 0 stops reading
# for half a second; every loss must come with DROPPED (exit 0), none silent.
bench -t uds -s "$dir/uds.sock" -n 2 -r 20000 -m 40000 --stall 1000 latency

# Release 2. Delivery metadata: every delivery's meta must carry our own
# uid, gid and pid, then via=.
bench -t uds -s "$dir/uds.sock" -n 3 -m 300 --meta fanout
bench -t uds -s "$dir/uds.sock" -p 2 -m 300 --meta fanin
# Request/reply: one responder, four on their own topics, several in flight.
bench -t uds -s "$dir/uds.sock" -m 300 reqrep
bench -t uds -s "$dir/uds.sock" -n 4 -w 8 -m 400 reqrep
# Shared groups, unless this broker has none (it then takes $share/... for a
# plain filter and delivers nothing, which udsbench names).
status=0
"$UDSBENCH" -q --timeout 5 -t uds -s "$dir/uds.sock" -n 3 -m 300 share >"$dir/out" 2>"$dir/err" ||
	status=$?
if [ "$status" -ne 0 ] && grep -q 'without shared subscriptions' "$dir/err"; then
	echo "SKIP: this udsbrokerd has no shared subscriptions: no share checks"
else
	echo "+ udsbench -n 3 -m 300 share: exit $status"
	if [ "$status" -ne 0 ]; then
		echo "FAILED: share: $(head -c 300 "$dir/err")"
		failed=$((failed + 1))
	fi
	bench -t uds -s "$dir/uds.sock" -n 100 -m 1000 share
	bench -t uds -s "$dir/uds.sock" -n 4 -w 8 -m 400 --responders share reqrep
fi
if [ "$has_listeners" -eq 1 ]; then
	bench -t uds --listener tcp -s "127.0.0.1:$tcp_port" -n 3 -m 300 --meta fanout
	bench -t uds --listener tcp -s "127.0.0.1:$tcp_port" -n 2 -w 4 -m 300 reqrep
	bench -t uds -s "$dir/uds.sock" --pub-socket "$dir/lines.sock" --pub-mode lines -n 3 -m 300 \
		--meta fanout
	bench -t uds -s "$dir/uds.sock" --pub-socket "127.0.0.1:$lines_port" --pub-listener tcp \
		--pub-mode lines -p 2 -m 300 --meta fanin
fi
# NATS request/reply, when nats-server is here (it is a CI tool, .ci/run).
nats=$(command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } || true)
if [ -n "$nats" ]; then
	nats_port=$(free_port "$tcp_port" "$lines_port")
	"$nats" -a 127.0.0.1 -p "$nats_port" -l "$dir/nats.log" &
	nats_pid=$!
	pids+=("$nats_pid")
	# udsbench waits (bounded, --wait-ready) for the port to accept.
	bench -t nats -s "127.0.0.1:$nats_port" -m 300 reqrep
	bench -t nats -s "127.0.0.1:$nats_port" -n 4 -w 8 -m 400 --responders share reqrep
	stop "$nats_pid"
else
	echo "SKIP: nats-server is not installed: no NATS reqrep check"
fi

# The checker itself: the relay breaks the 100th line on purpose.
for fault in drop dup swap announce; do
	sock="$dir/fault-$fault.sock"
	"$RELAY" -s "$sock" -x "$fault" 2>>"$dir/relay.log" &
	pid=$!
	pids+=("$pid")
	status=0
	out=$("$UDSBENCH" -q --timeout 30 -t relay -s "$sock" -n 2 -m 300 fanout 2>"$dir/err") ||
		status=$?
	want=1
	[ "$fault" = announce ] && want=0
	echo "+ relay -x $fault: udsbench exit $status: $(head -c 300 "$dir/err")"
	if [ "$status" -ne "$want" ]; then
		echo "FAILED: relay -x $fault: udsbench exited $status, expected $want"
		failed=$((failed + 1))
	elif [ "$fault" = announce ] && ! grep -q ' dropped=2 ' <<<"$out"; then
		echo "FAILED: relay -x announce: expected dropped=2 in: $out"
		failed=$((failed + 1))
	fi
	stop "$pid"
done

stop "$uds_pid"
if [ "$stopped" -ne 0 ]; then
	echo "FAILED: udsbrokerd exited $stopped after SIGTERM (expected 0); its log:"
	cat "$dir/uds.log"
	failed=$((failed + 1))
fi
[ -s "$dir/uds.log" ] && { echo "udsbrokerd said:"; cat "$dir/uds.log"; }

if [ "$failed" -gt 0 ]; then
	echo "$failed check(s) failed"
	exit 1
fi
echo "all checks passed"
