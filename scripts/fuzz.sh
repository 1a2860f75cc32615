#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 60; TARGET is a name under fuzz/ (frame, handshake, ...,
# with or without the _fuzz suffix), all targets when none is given. Each runs
# from its seed corpus fuzz/corpus/<name>/ (read only) plus a work corpus in
# $BUILD_ROOT/fuzz/corpus-<name> that starts empty (FUZZ_KEEP_CORPUS=1 keeps
# the previous run's), with fuzz/<name>.dict when present. A crash, leak,
# timeout or sanitizer report fails the target: its input is saved as
# $BUILD_ROOT/fuzz/<name>_fuzz-crash-* (add it to the seed corpus once fixed).
#
# Environment: BUILD_ROOT (default out), JOBS (build jobs, default nproc),
# FUZZ_RUNS (stop after this many executions instead of after SECONDS),
# FUZZ_ARGS (extra libFuzzer flags). Prints executions and exec/s per target;
# exits non-zero if the build or any target fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

seconds=${1:-60}
shift || true
case $seconds in '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
out=${BUILD_ROOT:-$here/out}/fuzz
jobs=${JOBS:-$(nproc)}

targets=()
if [ $# -eq 0 ]; then
  for src in fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" _fuzz.cpp)"); done
else
  for t in "$@"; do
    t=${t%_fuzz}
    [ -f "fuzz/${t}_fuzz.cpp" ] || { echo "fuzz.sh: no fuzz target fuzz/${t}_fuzz.cpp" >&2; exit 2; }
    targets+=("$t")
  done
fi

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is missing (scripts/deps.sh installs it)" >&2; exit 1; }
mkdir -p "$out"
echo "== [fuzz] configure + build (clang, libFuzzer + ASan + UBSan): ${targets[*]}"
if ! CXX=clang++ cmake -S "$here" -B "$out" -G Ninja -DCLOSEWISE_BUILD_FUZZ=ON -DCLOSEWISE_BUILD_TESTS=OFF \
     -DCLOSEWISE_BUILD_TOOLS=OFF -DCLOSEWISE_BUILD_EXAMPLES=OFF -DCLOSEWISE_BUILD_BENCH=OFF \
     -DCLOSEWISE_INSTALL=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$out.configure.log" 2>&1; then
  cat "$out.configure.log"
  echo "fuzz.sh: configure failed" >&2
  exit 1
fi
cmake --build "$out" -j "$jobs" --target $(printf 'closewise_%s_fuzz ' "${targets[@]}")

# Leaks fail a run too; allocator limits keep a bad input from eating the machine.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
limit=(-max_total_time="$seconds")
[ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")

failed=()
report=()
for t in "${targets[@]}"; do
  name=${t}_fuzz
  work="$out/corpus-$t"
  [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$work"
  mkdir -p "$work"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  log="$out/$name.log"
  if [ -n "${FUZZ_RUNS:-}" ]; then bound="$FUZZ_RUNS runs"; else bound="${seconds}s"; fi
  echo "== [fuzz] $name: $bound"
  s=$SECONDS
  # shellcheck disable=SC2086
  if "$out/fuzz/closewise_$name" "${limit[@]}" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
       -artifact_prefix="$out/$name-" "${dict[@]}" ${FUZZ_ARGS:-} "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$name")
    tail -40 "$log"
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  units=$(find "$work" -type f | wc -l)
  line=$(printf '%-13s %-6s %12s execs %7s exec/s %5s s  peak RSS %s MB, %s new inputs' \
    "$t" "$status" "${runs:-?}" "${rate:-?}" "$((SECONDS - s))" "${rss:-?}" "$units")
  echo "   $line"
  report+=("$line")
done

echo "== [fuzz] summary"
for l in "${report[@]}"; do echo "   $l"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (logs and crashing inputs in $out)" >&2
  exit 1
fi
