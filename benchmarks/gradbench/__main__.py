"""``python -m benchmarks.gradbench [--quick] [--evals gmm,lse] [--all-sizes] [--reps N]
[--threads 1|default|both] [--peers jax,torch|none] [--backend c|numpy] [--clock wall|cpu]``

The local GradBench runner. For each eval and size it generates the input as GradBench's eval
does (same distributions, seed 31337), runs tracegrad's answer to every function, validates it
with GradBench's metric against the independent NumPy reference (check.py), and times:

* *first call*: build (trace, passes, codegen, C compile) plus the first run, with a kernel
  cache that starts empty (a fresh TRACEGRAD_CACHE_DIR per process); JAX's is jit + first run;
  with ``--clock cpu`` it is CPU time of the process *and its children* (the C compiler runs
  as a child process; on a loaded machine wall time mostly measures waiting for a CPU);
* *median*: (``--clock wall``, or ``cpu`` for the process's CPU time) of repeated calls after
  the first (at least ``--reps`` calls and 0.3 s, at most 3 s;
  none with ``--quick``, which only checks the answers).

JAX and PyTorch (peers.py) are timed in the same process when installed, and their answers are
validated too (so a fast but wrong peer cannot set the bar). ``--threads both`` runs the whole
table twice in child processes: pinned to one CPU with every thread knob at 1 (OpenMP, OpenBLAS,
XLA's Eigen pool, ``torch.set_num_threads(1)``), then with the defaults. Rows are Markdown.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SEED = 31337
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                                  "intra_op_parallelism_threads=1"}


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter  # set by --clock


def _cpu_with_children() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


FIRST_CLOCK = {"wall": time.perf_counter, "cpu": _cpu_with_children}
_first_clock = time.perf_counter  # set by --clock


def _median_ms(call, args, reps: int, min_s: float = 0.3, max_s: float = 3.0) -> float:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < reps or time.perf_counter() - start < min_s:
        t0 = _clock()
        call(*args)
        times.append(_clock() - t0)
        if time.perf_counter() - start > max_s and len(times) >= 3:
            break
    return 1e3 * statistics.median(times)


def _tracegrad(ev, function, inp, backend, reps):
    from .check import validate
    arrays, static = ev.prepare(inp)
    t0 = _first_clock()
    program = ev.program(function, backend, static)
    result = program(*arrays)
    first = _first_clock() - t0
    ok, err = validate(ev, function, inp, ev.post(function, result, inp))
    median = _median_ms(program, arrays, reps) if reps else float("nan")
    return {"first": first, "ms": median, "ok": ok, "err": err, "out": ev.post(function, result, inp)}


def _peer(table, ev, function, inp, reps):
    from .check import validate
    from .peers import to_numpy
    arrays, static = ev.prepare(inp)
    prepare, call = table[ev.name][function](static)
    prepared = prepare(arrays)
    t0 = _first_clock()
    result = call(*prepared)
    first = _first_clock() - t0
    ok, err = validate(ev, function, inp, ev.post(function, to_numpy(result), inp))
    median = _median_ms(call, prepared, reps) if reps else float("nan")
    return {"first": first, "ms": median, "ok": ok, "err": err}


def _fmt(x: float, digits: int = 3) -> str:
    if math.isnan(x):
        return "-"
    return f"{x:.{digits}g}" if x < 1000 else f"{x:.0f}"


def run_table(args) -> int:
    """Runs in this process (thread settings already in place); returns the mismatch count."""
    from . import EVALS
    from .peers import available, table
    peers = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    found = available()
    missing = [p for p in peers if p not in found]
    peers = [p for p in peers if p in found]
    if "torch" in peers and args.threads == "1":
        import torch
        torch.set_num_threads(1)
    tables = {p: table(p) for p in peers}
    reps = 0 if args.quick else args.reps  # --quick checks answers only, never times
    print(f"\nthreads={args.threads} (CPUs usable: {len(os.sched_getaffinity(0))}), "
          f"backend={args.backend}, peers: {', '.join(f'{p} {found[p]}' for p in peers) or 'none'}"
          + (f"; not installed: {', '.join(missing)}" if missing else ""))
    head = ["eval", "size", "function", "tracegrad ms"] + [f"{p} ms" for p in peers] + \
        ["best peer / tg", "grad/obj", "tg first s"] + [f"{p} first s" for p in peers] + ["valid"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    bad = 0
    names = args.evals.split(",") if args.evals else list(EVALS)
    for name in names:
        ev = EVALS[name]
        sizes = ev.quick_sizes if args.quick else (ev.sizes if args.all_sizes else ev.bench_sizes)
        for size in sizes:
            inp = ev.generate(size, SEED)
            objective_ms = float("nan")
            for function, spec in ev.functions.items():
                tg = _tracegrad(ev, function, inp, args.backend, reps)
                rows = {p: _peer(tables[p], ev, function, inp, reps) for p in peers
                        if ev.name in tables[p]}  # (no JAX or PyTorch saddle yet)
                if spec.kind == "objective":
                    objective_ms = tg["ms"]
                best = min((r["ms"] for r in rows.values() if r["ok"]), default=float("nan"))
                status = "ok" if tg["ok"] else f"MISMATCH {tg['err']:.2e}"
                status += "".join(f"; {p} MISMATCH {r['err']:.1e}" for p, r in rows.items()
                                  if not r["ok"])
                bad += not tg["ok"]
                cells = [name, ev.describe(size), function, _fmt(tg["ms"])]
                cells += [_fmt(rows[p]["ms"]) if p in rows else "-" for p in peers]
                cells += [_fmt(best / tg["ms"], 2) + "x" if rows else "-",
                          _fmt(tg["ms"] / objective_ms, 2) if spec.kind == "gradient" else "",
                          _fmt(tg["first"], 2)]
                cells += [_fmt(rows[p]["first"], 2) if p in rows else "-" for p in peers]
                cells += [status]
                print("| " + " | ".join(cells) + " |", flush=True)
    return bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="GradBench evals: tracegrad vs JAX/PyTorch")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one timed call")
    parser.add_argument("--evals", default="", help="comma-separated (default: all)")
    parser.add_argument("--all-sizes", action="store_true", help="GradBench's full size lists")
    parser.add_argument("--threads", default="both", choices=("1", "default", "both"))
    parser.add_argument("--peers", default="jax,torch")
    parser.add_argument("--backend", default="c", choices=("c", "numpy"))
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--clock", default="wall", choices=sorted(CLOCK),
                        help="cpu: this process's CPU time (one-thread figures that hold while "
                             "other jobs load the machine; counts every thread's time)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        global _clock, _first_clock
        _clock, _first_clock = CLOCK[args.clock], FIRST_CLOCK[args.clock]
        if args.threads == "1" and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return 1 if run_table(args) else 0
    # each thread mode in its own process: thread pools read their settings at import
    status = 0
    for mode in (("1", "default") if args.threads == "both" else (args.threads,)):
        cache = tempfile.mkdtemp(prefix="tg-gradbench-cache-")
        env = dict(os.environ, TRACEGRAD_CACHE_DIR=cache)
        if mode == "1":
            env.update(SINGLE_THREAD_ENV)
        # the child's --threads comes last: argparse keeps the last value given
        argv_child = list(argv if argv is not None else sys.argv[1:]) + ["--threads", mode]
        try:
            status |= subprocess.call([sys.executable, "-m", "benchmarks.gradbench", "--child"]
                                      + argv_child, env=env,
                                      cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                          os.path.abspath(__file__)))))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
