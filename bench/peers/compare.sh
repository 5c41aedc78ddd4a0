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
        j=$($rb eval --model "$m" --attack "$rba" --eps "$e" --norm "$NORM" --subset "$subset" --json 2>/dev/null | tr -d '\n')
        echo "{\"tool\":\"redblue\",\"model\":\"$m\",\"attack\":\"$a\",\"eps\":$e,\"process_s\":$(python3 -c "print($(now) - $t)"),\"out\":$j}" >>"$log"
        for th in 1 2; do
          t=$(now)
          j=$($py $peer --model "$m" --attacks "$a" --eps "$e" --norm "$NORM" --subset "$subset" --threads $th --no-check --json)
          echo "{\"tool\":\"torch\",\"model\":\"$m\",\"attack\":\"$a\",\"eps\":$e,\"threads\":$th,\"process_s\":$(python3 -c "print($(now) - $t)"),\"out\":$j}" >>"$log"
        done
      done
    done
  done
done

python3 - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = list(dict.fromkeys((r["model"], r["attack"], r["eps"]) for r in rows))
print("| model | attack | eps | redblue acc | torchattacks acc | diff (points) | redblue s | torch attack s | torch process s | ratio rb/torch process | ratio rb/torch attack |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m, a, e in keys:
    sel = [r for r in rows if (r["model"], r["attack"], r["eps"]) == (m, a, e)]
    rb = [r for r in sel if r["tool"] == "redblue"]
    rb_acc = next(x["accuracy"] for x in rb[0]["out"]["rows"] if abs(x["eps"] - e) < 1e-12)
    rb_s = statistics.median(r["process_s"] for r in rb)
    th = {t: [r for r in sel if r["tool"] == "torch" and r["threads"] == t] for t in (1, 2)}
    t_acc = th[1][0]["out"]["results"][0]["accuracy"]
    att = min(statistics.median(r["out"]["results"][0]["median_s"] for r in th[t]) for t in th)
    proc = min(statistics.median(r["process_s"] for r in th[t]) for t in th)
    name = m.rsplit("/", 1)[-1].removesuffix(".safetensors")
    print(f"| {name} | {a} | {e} | {rb_acc:.4f} | {t_acc:.4f} | {100 * (rb_acc - t_acc):+.1f} | "
          f"{rb_s:.2f} | {att:.2f} | {proc:.2f} | {rb_s / proc:.2f}x | {rb_s / att:.2f}x |")
PY
