#!/bin/bash
# The reconnect storm benchmark (issue 5). Builds closewise_storm in build-storm/
# (Release), runs it for the three policies, and draws bench/storm/storm.png.
#   bench/storm/run.sh                 # 1,000 clients, server down 1 s
#   CLIENTS=2000 DOWN_MS=2000 bench/storm/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD:-$root/build-storm}
CLIENTS=${CLIENTS:-1000}
DOWN_MS=${DOWN_MS:-1000}
# N clients and N server sessions in one process: 2N descriptors and more.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ ! -x "$build/bench/storm/closewise_storm" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLOSEWISE_BUILD_BENCH=ON \
    -DCLOSEWISE_BUILD_TESTS=OFF -DCLOSEWISE_BUILD_TOOLS=OFF -DCLOSEWISE_BUILD_EXAMPLES=OFF >/dev/null
fi
cmake --build "$build" --target closewise_storm -j2 >/dev/null
data="$build/storm-data"
mkdir -p "$data"
"$build/bench/storm/closewise_storm" --clients "$CLIENTS" --down-ms "$DOWN_MS" --out "$data" | tee "$data/table.md"
gnuplot -e "dir='$data'; out='$here/storm.png'" "$here/plot.gp"
echo "plot: $here/storm.png"
