#!/usr/bin/env bash
# Endurance run of issue 17: churn, long-lived connections with heartbeats,
# sheds and a server restart every minute, with RSS, descriptors and threads
# sampled every second; fails when any grew by more than 5% after warm-up.
#
#   bench/soak/run.sh                    # 10 minutes over ws://
#   SECS=1800 bench/soak/run.sh          # 30 minutes
#   SECS=120 WARMUP=30 bench/soak/run.sh # smoke
#   WSS=1 bench/soak/run.sh              # over wss:// (a throwaway certificate)
#
# Environment: BUILD_DIR (build-bench), SECS (600), WARMUP (60), RESTART (60),
# CHURN (8), LONG (50), NO_BUILD=1, JOBS (2), CSV (where the samples go,
# default $BUILD/soak.csv; give ws and wss runs side by side their own).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
if [[ "${NO_BUILD:-0}" != 1 ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCLOSEWISE_BUILD_BENCH=ON \
    -DCLOSEWISE_BUILD_TESTS=OFF -DCLOSEWISE_BUILD_TOOLS=OFF -DCLOSEWISE_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$BUILD" --target closewise_soak -j "${JOBS:-2}" >/dev/null
fi
args=(--seconds "${SECS:-600}" --warmup "${WARMUP:-60}" --restart-every "${RESTART:-60}"
      --churn "${CHURN:-8}" --long "${LONG:-50}" --csv "${CSV:-$BUILD/soak.csv}")
if [[ "${WSS:-0}" == 1 ]]; then
  CERTS=$(mktemp -d)
  trap 'rm -rf "$CERTS"' EXIT
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$CERTS/key.pem" -out "$CERTS/cert.pem" -subj /CN=localhost 2>/dev/null
  args+=(--wss "$CERTS/cert.pem" "$CERTS/key.pem")
fi
# Not exec: the EXIT trap removes the throwaway certificate.
"$BUILD/bench/soak/closewise_soak" "${args[@]}"
