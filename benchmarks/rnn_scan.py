"""``python -m benchmarks.rnn_scan [--quick] [--reps N]``: a tanh RNN written with ``tg.scan``
(issue 14's numbers): forward+gradient on the C backend against a hand-written NumPy forward
and backward, in the same run.

Measures the first call in a fresh process with a cold cache (a temporary
``TRACEGRAD_CACHE_DIR``), split into its compile part (trace, passes, C generation, cc,
loading) and the run, at 10, 1,000 and 10,000 steps; and the steady-state median with one
thread and with the default threads, C and NumPy alternating in the same process. Hidden 128,
batch 32, float64.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HIDDEN, BATCH = 128, 32


def rnn_loss(W, b, h0, xs):
    """0.5 * mean of every hidden state squared, h_t = tanh(h_{t-1} @ W + x_t + b)."""
    import tracegrad as tg
    from tracegrad import numpy as tnp

    def step(h, x):
        h = tnp.tanh(h @ W + x + b)
        return h, h
    _, hs = tg.scan(step, h0, xs)
    return 0.5 * tnp.mean(hs * hs)


def numpy_value_and_grad(W, b, h0, xs):
    """The same loss and its gradient in W and b, by hand: a forward loop storing every state,
    a backward loop through them (what one would write without a framework)."""
    T = len(xs)
    hs = np.empty((T,) + h0.shape, h0.dtype)
    h = h0
    for t in range(T):
        h = np.tanh(h @ W + xs[t] + b)
        hs[t] = h
    scale = 1.0 / hs.size
    loss = 0.5 * scale * np.sum(hs * hs)
    dW, db, dh = np.zeros_like(W), np.zeros_like(b), np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        dh += scale * hs[t]
        da = dh * (1 - hs[t] * hs[t])
        dW += (hs[t - 1] if t else h0).T @ da
        db += da.sum(0)
        dh = da @ W.T
    return loss, (dW, db)


def make_args(T: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)
    b = 0.1 * rng.standard_normal(HIDDEN)
    h0 = rng.standard_normal((BATCH, HIDDEN)) * 0.5
    xs = rng.standard_normal((T, BATCH, HIDDEN)) * 0.5
    return W, b, h0, xs


def compiled(backend: str = "c"):
    import tracegrad as tg
    return tg.jit(tg.value_and_grad(rnn_loss, argnums=(0, 1)), backend=backend)


_FIRST_CALL = """
import resource, sys, time
import tracegrad as tg
from benchmarks.rnn_scan import compiled, make_args


def cpu():  # this process and its finished children (the C compiler)
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


args = make_args(int(sys.argv[1]))
f = compiled()
t0, c0 = time.perf_counter(), cpu()
f.lower(*args)
t1, c1 = time.perf_counter(), cpu()
f(*args)
t2 = time.perf_counter()
f(*args)
print(t2 - t0, t1 - t0, time.perf_counter() - t2, c1 - c0)
"""


def first_call(T: int) -> tuple[float, float, float, float]:
    """(first call, its compile part, a later call, the compile part's CPU seconds) in a fresh
    process with an empty cache directory. The first call is trace + passes + C generation +
    compiling + loading (the compile part, ``lower``) and one run; imports and arguments
    excluded. CPU seconds (the process and the compiler) vary less on a busy machine."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="tg-rnn-cold-") as cache:
        env = dict(os.environ, TRACEGRAD_CACHE_DIR=cache, TRACEGRAD_PROGRAM_CACHE="0")
        out = subprocess.run([sys.executable, "-c", _FIRST_CALL, str(T)], cwd=root, env=env,
                             capture_output=True, text=True, check=True)
    first, compile_part, later, compile_cpu = (float(x) for x in out.stdout.split())
    return first, compile_part, later, compile_cpu


def _medians(fns, args, reps: int) -> list[float]:
    """Median seconds of each of ``fns``, called in turn (so a load that comes and goes on a
    shared machine hits them alike)."""
    for fn in fns:
        fn(*args)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn(*args)
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100 steps, 3 repeats")
    ap.add_argument("--reps", type=int, default=7)
    opts = ap.parse_args()
    T = 100 if opts.quick else 1000
    reps = 3 if opts.quick else opts.reps
    args = make_args(T)

    f = compiled()
    got = f(*args)
    ref = numpy_value_and_grad(*args)
    err = max(float(np.max(np.abs(np.asarray(g) - r)) / (np.max(np.abs(r)) + 1e-300))
              for g, r in zip([got[0], *got[1]], [ref[0], *ref[1]]))
    print(f"tanh RNN hidden {HIDDEN}, batch {BATCH}, {T} steps, float64, forward+gradient "
          f"(W, b); max relative difference C vs hand NumPy {err:.1e}")

    n_first = max(3, reps // 2)
    print(f"first call, fresh process, cold cache (median of {n_first}): total = compile "
          "(trace, passes, C, cc, load) + the first run")
    firsts = {}
    for steps in ((10, 100) if opts.quick else (10, 1000, 10000)):
        runs = [first_call(steps) for _ in range(n_first)]
        firsts[steps] = [statistics.median(r[k] for r in runs) for k in range(4)]
        total, comp, later, comp_cpu = firsts[steps]
        print(f"  {steps:>6} steps: total {total:.3f} s  compile {comp:.3f} s "
              f"({comp_cpu:.3f} CPU s)  a later call {later:.3f} s")
    lo, hi = min(firsts), max(firsts)
    print(f"  {hi} vs {lo} steps: compile {firsts[hi][1] / firsts[lo][1]:.2f}x "
          f"(CPU {firsts[hi][3] / firsts[lo][3]:.2f}x), first call "
          f"{firsts[hi][0] / firsts[lo][0]:.2f}x")
    print(f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")

    ex = f.lower(*args).executable
    default_threads = ex.threads
    print(f"steady state, median of {reps}, C and NumPy calls alternating (ratio: C / NumPy):")
    from threadpoolctl import threadpool_limits  # the BLAS NumPy and tracegrad both call
    for label, n in (("1 thread", 1), (f"default ({default_threads} threads)", None)):
        with threadpool_limits(n):
            ex.set_threads(n or default_threads)
            t_c, t_np = _medians([f, numpy_value_and_grad], args, reps)
        ex.set_threads(default_threads)
        print(f"  {label:<22} C {t_c * 1e3:8.1f} ms   NumPy {t_np * 1e3:8.1f} ms   "
              f"ratio {t_c / t_np:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
