"""PyTorch counterpart of W5: the work of redblue's default `reproduce` run, same sizes.

What `redblue reproduce` does by default, step for step (see src/experiments/reproduce/):
- grid: 9 models (l1, l2 in {0, 1e-5, 1e-4}^2), 20 epochs of the paper MLP each (dropout
  0.2/0.5, batch 128, RMSProp lr 1e-3 / alpha 0.9 / eps 1e-6, L1/L2 on the weight matrices);
- adversarial training: 4 models (eps 0.10 and 0.25, without and with one penalty pair),
  20 epochs of loss 0.5*CE(x) + 0.5*CE(x_fgsm), the FGSM images crafted per batch in eval mode;
- every one of the 13 models: FGSM clipped and unclipped at eps 0.05/0.075/0.10/0.25 on the
  10k test images, PGD-40 (random start) at eps 0.10 and 0.25 on the 10k test images, FGSM at
  0.10 and 0.25 on the same images;
- curves: 4 models, FGSM and PGD-40 at 12 eps (0.025 .. 0.30) on 1000 test images.
The figure and report writing (well under a second in redblue) are left out.

Prints one JSON object with the wall time. Models run one after another with --threads torch
threads, or with --jobs worker processes (one torch thread each), the way redblue runs two
models at a time on two cores. Never run by CI.
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from bench import Mlp, input_grad, load

EPS_FGSM = [0.05, 0.075, 0.10, 0.25]
EPS_PGD = [0.10, 0.25]
EPS_CURVE = [i * 0.025 for i in range(1, 13)]


def penalty(model, l1, l2):
    ws = [model.fc1.weight, model.fc2.weight]
    return sum(l1 * w.abs().sum() + l2 * (w * w).sum() for w in ws)


def fgsm(model, x, y, eps_list, clip):
    model.eval()
    s = input_grad(model, x, y).sign()
    out = []
    with torch.no_grad():
        for e in eps_list:
            xa = x + e * s
            out.append(xa.clamp(0, 1) if clip else xa)
    return out


def train(x, y, l1, l2, adv_eps, seed, epochs=20):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Mlp()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-6, momentum=0.0)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 128):
            xb, yb = x[perm[i: i + 128]], y[perm[i: i + 128]]
            if adv_eps is None:
                model.train()
                loss = F.cross_entropy(model(xb), yb)
            else:
                for p in model.parameters():
                    p.requires_grad_(False)
                (xa,) = fgsm(model, xb, yb, [adv_eps], True)
                for p in model.parameters():
                    p.requires_grad_(True)
                model.train()
                loss = 0.5 * F.cross_entropy(model(xb), yb) + 0.5 * F.cross_entropy(model(xa), yb)
            if l1 or l2:
                loss = loss + penalty(model, l1, l2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def fgsm_sweep(model, x, y, eps_list, clip):
    acc = [0.0] * (len(eps_list) + 1)
    for i in range(0, len(y), 1000):
        xb, yb = x[i: i + 1000], y[i: i + 1000]
        acc[0] += accuracy(model, xb, yb) * len(yb)
        for k, xa in enumerate(fgsm(model, xb, yb, eps_list, clip)):
            acc[k + 1] += accuracy(model, xa, yb) * len(yb)
    return [a / len(y) for a in acc]


def pgd_sweep(model, x, y, eps_list, gen, steps=40):
    acc = [0.0] * (len(eps_list) + 1)
    for i in range(0, len(y), 1000):
        xb, yb = x[i: i + 1000], y[i: i + 1000]
        acc[0] += accuracy(model, xb, yb) * len(yb)
        for k, eps in enumerate(eps_list):
            alpha = 2.5 * eps / steps
            xa = (xb + (torch.rand(xb.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
            for _ in range(steps):
                g = input_grad(model, xa, yb)
                with torch.no_grad():
                    xa = torch.min(torch.max(xa + alpha * g.sign(), xb - eps), xb + eps).clamp(0, 1)
            acc[k + 1] += accuracy(model, xa, yb) * len(yb)
    return [a / len(y) for a in acc]


def one_model(job):
    cache, threads, l1, l2, adv_eps, smoke = job
    torch.set_num_threads(threads)
    xtr, ytr, xte, yte = load(cache)
    if smoke:  # a tiny run that only checks the script works
        xtr, ytr, xte, yte = xtr[:1280], ytr[:1280], xte[:1000], yte[:1000]
    gen = torch.Generator().manual_seed(0)
    model = train(xtr, ytr, l1, l2, adv_eps, 0, epochs=1 if smoke else 20)
    return {
        "l1": l1, "l2": l2, "adv_eps": adv_eps,
        "fgsm_clipped": fgsm_sweep(model, xte, yte, EPS_FGSM, True),
        "fgsm_unclipped": fgsm_sweep(model, xte, yte, EPS_FGSM, False),
        "pgd": pgd_sweep(model, xte, yte, EPS_PGD, gen),
        "fgsm_pgd_set": fgsm_sweep(model, xte, yte, EPS_PGD, True),
        "state": {k: v.clone() for k, v in model.state_dict().items()},
    }


def curves(job):
    cache, threads, state = job
    torch.set_num_threads(threads)
    _, _, xte, yte = load(cache)
    model = Mlp()
    model.load_state_dict(state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(0)
    x, y = xte[:1000], yte[:1000]
    return fgsm_sweep(model, x, y, EPS_CURVE, True), pgd_sweep(model, x, y, EPS_CURVE, gen)


def run_all(fn, jobs, workers):
    if workers <= 1:
        return [fn(j) for j in jobs]
    import multiprocessing as mp
    with mp.get_context("spawn").Pool(workers) as pool:
        return pool.map(fn, jobs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2, help="torch threads per model")
    ap.add_argument("--jobs", type=int, default=1, help="models trained at once (processes)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script")
    ap.add_argument("--cache", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "redblue", "mnist"))
    a = ap.parse_args()
    t0 = time.perf_counter()
    grid = [(a.cache, a.threads, l1, l2, None, a.smoke) for l1 in (0.0, 1e-5, 1e-4) for l2 in (0.0, 1e-5, 1e-4)]
    grid_res = run_all(one_model, grid, a.jobs)
    t_grid = time.perf_counter() - t0
    chosen = (1e-4, 1e-5)  # the cost does not depend on which pair is chosen
    adv = [(a.cache, a.threads, l1, l2, e, a.smoke) for e in EPS_PGD for (l1, l2) in ((0.0, 0.0), chosen)]
    adv_res = run_all(one_model, adv, a.jobs)
    t_adv = time.perf_counter() - t0 - t_grid
    states = [grid_res[0]["state"], grid_res[7]["state"], adv_res[0]["state"], adv_res[2]["state"]]
    run_all(curves, [(a.cache, a.threads, s) for s in states], a.jobs)
    total = time.perf_counter() - t0
    print(json.dumps({
        "name": "w5", "threads": a.threads, "jobs": a.jobs, "median_s": total, "runs": [total],
        "grid_s": t_grid, "adv_s": t_adv, "curves_s": total - t_grid - t_adv,
        "clean_acc_grid": [r["fgsm_clipped"][0] for r in grid_res],
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
