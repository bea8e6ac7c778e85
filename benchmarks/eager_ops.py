"""Eager per-operation overhead of the tensor front (issue 18 item 3) against NumPy eager and
PyTorch eager (when installed), on small tensors, in one run:

- ``manual``: the "Learning PyTorch with Examples" step with hand-written gradients (a cubic
  fitted to sin(x), 2000 float32 points; ~30 operations, ``loss.item()``, four in-place updates);
- ``autograd``: the same step with ``loss.backward()`` and updates under ``no_grad``;
- ``chain``: 20 elementwise operations on 100 floats, then ``.sum().item()`` (pure recording
  and evaluation overhead: the arithmetic is negligible).

Each row is timed in a fresh process per thread setting: ``1`` (TRACEGRAD_NUM_THREADS,
OPENBLAS_NUM_THREADS, torch.set_num_threads all 1) and ``default``; per row, the median and the
best of ``--repeat`` batches of ``--iters`` iterations, in microseconds per iteration, and the
ratios to NumPy and PyTorch (below 1: faster). tracegrad runs on the default backend (C when a
compiler works) and, in its own process, on the NumPy backend. Each tracegrad result is checked
against NumPy's (``MISMATCH`` is printed otherwise).

    python -m benchmarks.eager_ops [--repeat 7] [--iters 200] [--clock wall|cpu] [--quick]
    python -m benchmarks.eager_ops --profile manual   # where tracegrad's microseconds go
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

WORKLOADS = ("manual", "autograd", "chain")


# --- the workloads, written once for any torch-like module -------------------------------------
def manual(mod, iters, state):
    """Tutorial step (a): gradients by hand; ``state`` = (x, y, a, b, c, d)."""
    x, y, a, b, c, d = state
    lr = 1e-6
    for _ in range(iters):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        g = 2.0 * (y_pred - y)
        ga, gb, gc, gd = g.sum(), (g * x).sum(), (g * x ** 2).sum(), (g * x ** 3).sum()
        a -= lr * ga
        b -= lr * gb
        c -= lr * gc
        d -= lr * gd
    return loss, (x, y, a, b, c, d)


def autograd(mod, iters, state):
    """Tutorial step (b): ``loss.backward()``; parameters updated under ``no_grad``."""
    x, y, a, b, c, d = state
    lr = 1e-6
    for _ in range(iters):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        value = loss.item()
        loss.backward()
        with mod.no_grad():
            for p in (a, b, c, d):
                p -= lr * p.grad
                p.grad = None
    return value, state


def chain(mod, iters, state):
    x = state[0]
    for _ in range(iters):
        h = x
        for _ in range(5):
            h = ((h * 0.5 + 1.0) - x) * 0.25
        value = h.sum().item()
    return value, state


def _initial(n):
    import numpy as np
    x = np.linspace(-math.pi, math.pi, n, dtype=np.float32)
    coeffs = np.random.default_rng(0).standard_normal(4).astype(np.float32)
    return x, np.sin(x), coeffs


def _state(mod, workload):
    """Inputs as ``mod`` tensors (``mod`` is tracegrad or torch)."""
    if workload == "chain":
        import numpy as np
        return (mod.tensor(np.linspace(0, 1, 100, dtype=np.float32)),)
    x, y, coeffs = _initial(2000)
    rg = workload == "autograd"
    return (mod.tensor(x), mod.tensor(y)) + tuple(
        mod.tensor(float(c), requires_grad=rg) for c in coeffs)


def numpy_manual(np, iters, state):
    """``manual`` in plain NumPy (float32 arrays, float32 0-d parameters)."""
    x, y, a, b, c, d = state
    lr = np.float32(1e-6)
    for _ in range(iters):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = ((y_pred - y) ** 2).sum().item()
        g = np.float32(2.0) * (y_pred - y)
        ga, gb, gc, gd = g.sum(), (g * x).sum(), (g * x ** 2).sum(), (g * x ** 3).sum()
        a -= lr * ga
        b -= lr * gb
        c -= lr * gc
        d -= lr * gd
    return loss, (x, y, a, b, c, d)


def numpy_chain(np, iters, state):
    x = state[0]
    for _ in range(iters):
        h = x
        for _ in range(5):
            h = ((h * np.float32(0.5) + np.float32(1.0)) - x) * np.float32(0.25)
        value = h.sum().item()
    return value, state


def _numpy_state(workload, np):
    if workload == "chain":
        return (np.linspace(0, 1, 100, dtype=np.float32),)
    x, y, coeffs = _initial(2000)
    return (x, y) + tuple(np.array(c, np.float32) for c in coeffs)


# --- one process: time every workload for one implementation --------------------------------
def _time(fn, mod, state, iters, repeat, clock):
    value, state = fn(mod, 3, state)  # warm-up: traces, compiles, allocations
    times = []
    for _ in range(repeat):
        t0 = clock()
        value, state = fn(mod, iters, state)
        times.append((clock() - t0) / iters)
    return times, value


def child(impl, iters, repeat, cpu=False):
    """Prints one JSON line: workload -> (median s, best s, final loss)."""
    if impl == "torch":
        import torch
        if os.environ.get("TRACEGRAD_NUM_THREADS") == "1":
            torch.set_num_threads(1)
        mod = torch
    elif impl == "numpy":
        import numpy as mod
    else:
        import tracegrad as mod
    out = {}
    for name in WORKLOADS:
        if impl == "numpy" and name == "autograd":
            continue  # NumPy has no autograd
        if impl == "numpy":
            fn, state = globals()["numpy_" + name], _numpy_state(name, mod)
        else:
            fn, state = globals()[name], _state(mod, name)
        # the calling thread's CPU time: steady on a loaded machine; it leaves out other
        # threads, which these small tensors do not use (tracegrad's loops and PyTorch's
        # intra-op threads start at larger sizes)
        clock = time.thread_time if cpu else time.perf_counter
        times, value = _time(fn, mod, state, iters, repeat, clock)
        out[name] = (statistics.median(times), min(times), float(value))
    print(json.dumps(out))


def profile(workload, iters=2000) -> None:
    """tracegrad's time per iteration of ``workload`` (thread CPU clock, one thread) split into
    the programs' runs, the rest of their materialisations (plan/walk, key, lookup, stores,
    in-place writes) and everything else (recording operations, Python), then cProfile's top
    functions."""
    import cProfile
    import pstats

    import tracegrad as tg
    lazy = sys.modules["tracegrad.tensor.lazy"]
    spent = {"run": 0.0, "materialise": 0.0}
    clock = time.thread_time
    run, materialise = lazy._Op.run, lazy._materialize

    def timed(name, fn):
        def wrapper(*args):
            t0 = clock()
            try:
                return fn(*args)
            finally:
                spent[name] += clock() - t0
        return wrapper

    fn, state = globals()[workload], _state(tg, workload)
    _, state = fn(tg, 20, state)  # warm-up
    lazy._Op.run, lazy._materialize = timed("run", run), timed("materialise", materialise)
    try:
        t0 = clock()
        _, state = fn(tg, iters, state)
        total = clock() - t0
    finally:
        lazy._Op.run, lazy._materialize = run, materialise
    per = 1e6 / iters
    # (backward runs its program outside _materialize; in-place writes of leaves that
    # require grad materialise through _before_mutation: both counted under "run" only)
    other = spent["materialise"] - spent["run"]
    print(f"{workload}: {total * per:.1f} us per iteration (thread CPU, timers included): "
          f"programs' runs {spent['run'] * per:.1f}, rest of materialisation "
          f"{max(other, 0.0) * per:.1f}, recording and Python "
          f"{(total - max(spent['materialise'], spent['run'])) * per:.1f}")
    prof = cProfile.Profile()
    prof.enable()
    fn(tg, iters, state)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def _run_child(impl, threads, iters, repeat, cpu):
    env = dict(os.environ)
    if impl == "tracegrad-numpy":
        env["TRACEGRAD_BACKEND"] = "numpy"
    if threads == "1":
        env.update(TRACEGRAD_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "benchmarks.eager_ops", "--child", impl, "--iters", str(iters),
           "--repeat", str(repeat)] + (["--clock", "cpu"] if cpu else [])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} ({threads} threads) failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="3 batches of 20 iterations")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: the timing thread's CPU time (for a machine busy with other work)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--profile", choices=WORKLOADS,
                    help="profile tracegrad on one workload in this process instead")
    args = ap.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return
    if args.quick:
        args.repeat, args.iters = 3, 20
    if args.child:
        child(args.child, args.iters, args.repeat, args.clock == "cpu")
        return
    try:
        import torch  # noqa: F401
        impls = ["tracegrad", "tracegrad-numpy", "numpy", "torch"]
    except ImportError:
        impls = ["tracegrad", "tracegrad-numpy", "numpy"]
        print("PyTorch is not installed: no PyTorch column")
    print(f"us per iteration ({args.clock} clock): median (best) of {args.repeat} batches of "
          f"{args.iters}")
    head = f"{'workload':9} {'threads':>7} " + " ".join(f"{i:>16}" for i in impls)
    print(head + "   tg/numpy" + ("   tg/torch" if "torch" in impls else "") +
          "  (ratios of medians; of bests)")
    for threads in ("1", "default"):
        res = {i: _run_child(i, threads, args.iters, args.repeat, args.clock == "cpu")
               for i in impls}
        for name in WORKLOADS:
            cells, ok = [], True
            for i in impls:
                r = res[i].get(name)
                cells.append(f"{r[0] * 1e6:8.1f} ({r[1] * 1e6:5.1f})" if r else f"{'-':>16}")
            ref = res["numpy"].get(name) or res.get("torch", {}).get(name)
            for i in ("tracegrad", "tracegrad-numpy"):
                if ref and not math.isclose(res[i][name][2], ref[2], rel_tol=1e-3, abs_tol=1e-3):
                    ok = False
            line = f"{name:9} {threads:>7} " + " ".join(cells)
            tg_r = res["tracegrad"][name]
            for other in ("numpy", "torch"):
                if other not in res:
                    continue
                r = res[other].get(name)
                # on a shared machine the best batch is the uncontended cost: both ratios
                line += f"  {tg_r[0] / r[0]:4.2f};{tg_r[1] / r[1]:4.2f}" if r else f"  {'-':>9}"
            print(line + ("" if ok else "  MISMATCH"))


if __name__ == "__main__":
    main()
