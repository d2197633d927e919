#!/bin/bash
# Forwarding speed of a bridge, local -> remote, against mosquitto_pub
# feeding the same mosquitto in the same run: MESSAGES lines published
# (udsctl pub into a udsbrokerd whose [bridge] forwards them; mosquitto_pub
# -l straight to mosquitto), timed until a mosquitto_sub on the remote has
# received all of them (or nothing more came for 2 s: the count of what
# arrived is printed too). QoS 0 and QoS 1. Measured, not asserted: prints
# messages/s of each and the ratio (best of ROUNDS).
# Usage: bridge.sh UDSBROKERD UDSCTL [MESSAGES] [ROUNDS]
#   meson test -C BUILD --benchmark --suite bridge --verbose
set -eu
daemon=$1 udsctl=$2 n=${3:-200000} rounds=${4:-3}
for p in mosquitto mosquitto_pub mosquitto_sub; do
	command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
		{ echo "$p is not installed (Debian mosquitto, mosquitto-clients): nothing to compare"; exit 77; }
done
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
printf '[broker]\n[bridge probe]\naddress = mqtt://127.0.0.1:1\nout = x\n' > /tmp/udsb-bridge-probe.$$
if ! "$daemon" -t -c /tmp/udsb-bridge-probe.$$ >/dev/null 2>&1; then
	rm -f /tmp/udsb-bridge-probe.$$
	echo "udsbrokerd was built without the mqtt-bridge feature: nothing to measure"
	exit 77
fi
rm -f /tmp/udsb-bridge-probe.$$

dir=$(mktemp -d /tmp/udsb-bridge-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nuser %s\n' \
	"$port" "$(id -un)" > "$dir/mosquitto.conf"
"$mosquitto" -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do mosquitto_pub -p "$port" -t probe -m x 2>/dev/null && break; sleep 0.05; done

# One udsbrokerd per QoS, each bridged to the mosquitto.
for q in 0 1; do
	printf '[broker]\nsys_interval = 0\n[bridge m]\naddress = mqtt://127.0.0.1:%s\nclient_id = bench-qos%s\nout = bench/#\nqos = %s\nqueue_limit = 256M\n' \
		"$port" "$q" "$q" > "$dir/b$q.conf"
	"$daemon" -f -c "$dir/b$q.conf" -s "$dir/b$q.sock" 2> "$dir/b$q.log" &
	pids+=($!)
	for _ in $(seq 200); do
		"$udsctl" -s "$dir/b$q.sock" stats 2>/dev/null | grep -q '^bridge.m.state connected' && break
		sleep 0.05
	done
done

# Log-like lines of ~60 bytes.
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
	printf "2026-11-24T23:49:42.%06d app[4242]: request %d served in 3 ms\n", i % 1000000, i }' \
	> "$dir/lines"

now() { date +%s.%N; }
# Starts a mosquitto_sub on bench/#; the subscription is in place once it
# has printed a probe.
start_sub() {
	: > "$dir/sub.out"
	timeout 600 mosquitto_sub -p "$port" -q "$1" -t 'bench/data' -t 'bench/probe' \
		> "$dir/sub.out" &
	sub=$!
	for _ in $(seq 200); do
		mosquitto_pub -p "$port" -t bench/probe -m probe
		[ -s "$dir/sub.out" ] && return
		sleep 0.05
	done
	echo "mosquitto_sub never subscribed"; exit 1
}
# Waits until the subscriber has all n messages, or got nothing new for 2 s
# (mosquitto_pub -l at QoS 1 is known to exit before all its messages
# went); prints "RECEIVED SECONDS" (SECONDS from $1 to the last message).
finish_sub() {
	local last=-1 size t_last quiet=0 count want
	want=$(($(stat -c %s "$dir/lines") + 6)) # and at least one probe
	t_last=$(now)
	while :; do
		size=$(stat -c %s "$dir/sub.out")
		if [ "$size" -ne "$last" ]; then last=$size t_last=$(now) quiet=0; fi
		[ "$size" -ge "$want" ] && break
		quiet=$((quiet + 1))
		[ "$quiet" -ge 40 ] && break
		sleep 0.05
	done
	kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null || true
	count=$(grep -c -v '^probe$' "$dir/sub.out" || true)
	awk -v c="$count" -v a="$1" -v b="$t_last" 'BEGIN { printf "%d %.3f\n", c, b - a }'
}

declare -A best lost
for q in 0 1; do best[direct$q]=0 best[bridge$q]=0 lost[direct$q]=0 lost[bridge$q]=0; done
for r in $(seq "$rounds"); do
	for q in 0 1; do
		start_sub "$q"
		t0=$(now)
		mosquitto_pub -p "$port" -q "$q" -l -t bench/data < "$dir/lines"
		read -r dn ds < <(finish_sub "$t0")
		start_sub "$q"
		t0=$(now)
		"$udsctl" -s "$dir/b$q.sock" pub bench/data < "$dir/lines"
		read -r bn bs < <(finish_sub "$t0")
		d=$(awk -v c="$dn" -v s="$ds" 'BEGIN { printf "%d", c / s }')
		b=$(awk -v c="$bn" -v s="$bs" 'BEGIN { printf "%d", c / s }')
		echo "round $r, QoS $q: mosquitto_pub $d msg/s ($dn of $n arrived)," \
			"bridge $b msg/s ($bn of $n arrived)"
		[ "$d" -gt "${best[direct$q]}" ] && best[direct$q]=$d
		[ "$b" -gt "${best[bridge$q]}" ] && best[bridge$q]=$b
		lost[direct$q]=$((lost[direct$q] + n - dn)) lost[bridge$q]=$((lost[bridge$q] + n - bn))
	done
done
for q in 0 1; do
	"$udsctl" -s "$dir/b$q.sock" stats | grep '^bridge\.m\.' | tr '\n' ' '
	echo
done
echo "best of $rounds, $n messages of ~60 bytes, to a mosquitto_sub on the remote:"
echo "| QoS | mosquitto_pub -l msg/s | bridge (udsctl pub) msg/s | ratio | lost: mosquitto_pub, bridge |"
echo "|---|---|---|---|---|"
for q in 0 1; do
	echo "| $q | ${best[direct$q]} | ${best[bridge$q]} |" \
		"$(awk -v a="${best[bridge$q]}" -v b="${best[direct$q]}" 'BEGIN { printf "%.2f", a / b }') |" \
		"${lost[direct$q]}, ${lost[bridge$q]} |"
done
