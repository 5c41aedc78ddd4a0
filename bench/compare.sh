#!/usr/bin/env bash
# Runs redblue and PyTorch alternately on W1-W4 (and W5 with --w5) and prints redblue/PyTorch
# time ratios. PyTorch gets its best thread setting (1 and 2 threads are both measured for
# W1-W3; the faster counts). For W5, PyTorch runs two models at a time with one thread each,
# as redblue does (on W1, two 1-thread jobs out-train one 2-thread job on 2 cores).
# Usage: bench/compare.sh [RUNS] [--w5]   (run alone on a quiet machine; never run by CI)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
w5=${2:-}
[ -x bench/pytorch/.venv/bin/python ] || bench/pytorch/setup.sh
cargo build --release -q
rb=./target/release/redblue
py=bench/pytorch/.venv/bin/python
$rb data fetch >/dev/null
median() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['median_s'])"; }
ratio() {
  python3 - "$@" <<'PY'
import sys
w, r, p1, p2 = sys.argv[1], *map(float, sys.argv[2:])
best = min(p1, p2)
print(f"| {w} | {r:.3f} | {p1:.3f} | {p2:.3f} | {r / best:.2f}x |")
PY
}
echo "| workload | redblue s | PyTorch 1 thread s | PyTorch 2 threads s | ratio redblue/best PyTorch |"
echo "|---|---:|---:|---:|---:|"
for w in w1 w2 w3 w4; do
  r=$($rb bench --workload $w --runs "$runs" | median)
  p1=$($py bench/pytorch/bench.py --workload $w --threads 1 --runs "$runs" | median)
  p2=$($py bench/pytorch/bench.py --workload $w --threads 2 --runs "$runs" | median)
  ratio "$w" "$r" "$p1" "$p2"
done
if [ "$w5" = "--w5" ]; then
  out=runs/compare-w5-$(date +%Y%m%d-%H%M%S)
  t0=$(date +%s.%N)
  $rb reproduce --out "$out" >/dev/null
  r=$(python3 -c "print($(date +%s.%N) - $t0)")
  p=$($py bench/pytorch/reproduce.py --jobs 2 --threads 1 | median)
  # One PyTorch setting for W5 (it runs for many minutes): both columns show it.
  ratio "w5 (report in $out)" "$r" "$p" "$p"
fi
