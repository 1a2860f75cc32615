#!/usr/bin/env bash
# The server lifecycle benchmark of issue 6: builds closewise_lifecycle_bench,
# raises ulimit -n, and prints one JSON line per measurement:
# - graceful shutdown (1001) of 1,000 and 10,000 cooperating closewise clients,
#   against a 5 s drain deadline, plus one run with 100 peers that never answer
#   (the deadline ends it) and one with the closes spread over 1 s;
# - peak memory with 1,000 slow consumers (raw sockets that never read) fed
#   broadcast traffic for SECS seconds, shared frame vs one copy per session.
#
#   bench/lifecycle/run.sh
#   SIZES="1000" SECS=3 bench/lifecycle/run.sh
#
# Environment: BUILD_DIR (default build-life), SIZES ("1000 10000"), SECS (5),
# JOBS (2), NO_BUILD=1. Everything is on 127.0.0.1 and bounded in time.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-life}
SIZES=${SIZES:-"1000 10000"}
SECS=${SECS:-5}
BIN=$BUILD/bench/lifecycle/closewise_lifecycle_bench

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCLOSEWISE_BUILD_BENCH=ON >/dev/null
  cmake --build "$BUILD" --target closewise_lifecycle_bench -j "${JOBS:-2}" >/dev/null
fi

# Each process holds about N descriptors (the clients run in a forked child).
ulimit -n "$(ulimit -Hn)"
echo "# ulimit -n $(ulimit -n), $(nproc) CPUs, $(uname -r)" >&2

for n in $SIZES; do
  timeout 600 "$BIN" shutdown "$n" 5000
done
timeout 600 "$BIN" shutdown 1000 5000 1000
timeout 600 "$BIN" shutdown 1000 2000 0 100
# 1,000 slow consumers, 64 KiB queues, 16 KiB messages.
timeout 600 "$BIN" slow 1000 "$SECS" 65536 16384
timeout 600 "$BIN" slow 1000 "$SECS" 65536 16384 copy
