"""Peer comparator: torchattacks 3.5.1 on a redblue model file, for `bench/peers/compare.sh`.

Loads a redblue `.safetensors` model (784-625-10 ReLU MLP on pixels in [0, 1], flattened;
dropout is inverted, so eval mode is the plain two-layer forward), the first --subset MNIST
test images from --offset (redblue's verified cache), checks that the clean accuracy equals
what `redblue eval` reports, then runs each --attacks entry at each --eps with AutoAttack's
standard settings and reports the robust accuracy (the fraction of the N images whose returned
adversarial image is classified correctly) and the wall time of the attack call alone (median
over --runs; process start-up, `import torch` and loading are not in it: compare.sh times the
whole process separately). Every returned image is also checked against the L-inf budget.

Never run by CI. Usage:
  bench/peers/.venv/bin/python bench/peers/torchattacks_peer.py --model M.safetensors \
      --attacks apgd-ce,apgd-t,fab-t,square,auto --eps 0.1,0.25 --subset 1000 [--json]
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchattacks
from safetensors import safe_open

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ATTACKS = ["apgd-ce", "apgd-t", "fab-t", "square", "auto", "auto-100", "pgd"]


def idx(path):
    """Reads an IDX file, raw or gzipped (`path` or `path.gz`)."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic = int.from_bytes(data[:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def test_set(cache, offset, n):
    x = idx(os.path.join(cache, "t10k-images-idx3-ubyte"))[offset: offset + n]
    y = idx(os.path.join(cache, "t10k-labels-idx1-ubyte"))[offset: offset + n]
    # [N, 1, 28, 28]: torchattacks' Square (and AutoAttack) read channels/height/width from it.
    x = torch.from_numpy(x.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    return x, torch.from_numpy(y.astype(np.int64))


class Net(nn.Module):
    """Any redblue network (`redblue.arch` version 2) in eval mode, built layer by layer with
    the file's parameter names (conv1, fc1, ...), so `load_state_dict` checks every tensor."""

    def __init__(self, path, arch, weights, meta):
        super().__init__()
        self.steps = []
        for layer in arch["layers"]:
            t = layer["type"]
            if t == "conv2d":
                w = weights[layer["name"] + ".weight"]
                m = nn.Conv2d(w.shape[1], w.shape[0], layer["kernel"], layer["stride"], layer["padding"])
                self.add_module(layer["name"], m)
                self.steps.append(m)
            elif t == "linear":
                w = weights[layer["name"] + ".weight"]
                m = nn.Linear(w.shape[1], w.shape[0])
                self.add_module(layer["name"], m)
                self.steps.append(m)
            elif t == "relu":
                self.steps.append(F.relu)
            elif t == "max_pool2d":
                self.steps.append(lambda x, k=layer["kernel"], s=layer["stride"]: F.max_pool2d(x, k, s))
            elif t == "flatten":
                self.steps.append(lambda x: x.flatten(1))
            elif t == "normalize":
                mean = torch.tensor(layer["mean"]).view(1, -1, 1, 1)
                std = torch.tensor(layer["std"]).view(1, -1, 1, 1)
                self.steps.append(lambda x, m=mean, s=std: (x - m) / s)
            elif t == "dropout":
                continue  # the identity in eval mode
            else:
                raise SystemExit(f"{path}: unknown layer type {t!r}")
        self.load_state_dict({k: v.float() for k, v in weights.items()})
        self.input = arch["input"]
        self.requires_grad_(False)
        self.eval()
        self.meta = meta

    def forward(self, x):
        x = x.reshape(x.shape[0], *self.input)
        for f in self.steps:
            x = f(x)
        return x


def load_model(path):
    """redblue's MLP, or any versioned architecture as a `Net`."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        weights = {k: f.get_tensor(k) for k in f.keys()}
    arch = json.loads(meta.get("redblue.arch", "{}"))
    if "version" in arch:
        return Net(path, arch, weights, meta)
    return Mlp(path)


class Mlp(nn.Module):
    """redblue's MLP in eval mode: logits = fc2(relu(fc1(flatten(x))))."""

    def __init__(self, path):
        super().__init__()
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            w = {k: f.get_tensor(k) for k in f.keys()}
        arch = json.loads(meta.get("redblue.arch", "{}"))
        hidden, classes = w["fc1.weight"].shape[0], w["fc2.weight"].shape[0]
        assert w["fc1.weight"].shape[1] == 784, "expected 784 inputs"
        assert arch.get("hidden", hidden) == hidden and arch.get("classes", classes) == classes
        self.fc1, self.fc2 = nn.Linear(784, hidden), nn.Linear(hidden, classes)
        with torch.no_grad():
            for name, t in w.items():
                self.get_parameter(name).copy_(t.float())
        self.requires_grad_(False)
        self.eval()
        self.meta = meta

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.reshape(x.shape[0], -1))))


def make(name, model, eps, seed, norm="Linf"):
    """AutoAttack's standard settings for `norm` ('Linf' or 'L2'; version='standard'; see auto-100)."""
    if name == "apgd-ce":
        return torchattacks.APGD(model, norm=norm, eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed)
    if name == "apgd-t":
        return torchattacks.APGDT(model, norm=norm, eps=eps, steps=100, n_restarts=1, n_classes=10, seed=seed)
    if name == "fab-t":
        return torchattacks.FAB(model, norm=norm, eps=eps, steps=100, n_restarts=1, multi_targeted=True,
                                n_classes=10, seed=seed)
    if name == "square":
        return torchattacks.Square(model, norm=norm, eps=eps, n_queries=5000, n_restarts=1, p_init=0.8,
                                   seed=seed)
    if name == "pgd":
        # redblue's `--attack pgd` defaults: 40 steps of 2.5·eps/40 from a uniform random start.
        return torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / 40, steps=40, random_start=True)
    if name == "auto":
        return torchattacks.AutoAttack(model, norm=norm, eps=eps, version="standard", n_classes=10, seed=seed)
    if name == "auto-100":
        # torchattacks 3.5.1's AutoAttack builds APGD, APGD-T and FAB with their default steps=10;
        # AutoAttack's published standard (and redblue's `auto`) use 100: the same sequence, each
        # attack on the points still robust, with the 100-step settings above.
        return torchattacks.MultiAttack([make(a, model, eps, seed, norm) for a in ATTACKS[:4]])
    raise SystemExit(f"unknown attack {name!r} (choose from {','.join(ATTACKS)})")


def redblue_clean(binary, model, subset, offset):
    out = subprocess.run([binary, "eval", "--model", model, "--subset", str(subset), "--offset", str(offset),
                          "--json"], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)["rows"]
    return next(r["accuracy"] for r in rows if r["eps"] == 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="redblue model file (.safetensors)")
    ap.add_argument("--attacks", default=",".join(ATTACKS), help="comma list of " + ",".join(ATTACKS))
    ap.add_argument("--eps", default="0.1,0.25", help="comma list of budgets")
    ap.add_argument("--norm", default="linf", choices=["linf", "l2"], help="threat model (redblue's --norm)")
    ap.add_argument("--subset", type=int, default=1000, help="number of test images")
    ap.add_argument("--offset", type=int, default=0, help="first test image")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=1, help="timed runs per (attack, eps); the median is reported")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--cache", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "redblue", "mnist"))
    ap.add_argument("--redblue", default=os.path.join(ROOT, "target", "release", "redblue"),
                    help="redblue binary, for the clean-accuracy check")
    ap.add_argument("--no-check", action="store_true", help="skip the clean-accuracy check against redblue")
    a = ap.parse_args()
    attacks = [s.strip() for s in a.attacks.split(",") if s.strip()]
    eps_list = [float(e) for e in a.eps.split(",") if e.strip()]
    for name in attacks:
        if name not in ATTACKS:
            raise SystemExit(f"unknown attack {name!r} (choose from {','.join(ATTACKS)})")

    torch.set_num_threads(a.threads)
    model = load_model(a.model)
    x, y = test_set(a.cache, a.offset, a.subset)
    n = len(y)
    with torch.no_grad():
        clean_ok = model(x).argmax(1) == y
    clean = clean_ok.float().mean().item()
    rb_clean = None
    if not a.no_check:
        rb_clean = redblue_clean(a.redblue, a.model, a.subset, a.offset)
        print(f"clean accuracy: torch {clean:.4f}, redblue {rb_clean:.4f} ({n} images)", file=sys.stderr)
        if abs(rb_clean - clean) * n > 1.0 + 1e-6:
            raise SystemExit(f"CLEAN ACCURACY MISMATCH: torch {clean} vs redblue {rb_clean} on {n} images")

    results = []
    for name in attacks:
        for eps in eps_list:
            times = []
            for r in range(a.runs):
                torch.manual_seed(a.seed)
                atk = make(name, model, eps, a.seed, {"linf": "Linf", "l2": "L2"}[a.norm])
                t = time.perf_counter()
                adv = atk(x, y)
                times.append(time.perf_counter() - t)
            with torch.no_grad():
                adv_ok = model(adv).argmax(1) == y
            diff = (adv - x).reshape(n, -1)
            dist = diff.abs().amax(1) if a.norm == "linf" else diff.norm(dim=1)
            bad = ((dist > eps + 1e-6) | (adv.reshape(n, -1).amin(1) < 0) | (adv.reshape(n, -1).amax(1) > 1))
            results.append({
                "attack": name, "eps": eps, "n": n,
                "accuracy": adv_ok.float().mean().item(),
                # AutoAttack's own convention: robust only if also correct on the clean image.
                "accuracy_and_clean": (adv_ok & clean_ok).float().mean().item(),
                "budget_violations": int(bad.sum().item()), "max_distance": dist.max().item(), "norm": a.norm,
                "median_s": statistics.median(times), "runs_s": times, "threads": a.threads,
            })
            if not a.json:
                print(f"  done {name} eps {eps}: {results[-1]['accuracy']:.4f} in {results[-1]['median_s']:.2f} s",
                      file=sys.stderr)

    out = {
        "peer": "torchattacks", "torchattacks": torchattacks.__version__, "torch": torch.__version__,
        "model": a.model, "subset": n, "offset": a.offset, "seed": a.seed, "threads": a.threads, "runs": a.runs,
        "clean_accuracy": clean, "redblue_clean_accuracy": rb_clean, "results": results,
    }
    if a.json:
        print(json.dumps(out))
        return
    print(f"torchattacks {out['torchattacks']}, torch {out['torch']}, {a.threads} thread(s), model {a.model}")
    print(f"{n} images from {a.offset}; clean accuracy {clean:.4f} (redblue {rb_clean})")
    print("| attack | eps | robust acc | acc (adv and clean) | budget violations | median s | runs s |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in results:
        runs = ", ".join(f"{t:.2f}" for t in r["runs_s"])
        print(f"| {r['attack']} | {r['eps']} | {r['accuracy']:.4f} | {r['accuracy_and_clean']:.4f} | "
              f"{r['budget_violations']} | {r['median_s']:.2f} | {runs} |")


if __name__ == "__main__":
    main()
