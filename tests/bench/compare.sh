#!/bin/bash
# compare.sh — udsbrokerd against the reference relay and Redis, in one run.
#
# usage: compare.sh [--quick] [--reps N] [BUILD_DIR]
#
# Binaries come from $UDSBROKERD, $UDSBENCH and $RELAY, or else from
# BUILD_DIR (src/daemon/udsbrokerd, tests/bench/udsbench, tests/bench/relay).
# Redis is $REDIS_SERVER or redis-server on PATH; without it the redis column
# is skipped and the script says so (Debian: apt-get install redis-server).
#
# Starts its own relay, udsbrokerd and redis-server, each on a socket in a
# temporary directory; runs every scenario N times (default 3; --quick: once,
# and smaller), interleaved across targets whose order rotates per round;
# stops what it started, by PID; prints one markdown table of medians with
# the ratios uds/redis and uds/relay, then the issue-7 goals.
# Each round starts fresh processes, so the idle RSS figures are not
# flattered by memory freed by earlier scenarios.
set -euo pipefail

quick=0
reps=3
build=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; reps=1 ;;
	--reps) reps=$2; shift ;;
	-h | --help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
	-*) echo "compare.sh: unknown option $1" >&2; exit 64 ;;
	*) build=$1 ;;
	esac
	shift
done

# Finds a binary: from the environment, else from the build directory.
find_bin() { # var path-in-build
	local v=${!1:-}
	if [ -z "$v" ] && [ -n "$build" ]; then
		v=$build/$2
	fi
	if [ -z "$v" ] || [ ! -x "$v" ]; then
		echo "compare.sh: cannot find $1 (set \$$1 or give the build directory)" >&2
		exit 64
	fi
	printf '%s' "$v"
}
UDSBROKERD=$(find_bin UDSBROKERD src/daemon/udsbrokerd)
UDSBENCH=$(find_bin UDSBENCH tests/bench/udsbench)
RELAY=$(find_bin RELAY tests/bench/relay)
REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}

targets=(uds relay)
if [ -n "$REDIS_SERVER" ]; then
	targets+=(redis)
else
	echo "compare.sh: redis-server is not installed: the redis column is skipped" \
		"(Debian: apt-get install redis-server)" >&2
fi

# 10,000 idle clients plus the topics scenario need descriptors.
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 65536 ]; then
	ulimit -Hn 65536 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)"
# 20,000 clients as the issue asks, unless the descriptor limit (which
# cannot always be raised in a container) leaves less room.
max_clients=20000
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 20100 ]; then
	max_clients=$(($(ulimit -n) - 100))
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/udsbench-compare.XXXXXX")
mkdir "$tmp/res"
: >"$tmp/notes"
declare -A pid=()

# True while process $1 exists and is not a zombie.
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Stops target $1 (SIGTERM, then SIGKILL after 10 s) and notes anything odd.
stop_target() {
	local t=$1 p=${pid[$1]:-} i st=0
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		alive "$p" || break
		sleep 0.05
	done
	if alive "$p"; then
		echo "- $t (pid $p) did not exit within 10 s of SIGTERM; killed" >>"$tmp/notes"
		kill -KILL "$p" 2>/dev/null || true
	fi
	wait "$p" 2>/dev/null || st=$?
	# The relay dies of SIGTERM (143); the daemon and Redis exit 0.
	if [ "$t" != relay ] && [ "$st" -ne 0 ]; then
		echo "- $t exited with status $st after SIGTERM (expected 0)" >>"$tmp/notes"
	fi
	pid[$t]=
}

cleanup() {
	local t
	for t in "${!pid[@]}"; do
		stop_target "$t"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts target $1 on $tmp/$1.sock and waits (bounded) for the socket.
start_target() {
	local t=$1 sock=$tmp/$1.sock i
	rm -f "$sock"
	case $t in
	uds)
		printf '[broker]\nmax_clients = %s\nmax_line = 128K\n[log]\nlevel = warn\n' \
			"$max_clients" >"$tmp/uds.conf"
		"$UDSBROKERD" -f -s "$sock" -c "$tmp/uds.conf" 2>>"$tmp/uds.log" &
		;;
	relay)
		"$RELAY" -s "$sock" 2>>"$tmp/relay.log" &
		;;
	redis)
		"$REDIS_SERVER" --port 0 --unixsocket "$sock" --unixsocketperm 700 --save '' \
			--appendonly no --daemonize no --maxclients 20000 \
			--logfile "$tmp/redis.log" &
		;;
	esac
	pid[$t]=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && return 0
		if ! alive "${pid[$t]}"; then
			echo "compare.sh: $t exited at start; its log:" >&2
			cat "$tmp/$t.log" >&2 || true
			exit 69
		fi
		sleep 0.05
	done
	echo "compare.sh: $t did not create $sock within 5 s" >&2
	exit 69
}

start_all() {
	local t
	for t in "${targets[@]}"; do
		start_target "$t"
	done
}

stop_all() {
	local t
	for t in "${targets[@]}"; do
		stop_target "$t"
	done
}

# Busy share of all CPUs over one second, in percent (others' load).
machine_busy() {
	local a b
	read -ra a </proc/stat
	sleep 1
	read -ra b </proc/stat
	awk -v u="$((b[1] + b[2] + b[3] + b[6] + b[7] + b[8] - a[1] - a[2] - a[3] - a[6] - a[7] - a[8]))" \
		-v i="$((b[4] + b[5] - a[4] - a[5]))" 'BEGIN { printf "%.0f", 100 * u / (u + i) }'
}

# The value of key $1 in result file $2.
kv() {
	local w
	for w in $(<"$2"); do
		if [ "${w%%=*}" = "$1" ]; then
			printf '%s' "${w#*=}"
			return
		fi
	done
}

runs=0
# Runs one udsbench: scenario-name target round args...
run() {
	local sc=$1 t=$2 rep=$3 status=0 out
	shift 3
	out=$tmp/res/$sc.$t.$rep
	"$UDSBENCH" -q --timeout 30 -t "$t" -s "$tmp/$t.sock" --pid "${pid[$t]}" "$@" \
		>"$out.out" 2>"$out.err" || status=$?
	runs=$((runs + 1))
	if [ "$status" -ne 0 ]; then
		echo "- $sc on $t, round $rep: udsbench exit $status: $(grep -v '^udsbench: note' "$out.err" | head -n 3 | tr '\n' ' ')" \
			>>"$tmp/notes"
		# exit 1 is a broken contract, 3 an open-loop rate not kept: say which.
		[ -s "$out.out" ] || echo "status=FAIL" >"$out.out"
	elif [ -s "$out.err" ]; then
		echo "- $sc on $t, round $rep: $(head -n 2 "$out.err" | tr '\n' ' ')" >>"$tmp/notes"
	fi
	printf 'compare.sh: %-16s %-5s round %s: %s\n' "$sc" "$t" "$rep" "$(cut -c 1-150 "$out.out")" >&2
	if ! alive "${pid[$t]}"; then
		echo "- $t died during $sc round $rep; restarted. Log tail: $(tail -n 3 "$tmp/$t.log" 2>/dev/null | tr '\n' ' ')" \
			>>"$tmp/notes"
		wait "${pid[$t]}" 2>/dev/null || true
		start_target "$t"
	fi
}

# Scenario name | what it shows | udsbench arguments.
if [ "$quick" -eq 1 ]; then
	scenarios=(
		"fanout-1x1-64|msgs_per_s|-n 1 -S 64 -m 100000 fanout"
		"fanout-1x10-64|deliveries_per_s|-n 10 -S 64 -m 20000 fanout"
		"fanout-1x100-64|deliveries_per_s|-n 100 -S 64 -m 20000 fanout"
		"fanout-1x10-16K|bytes_per_s|-n 10 -S 16K -m 5000 fanout"
		"fanout-1x10-64K|bytes_per_s|-n 10 -S 64K -m 1000 fanout"
		"fanin-10x1-64|msgs_per_s|-p 10 -S 64 -m 100000 fanin"
		"topics|msgs_per_s|-n 1000 --wild 100 -m 20000 topics"
	)
	idle_n=1000
	lat_secs=1
else
	scenarios=(
		"fanout-1x1-64|msgs_per_s|-n 1 -S 64 -m 1000000 fanout"
		"fanout-1x10-64|deliveries_per_s|-n 10 -S 64 -m 200000 fanout"
		"fanout-1x100-64|deliveries_per_s|-n 100 -S 64 -m 200000 fanout"
		"fanout-1x10-16K|bytes_per_s|-n 10 -S 16K -m 50000 fanout"
		"fanout-1x10-64K|bytes_per_s|-n 10 -S 64K -m 10000 fanout"
		"fanin-10x1-64|msgs_per_s|-p 10 -S 64 -m 1000000 fanin"
		"topics|msgs_per_s|-n 10000 --wild 1000 -m 200000 topics"
	)
	idle_n=10000
	lat_secs=3
fi

busy_before=$(machine_busy)
started=$(date '+%F %T')

# Rounds: idle on fresh targets; then, on fresh targets again (10,000
# clients coming and going can leave a heap that slows what follows), every
# scenario on every target.
for ((r = 1; r <= reps; r++)); do
	n=${#targets[@]}
	order=()
	for ((i = 0; i < n; i++)); do
		order+=("${targets[$(((i + r - 1) % n))]}")
	done
	start_all
	for t in "${order[@]}"; do
		run idle "$t" "$r" -n "$idle_n" idle
	done
	stop_all
	start_all
	for s in "${scenarios[@]}"; do
		IFS='|' read -r name _ args <<<"$s"
		for t in "${order[@]}"; do
			# shellcheck disable=SC2086 # args is a word list
			run "$name" "$t" "$r" $args
		done
	done
	stop_all
done

# Median of key $3 over the successful rounds of scenario $1 on target $2.
median() {
	local f v vals=()
	for f in "$tmp/res/$1.$2".*.out; do
		[ -e "$f" ] || continue
		[ "$(kv status "$f")" = ok ] || continue
		v=$(kv "$3" "$f")
		[ -n "$v" ] && vals+=("$v")
	done
	[ ${#vals[@]} -gt 0 ] || return 0
	printf '%s\n' "${vals[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# Latency at half the relay's best fan-out 1->10 rate, 10 subscribers.
relay_rate=$(median fanout-1x10-64 relay msgs_per_s)
if [ -z "$relay_rate" ]; then
	rate=10000
	echo "- no relay fanout 1→10 result: latency measured at 10,000 msgs/s" >>"$tmp/notes"
else
	rate=$(awk -v r="$relay_rate" 'BEGIN { printf "%.0f", r / 2 }')
fi
# The relay's rate may be beyond what the brokers sustain (then both are
# "overload" and p99 says nothing), so latency is also measured at half the
# slowest broker's fan-out 1->10 rate, where every target keeps up.
rate_low=
for t in uds redis; do
	v=$(median fanout-1x10-64 "$t" msgs_per_s)
	[ -n "$v" ] || continue
	v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v / 2 }')
	if [ -z "$rate_low" ] || [ "$v" -lt "$rate_low" ]; then
		rate_low=$v
	fi
done
rate_low=${rate_low:-$rate}
start_all
for ((r = 1; r <= reps; r++)); do
	for ((i = 0; i < ${#targets[@]}; i++)); do
		t=${targets[$(((i + r - 1) % ${#targets[@]}))]}
		run latency-10 "$t" "$r" -n 10 -S 64 -r "$rate" -m "$((rate * lat_secs))" latency
		run latency-10-low "$t" "$r" -n 10 -S 64 -r "$rate_low" -m "$((rate_low * lat_secs))" \
			latency
	done
done
stop_all
busy_after=$(machine_busy)

# Table cells.
fmt() { # value key
	if [ -z "$1" ]; then
		printf -- '-'
		return
	fi
	awk -v v="$1" -v k="$2" 'BEGIN {
		if (k ~ /_per_s$/) {
			if (v >= 1e9) printf "%.2f G", v / 1e9
			else if (v >= 1e6) printf "%.2f M", v / 1e6
			else if (v >= 1e3) printf "%.1f k", v / 1e3
			else printf "%.0f", v
		} else if (k ~ /_us$/) printf "%.1f", v
		else if (k ~ /cpu$/) printf "%.0f%%", v
		else if (k ~ /_kb$/) printf "%.1f MiB", v / 1024
		else if (k == "ratio") printf "%.2f", v
		else printf "%s", v }'
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) printf "-"; else printf "%.2f", a / b }'
}
label() {
	case $1 in
	msgs_per_s) echo "msgs/s" ;;
	deliveries_per_s) echo "deliveries/s" ;;
	bytes_per_s) echo "payload bytes/s" ;;
	p50_us | p99_us | p999_us | max_us) echo "${1%_us} µs" ;;
	rss_growth_kb) echo "RSS growth" ;;
	bench_cpu) echo "udsbench CPU" ;;
	target_cpu) echo "target CPU" ;;
	dropped) echo "dropped (announced)" ;;
	*) echo "$1" ;;
	esac
}
# Rounds of scenario $1 on target $2 that did not end ok, and how the first
# of them ended (FAIL: contract broken; overload: rate not kept).
failures() {
	local f st n=0 first=
	for f in "$tmp/res/$1.$2".*.out; do
		[ -e "$f" ] || continue
		st=$(kv status "$f")
		if [ "$st" != ok ]; then
			n=$((n + 1))
			first=${first:-${st:-FAIL}}
		fi
	done
	echo "$n $first"
}
row() { # scenario-label scenario key
	local t cells=() v f u rl rd
	for t in uds relay redis; do
		if [[ " ${targets[*]} " != *" $t "* ]]; then
			cells+=("n/a")
			continue
		fi
		v=$(median "$2" "$t" "$3")
		read -r f why <<<"$(failures "$2" "$t")"
		if [ "$f" -gt 0 ] && [ -z "$v" ]; then
			cells+=("$why")
		elif [ "$f" -gt 0 ]; then
			cells+=("$(fmt "$v" "$3") ($f $why)")
		else
			cells+=("$(fmt "$v" "$3")")
		fi
	done
	u=$(median "$2" uds "$3")
	rl=$(median "$2" relay "$3")
	rd=$(median "$2" redis "$3")
	case $3 in
	bench_cpu | target_cpu) rd=; rl= ;; # context, not a comparison
	esac
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(label "$3")" "${cells[0]}" \
		"${cells[1]}" "${cells[2]}" "$(ratio "$u" "$rd")" "$(ratio "$u" "$rl")"
}

echo
echo "## udsbroker comparison ($([ "$quick" -eq 1 ] && echo quick || echo full), medians of $reps round(s))"
echo
echo "Started $started; $(nproc) CPUs; $(uname -r); udsbrokerd $("$UDSBROKERD" -V 2>&1 | head -n 1);" \
	"redis: $([ -n "$REDIS_SERVER" ] && "$REDIS_SERVER" --version | cut -d' ' -f3 || echo none)."
echo "Descriptors: $(ulimit -n); udsbrokerd max_clients = $max_clients, max_line = 128K (so 64 KiB payloads fit)."
echo "Other load on the machine (busy share of all CPUs in the second before/after):" \
	"${busy_before}% / ${busy_after}%."
if [ "$busy_before" -gt 20 ] || [ "$busy_after" -gt 20 ]; then
	echo
	echo "**WARNING: the machine was busy with other work: these figures are not comparable with a"
	echo "quiet run, and the ratios between targets measured at different moments are noisy.**"
fi
echo "Latency rate: $rate msgs/s (half the relay's fan-out 1→10 64 B msgs/s) and $rate_low msgs/s" \
	"(half the slowest broker's), 10 subscribers, open loop, $lat_secs s; 'overload': the rate was" \
	"not kept (more than 1 s behind schedule)."
echo
echo "| scenario | metric | uds | relay | redis | uds/redis | uds/relay |"
echo "|---|---|---|---|---|---|---|"
row "idle ${idle_n} subscribed clients" idle rss_growth_kb
for s in "${scenarios[@]}"; do
	IFS='|' read -r name key args <<<"$s"
	row "$name" "$name" "$key"
	if [ "$name" = topics ]; then
		# The goal compares topics with fanout 1->1 on the same target.
		cells=()
		for t in uds relay redis; do
			cells+=("$(ratio "$(median topics "$t" msgs_per_s)" "$(median fanout-1x1-64 "$t" msgs_per_s)")")
		done
		printf '| topics | msgs/s ÷ fanout-1x1 msgs/s | %s | %s | %s | - | - |\n' "${cells[@]}"
	fi
	row "$name" "$name" bench_cpu
	row "$name" "$name" target_cpu
done
for key in p50_us p99_us p999_us max_us dropped bench_cpu target_cpu; do
	row "latency-10 @ $rate/s" latency-10 "$key"
done
for key in p50_us p99_us p999_us max_us dropped; do
	row "latency-10 @ $rate_low/s" latency-10-low "$key"
done
echo
echo "Throughput scenarios are closed-loop (a window of messages in flight); latency is open loop."
echo "bytes/s count payload bytes delivered. CPU is % of one core over the run (target = the"
echo "process measured); udsbench near 100% means the tool, not the target, may be the limit."

# The goals the broker is judged on (issue 7).
goal() { # description value op threshold
	local verdict
	if [ -z "$2" ] || [ "$2" = - ]; then
		verdict="n/a "
	elif awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN { exit !(op == ">=" ? v >= t : v <= t) }'; then
		verdict="PASS"
	else
		verdict="MISS"
	fi
	printf -- '- %s %s: %s (goal %s %s)\n' "$verdict" "$1" "${2:--}" "$3" "$4"
}
echo
echo "### Goals"
m() { median "$@"; }
goal "fanout 1→10 64 B deliveries/s, uds/redis" \
	"$(ratio "$(m fanout-1x10-64 uds deliveries_per_s)" "$(m fanout-1x10-64 redis deliveries_per_s)")" ">=" 1.5
goal "fanout 1→10 64 B deliveries/s, uds/relay" \
	"$(ratio "$(m fanout-1x10-64 uds deliveries_per_s)" "$(m fanout-1x10-64 relay deliveries_per_s)")" ">=" 0.6
goal "fanout 1→100 64 B deliveries/s, uds/redis" \
	"$(ratio "$(m fanout-1x100-64 uds deliveries_per_s)" "$(m fanout-1x100-64 redis deliveries_per_s)")" ">=" 1.5
goal "fanout 1→10 16 KiB bytes/s, uds/relay" \
	"$(ratio "$(m fanout-1x10-16K uds bytes_per_s)" "$(m fanout-1x10-16K relay bytes_per_s)")" ">=" 0.5
goal "fanin 10→1 64 B msgs/s, uds/redis" \
	"$(ratio "$(m fanin-10x1-64 uds msgs_per_s)" "$(m fanin-10x1-64 redis msgs_per_s)")" ">=" 1.2
goal "topics msgs/s ÷ fanout 1→1 msgs/s (uds)" \
	"$(ratio "$(m topics uds msgs_per_s)" "$(m fanout-1x1-64 uds msgs_per_s)")" ">=" 0.8
goal "latency p99 at $rate msgs/s, uds/redis" \
	"$(ratio "$(m latency-10 uds p99_us)" "$(m latency-10 redis p99_us)")" "<=" 1
goal "(info) latency p99 at $rate_low msgs/s, uds/redis" \
	"$(ratio "$(m latency-10-low uds p99_us)" "$(m latency-10-low redis p99_us)")" "<=" 1
goal "idle: RSS growth for ${idle_n} clients, MB" \
	"$(awk -v k="$(m idle uds rss_growth_kb)" 'BEGIN { if (k != "") printf "%.1f", k * 1024 / 1e6 }')" \
	"<=" "$(awk -v n="$idle_n" 'BEGIN { printf "%g", 15 * n / 10000 }')"
if [ -s "$tmp/notes" ]; then
	echo
	echo "### Notes"
	cat "$tmp/notes"
fi
for t in uds relay redis; do
	if [ -s "$tmp/$t.log" ] && [ "$t" != redis ]; then
		echo
		echo "$t said on stderr (first lines):"
		head -n 5 "$tmp/$t.log" | sed 's/^/    /'
	fi
done
