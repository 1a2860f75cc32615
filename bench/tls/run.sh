#!/usr/bin/env bash
# The TLS benchmark of issue 17: closewise's wss echo against Beast over TLS,
# in one run on one machine. Builds what is missing, makes a throwaway
# certificate, then for each cell starts each server fresh on 127.0.0.1
# (pinned to SERVER_CPU) and drives it from closewise_tls_loadgen (pinned to
# CLIENT_CPU). Prints one markdown table with ratios to Beast.
#
#   bench/tls/run.sh                                 # full run, about 2 minutes
#   SECS=1 WARMUP=0.5 IDLE_CONNS=500 bench/tls/run.sh  # smoke
#
# Environment: BUILD_DIR (default build-bench), SECS (5), WARMUP (1),
# IDLE_CONNS (10000), CYCLE_CONNS (32), SERVER_CPU (1), CLIENT_CPU (0),
# NO_BUILD=1, JOBS (2).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
SECS=${SECS:-5}
WARMUP=${WARMUP:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
CYCLE_CONNS=${CYCLE_CONNS:-32}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
BIN=$BUILD/bench/tls
log() { printf '%s\n' "$*" >&2; }

if [[ "${NO_BUILD:-0}" != 1 ]]; then
  log "== building closewise_tls_all in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCLOSEWISE_BUILD_BENCH=ON \
    -DCLOSEWISE_BUILD_TESTS=OFF -DCLOSEWISE_BUILD_TOOLS=OFF -DCLOSEWISE_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$BUILD" --target closewise_tls_all -j "${JOBS:-2}" >/dev/null
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
if (( FDS < IDLE_CONNS + 256 )); then
  IDLE_CONNS=$(( FDS - 256 ))
  log "== ulimit -n is $FDS: idle memory with $IDLE_CONNS connections"
fi

CERTS=$(mktemp -d)
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$CERTS"
}
trap cleanup EXIT
# ECDSA P-256, as the tests use: what a wss deployment would normally serve.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$CERTS/key.pem" -out "$CERTS/cert.pem" -subj /CN=localhost 2>/dev/null

start_server() {  # name -> sets SERVER_PID and PORT
  local bin
  case "$1" in
    beast) bin=$BIN/closewise_beast_tls_echo ;;
    closewise) bin=$BIN/closewise_tls_echo ;;
  esac
  coproc SRV { exec taskset -c "$SERVER_CPU" "$bin" "$CERTS/cert.pem" "$CERTS/key.pem" 0; }
  SERVER_PID=$SRV_PID
  read -r -t 10 PORT <&"${SRV[0]}"
}
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

declare -A R
cells=("echo 32 100" "echo 65536 100" "cycles 0 $CYCLE_CONNS" "idle 0 $IDLE_CONNS")
for cell in "${cells[@]}"; do
  read -r mode size conns <<<"$cell"
  for s in beast closewise; do
    start_server "$s"
    line=$(taskset -c "$CLIENT_CPU" "$BIN/closewise_tls_loadgen" "$mode" --port "$PORT" \
      --pid "$SERVER_PID" --conns "$conns" --size "$size" --seconds "$SECS" --warmup "$WARMUP")
    stop_server
    log "$s: $line"
    R[$s,$cell]=$line
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo "| measure | beast | closewise |"
echo "|---|---|---|"
for cell in "${cells[@]}"; do
  read -r mode size conns <<<"$cell"
  b=${R[beast,$cell]}; c=${R[closewise,$cell]}
  if [[ $mode == idle ]]; then
    bk=$(field kib_per_conn "$b"); ck=$(field kib_per_conn "$c")
    echo "| RSS per idle wss connection ($conns) | $bk KiB (1.00x) | $ck KiB ($(ratio "$ck" "$bk")) |"
    continue
  fi
  label="echo msgs/s, $size B x $conns conn"
  [[ $mode == cycles ]] && label="connect+TLS+upgrade+close cycles/s ($conns loops)"
  br=$(field rate "$b"); cr=$(field rate "$c")
  echo "| $label | $br (1.00x) | $cr ($(ratio "$cr" "$br")) |"
  bu=$(field server_us_per "$b"); cu=$(field server_us_per "$c")
  bp=$(field server_cpu_pct "$b"); cp=$(field server_cpu_pct "$c")
  echo "|   server CPU per message/cycle (server busy %) | $bu us ($bp%) | $cu us, $(ratio "$cu" "$bu") ($cp%) |"
done
