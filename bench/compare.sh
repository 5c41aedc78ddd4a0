#!/usr/bin/env bash
# Runs redblue and PyTorch alternately on W1-W3 and prints redblue/PyTorch time ratios.
# PyTorch gets its best thread setting (1 and 2 threads are both measured; the faster counts).
# Usage: bench/compare.sh [RUNS]   (run alone on a quiet machine; never run by CI)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ -x bench/pytorch/.venv/bin/python ] || bench/pytorch/setup.sh
cargo build --release -q
rb=./target/release/redblue
py=bench/pytorch/.venv/bin/python
$rb data fetch >/dev/null
median() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['median_s'])"; }
echo "| workload | redblue s | PyTorch 1 thread s | PyTorch 2 threads s | ratio redblue/best PyTorch |"
echo "|---|---:|---:|---:|---:|"
for w in w1 w2 w3; do
  r=$($rb bench --workload $w --runs "$runs" | median)
  p1=$($py bench/pytorch/bench.py --workload $w --threads 1 --runs "$runs" | median)
  p2=$($py bench/pytorch/bench.py --workload $w --threads 2 --runs "$runs" | median)
  python3 - "$w" "$r" "$p1" "$p2" <<'PY'
import sys
w, r, p1, p2 = sys.argv[1], *map(float, sys.argv[2:])
best = min(p1, p2)
print(f"| {w} | {r:.3f} | {p1:.3f} | {p2:.3f} | {r / best:.2f}x |")
PY
done
