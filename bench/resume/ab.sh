#!/bin/bash
# Interleaved pairs of the resume echo bench, plain against the in-memory
# store, and the overhead per pair (bench/RESULTS.md, "Resume").
#   bench/resume/ab.sh SIZE MESSAGES PAIRS [BUILD_DIR] [RATE] [WARMUP] [WINDOW]
#   bench/resume/ab.sh 32 10000 5 build-bench
#   bench/resume/ab.sh 65536 300 5 build-bench 8000   # paced: 8,000 msgs/s in total
#   bench/resume/ab.sh 65536 1000 5 build-bench 0 100 # 100 messages per connection first, unmeasured
#   bench/resume/ab.sh 65536 1000 5 build-bench 0 100 1  # one message in flight per connection
# BENCH_ARGS adds options to every run (BENCH_ARGS="--ack-bytes 262144").
set -euo pipefail
size=${1:?size} messages=${2:?messages} pairs=${3:?pairs} build=${4:-build-bench} rate=${5:-0} warmup=${6:-0} window=${7:-16}
bin="$build/bench/resume/closewise_resume_net_bench"
[ -x "$bin" ] || { echo "no $bin: build the closewise_resume_net_bench target" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$pairs"); do
  for store in none memory; do
    "$bin" echo --store "$store" --conns 100 --size "$size" --messages "$messages" --rate "$rate" --warmup "$warmup" --window "$window" ${BENCH_ARGS:-} >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
plain = [r["server_cpu_ns_per_msg"] for r in rows if r["store"] == "none"]
resume = [r["server_cpu_ns_per_msg"] for r in rows if r["store"] == "memory"]
ratios = [m / n for n, m in zip(plain, resume)]
print("none   (server ns/msg):", plain)
print("memory (server ns/msg):", resume)
print("per pair:", [f"{r:.3f}" for r in ratios], f"median {statistics.median(ratios):.3f}")
for store in ("none", "memory"):
    faults = [r["server_minflt_per_msg"] for r in rows if r["store"] == store]
    print(f"{store} server page faults per message:", faults)
PY
