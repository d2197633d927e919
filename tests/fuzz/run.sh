#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (coverage, ASan, UBSan) and runs
# each for a bounded time, one after the other, over a working copy of its
# seed corpus (the repository's corpus is never written to).
#
#   tests/fuzz/run.sh [SECONDS [BUILDDIR [TARGET...]]]
#
# SECONDS per target (default 60), BUILDDIR default build-fuzz, TARGET among
# proto topic config retainfile reply ctl_format bridgemap (default all). Prints, per target, the executions and
# the exit status; exits 1 if any target found a crash, a leak or a broken
# check. The input that did it is left in BUILDDIR/fuzz-artifacts/: replay
# it with BUILDDIR/tests/fuzz/fuzz-TARGET FILE, and once the bug is fixed
# keep it as tests/fuzz/corpus/TARGET/crash-WHAT (meson test replays it).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
dir=${2:-build-fuzz}
shift $(($# > 2 ? 2 : $#))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(proto topic config retainfile reply ctl_format bridgemap)

case $seconds in
'' | *[!0-9]*) echo "run.sh: SECONDS must be a number, not '$seconds'" >&2; exit 64 ;;
esac

if [ ! -f "$dir/build.ninja" ]; then
	setup_log=$(mktemp)
	# Coverage on all the project's code, not only the targets' own files;
	# UBSan findings stop the run like ASan's do. Clang's -Wformat=2 also
	# means -Wformat-nonliteral, which log.c's vlog() (a va_list wrapper
	# without a format attribute) trips: a warning here, not an error.
	CC=clang meson setup "$dir" \
		-Dbuildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -Wno-error=format-nonliteral' \
		>"$setup_log" 2>&1 || { cat "$setup_log" >&2; rm -f "$setup_log"; exit 1; }
	rm -f "$setup_log"
fi
if ! ninja -C "$dir" "${targets[@]/#/tests/fuzz/fuzz-}" >"$dir/fuzz-build.log" 2>&1; then
	cat "$dir/fuzz-build.log" >&2
	exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
mkdir -p "$dir/fuzz-artifacts"
failed=0
total=0
for t in "${targets[@]}"; do
	work=$dir/fuzz-corpus/$t
	log=$dir/fuzz-$t.log
	mkdir -p "$work"
	cp -n tests/fuzz/corpus/"$t"/* "$work"/
	dict=()
	[ -f tests/fuzz/"$t".dict ] && dict=(-dict=tests/fuzz/"$t".dict)
	status=0
	"$dir/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 \
		-max_len=4096 -print_final_stats=1 "${dict[@]}" \
		-artifact_prefix="$dir/fuzz-artifacts/$t-" "$work" >"$log" 2>&1 || status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	execs=${execs:-0}
	total=$((total + execs))
	printf '%-7s %12s execs in %ss, corpus %s files, exit %d\n' "$t" "$execs" "$seconds" \
		"$(ls "$work" | wc -l)" "$status"
	if [ "$status" -ne 0 ]; then
		failed=1
		grep -E 'ERROR|check failed|runtime error|Test unit written' "$log" | head -5 | sed 's/^/    /'
		echo "    full log: $log"
	fi
done
printf '%-7s %12s execs\n' total "$total"
exit $failed
