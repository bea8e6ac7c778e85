"""``python -m benchmarks [--quick] [--only W1,W3] [--backends numpy,c] [--reps N]``

Times W1-W6 (shared/BENCHMARKS.md) forward+gradient for each tracegrad backend against NumPy
eager with a hand-written backward, in the same process, and prints medians and speed-ups
(eager time / tracegrad time; above 1 is faster than NumPy). Also the W2 SGD step, the forward
alone, first-call latency of the W2 gradient in a fresh process, and import time.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from . import workloads as W


def _median_seconds(fn, args, reps: int, min_time: float = 0.0) -> float:
    for _ in range(3):
        fn(*args)  # warm-up: compile, caches, arenas
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _batch_median(fn, args, reps: int, inner: int) -> float:
    """Median per-call time of ``inner`` back-to-back calls (for microsecond workloads)."""
    for _ in range(50):
        fn(*args)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn(*args)
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def _flat(x):
    from tracegrad.pytree import tree_flatten
    return [np.asarray(v) for v in tree_flatten(x)[0]]


def _agree(a, b, rtol=2e-3, atol=1e-4) -> str:
    fa, fb = _flat(a), _flat(b)
    if len(fa) != len(fb):
        return f"structure differs ({len(fa)} vs {len(fb)} arrays)"
    worst = 0.0
    for x, y in zip(fa, fb):
        x, y = x.astype(np.float64), y.astype(np.float64)
        err = np.max(np.abs(x - y) / (atol + rtol * np.abs(y))) if x.size else 0.0
        worst = max(worst, float(err))
    return "ok" if worst <= 1 else f"MISMATCH ({worst:.1f}x tolerance)"


def build(backend: str):
    import tracegrad as tg
    jit = lambda f: tg.jit(f, backend=backend)  # noqa: E731
    vg_mlp = tg.value_and_grad(W.mlp_loss)
    return {
        "W1": (jit(tg.value_and_grad(W.w1_f, argnums=(0, 1))), jit(W.w1_f)),
        "W2": (jit(vg_mlp), jit(W.mlp_loss)),
        "W2-sgd": (jit(W.sgd_step_traced(vg_mlp)), None),
        "W3": (jit(tg.value_and_grad(W.w3_f)), jit(W.w3_f)),
        "W4": (jit(tg.value_and_grad(W.w4_f, argnums=(0, 1, 2))), jit(W.w4_f)),
        "W5": (jit(tg.value_and_grad(W.w5_f)), jit(W.w5_f)),
        "W6": (jit(lambda a, x, v: tg.hvp(lambda y: W.w6_f(a, y), (x,), (v,))), None),
    }


EAGER = {
    "W1": (W.w1_eager, W.w1_f, W.w1_args),
    "W2": (W.mlp_eager, W.mlp_loss, W.mlp_args),
    "W2-sgd": (W.sgd_step_eager, None, W.mlp_args),
    "W3": (W.w3_eager, W.w3_f, W.w3_args),
    "W4": (W.w4_eager, W.w4_f, W.w4_args),
    "W5": (W.w5_eager, W.w5_f, W.w5_args),
    "W6": (W.w6_eager, None, W.w6_args),
}
TARGETS = {"W1": 8, "W2": 1.4, "W2-sgd": 1.4, "W3": 5, "W4": 12, "W5": 20, "W6": 1.2}


def first_call_latency() -> dict:
    """W2 gradient: trace + passes + codegen + first run, in a fresh process (NumPy backend)."""
    code = ("import time; t0 = time.perf_counter()\n"
            "import numpy as np, tracegrad as tg\n"
            "from benchmarks import workloads as W\n"
            "t1 = time.perf_counter()\n"
            "args = W.mlp_args(np.random.default_rng(0), 1.0)\n"
            "t2 = time.perf_counter()\n"
            "tg.jit(tg.value_and_grad(W.mlp_loss), backend='numpy')(*args)\n"
            "t3 = time.perf_counter()\n"
            "print(t1 - t0, t3 - t2)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1]}
    imp, first = (float(v) for v in out.stdout.split())
    return {"import_s": imp, "first_call_s": first}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    ap.add_argument("--only", default="", help="comma-separated workloads (W1,W2,...)")
    ap.add_argument("--backends", default="numpy,c")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args(argv)
    scale = 0.05 if args.quick else 1.0
    reps = 5 if args.quick else args.reps
    only = [w for w in args.only.split(",") if w] or list(EAGER)
    rng = np.random.default_rng(0)
    import tracegrad as tg
    builds = {}
    for b in args.backends.split(","):
        try:
            tg.jit(lambda x: x + 1, backend=b)(np.ones(2))
            builds[b] = build(b)
        except tg.TracegradError as exc:
            print(f"[backend {b} skipped: {str(exc).splitlines()[0]}]")
    print(f"tracegrad benchmarks: float32, median of >= {reps} calls after warm-up; "
          f"speed-up = NumPy eager time / tracegrad time (same process)\n")
    header = f"{'workload':8} {'eager ms':>10}"
    for b in builds:
        header += f" {b + ' ms':>12} {'speed-up':>9} {'check':>8}"
    header += f" {'target':>7}"
    print(header)
    rows = []
    for w in only:
        eager, fwd, make = EAGER[w]
        wargs = make(rng, scale)
        if w == "W6":
            a, x, v = wargs
            eargs, targs = (a, x, v), (a, x, v)
        else:
            eargs = targs = wargs
        is_small = w == "W5"
        timer = (lambda f, a: _batch_median(f, a, reps, 200)) if is_small else \
            (lambda f, a: _median_seconds(f, a, reps))
        te = timer(eager, eargs)
        line = f"{w:8} {te * 1e3:10.3f}"
        row = {"workload": w, "eager_ms": te * 1e3}
        ref = eager(*eargs)
        for b, fns in builds.items():
            f = fns[w][0]
            check = _agree(f(*targs), ref)
            tb = timer(f, targs)
            row[b] = tb * 1e3
            line += f" {tb * 1e3:12.3f} {te / tb:9.2f}x {check:>8}"
        line += f" {TARGETS[w]:6}x"
        print(line)
        rows.append(row)
    print("\nforward only:")
    for w in only:
        eager, fwd, make = EAGER[w]
        if fwd is None:
            continue
        wargs = make(rng, scale)
        te = _median_seconds(fwd, wargs, reps) if w != "W5" else _batch_median(fwd, wargs, reps,
                                                                                 200)
        line = f"{w:8} {te * 1e3:10.3f}"
        for b, fns in builds.items():
            f = fns[w][1]
            tb = _median_seconds(f, wargs, reps) if w != "W5" else _batch_median(f, wargs, reps,
                                                                                 200)
            line += f" {tb * 1e3:12.3f} {te / tb:9.2f}x"
        print(line)
    if not args.quick:
        lat = first_call_latency()
        print(f"\nimport + first call (W2 gradient, NumPy backend, fresh process): {lat}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
