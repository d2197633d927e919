#!/bin/bash
# meson test udsbench-smoke: a tiny correctness pass of udsbench (a few
# hundred messages per scenario) against a real udsbrokerd and against the
# relay, each on a socket in a temporary directory, plus the relay's fault
# hooks to prove udsbench fails on loss, duplicates and reordering.
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

# A small queue_limit so the --stall run below makes the broker drop.
printf '[broker]\nmax_line = 128K\nqueue_limit = 1M\n[log]\nlevel = warn\n' >"$dir/uds.conf"
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
