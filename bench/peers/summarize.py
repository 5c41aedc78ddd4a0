"""The side-by-side table of `bench/peers/compare.sh` from its results.jsonl (one JSON object
per tool run; torch runs at any of 1 or 2 threads, the faster setting's median taken).
Usage: python3 bench/peers/summarize.py RESULTS.jsonl"""
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
    th = {t: v for t, v in th.items() if v}
    t_acc = next(iter(th.values()))[0]["out"]["results"][0]["accuracy"]
    att = min(statistics.median(r["out"]["results"][0]["median_s"] for r in th[t]) for t in th)
    proc = min(statistics.median(r["process_s"] for r in th[t]) for t in th)
    name = m.rsplit("/", 1)[-1].removesuffix(".safetensors")
    print(f"| {name} | {a} | {e} | {rb_acc:.4f} | {t_acc:.4f} | {100 * (rb_acc - t_acc):+.1f} | "
          f"{rb_s:.2f} | {att:.2f} | {proc:.2f} | {rb_s / proc:.2f}x | {rb_s / att:.2f}x |")
