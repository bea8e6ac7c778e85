"""``python -m benchmarks.threads [--rounds N] [--mechanisms]``: W2 (MLP forward+gradient) on
one thread and on the default threads, on a quiet machine and with a competing process, as
ratios against NumPy eager timed in the same rounds (shared/BENCHMARKS.md, issue 19 item 3).

Single and default threads alternate round by round in one process (tracegrad's modules and
NumPy's OpenBLAS are switched between 1 and the default count), so both see the same load;
each block of calls starts after a pause, once the other library's idle threads have stopped
spinning (interleaving the calls instead charges NumPy's spinning OpenBLAS workers to
tracegrad: 7.5 ms vs 5.2 ms with a competitor, and as much on one thread as on two). The
competitor (``python -c "while True: pass"``, unpinned, then pinned to CPU 0) is started and
killed here. ``--mechanisms`` runs the same in child processes with each thread mechanism
switched off in turn: libgomp's default spin (GOMP_SPINCOUNT=300000), no load sampling
(TRACEGRAD_ADAPT_THREADS=0), and both off (how the C backend behaved before).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from . import workloads as W

CALLS = 5  # timed calls per mode per round
SETTLE = 0.12  # seconds before each block (OpenBLAS workers sleep after ~2**28 cycles)


def _competitor(pin: int | None) -> subprocess.Popen:
    pre = (lambda: os.sched_setaffinity(0, {pin})) if pin is not None else None
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pre)
    time.sleep(0.2)  # let it reach the spin
    return p


def _measure(rounds: int) -> dict:
    """Median ms of tracegrad and NumPy eager, single and default threads, interleaved."""
    import tracegrad as tg
    from tracegrad.codegen.c.blas_lib import blas_functions
    from tracegrad.pytree import tree_flatten

    args = W.mlp_args(np.random.default_rng(0), 1.0)
    flat = tree_flatten(args)[0]
    exe = tg.jit(tg.value_and_grad(W.mlp_loss), backend="c").lower(*args).executable
    lib = ctypes.CDLL(blas_functions()[3])
    set_blas = lib.scipy_openblas_set_num_threads64_
    set_blas.argtypes = [ctypes.c_int]
    default = exe.threads
    blas_default = lib.scipy_openblas_get_num_threads64_()
    times = {k: [] for k in ("tg1", "np1", "tgN", "npN")}

    def mode(n: int):
        exe.set_threads(n)
        set_blas(1 if n == 1 else blas_default)

    from tracegrad.codegen.c import threads as c_threads
    wide = []  # CPUs free per default-thread tracegrad call (the load sampler's view)

    def block(fn, fargs, into):
        # OpenBLAS's idle workers spin (sched_yield) for ~0.1 s after a product: each block
        # starts once the other library's are asleep, so it times its own threads only
        time.sleep(SETTLE)
        fn(*fargs)
        for _ in range(CALLS):
            t0 = time.perf_counter()
            fn(*fargs)
            into.append(time.perf_counter() - t0)
            if into is times["tgN"]:
                wide.append(c_threads.SHARED[0] >= 2)

    try:
        for _ in range(rounds):
            for n, tag in ((1, "1"), (default, "N")):
                mode(n)
                block(exe, flat, times["tg" + tag])
                block(W.mlp_eager, args, times["np" + tag])
    finally:
        mode(default)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()} | \
        {"threads": default, "wide": sum(wide) / max(1, len(wide))}


def _row(label: str, m: dict) -> str:
    return (f"{label:28} single: tg {m['tg1']:7.2f} ms  NumPy {m['np1']:7.2f} ms  "
            f"tg/NumPy {m['tg1'] / m['np1']:5.2f} | default ({m['threads']}): tg {m['tgN']:7.2f}"
            f" ms  NumPy {m['npN']:7.2f} ms  tg/NumPy {m['tgN'] / m['npN']:5.2f} | "
            f"tg default/single {m['tgN'] / m['tg1']:5.2f} ({m['wide']:.0%} of default calls "
            f"saw 2+ CPUs free)")


def run_all(rounds: int) -> list[str]:
    from tracegrad.codegen.c import threads as c_threads
    lines = [f"W2 forward+gradient, median of {rounds * CALLS} calls per cell; libgomp: "
             f"{c_threads.prepare_openmp()}"]
    _measure(1)  # compile and warm up outside the timings
    lines.append(_row("quiet", _measure(rounds)))
    for label, pin in (("competitor (unpinned)", None), ("competitor (pinned to CPU 0)", 0)):
        p = _competitor(pin)
        try:
            lines.append(_row(label, _measure(rounds)))
        finally:
            p.kill()
            p.wait()
    return lines


MECHANISMS = {
    "spin low + load sampling (now)": {},
    "spin low, no load sampling": {"TRACEGRAD_ADAPT_THREADS": "0"},
    "libgomp spin, load sampling": {"GOMP_SPINCOUNT": "300000"},
    "neither (before)": {"GOMP_SPINCOUNT": "300000", "TRACEGRAD_ADAPT_THREADS": "0"},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.threads")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--mechanisms", action="store_true",
                    help="also time each thread mechanism switched off, in child processes")
    a = ap.parse_args(argv)
    print("\n".join(run_all(a.rounds)), flush=True)
    if a.mechanisms:
        for name, env in MECHANISMS.items():
            print(f"\n== {name}: {env or 'defaults'}", flush=True)
            subprocess.run([sys.executable, "-m", "benchmarks.threads", "--rounds",
                            str(a.rounds)], env={**os.environ, **env}, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
