#!/usr/bin/env bash
# instr.sh — user-space instructions per delivery of udsbrokerd, counted by
# callgrind (this machine's VM has no hardware counters for perf stat).
#
#   tests/bench/instr.sh [BUILD_DIR]      (default build)
#
# The daemon is $UDSBROKERD or BUILD_DIR/src/daemon/udsbrokerd, the load
# generator $UDSBENCH or BUILD_DIR/tests/bench/udsbench. For each fan-out
# (1->1, 1->10, 1->100; override with NS="1 10") it runs the daemon under
# callgrind twice, with M1 and M2 messages of 64 B (SIZE), and prints
# (Ir(M2) - Ir(M1)) / (deliveries(M2) - deliveries(M1)): the cost of one more
# delivery, without start-up, connections and subscriptions. Counts do not
# depend on how busy the machine is. With TOP=K it also prints, per fan-out,
# the K functions with the most instructions per delivery (self cost, the
# same difference of the two runs), from callgrind_annotate. With
# UNRELATED="E W" another client holds E exact filters and W wildcard
# filters that never match the benchmark's topic (bench/u/K and
# bench/+/K/never) before it starts: the per-delivery cost must not depend
# on them (python3 holds them).
set -euo pipefail

build=${1:-build}
UDSBROKERD=${UDSBROKERD:-$build/src/daemon/udsbrokerd}
UDSBENCH=${UDSBENCH:-$build/tests/bench/udsbench}
NS=${NS:-"1 10 100"}
TOP=${TOP:-0}
UNRELATED=${UNRELATED:-}
SIZE=${SIZE:-64}
M1=${M1:-20000}
M2=${M2:-120000}
command -v valgrind >/dev/null || { echo "instr.sh: valgrind is not installed" >&2; exit 69; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/udsb-instr.XXXXXX")
pid=
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
printf '[broker]\nmax_line = 256K\nqueue_limit = 8M\nmax_subscriptions = 20000\n[log]\nlevel = warn\n' >"$tmp/conf"

# Starts a client holding $1 exact and $2 wildcard filters that never
# match, and waits until the broker confirmed them all.
hold_unrelated() { # exact wild
	python3 - "$tmp/sock" "$1" "$2" >"$tmp/holder" <<'PY' &
import socket, sys, time
path, exact, wild = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(600):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(path); break
    except OSError:
        time.sleep(0.1)
lines = [b"SUB bench/u/%d\n" % k for k in range(exact)]
lines += [b"SUB bench/+/%d/never\n" % k for k in range(wild)]
s.sendall(b"".join(lines) + b"PING held\n")
buf = b""
while not buf.endswith(b"PONG held\n"):
    buf += s.recv(65536)
assert buf.count(b"OK\n") == exact + wild, buf[:200]
print("ready", flush=True)
time.sleep(3600)
PY
	holder=$!
	for _ in $(seq 1200); do grep -q ready "$tmp/holder" && return; sleep 0.1; done
	echo "instr.sh: the unrelated filters were not confirmed" >&2
	exit 1
}

# Total instructions of one daemon run publishing m messages to n subscribers.
run() { # n m
	local out=$tmp/cg.$1.$2
	rm -f "$tmp/sock"
	valgrind --tool=callgrind --callgrind-out-file="$out" "$UDSBROKERD" -f -c "$tmp/conf" \
		-s "$tmp/sock" 2>"$tmp/vg.log" &
	pid=$!
	[ -n "$UNRELATED" ] && hold_unrelated $UNRELATED
	"$UDSBENCH" -q -t uds -s "$tmp/sock" --wait-ready 60 --timeout 120 --pid "$pid" \
		fanout -n "$1" -m "$2" -S "$SIZE" >"$tmp/bench.$1.$2"
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	holder=
	kill -TERM "$pid"
	wait "$pid" || true
	pid=
	grep -m1 '^summary:' "$out" | awk '{ print $2 }'
}

# Self instructions per function of one run: "count name" lines.
self_costs() { # callgrind-out
	callgrind_annotate --inclusive=no --auto=no --threshold=100 "$1" 2>/dev/null |
		sed -n 's/^ *\([0-9,][0-9,]*\) .*[^ ]* *[^ ]*:\([^ ]*\) .*$/\1 \2/p; s/^ *\([0-9,][0-9,]*\) .*[^ ]*:\([^ ]*\)$/\1 \2/p' |
		tr -d ,
}

# The TOP functions by the difference of their counts between two runs.
top() { # n m1-out m2-out
	awk -v n="$1" -v d="$(( (M2 - M1) * $1 ))" -v top="$TOP" '
		FNR == 1 { f++ }
		f == 1 { a[$2] += $1; next }
		{ b[$2] += $1 }
		END {
			for (k in b) { v = (b[k] - a[k]) / d; if (v > 0.005) printf "%.2f %s\n", v, k }
		}' <(self_costs "$2") <(self_costs "$3") | sort -rn | head -n "$TOP" |
		awk -v n="$1" 'BEGIN { print "\n1->" n ": instructions per delivery, by function (self)" }
			{ printf "  %7s  %s\n", $1, $2 }'
}

echo "| fan-out | instructions per delivery |"
echo "|---|---|"
for n in $NS; do
	a=$(run "$n" "$M1")
	b=$(run "$n" "$M2")
	awk -v a="$a" -v b="$b" -v n="$n" -v m1="$M1" -v m2="$M2" \
		'BEGIN { printf "| 1->%d | %.0f |\n", n, (b - a) / ((m2 - m1) * n) }'
	[ "$TOP" -gt 0 ] && top "$n" "$tmp/cg.$n.$M1" "$tmp/cg.$n.$M2" >>"$tmp/top"
done
[ -s "$tmp/top" ] && cat "$tmp/top"
exit 0
