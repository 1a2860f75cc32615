#!/bin/bash
# A/A/B triples of the resume echo bench: two plain runs and one with the
# in-memory store, in rotated order, so the resume overhead stands beside the
# plain server's own run-to-run spread (bench/RESULTS.md, "Resume", eighth pass).
#   bench/resume/aab.sh SIZE MESSAGES TRIPLES [BUILD_DIR] [WARMUP] [WINDOW]
#   bench/resume/aab.sh 65536 1000 9 build-bench 100
#   bench/resume/aab.sh 32 10000 9 build-bench 500
# BENCH_ARGS adds options to every run (BENCH_ARGS="--owned 1").
set -euo pipefail
size=${1:?size} messages=${2:?messages} triples=${3:?triples} build=${4:-build-bench}
warmup=${5:-0} window=${6:-16}
bin="$build/bench/resume/closewise_resume_net_bench"
[ -x "$bin" ] || { echo "no $bin: build the closewise_resume_net_bench target" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
orders=("none none memory" "memory none none" "none memory none")
for i in $(seq 0 $((triples - 1))); do
  for store in ${orders[$((i % 3))]}; do
    "$bin" echo --store "$store" --conns 100 --size "$size" --messages "$messages" \
      --warmup "$warmup" --window "$window" ${BENCH_ARGS:-} >> "$out"
  done
done
python3 - "$out" "$triples" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
n = int(sys.argv[2])
spread, ratio, plain, resume = [], [], [], []
for i in range(n):
    t = rows[3 * i:3 * i + 3]
    p = [r["server_cpu_ns_per_msg"] for r in t if r["store"] == "none"]
    m = next(r["server_cpu_ns_per_msg"] for r in t if r["store"] == "memory")
    spread.append(max(p) / min(p))
    ratio.append(m / statistics.mean(p))
    plain += p
    resume.append(m)
print("plain max/min per triple:", [f"{x:.3f}" for x in spread], f"median {statistics.median(spread):.3f}")
print("resume / mean of its two plain:", [f"{x:.3f}" for x in ratio], f"median {statistics.median(ratio):.3f}")
print(f"pooled medians: plain {statistics.median(plain):.0f} ns, resume {statistics.median(resume):.0f} ns,"
      f" ratio {statistics.median(resume) / statistics.median(plain):.3f}")
PY
