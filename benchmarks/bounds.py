"""``python -m benchmarks.bounds [--reps 20] [--only W4]``: the single-thread bounds of W1, W3
and W4 on this machine, next to tracegrad's C time (issue 19: "within 2x of the bound").

Memory: a STREAM-like pass with the workload's own arrays (W1 reads two [4M] float32 and writes
two; W3 reads and writes one [2048, 1024]; W4 one [4096, 1024]): into warm buffers (a store
first reads its line: write-allocate), with non-temporal stores (no read for ownership), and
into freshly mapped pages (each page faulted in and zeroed: what a new array costs when the
allocator hands back unmapped memory). Compute: libmvec's per-element cost of the functions
the kernels call and of a division, over an L1-resident block, plus the plain arithmetic of the
hand-written forward + backward (counted in SHAPES) at the throughput of a 16-operation chain.
The bound is the larger of the memory pass (non-temporal) and the compute. Every figure is the
least thread-CPU time of its repetitions (CLOCK_THREAD_CPUTIME_ID in C, time.process_time for
the programs, one thread), so it holds on a loaded machine.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import time

import numpy as np

# elements, inputs, outputs, and per element: libm calls, divisions, and the other arithmetic
# of the hand-written forward + backward (workloads.py's eager functions, counted by hand:
# each +, -, * or comparison is one; reductions one per element)
SHAPES = {"W1": (4_000_000, 2, 2, {"sin": 1, "cos": 1, "tanh": 1, "exp": 1, "arith": 16}),
          "W3": (2048 * 1024, 1, 1, {"exp": 1, "arith": 5}),
          "W4": (4096 * 1024, 1, 1, {"tanh": 1, "div": 3, "arith": 40})}


def _aligned(n: int) -> np.ndarray:
    raw = np.empty(n + 16, np.float32)
    k = (-raw.ctypes.data % 64) // 4
    a = raw[k:k + n]
    a[:] = 0.5
    return a


def stream_bounds(so, n: int, nin: int, nout: int, reps: int) -> dict:
    ins = [_aligned(n) for _ in range(nin)]
    outs = [_aligned(n) for _ in range(nout)]
    pin = (ctypes.c_void_p * 8)(*[a.ctypes.data for a in ins])
    res = {}
    for key, nt, fresh in (("warm", 0, 0), ("nt", 1, 0), ("fresh", 0, 1), ("fresh-nt", 1, 1)):
        pout = (ctypes.c_void_p * 8)(*[a.ctypes.data for a in outs])
        res[key] = so.bench_stream(pin, nin, pout, nout, n, nt, fresh, reps)
    res["read"] = so.bench_stream(pin, nin, (ctypes.c_void_p * 8)(), 0, n, 0, 0, reps)
    return res


def math_costs(so, reps: int) -> dict:
    from .bounds_c import MATH
    costs = {m: so.bench_math(i, reps) for i, m in enumerate(MATH)}
    costs["arith"] = costs["arith16"] / 16  # one plain operation per element, at throughput
    return costs


def program_cpu(w: str, reps: int) -> tuple[float, float]:
    """(tracegrad C, NumPy eager) least process CPU seconds per call, one thread."""
    from .__main__ import EAGER, build
    args = EAGER[w][2](np.random.default_rng(0), 1.0)
    out = []
    for fn in (build("c")[w][0], EAGER[w][0]):
        fn(*args)
        best = 1e30
        for _ in range(reps):
            t0 = time.process_time()
            fn(*args)
            best = min(best, time.process_time() - t0)
        out.append(best)
    return out[0], out[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--only", default="")
    a = p.parse_args(argv)
    for k in ("TRACEGRAD_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[k] = "1"
    from .bounds_c import load
    so = load()
    mc = math_costs(so, a.reps)
    print("per element, one thread (ns): " +
          ", ".join(f"{m} {t * 1e9:.3f}" for m, t in mc.items()))
    print("| workload | MB moved | warm | non-temporal | fresh pages | fresh + nt | read only "
          "| compute | bound | tracegrad C | eager | C / bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w, (n, nin, nout, calls) in SHAPES.items():
        if a.only and w != a.only:
            continue
        s = stream_bounds(so, n, nin, nout, a.reps)
        math = n * sum(mc[f] * k for f, k in calls.items())
        bound = max(s["nt"], math)
        tc, te = program_cpu(w, max(5, a.reps // 2))
        ms = lambda x: f"{x * 1e3:.3f}"  # noqa: E731
        print(f"| {w} | {4 * n * (nin + nout) / 1e6:.0f} | {ms(s['warm'])} | {ms(s['nt'])} | "
              f"{ms(s['fresh'])} | {ms(s['fresh-nt'])} | {ms(s['read'])} | {ms(math)} | "
              f"{ms(bound)} | {ms(tc)} | {ms(te)} | {tc / bound:.2f} |")


if __name__ == "__main__":
    main()
