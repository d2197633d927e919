#!/bin/bash
# Speed of `udsctl pub TOPIC < file` against writing the same PUB lines to
# the socket with socat, in the same run, against one running broker.
# Measured, not asserted: prints lines/s of each and the ratio.
# Usage: pub_speed.sh UDSBROKERD UDSCTL [LINES] [ROUNDS]
#   meson test -C BUILD --benchmark --suite client --verbose
set -eu
daemon=$1 udsctl=$2 lines=${3:-1000000} rounds=${4:-5}
command -v socat >/dev/null || { echo "socat is not installed: nothing to compare"; exit 77; }

dir=$(mktemp -d /tmp/udsb-speed.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

sock=$dir/b.sock
printf '[broker]\n' > "$dir/b.conf"
"$daemon" -f -c "$dir/b.conf" -s "$sock" 2> "$dir/log" &
pid=$!
for _ in $(seq 200); do "$udsctl" -s "$sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$udsctl" -s "$sock" ping >/dev/null

# Log-like lines of ~60 bytes; socat gets the same lines as PUB commands,
# then QUIT: the broker closes only after processing all of them, as
# udsctl exits only after its PING/PONG barrier.
awk -v n="$lines" 'BEGIN { for (i = 0; i < n; i++)
	printf "2026-11-24T23:49:42.%06d app[4242]: request %d served in 3 ms\n", i % 1000000, i }' \
	> "$dir/lines"
{ sed 's/^/PUB bench /' "$dir/lines"; echo QUIT; } > "$dir/pub"

now() { date +%s.%N; }
rate() { awk -v n="$lines" -v a="$1" -v b="$2" 'BEGIN { printf "%d", n / (b - a) }'; }
# socat as it comes (8 KiB blocks), and with blocks as large as udsctl's reads.
best_ctl=0 best_socat=0 best_big=0
for r in $(seq "$rounds"); do
	t0=$(now); "$udsctl" -s "$sock" pub bench < "$dir/lines"; t1=$(now)
	socat -t 60 - "UNIX-CONNECT:$sock" < "$dir/pub" > /dev/null; t2=$(now)
	socat -b 262144 -t 60 - "UNIX-CONNECT:$sock" < "$dir/pub" > /dev/null; t3=$(now)
	ctl=$(rate "$t0" "$t1") soc=$(rate "$t1" "$t2") big=$(rate "$t2" "$t3")
	echo "round $r: udsctl $ctl lines/s, socat $soc lines/s, socat -b 262144 $big lines/s"
	[ "$ctl" -gt "$best_ctl" ] && best_ctl=$ctl
	[ "$soc" -gt "$best_socat" ] && best_socat=$soc
	[ "$big" -gt "$best_big" ] && best_big=$big
done
published=$("$udsctl" -s "$sock" stats | awk '$1 == "published" { print $2 }')
want=$((3 * lines * rounds))
[ "$published" -eq "$want" ] || { echo "broker published $published, expected $want"; exit 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "best of $rounds: udsctl $best_ctl lines/s, socat $best_socat lines/s" \
	"(ratio $(ratio "$best_ctl" "$best_socat")), socat -b 262144 $best_big lines/s" \
	"(ratio $(ratio "$best_ctl" "$best_big"))"
