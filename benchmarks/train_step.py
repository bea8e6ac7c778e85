"""Time per training step of the digits MLP (64-128-128-10, ReLU, softmax cross-entropy, Adam,
batch 64, float32) in each mode, in one run: ``tg.compile`` step, eager ``loss.backward()``,
hand-written NumPy (forward, backward and Adam by hand), and PyTorch eager when installed.

Reports the median of ``--repeat`` timed steps after warm-up (first-call compile excluded; it is
reported separately), and the ratio to hand-written NumPy, as BENCHMARKS.md asks.

    python benchmarks/train_step.py [--repeat 200] [--batch 64] [--hidden 128]

These matrices are small: on a busy 2-core machine BLAS threads spin and every mode gets several
times slower; ``OPENBLAS_NUM_THREADS=1`` gives stable numbers.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tracegrad as tg
from tracegrad import nn


def data(batch, seed=0, features=64):
    if features != 64:  # W2's shapes: random data of that size
        rng = np.random.default_rng(seed)
        return rng.random((batch, features), dtype=np.float32), rng.integers(0, 10, batch)
    try:
        from sklearn.datasets import load_digits
        d = load_digits()
        x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    except ImportError:  # same shapes without scikit-learn
        rng = np.random.default_rng(seed)
        x = rng.random((1797, 64), dtype=np.float32)
        y = rng.integers(0, 10, 1797)
    return x[:batch], y[:batch]


def timeit(fn, repeat, warmup=5):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def tracegrad_steps(x, y, hidden, sgd=False):
    features = x.shape[1]
    out = {}
    for mode in ("compile", "eager"):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                              nn.ReLU(), nn.Linear(hidden, 10))
        crit = nn.CrossEntropyLoss()
        opt = (tg.optim.SGD(model.parameters(), lr=0.01) if sgd else
               tg.optim.Adam(model.parameters(), lr=1e-3))
        xt, yt = tg.tensor(x), tg.tensor(y)

        def step():
            opt.zero_grad()
            loss = crit(model(xt), yt)
            loss.backward()
            opt.step()
            return loss

        fn = tg.compile(step) if mode == "compile" else step
        t = time.perf_counter()
        fn().item()
        first = time.perf_counter() - t
        out[mode] = (lambda fn=fn: fn().item(), first)
    return out


def numpy_step(x, y, hidden, sgd=False):
    """Forward, backward and Adam (or SGD) written by hand (the reference of BENCHMARKS.md)."""
    rng = np.random.default_rng(0)
    sizes = [(x.shape[1], hidden), (hidden, hidden), (hidden, 10)]
    params = []
    for fi, fo in sizes:
        b = 1 / np.sqrt(fi)
        params += [rng.uniform(-b, b, (fo, fi)).astype(np.float32),
                   rng.uniform(-b, b, fo).astype(np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    state = {"t": 0}
    n = len(y)
    onehot = np.eye(10, dtype=np.float32)[y]

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h1 = x @ w1.T + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2.T + b2
        a2 = np.maximum(h2, 0)
        z = a2 @ w3.T + b3
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), y]))
        dz = (e / s - onehot) / n
        gw3, gb3 = dz.T @ a2, dz.sum(0)
        da2 = dz @ w3
        dh2 = da2 * (h2 > 0)
        gw2, gb2 = dh2.T @ a1, dh2.sum(0)
        da1 = dh2 @ w2
        dh1 = da1 * (h1 > 0)
        gw1, gb1 = dh1.T @ x, dh1.sum(0)
        state["t"] += 1
        t = state["t"]
        if sgd:
            for p, g in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3)):
                p -= 0.01 * g
            return loss
        for p, g, mi, vi in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3), m, v):
            mi *= 0.9
            mi += 0.1 * g
            vi *= 0.999
            vi += 0.001 * g * g
            denom = np.sqrt(vi) / np.sqrt(1 - 0.999 ** t) + 1e-8
            p -= (1e-3 / (1 - 0.9 ** t)) * mi / denom
        return loss
    return step


def torch_step(x, y, hidden, sgd=False):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, 10))
    opt = (torch.optim.SGD(model.parameters(), lr=0.01) if sgd else
           torch.optim.Adam(model.parameters(), lr=1e-3))
    crit = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = crit(model(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--w2", action="store_true", help="BENCHMARKS.md's W2 instead: 784-256-256-10, "
                    "batch 256, SGD lr 0.01, random data")
    args = ap.parse_args(argv)
    if args.w2:
        args.batch, args.hidden = 256, 256
    x, y = data(args.batch, features=784 if args.w2 else 64)
    sgd = args.w2
    rows = []
    ref = timeit(numpy_step(x, y, args.hidden, sgd), args.repeat)
    for mode, (fn, first) in tracegrad_steps(x, y, args.hidden, sgd).items():
        label = "tg.compile step" if mode == "compile" else "eager loss.backward() + step()"
        rows.append((label, timeit(fn, args.repeat), first))
    rows.append(("hand-written NumPy", ref, None))
    ts = torch_step(x, y, args.hidden, sgd)
    if ts is not None:
        rows.append(("PyTorch eager", timeit(ts, args.repeat), None))
    print(f"{'W2' if args.w2 else 'digits'} MLP {x.shape[1]}-{args.hidden}-{args.hidden}-10, "
          f"batch {args.batch}, {'SGD' if sgd else 'Adam'}, float32; median of {args.repeat} steps")
    print(f"{'mode':34} {'us/step':>9} {'vs NumPy':>9} {'first call':>11}")
    for label, t, first in rows:
        f = f"{first:.3f} s" if first is not None else ""
        print(f"{label:34} {t * 1e6:9.1f} {ref / t:8.2f}x {f:>11}")
    if ts is None:
        print("(PyTorch is not installed: no PyTorch row)")
    import sys
    programs = sys.modules["tracegrad.tensor"]._PROGRAMS.values()
    kinds = sorted({type(op._exe).__name__ for op in programs if op._exe is not None})
    print(f"tracegrad programs ran as: {', '.join(kinds)} (TRACEGRAD_BACKEND picks the backend)")
    return rows


if __name__ == "__main__":
    main()
