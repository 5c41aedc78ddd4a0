"""PyTorch comparator for `redblue bench`: the same workloads with the same hyper-parameters.

W1: one training epoch of the paper MLP (784-625-10, ReLU, dropout 0.2 on the input and 0.5 on
    the hidden layer, N(0, 0.01) init, batch 128, RMSProp alpha 0.9 / eps 1e-6 outside the
    square root / lr 1e-3 -- torch.optim.RMSprop is exactly the paper's formula).
W2: FGSM (one input gradient, eval mode, summed CE) at eps 0.05/0.075/0.1/0.25 over the 10k
    test set in batches of 1000, clipped to [0, 1], plus clean evaluation.
W3: PGD-40 (random start, step 2.5*eps/40, projection + clipping) at eps 0.1 over 1000 test
    images, plus evaluation.
W4: 50 training batches (batch 128, the same RMSProp) of Madry et al.'s MNIST CNN (conv 5x5x32
    pad 2, max-pool 2, conv 5x5x64 pad 2, max-pool 2, fc 1024, fc 10; PyTorch's default
    initialisation) on the first 6400 training images.

Prints one JSON object per workload: the median of --runs timed runs after one warm-up, for
the thread count given (the compare script tries 1 and 2 and keeps the faster).
Reads the verified MNIST files from redblue's cache (run `redblue data fetch` first).
Never run by CI.
"""
import argparse
import json
import os
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load(cache):
    d = lambda n: os.path.join(cache, n)
    xtr = torch.from_numpy(idx(d("train-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255)
    ytr = torch.from_numpy(idx(d("train-labels-idx1-ubyte")).astype(np.int64))
    xte = torch.from_numpy(idx(d("t10k-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255)
    yte = torch.from_numpy(idx(d("t10k-labels-idx1-ubyte")).astype(np.int64))
    return xtr, ytr, xte, yte


class Mlp(nn.Module):
    def __init__(self, hidden=625):
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)
        self.fc2 = nn.Linear(hidden, 10)
        for layer in (self.fc1, self.fc2):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        x = F.dropout(x, 0.2, self.training)
        h = F.dropout(F.relu(self.fc1(x)), 0.5, self.training)
        return self.fc2(h)


class MadryCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 1024)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):
        x = x.view(-1, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def epoch(model, opt, x, y, gen):
    model.train()
    perm = torch.randperm(len(y), generator=gen)
    for i in range(0, len(y), 128):
        idx_ = perm[i: i + 128]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx_]), y[idx_])
        loss.backward()
        opt.step()


def input_grad(model, x, y):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm_sweep(model, x, y, eps_list):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    correct = [0] * (len(eps_list) + 1)
    for i in range(0, len(y), 1000):
        xb, yb = x[i: i + 1000], y[i: i + 1000]
        with torch.no_grad():
            correct[0] += (model(xb).argmax(1) == yb).sum().item()
        s = input_grad(model, xb, yb).sign()
        with torch.no_grad():
            for k, e in enumerate(eps_list):
                correct[k + 1] += (model((xb + e * s).clamp(0, 1)).argmax(1) == yb).sum().item()
    return correct


def pgd(model, x, y, eps, steps, gen):
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    alpha = 2.5 * eps / steps
    correct = 0
    for i in range(0, len(y), 1000):
        xb, yb = x[i: i + 1000], y[i: i + 1000]
        xa = (xb + (torch.rand(xb.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
        for _ in range(steps):
            g = input_grad(model, xa, yb)
            with torch.no_grad():
                xa = torch.min(torch.max(xa + alpha * g.sign(), xb - eps), xb + eps).clamp(0, 1)
        with torch.no_grad():
            correct += (model(xa).argmax(1) == yb).sum().item()
    return correct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=["w1", "w2", "w3", "w4"], required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cache", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "redblue", "mnist"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    xtr, ytr, xte, yte = load(a.cache)
    model = MadryCnn() if a.workload == "w4" else Mlp()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-6, momentum=0.0)
    if a.workload == "w4":
        run = lambda: epoch(model, opt, xtr[:6400], ytr[:6400], gen)
        samples = 6400
    elif a.workload == "w1":
        run = lambda: epoch(model, opt, xtr, ytr, gen)
        samples = len(ytr)
    else:
        epoch(model, opt, xtr, ytr, gen)  # a trained model, not timed
        if a.workload == "w2":
            run = lambda: fgsm_sweep(model, xte, yte, [0.05, 0.075, 0.10, 0.25])
            samples = len(yte)
        else:
            run = lambda: pgd(model, xte[:1000], yte[:1000], 0.1, 40, gen)
            samples = 1000
    run()
    times = []
    for _ in range(a.runs):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    m = statistics.median(times)
    print(json.dumps({
        "name": a.workload, "threads": a.threads, "runs": times, "median_s": m,
        "samples_per_s": samples / m, "torch": torch.__version__,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
