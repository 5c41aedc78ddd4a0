#!/usr/bin/env python3
"""An independent CROWN for one-hidden-layer ReLU nets in numpy, to cross-check redblue's.

Zhang et al. 2018 (arXiv:1811.00866), written from the paper for this one case: the
pre-activation box is exact for the affine first layer, each unstable unit is relaxed by
the chord (negative coefficient) or the adaptive lower slope (1 if u >= -l else 0), the
relaxation is pulled back to the input and minimised over the L-inf box intersected with
[0, 1]; the bound reported per margin is the larger of that and IBP's. Plain float64, no
rounding allowance: it is the reference for the *value*, not a certificate.

    crown_numpy.py MODEL.safetensors IDX_DIR EPS N STATUS.json

reads the first N test images, bounds them at EPS, and compares the images it verifies with
the statuses redblue's `certify --method crown --out STATUS.json` wrote for the same eps
(redblue adds rounding allowances, so it may verify a few fewer, never more), and prints the
seconds its own bounds took (to set beside the `bounds s` column of redblue's row).
"""
import json
import sys
import time

import numpy as np
from safetensors.numpy import load_file


def idx(path):
    raw = open(path, "rb").read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def bounds(w1, b1, w2, b2, x, y, eps):
    """Lower bounds [n, c] of z_y - z_j (inf at j = y). w1 [d, h], w2 [h, c]."""
    lo, hi = np.clip(x - eps, 0, 1), np.clip(x + eps, 0, 1)
    c0, r0 = (lo + hi) / 2, (hi - lo) / 2
    zc, zr = c0 @ w1 + b1, r0 @ np.abs(w1)
    l, u = zc - zr, zc + zr
    n, c = x.shape[0], w2.shape[1]
    out = np.full((n, c), np.inf)
    for j in range(c):
        v = w2[:, y].T - w2[:, j]  # [n, h]
        ibp = (b2[y] - b2[j]) + np.minimum(v * np.maximum(l, 0), v * np.maximum(u, 0)).sum(1)
        unstable = (l < 0) & (u > 0)
        chord = np.where(unstable, u / np.where(unstable, u - l, 1), 0)
        slope = np.where(l >= 0, 1.0, np.where(u <= 0, 0.0, np.where(v < 0, chord, (u >= -l) * 1.0)))
        icpt = np.where(unstable & (v < 0), -chord * l, 0)
        g = v * slope  # coefficients of z
        lam = g @ w1.T  # [n, d]
        konst = (b2[y] - b2[j]) + (g * b1).sum(1) + (v * icpt).sum(1)
        crown = konst + np.minimum(lam * lo, lam * hi).sum(1)
        out[:, j] = np.where(y == j, np.inf, np.maximum(ibp, crown))
    return out


def main():
    model, data, eps, n, status = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    p = {k: v.astype(np.float64) for k, v in load_file(model).items()}
    w1, b1, w2, b2 = p["fc1.weight"].T, p["fc1.bias"], p["fc2.weight"].T, p["fc2.bias"]
    x = idx(f"{data}/t10k-images-idx3-ubyte")[:n].reshape(n, -1).astype(np.float32).astype(np.float64) / 255.0
    y = idx(f"{data}/t10k-labels-idx1-ubyte")[:n].astype(np.int64)
    logits = np.maximum(x @ w1 + b1, 0) @ w2 + b2
    correct = logits.argmax(1) == y
    t = time.perf_counter()
    ours = correct & (bounds(w1, b1, w2, b2, x, y, eps).min(1) > 0)
    seconds = time.perf_counter() - t
    s = json.load(open(status))
    row = [k for k, r in enumerate(s["rows"]) if abs(r["eps"] - eps) < 1e-12]
    if not row or s["images"] != n or s["offset"] != 0:
        sys.exit(f"{status}: no row for eps {eps} over the first {n} images")
    theirs = np.array([t == "verified" for t in s["statuses"][row[0]]])
    both = int((ours & theirs).sum())
    print(f"eps {eps}, {n} images: numpy CROWN verifies {int(ours.sum())}, redblue {int(theirs.sum())}, both {both}")
    print(f"  redblue only: {int((theirs & ~ours).sum())} (must be 0); numpy only: {int((ours & ~theirs).sum())}")
    print(f"  numpy bounds: {seconds:.2f} s (redblue's own: the 'bounds s' column of certify)")
    sys.exit(1 if (theirs & ~ours).any() else 0)


if __name__ == "__main__":
    main()
