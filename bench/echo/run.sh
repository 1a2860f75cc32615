#!/usr/bin/env bash
# The echo benchmark of issue 4: builds what is missing, then starts each echo
# server in turn on 127.0.0.1 pinned to one CPU, drives it from the load
# generator pinned to the other, and prints a markdown table with ratios to the
# raw Boost.Beast echo measured in the same run.
#
#   bench/echo/run.sh                     # everything, about 4-5 minutes
#   SECS=10 SERVERS="beast closewise" bench/echo/run.sh
#
# Environment: BUILD_DIR (default build-bench), SECS (measured seconds per
# cell, 5), WARMUP (1), SERVERS (default: beast closewise websocketpp lws ws
# floor floor_uring; beast_uring is Beast built on Asio's io_uring backend),
# IDLE_CONNS (10000), CYCLE_CONNS (concurrent connect/close loops, 32),
# ("floor" and "floor_uring" are not peers but yardsticks: bare epoll and
# io_uring echoes with no library, showing what one recv() and one send() per
# message cost on this machine; they run the 32 B cells, cycles and close
# latency, not 64 KiB or idle memory; skipped when not built),
# SERVER_CPU (1), CLIENT_CPU (0), JOBS (build parallelism, 2), NO_BUILD=1,
# NICE (0; e.g. NICE=-10 as root: server and load generator each run in a
# session of their own, so in an autogroup of their own, and that autogroup
# gets this niceness, which keeps other work on the machine, e.g. parallel
# builds, from taking the measured cores; it only touches our own processes),
# OUT (markdown file, default $BUILD_DIR/echo-results.md),
# OLD_BUILD (a Release build directory of another commit, for the server
# "closewise_old": an old commit against the new one in the same run; e.g.
#   git worktree add --detach /tmp/old bbfe690 && cmake -S /tmp/old -B /tmp/old-build \
#     -DCMAKE_BUILD_TYPE=Release -DCLOSEWISE_BUILD_BENCH=ON && \
#     cmake --build /tmp/old-build --target closewise_echo_closewise
#   OLD_BUILD=/tmp/old-build SERVERS="beast closewise closewise_old floor" bench/echo/run.sh).
# All traffic goes to 127.0.0.1; every step is bounded in time.
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
SERVERS=${SERVERS:-"beast closewise websocketpp lws ws floor floor_uring"}
NICE=${NICE:-0}
OUT=${OUT:-$BUILD/echo-results.md}
BIN=$BUILD/bench/echo
RAW=$BUILD/echo-raw.txt

log() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- build
if [[ "${NO_BUILD:-0}" != 1 ]]; then
  log "== building closewise_echo_all in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCLOSEWISE_BUILD_BENCH=ON \
    -DCLOSEWISE_BUILD_TESTS=OFF -DCLOSEWISE_BUILD_TOOLS=OFF -DCLOSEWISE_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$BUILD" --target closewise_echo_all -j "${JOBS:-2}" >/dev/null
fi
if [[ " $SERVERS " == *" ws "* && ! -d "$HERE/node_modules/ws" ]]; then
  log "== npm ci in bench/echo"
  (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null)
fi

# Each idle connection needs a descriptor in the server and in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
if (( FDS < IDLE_CONNS + 256 )); then
  IDLE_CONNS=$(( FDS - 256 ))
  log "== ulimit -n is $FDS: idle connections lowered to $IDLE_CONNS"
fi

server_cmd() {
  case "$1" in
    beast) echo "$BIN/closewise_echo_beast" ;;
    closewise) echo "$BIN/closewise_echo_closewise" ;;
    # Issue 16: the same server with a metrics registry installed (server_config::observer).
    closewise_metrics) echo "/usr/bin/env CLOSEWISE_ECHO_METRICS=1 $BIN/closewise_echo_closewise" ;;
    closewise_old) [[ -n "${OLD_BUILD:-}" ]] && echo "$OLD_BUILD/bench/echo/closewise_echo_closewise" ;;
    # Issue 14: two server threads (pin the server to two CPUs: SERVER_CPU=0,1).
    # closewise_t2 has an io_context per thread (server_config::threads);
    # closewise_shared_t2 one io_context run by two threads, strands; beast_t2
    # Beast's way: one io_context, two threads, a strand per connection.
    beast_t2) echo "$BIN/closewise_echo_beast" ;;
    closewise_t2) echo "$BIN/closewise_echo_closewise" ;;
    closewise_shared_t2) echo "$BIN/closewise_echo_closewise" ;;
    websocketpp) echo "$BIN/closewise_echo_wspp" ;;
    lws) echo "$BIN/closewise_echo_lws" ;;
    ws) echo "node $HERE/ws_echo.js" ;;
    floor) echo "$BIN/closewise_echo_floor" ;;
    floor_uring) echo "$BIN/closewise_echo_floor_uring" ;;
    beast_uring) echo "$BIN/closewise_echo_beast_uring" ;;
    *) return 1 ;;
  esac
}

# Arguments after the port: the thread count and mode of the *_t2 servers.
server_extra() {
  case "$1" in
    beast_t2 | closewise_t2) echo 2 ;;
    closewise_shared_t2) echo "2 shared" ;;
  esac
}

available() {
  local cmd
  cmd=$(server_cmd "$1") || return 1
  [[ "$1" == ws ]] && { command -v node >/dev/null && [[ -d "$HERE/node_modules/ws" ]]; return; }
  [[ -x "${cmd%% *}" ]]
}

# run_on CPU PIDFILE CMD...: runs CMD pinned to CPU in a new session (so a
# new scheduler autogroup), with niceness $NICE, and writes its pid.
run_on() {
  local cpu=$1 pidfile=$2
  shift 2
  exec setsid bash -c '[[ "$0" != 0 ]] && echo "$0" >/proc/self/autogroup 2>/dev/null
    echo $$ >"$1"; cpu=$2; shift 3; exec nice -n "$0" taskset -c "$cpu" "$@"' \
    "$NICE" "$pidfile" "$cpu" _ "$@"
}

# All servers run at once, pinned to the same CPU (an idle one costs
# nothing), and every cell is measured for each server back to back, so a
# change in the machine's background load hits all peers alike.
declare -A SPIDS PORTS
start_server() {
  local name=$1 portfile pidfile pid="" port=""
  portfile=$(mktemp)
  pidfile=$(mktemp)
  # shellcheck disable=SC2046
  (run_on "$SERVER_CPU" "$pidfile" $(server_cmd "$name") 0 $(server_extra "$name") >"$portfile" 2>>"$BUILD/echo-$name.stderr") &
  for _ in $(seq 100); do
    pid=$(tr -dc 0-9 <"$pidfile")
    port=$(head -n1 "$portfile" | tr -dc 0-9)
    [[ -n "$port" && -n "$pid" ]] && break
    sleep 0.05
  done
  rm -f "$portfile" "$pidfile"
  SPIDS[$name]=$pid
  PORTS[$name]=$port
  if [[ -z "$port" ]]; then
    log "!! $name did not print its port"
    stop_server "$name"
    return 1
  fi
  sleep 0.2
}

stop_server() {
  local pid=${SPIDS[$1]:-}
  unset "SPIDS[$1]" "PORTS[$1]"
  [[ -z "$pid" ]] && return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}
stop_all() {
  local n
  for n in "${!SPIDS[@]}"; do stop_server "$n"; done
  wait 2>/dev/null || true
}
trap stop_all EXIT

loadgen() {  # SERVER ARGS...
  local name=$1
  shift
  (run_on "$CLIENT_CPU" /dev/null "$BIN/closewise_echo_loadgen" "$@" --port "${PORTS[$name]}" \
    --server-pid "${SPIDS[$name]}" --server-core "${SERVER_CPU%%,*}" --client-core "$CLIENT_CPU") \
    2>>"$BUILD/echo-loadgen.stderr" | grep '^result' || true
}

declare -A R
# field LINE KEY -> value of KEY=... in a result line ("-" if absent)
field() { local v; v=$(grep -o "\b$2=[^ ]*" <<<"$1" | head -n1 | cut -d= -f2); echo "${v:--}"; }

# cell: a key and the load generator's arguments.
record() {  # SERVER KEY ARGS...
  local name=$1 key=$2 line
  shift 2
  line=$(loadgen "$name" "$@")
  echo "$name $key $line" >>"$RAW"
  log "   $name $key: ${line#result }"
  R[$name,$key]=$line
}

: >"$RAW"
# size conns depth; 32 B x 100 at depth 16 is informative (see RESULTS.md).
CELLS=("32 1 1" "32 100 1" "65536 1 1" "65536 100 1" "32 100 16")
RAN=()
for s in $SERVERS; do
  if ! available "$s"; then
    log "== $s: not built or not installed, skipped"
    continue
  fi
  start_server "$s" && RAN+=("$s")
done
for c in "${CELLS[@]}"; do
  read -r size conns depth <<<"$c"
  log "== echo $size B x $conns, depth $depth"
  for s in "${RAN[@]}"; do
    # The yardstick copies large messages naively: it is no floor for them.
    [[ $s == floor* && $size != 32 ]] && continue
    record "$s" "e$size,$conns,$depth" echo --conns "$conns" --size "$size" --depth "$depth" \
      --warmup "$WARMUP" --seconds "$SECS"
  done
done
log "== connect + upgrade + close, $CYCLE_CONNS loops"
for s in "${RAN[@]}"; do
  record "$s" cycles cycles --conns "$CYCLE_CONNS" --warmup "$WARMUP" --seconds "$SECS"
done
log "== close handshake latency, one connection"
for s in "${RAN[@]}"; do
  record "$s" close cycles --conns 1 --warmup 0.5 --seconds 2
done
stop_all
# Fresh processes, so memory freed by the echo cells does not hide growth.
log "== idle memory, $IDLE_CONNS connections"
for s in "${RAN[@]}"; do
  [[ $s == floor* ]] && continue  # a 64 KiB buffer per connection: no yardstick for memory
  start_server "$s" || continue
  record "$s" idle idle --conns "$IDLE_CONNS"
  stop_all
done

# ---------------------------------------------------------------- report
ratio() {  # value baseline -> "1.23x"
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a + 0 == 0 || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}
num() {  # thousands separated
  awk -v a="$1" 'BEGIN { if (a == "-") { print "-"; exit }
    s = sprintf("%.0f", a); n = length(s); r = ""
    for (i = 1; i <= n; i++) { r = r substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) r = r "," }
    print r }'
}
kib() { awk -v a="$1" 'BEGIN { if (a == "-" || a < 0) print "-"; else printf "%.2f KiB", a / 1024 }'; }

row() {  # title key cellkey kind(num|us|kib)
  local title=$1 key=$2 cell=$3 kind=$4 base v out
  base=$(field "${R[beast,$cell]:-}" "$key")
  out="| $title |"
  for s in "${RAN[@]}"; do
    v=$(field "${R[$s,$cell]:-}" "$key")
    case $kind in
      num) out+=" $(num "$v") ($(ratio "$v" "$base")) |" ;;
      us) out+=" $v us ($(ratio "$v" "$base")) |" ;;
      kib) out+=" $(kib "$v") ($(ratio "$v" "$base")) |" ;;
    esac
  done
  echo "$out"
}

cpurow() {  # title cellkey
  local out="| $1 |" l
  for s in "${RAN[@]}"; do
    l=${R[$s,$2]:-}
    out+=" $(field "$l" server_cpu) / $(field "$l" client_cpu) / $(field "$l" other_cpu) |"
  done
  echo "$out"
}

# Server CPU per message (or per cycle), in µs: server_cpu% / 100 / rate. It
# does not depend on which process saturates first.
perrow() {  # title cellkey ratekey
  local base out l c r v
  l=${R[beast,$2]:-}
  base=$(awk -v c="$(field "$l" server_cpu)" -v r="$(field "$l" "$3")" \
    'BEGIN { if (c == "-" || r == "-" || r + 0 == 0) print "-"; else printf "%.3f", c / 100 / r * 1e6 }')
  out="| $1 |"
  for s in "${RAN[@]}"; do
    l=${R[$s,$2]:-}
    c=$(field "$l" server_cpu)
    r=$(field "$l" "$3")
    v=$(awk -v c="$c" -v r="$r" 'BEGIN { if (c == "-" || r == "-" || r + 0 == 0) print "-"; else printf "%.3f", c / 100 / r * 1e6 }')
    out+=" $(awk -v v="$v" 'BEGIN { if (v == "-") print "-"; else printf "%.2f", v }') us ($(ratio "$v" "$base")) |"
  done
  echo "$out"
}

{
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'),"
  echo "$(nproc) cores, server on CPU $SERVER_CPU, load generator on CPU $CLIENT_CPU (niceness $NICE), ${SECS} s per cell after ${WARMUP} s warm-up,"
  echo "cycles with $CYCLE_CONNS concurrent loops, idle memory with $IDLE_CONNS connections. Ratios are to raw Beast in this run"
  echo "(higher is better for rates, lower for latency and memory)."
  echo
  hdr="| measure |"
  sep="|---|"
  for s in "${RAN[@]}"; do hdr+=" $s |"; sep+="---|"; done
  echo "$hdr"
  echo "$sep"
  for c in "${CELLS[@]}"; do
    read -r size conns depth <<<"$c"
    label="$size B"
    [[ $size == 65536 ]] && label="64 KiB"
    d=""
    [[ $depth != 1 ]] && d=", depth $depth (informative)"
    row "echo msgs/s, $label x $conns conn$d" msgs_per_s "e$size,$conns,$depth" num
    row "  p50 round trip" p50_us "e$size,$conns,$depth" us
    row "  p99 round trip" p99_us "e$size,$conns,$depth" us
  done
  row "connect+upgrade+close cycles/s ($CYCLE_CONNS loops)" cycles_per_s cycles num
  row "  close handshake p50 under that load" close_p50_us cycles us
  row "close handshake p50, one connection" close_p50_us close us
  row "  close frame echoed p50, one connection" close_frame_p50_us close us
  row "RSS per idle connection ($IDLE_CONNS)" bytes_per_conn idle kib
  echo
  echo "CPU during each measured window, % of one core: server process / load generator process / everything"
  echo "else on the machine (other tenants). Process times include the kernel's network work done in their"
  echo "context. The three add up to about 200 when both cores were busy."
  echo
  echo "$hdr"
  echo "$sep"
  for c in "${CELLS[@]}"; do
    read -r size conns depth <<<"$c"
    cpurow "echo $size B x $conns, depth $depth" "e$size,$conns,$depth"
  done
  cpurow "cycles" cycles
  cpurow "close, one connection" close
  echo
  echo "Server CPU per message or per cycle, in us (server process time / count; lower is better). This does"
  echo "not depend on which process saturated first."
  echo
  echo "$hdr"
  echo "$sep"
  for c in "${CELLS[@]}"; do
    read -r size conns depth <<<"$c"
    perrow "echo $size B x $conns, depth $depth" "e$size,$conns,$depth" msgs_per_s
  done
  perrow "cycle (connect+upgrade+close)" cycles cycles_per_s
} | tee "$OUT"
log "== raw results in $RAW, table in $OUT"
