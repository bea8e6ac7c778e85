"""``python -m benchmarks.threads [--rounds N] [--only W2|lse] [--mechanisms]``: W2 (MLP
forward+gradient) and GradBench's lse at 1.28M elements (full reductions; value and gradient)
on one thread and on the default threads, on a quiet machine and with a competing process, as
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
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from . import workloads as W

CALLS = 5  # timed calls per mode per round
LSE_N = 1_280_000  # GradBench's largest lse: two full reductions (a max, a sum of exps)
SETTLE = 0.12  # seconds before each block (OpenBLAS workers sleep after ~2**28 cycles)


def _competitor(pin: int | None) -> subprocess.Popen:
    pre = (lambda: os.sched_setaffinity(0, {pin})) if pin is not None else None
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pre)
    time.sleep(0.2)  # let it reach the spin
    return p


def _workloads() -> dict:
    """name -> (compiled executable, its flat arguments, NumPy eager function, its arguments)."""
    import tracegrad as tg
    from tracegrad.pytree import tree_flatten

    from .gradbench.simple import lse

    def compiled(fn, args):
        return tg.jit(fn, backend="c").lower(*args).executable, tree_flatten(args)[0]

    def lse_grad_eager(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    w2 = W.mlp_args(np.random.default_rng(0), 1.0)
    x = (np.random.default_rng(0).random(LSE_N),)
    return {"W2 forward+gradient": (*compiled(tg.value_and_grad(W.mlp_loss), w2), W.mlp_eager,
                                    w2),
            f"lse n={LSE_N}": (*compiled(lse, x), lse, x),
            f"lse gradient n={LSE_N}": (*compiled(tg.grad(lse), x), lse_grad_eager, x)}


def _blas_limiter():
    """set(n): every loaded BLAS (NumPy's, and tracegrad's if it loaded its own copy) at n
    threads, or back at its default for n > 1."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # tracegrad's BLAS instance only (NumPy's, unless blas_lib chose a copy)
        from tracegrad.codegen.c import threads as c_threads
        set_addr, get_addr = c_threads.blas_thread_functions()
        if not get_addr:
            return lambda n: None
        set_fn = ctypes.CFUNCTYPE(None, ctypes.c_int)(set_addr)
        default = ctypes.CFUNCTYPE(ctypes.c_int)(get_addr)()
        return lambda n: set_fn(1 if n == 1 else default)
    ctl, held = ThreadpoolController(), []

    def limit(n: int):
        while held:
            held.pop().restore_original_limits()
        if n == 1:
            held.append(ctl.limit(limits=1, user_api="blas"))
    return limit


def _measure(work: tuple, rounds: int) -> dict:
    """Median wall ms of tracegrad and NumPy eager, single and default threads, interleaved
    (and tracegrad's median CPU ms per call, every thread of the process counted)."""
    from tracegrad.codegen.c import threads as c_threads
    exe, flat, eager, eager_args = work
    set_blas = _blas_limiter()
    default = exe.threads
    times = {k: [] for k in ("tg1", "np1", "tgN", "npN", "cpu1", "cpuN", "wait1", "waitN")}

    def mode(n: int):
        exe.set_threads(n)
        set_blas(n)

    wide = []  # CPUs free per default-thread tracegrad call (the load sampler's view)

    def block(fn, fargs, into, cpu=None, waits=None):
        # OpenBLAS's idle workers spin (sched_yield) for ~0.1 s after a product: each block
        # starts once the other library's are asleep, so it times its own threads only
        time.sleep(SETTLE)
        fn(*fargs)
        for _ in range(CALLS):
            w0, c0, t0 = _waits(), time.process_time(), time.perf_counter()
            fn(*fargs)
            into.append(time.perf_counter() - t0)
            if cpu is not None:
                cpu.append(time.process_time() - c0)
                waits.append(_waits() - w0)
            if into is times["tgN"]:
                wide.append(c_threads.SHARED[0] >= 2)

    try:
        for _ in range(rounds):
            for n, tag in ((1, "1"), (default, "N")):
                mode(n)
                block(exe, flat, times["tg" + tag], times["cpu" + tag], times["wait" + tag])
                block(eager, eager_args, times["np" + tag])
    finally:
        mode(default)
    return {k: statistics.median(v) * 1e3 for k, v in times.items() if "wait" not in k} | \
        {k: statistics.mean(v) for k, v in times.items() if "wait" in k} | \
        {"threads": default, "wide": sum(wide) / max(1, len(wide))}


def _row(label: str, m: dict) -> str:
    return (f"{label:44} single: tg {m['tg1']:7.2f} ms (cpu {m['cpu1']:6.2f})  NumPy "
            f"{m['np1']:7.2f} ms  tg/NumPy {m['tg1'] / m['np1']:5.2f} | default ({m['threads']}): "
            f"tg {m['tgN']:7.2f} ms (cpu {m['cpuN']:6.2f})  NumPy {m['npN']:7.2f} ms  tg/NumPy "
            f"{m['tgN'] / m['npN']:5.2f} | tg default/single {m['tgN'] / m['tg1']:5.2f} "
            f"({m['wide']:.0%} of default calls saw 2+ CPUs free; waits per call "
            f"{m['wait1']:.2f} single, {m['waitN']:.2f} default)")


def _waits() -> int:
    """Times the calling thread blocked so far (voluntary context switches): a call that waits
    for another thread (an OpenMP barrier, a BLAS worker) blocks; one preempted by other
    processes does not, so this tells waiting on our own threads from a busy machine."""
    try:
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
    except (AttributeError, OSError):  # not Linux: no per-thread figure
        return 0


def run_all(rounds: int, only: str | None = None) -> list[str]:
    from tracegrad.codegen.c import threads as c_threads
    works = {k: v for k, v in _workloads().items() if only is None or only in k}
    lines = [f"median of {rounds * CALLS} calls per cell, wall ms (tracegrad's CPU ms in "
             f"brackets; waits: the calling thread's voluntary context switches per call, "
             f"mean); libgomp: {c_threads.prepare_openmp()}"]
    for work in works.values():
        _measure(work, 1)  # warm up outside the timings
    conditions = (("quiet", False, None), ("competitor (unpinned)", True, None),
                  ("competitor (pinned to CPU 0)", True, 0))
    for label, spin, pin in conditions:
        p = _competitor(pin) if spin else None
        try:
            for name, work in works.items():
                lines.append(_row(f"{name}, {label}", _measure(work, rounds)))
        finally:
            if p is not None:
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
    ap.add_argument("--only", help="workloads whose name holds this text (W2, lse)")
    ap.add_argument("--mechanisms", action="store_true",
                    help="also time each thread mechanism switched off, in child processes")
    a = ap.parse_args(argv)
    print("\n".join(run_all(a.rounds, a.only)), flush=True)
    if a.mechanisms:
        for name, env in MECHANISMS.items():
            print(f"\n== {name}: {env or 'defaults'}", flush=True)
            subprocess.run([sys.executable, "-m", "benchmarks.threads", "--rounds",
                            str(a.rounds)] + (["--only", a.only] if a.only else []),
                           env={**os.environ, **env}, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
