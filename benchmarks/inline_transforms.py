"""What a transform written inline costs per call against a hoisted one (``python -m
benchmarks.inline_transforms``): ``tg.grad(f)(x)`` in a loop, a lambda re-made each iteration,
``tg.hvp`` inline, and a hoisted ``g = tg.grad(f)`` as the baseline (issue 13 item 3: within
about 10 us). A negative-binomial log-likelihood over closed-over count data, as in HIPS
autograd's example. Per-call times (best of 15 runs) in microseconds, after a warm-up call compiled each."""
from __future__ import annotations

import sys
import time

import numpy as np

RNG = np.random.default_rng(0)
COUNTS = RNG.negative_binomial(5, 0.3, size=500).astype(np.float64)


def _gammaln(x):
    # Stirling's series (x > 0.5 here): enough for a benchmark, and all of it traced
    return (x - 0.5) * np.log(x) - x + 0.5 * np.log(2 * np.pi) + 1 / (12 * x)


def nb_loglik(params):
    r = np.exp(params[0])
    p = 1 / (1 + np.exp(-params[1]))
    return -np.sum(_gammaln(COUNTS + r) - _gammaln(r) + r * np.log(1 - p) + COUNTS * np.log(p))


def _median_us(fn, reps=15, inner=200) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return min(times) * 1e6  # the least disturbed run: the machine is shared


def main() -> int:
    import tracegrad as tg
    x = np.array([0.5, -0.3])
    v = np.array([1.0, 0.5])
    hoisted = tg.grad(nb_loglik)
    hoisted_hvp = tg.jit(lambda x, v: tg.hvp(nb_loglik, (x,), (v,)))
    rows = {
        "hoisted g = tg.grad(f); g(x)": _median_us(lambda: hoisted(x)),
        "inline tg.grad(f)(x)": _median_us(lambda: tg.grad(nb_loglik)(x)),
        "inline tg.grad(lambda p: f(p))(x)":
            _median_us(lambda: tg.grad(lambda p: nb_loglik(p) * 1.0)(x)),
        "hoisted jit(hvp) (x, v)": _median_us(lambda: hoisted_hvp(x, v)),
        "inline tg.hvp(f, (x,), (v,))": _median_us(lambda: tg.hvp(nb_loglik, (x,), (v,))),
        "inline tg.value_and_grad(f)(x)": _median_us(lambda: tg.value_and_grad(nb_loglik)(x)),
    }
    base = rows["hoisted g = tg.grad(f); g(x)"]
    print(f"backend: {tg.grad(nb_loglik).lower(x).stats['backend']}")
    for name, us in rows.items():
        print(f"{name:40} {us:9.1f} us   (+{us - base:6.1f} us vs hoisted grad)")
    info = tg.transform_cache_info()
    print(f"transform cache: {info.hits} hits, {info.misses} misses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
