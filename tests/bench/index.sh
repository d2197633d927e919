#!/bin/bash
# index.sh — the subscription-index benchmarks (indexbench) against one or
# two udsbrokerd binaries, as one markdown table.
#
# usage: index.sh [--quick] [BUILD_DIR]
#
# --quick: small sizes (30,000 filters, 1,000 UNSUBs, 4,096 names), a check
# that the tool and script work, as `meson test indexbench-smoke` runs it.
#
# The daemon is $UDSBROKERD, else BUILD_DIR/src/daemon/udsbrokerd; the tool
# is $INDEXBENCH, else BUILD_DIR/tests/bench/indexbench. BUILD_DIR defaults
# to the build/ beside the source tree. With $UDSBROKERD_BEFORE as well,
# both daemons run and the table shows before and after side by side.
#
# Each scenario gets a fresh daemon (-f -c CONF -s SOCK, with
# max_subscriptions = 1000000) in a mktemp -d directory; the script waits
# (bounded) until its socket answers a PING, runs `indexbench unsub` or
# `indexbench collide --both`, stops the daemon by PID (SIGTERM, then
# SIGKILL if it has not exited within $STOP_WAIT seconds, default 60), and
# removes the directory. indexbench waits until the daemon has dropped its
# clients' subscriptions (close_ms), so the daemon is idle when stopped. $INDEXBENCH_TIMEOUT (default 600) bounds each
# indexbench run. Figures only, no pass/fail on speed; on a shared machine
# they are rough.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
unsub_args=()
collide_args=()
if [ "${1:-}" = --quick ]; then
	unsub_args=(-n 30000 -u 1000)
	collide_args=(-n 4096)
	shift
fi
build=${1:-$here/../../build}
UDSBROKERD=${UDSBROKERD:-$build/src/daemon/udsbrokerd}
INDEXBENCH=${INDEXBENCH:-$build/tests/bench/indexbench}
UDSBROKERD_BEFORE=${UDSBROKERD_BEFORE:-}
INDEXBENCH_TIMEOUT=${INDEXBENCH_TIMEOUT:-600}
STOP_WAIT=${STOP_WAIT:-60}

for b in "$UDSBROKERD" "$INDEXBENCH" ${UDSBROKERD_BEFORE:+"$UDSBROKERD_BEFORE"}; do
	if [ ! -x "$b" ]; then
		echo "index.sh: $b is not an executable (set UDSBROKERD/INDEXBENCH or give BUILD_DIR)" >&2
		exit 64
	fi
done

# Two client connections are all indexbench needs; raise the limit anyway
# if it is tiny, as a daemon with many subscriptions should not care.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 1024 ]; then
	ulimit -n 1024 2>/dev/null || true
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/udsb-index.XXXXXX")
printf '[broker]\nmax_subscriptions = 1000000\n' >"$tmp/conf"
dpid=

# True while process $1 exists and is not a zombie.
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Stops the running daemon: SIGTERM, bounded wait, SIGKILL.
stop_daemon() {
	local i st=0
	[ -n "$dpid" ] || return 0
	kill -TERM "$dpid" 2>/dev/null || true
	for ((i = 0; i < STOP_WAIT * 10; i++)); do
		alive "$dpid" || break
		sleep 0.1
	done
	if alive "$dpid"; then
		echo "index.sh: daemon $dpid still running $STOP_WAIT s after SIGTERM; killed" >&2
		kill -KILL "$dpid" 2>/dev/null || true
	fi
	wait "$dpid" 2>/dev/null || st=$?
	[ "$st" -eq 0 ] || echo "index.sh: daemon $dpid exited with status $st" >&2
	dpid=
}

cleanup() {
	stop_daemon
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts daemon $1 on $tmp/sock and waits until it answers a PING.
start_daemon() {
	local deadline=$((SECONDS + 30)) # generous: sanitizer builds on a loaded machine
	rm -f "$tmp/sock"
	"$1" -f -c "$tmp/conf" -s "$tmp/sock" 2>>"$tmp/daemon.log" &
	dpid=$!
	while ((SECONDS < deadline)); do
		if "$INDEXBENCH" -s "$tmp/sock" -t 2 ping 2>/dev/null; then
			return 0
		fi
		if ! alive "$dpid"; then
			echo "index.sh: $1 exited at start; its log:" >&2
			cat "$tmp/daemon.log" >&2
			exit 69
		fi
		sleep 0.05
	done
	echo "index.sh: $1 does not answer on $tmp/sock after 30 s" >&2
	exit 69
}

declare -A res=()

# Runs indexbench scenario args... on a fresh daemon $2, into res[$1,key].
run() {
	local label=$1 daemon=$2 st=0 line w
	shift 2
	start_daemon "$daemon"
	echo "index.sh: $label: indexbench $*" >&2
	"$INDEXBENCH" -q -t "$INDEXBENCH_TIMEOUT" -s "$tmp/sock" "$@" >"$tmp/out" 2>"$tmp/err" || st=$?
	cat "$tmp/err" >&2
	sed "s/^/index.sh: $label: /" "$tmp/out" >&2
	stop_daemon
	if [ "$st" -ne 0 ]; then
		echo "index.sh: $label: indexbench $1 exited $st" >&2
		res[$label,$1]="exit $st"
		return 0
	fi
	while read -r line; do
		local prefix=
		for w in $line; do
			case $w in
			scenario=collide-ratio) prefix=ratio. ;;
			names=random) prefix=random. ;;
			names=colliding) prefix=colliding. ;;
			esac
		done
		for w in $line; do
			res[$label,$prefix${w%%=*}]=${w#*=}
		done
	done <"$tmp/out"
}

labels=()
if [ -n "$UDSBROKERD_BEFORE" ]; then
	labels+=(before)
	run before "$UDSBROKERD_BEFORE" unsub ${unsub_args[@]+"${unsub_args[@]}"}
	run before "$UDSBROKERD_BEFORE" collide --both ${collide_args[@]+"${collide_args[@]}"}
fi
labels+=(after)
run after "$UDSBROKERD" unsub ${unsub_args[@]+"${unsub_args[@]}"}
run after "$UDSBROKERD" collide --both ${collide_args[@]+"${collide_args[@]}"}

# One table row: text, then key per label (missing: "-", or the exit status).
row() {
	local text=$1 key=$2 l v
	printf '| %s |' "$text"
	for l in "${labels[@]}"; do
		v=${res[$l,$key]:-}
		if [ -z "$v" ]; then
			if [[ $key == ratio.* || $key == random.* || $key == colliding.* ]]; then
				v=${res[$l,collide]:--}
			else
				v=${res[$l,unsub]:--}
			fi
		fi
		printf ' %s |' "$v"
	done
	printf '\n'
}

echo
if [ -n "$UDSBROKERD_BEFORE" ]; then
	echo "before: $UDSBROKERD_BEFORE  "
	echo "after: $UDSBROKERD"
	echo
	echo "| measure | before | after |"
	echo "|---|---:|---:|"
else
	echo "daemon: $UDSBROKERD"
	echo
	echo "| measure | value |"
	echo "|---|---:|"
fi
l=${labels[-1]}
row "unsub: setup, ${res[$l,filters]:-N} SUBs (s)" setup_s
row "unsub: ${res[$l,unsubs]:-U} UNSUBs (s)" unsub_s
row "unsub: idle PING max (ms)" ping_max_ms
row "unsub: idle PING p99 (ms)" ping_p99_ms
row "unsub: pings" pings
row "unsub: idle PING once the client left (ms)" close_ms
row "collide: ${res[$l,random.count]:-N} random SUBs (s)" random.sub_s
row "collide: random, idle PING max (ms)" random.ping_max_ms
row "collide: random, idle PING p99 (ms)" random.ping_p99_ms
row "collide: ${res[$l,colliding.count]:-N} colliding SUBs (s)" colliding.sub_s
row "collide: colliding, idle PING max (ms)" colliding.ping_max_ms
row "collide: colliding, idle PING p99 (ms)" colliding.ping_p99_ms
row "collide: colliding, pings" colliding.pings
row "collide: colliding, idle PING once the client left (ms)" colliding.close_ms
row "collide: colliding / random" ratio.ratio
echo
echo "Targets (issue): idle PING <= 50 ms during the UNSUBs; colliding/random <= 2 and"
echo "idle PING <= 100 ms during the colliding SUBs. Machine: $(nproc) cores, shared;"
echo "figures are rough, one run each."
