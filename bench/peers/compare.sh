#!/usr/bin/env bash
# Peer comparison: redblue's attacks against torchattacks 3.5.1, same model file, same images.
# Usage: bench/peers/compare.sh [RUNS] [SUBSET]   (defaults 1 and 1000: the full default run
#        takes a few hours; never run by CI; run it alone on a quiet machine). Environment:
#   PLAIN, ADV  model files (an undefended model, an FGSM-adversarially-trained eps-0.1 model)
#   MODELS      space-separated model list (default "$PLAIN $ADV")
#   ATTACKS     space-separated (default "apgd-ce apgd-t fab-t square auto auto-100"); torchattacks'
#               `auto` is its AutoAttack class, whose APGD/APGD-T/FAB run only 10 steps; `auto-100`
#               is the same sequence with AutoAttack's published 100 steps. Both face redblue `auto`.
#   EPS         space-separated (default "0.1 0.25")
#   NORM        linf (default) or l2, for both tools
#   THREADS     torch thread settings (default "1 2")
#
# For each (model, attack, eps) it runs, RUNS times and alternately: redblue, torchattacks with
# 1 thread, torchattacks with 2 threads. Timing:
#   redblue s       wall clock around the WHOLE `redblue eval` process (start-up, data loading,
#                   clean row, attack); redblue uses all cores.
#   torch attack s  wall clock around the attack call alone (inside torchattacks_peer.py);
#   torch process s wall clock around the whole python process (import torch, loading, attack).
# Each is the median over RUNS; torch columns take the faster of 1 and 2 threads. Two ratios:
# redblue / torch process (like for like) and redblue / torch attack (biased against redblue).
# Accuracy is the fraction of the SUBSET images whose adversarial image is classified correctly.
# Raw results: bench/peers/runs/peers-<time>/results.jsonl (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-1}
subset=${2:-1000}
PLAIN=${PLAIN:-/tmp/repro/models/l1-0_l2-0_s0.safetensors}
ADV=${ADV:-/tmp/repro/models/adv-0.1_l1-0_l2-0_s0.safetensors}
MODELS=${MODELS:-"$PLAIN $ADV"}
ATTACKS=${ATTACKS:-"apgd-ce apgd-t fab-t square auto auto-100"}
EPS=${EPS:-"0.1 0.25"}
NORM=${NORM:-linf}
THREADS=${THREADS:-"1 2"}
rb=./target/release/redblue
py=bench/peers/.venv/bin/python
peer=bench/peers/torchattacks_peer.py
[ -x "$rb" ] || { echo "missing $rb: cargo build --release first" >&2; exit 1; }
[ -x "$py" ] || bench/peers/setup.sh
$rb data fetch >/dev/null
out=bench/peers/runs/peers-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
log=$out/results.jsonl
now() { date +%s.%N; }
echo "results in $log ($(nproc) cores, $runs run(s), $subset images)" >&2

for m in $MODELS; do
  # Clean accuracy: torch's model against redblue's (fails loudly on a mismatch), once per model.
  $py $peer --model "$m" --subset "$subset" --attacks "" >/dev/null
  for a in $ATTACKS; do
    case $a in apgd-ce) rba=apgd ;; auto-100) rba=auto ;; *) rba=$a ;; esac   # redblue's names
    for e in $EPS; do
      echo "$m $a eps $e" >&2
      for r in $(seq "$runs"); do
        t=$(now)
        j=$($rb eval --model "$m" --attack "$rba" --eps "$e" --norm "$NORM" --subset "$subset" --verify none --json 2>/dev/null | tr -d '\n')
        echo "{\"tool\":\"redblue\",\"model\":\"$m\",\"attack\":\"$a\",\"eps\":$e,\"process_s\":$(python3 -c "print($(now) - $t)"),\"out\":$j}" >>"$log"
        for th in $THREADS; do
          t=$(now)
          j=$($py $peer --model "$m" --attacks "$a" --eps "$e" --norm "$NORM" --subset "$subset" --threads $th --no-check --json)
          echo "{\"tool\":\"torch\",\"model\":\"$m\",\"attack\":\"$a\",\"eps\":$e,\"threads\":$th,\"process_s\":$(python3 -c "print($(now) - $t)"),\"out\":$j}" >>"$log"
        done
      done
    done
  done
done

python3 bench/peers/summarize.py "$log"
