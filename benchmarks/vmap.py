"""vmap's numbers (issue 16), ``python -m benchmarks.vmap [--backend c|numpy]``:

1. Per-example gradients of the digits MLP (64 -> 128 -> 10, softmax cross-entropy, batch 64):
   ``jit(vmap(grad(loss), in_axes=(None, 0, 0)))`` against the batch gradient ``jit(grad(loss))``
   (target: at most 2x) and a Python loop of 64 jitted per-example gradient calls (target: at
   least 10x slower than vmap).
2. Hessian of ``sum(log(1 + exp(A @ x)))`` for x of 10, 100, 1,000: equations in the compiled
   program (must not grow with x) and time against the hand formula
   ``A.T @ diag(s (1 - s)) @ A`` in NumPy (target: within 3x).

Times are the best of several repeats (the machine is shared); run once with
``OMP_NUM_THREADS=1`` and once without to get single-thread and default-thread figures.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def _best(fn, reps=7, inner=20) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = np.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    m = np.max(logits, axis=-1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=-1, keepdims=True))
    return -np.sum(logp * y)


def per_example(backend: str) -> None:
    import tracegrad as tg
    rng = np.random.default_rng(0)
    params = (rng.normal(size=(64, 128)) * 0.1, np.zeros(128),
              rng.normal(size=(128, 10)) * 0.1, np.zeros(10))
    x = rng.normal(size=(64, 64))
    y = np.eye(10)[rng.integers(0, 10, 64)]
    batch = tg.jit(tg.grad(mlp_loss), backend=backend)
    per = tg.jit(tg.vmap(tg.grad(mlp_loss), in_axes=(None, 0, 0)), backend=backend)
    one = tg.jit(tg.grad(mlp_loss), backend=backend)
    got = per(params, x, y)
    for g, b in zip(got, batch(params, x, y)):  # the per-example gradients sum to the batch's
        np.testing.assert_allclose(g.sum(0), b, rtol=1e-9, atol=1e-10)
    t_batch = _best(lambda: batch(params, x, y))
    t_vmap = _best(lambda: per(params, x, y))
    t_loop = _best(lambda: [one(params, x[i], y[i]) for i in range(64)], reps=5, inner=3)
    print(f"per-example gradients, digits MLP, batch 64 ({backend}):")
    print(f"  batch gradient        {t_batch * 1e3:8.3f} ms")
    print(f"  vmap(grad)            {t_vmap * 1e3:8.3f} ms   {t_vmap / t_batch:5.2f}x the batch "
          "gradient (target <= 2x)")
    print(f"  loop of 64 grad calls {t_loop * 1e3:8.3f} ms   {t_loop / t_vmap:5.1f}x slower than "
          "vmap (target >= 10x)")


def hessian(backend: str) -> None:
    import tracegrad as tg
    rng = np.random.default_rng(1)
    print(f"Hessian of sum(log(1 + exp(A @ x))), A: 50 x n ({backend}):")
    for n in (10, 100, 1000):
        a, x = rng.normal(size=(50, n)) / np.sqrt(n), rng.normal(size=n)

        def f(x):
            return np.sum(np.log1p(np.exp(a @ x)))

        def hand(x):
            s = 1 / (1 + np.exp(-(a @ x)))
            return a.T @ (a * (s * (1 - s))[:, None])
        h = tg.jit(tg.hessian(f), backend=backend)
        t0 = time.perf_counter()
        got = h(x)
        first = time.perf_counter() - t0
        np.testing.assert_allclose(got, hand(x), rtol=1e-9, atol=1e-12)
        eqns = len(tg.make_ir(tg.hessian(f))(x).eqns)
        t_tg, t_hand = _best(lambda: h(x)), _best(lambda: hand(x))
        print(f"  n={n:5d}: {eqns:3d} equations, first call {first:6.3f} s, "
              f"{t_tg * 1e3:8.3f} ms vs hand {t_hand * 1e3:8.3f} ms = {t_tg / t_hand:5.2f}x "
              "(target <= 3x)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="c", choices=["c", "numpy"])
    a = p.parse_args(argv)
    per_example(a.backend)
    hessian(a.backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
