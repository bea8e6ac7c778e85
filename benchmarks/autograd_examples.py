"""``python -m benchmarks.autograd_examples [--quick] [--backend numpy|c|both] [--only a,b]
[--repeat N] [--threads default|1|both]``

First-call cost of ``tg.jit(tg.value_and_grad(loss))`` on HIPS autograd's example programs at
issue 13's full sizes (autograd_programs.py): each program and backend runs in a fresh
subprocess with a cold kernel cache (a new temporary ``TRACEGRAD_CACHE_DIR``) and the program
cache off (``TRACEGRAD_PROGRAM_CACHE=0``), under a timeout (reported as ``timeout``, never a
hang). Reported per run: the first call, its breakdown from ``.lower(...).stats["times"]``
(trace, which includes differentiation; passes, with the slowest passes by name; codegen;
load, which is the C compiler's build on a cold cache), traced / optimized equations and
kernels, the steady-state call, and the eager NumPy forward of the same loss for reference.
Each gradient is checked against central differences of the eager loss on a few coordinates,
so the times are for correct programs. Timings are printed, never asserted.

The programs are the faithful ports (Python loops unrolled by tracing) and their loop variants
(``lstm-scan`` ..., autograd_scan_programs.py). ``--repeat N`` runs each configuration N times
(each a fresh process and cold cache) and ends with a summary of the first call's least and
median and the median of each phase, with the 1-minute load average around the runs (the
machine is shared: least = least interference), and the median CPU seconds of the first call
in the process and in the C compiler (steadier than wall time under load). ``--threads 1`` runs with one thread for
tracegrad's loops, OpenMP and the BLAS (``TRACEGRAD_NUM_THREADS``, ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` = 1); ``default`` leaves them unset.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from .autograd_programs import PROGRAMS as PORTS
from .autograd_scan_programs import SCAN_PROGRAMS

PROGRAMS = {**PORTS, **SCAN_PROGRAMS}
THREAD_VARS = ("TRACEGRAD_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")

TIMEOUT = 300.0  # seconds per (program, backend) subprocess
FD_COORDS = 3    # coordinates checked against finite differences per program


def _median_call(fn, args, min_time=0.5, min_reps=3, max_reps=200):
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < min_reps or (time.perf_counter() < t_end and len(times) < max_reps):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fd_check(loss, args, grad, seed=0, eps=1e-5):
    """Largest relative error of ``grad`` against central differences of the eager ``loss`` on
    FD_COORDS coordinates of the parameter pytree (drawn at random over all its leaves)."""
    params = args[0]
    keys = sorted(params)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(FD_COORDS):
        key = keys[rng.integers(len(keys))]
        leaf = np.asarray(params[key], dtype=np.float64)
        idx = np.unravel_index(rng.integers(max(leaf.size, 1)), leaf.shape)

        def at(delta):
            moved = leaf.copy()
            moved[idx] += delta
            return float(loss({**params, key: moved}, *args[1:]))
        fd = (at(eps) - at(-eps)) / (2 * eps)
        got = float(np.asarray(grad[key])[idx])
        worst = max(worst, abs(got - fd) / max(abs(fd), 1e-3))
    return worst


def child(name, backend, quick):
    """One measurement in this (fresh) process; prints a JSON object as the last line."""
    import tracegrad as tg
    loss, args, note = PROGRAMS[name](quick)
    row = {"program": name, "backend": backend, "note": note}
    eager = _median_call(loss, args)
    row["eager_forward"] = eager
    f = tg.jit(tg.value_and_grad(loss), backend=backend)
    import resource
    cc0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.perf_counter(), time.process_time()
    value, grad = f(*args)
    row["first_call"] = time.perf_counter() - t0
    # CPU seconds, steadier than wall time on a shared machine: this process (trace, passes,
    # codegen, load) and the C compiler it ran
    row["first_cpu"] = time.process_time() - c0
    cc1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    row["cc_cpu"] = (cc1.ru_utime - cc0.ru_utime) + (cc1.ru_stime - cc0.ru_stime)
    low = f.lower(*args)  # the entry the first call compiled
    stats = low.stats
    row["times"] = stats["times"]
    row["pass_seconds"] = stats.get("pass_seconds", {})
    row["eqns_traced"] = stats["eqns"]["traced"]
    row["eqns_final"] = stats["eqns"]["final"]
    row["kernels"] = stats["kernels"]
    row["actual_backend"] = stats["backend"]
    row["program_cache"] = stats.get("program_cache")
    row["source_kb"] = len(low.source) / 1024  # generated C (or Python) the build compiles
    row["cflags"] = os.environ.get("TRACEGRAD_CFLAGS", "")
    row["steady_call"] = _median_call(f, args)
    eager_value = float(loss(*args))
    row["value_error"] = abs(float(value) - eager_value) / max(abs(eager_value), 1e-12)
    row["fd_rel_error"] = _fd_check(loss, args, grad)
    row["correct"] = row["fd_rel_error"] < 1e-4 and row["value_error"] < 1e-8
    print(json.dumps(row))


def run_one(name, backend, quick, timeout, threads="default"):
    """The child's row, or a row saying ``timeout`` / ``error`` with the stderr tail."""
    cache = tempfile.mkdtemp(prefix="tg-autograd-bench-")
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update({"TRACEGRAD_CACHE_DIR": cache, "TRACEGRAD_PROGRAM_CACHE": "0"})
    if threads == "1":
        env.update({k: "1" for k in THREAD_VARS})
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "benchmarks.autograd_examples", "--child", name,
           "--backend", backend] + (["--quick"] if quick else [])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the child and the compilers it started
        proc.communicate()
        return {"program": name, "backend": backend, "status": "timeout",
                "wall": time.perf_counter() - t0, "threads": threads}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    wall = time.perf_counter() - t0
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"program": name, "backend": backend, "status": "error", "wall": wall,
                "error": err.strip().splitlines()[-3:], "threads": threads}
    row = json.loads(lines[-1])
    row["status"] = "ok" if row["correct"] else "WRONG GRADIENT"
    row["wall"] = wall
    row["threads"] = threads
    row["load"] = (load_before, os.getloadavg()[0])
    return row


def _fmt(v, width=8):
    return f"{v:>{width}.3f}" if isinstance(v, (int, float)) else f"{'-':>{width}}"


HEADER = (f"{'program':<14}{'backend':<8}{'first':>8}{'trace':>8}{'passes':>8}{'codegen':>8}"
          f"{'load':>8}{'traced':>8}{'final':>7}{'kern':>6}{'src KB':>7}{'steady ms':>10}"
          f"{'eager ms':>9}"
          f"{'fd err':>9}  status / slowest passes")


def format_row(r):
    if r["status"] in ("timeout", "error"):
        tail = f"  {r['status']} after {r['wall']:.0f} s"
        if r["status"] == "error":
            tail += ": " + " | ".join(r.get("error", []))
        return f"{r['program']:<14}{r['backend']:<8}" + tail
    t = r["times"]
    top = sorted(r["pass_seconds"].items(), key=lambda kv: -kv[1])[:3]
    slow = ", ".join(f"{k} {v:.2f}" for k, v in top)
    return (f"{r['program']:<14}{r['actual_backend']:<8}{_fmt(r['first_call'])}"
            f"{_fmt(t.get('trace'))}{_fmt(t.get('passes'))}{_fmt(t.get('codegen'))}"
            f"{_fmt(t.get('load'))}{r['eqns_traced']:>8}{r['eqns_final']:>7}{r['kernels']:>6}"
            f"{r['source_kb']:>7.0f}"
            f"{r['steady_call'] * 1e3:>10.3f}{r['eager_forward'] * 1e3:>9.3f}"
            f"{r['fd_rel_error']:>9.1e}  {r['status']}; {slow}; threads {r['threads']}, "
            f"load {r['load'][0]:.1f}-{r['load'][1]:.1f}; cpu {r['first_cpu']:.2f} + cc "
            f"{r['cc_cpu']:.2f}")


def summary(rows):
    """Per (program, backend, threads): runs, least and median first call, median phases,
    least and greatest load average seen around the runs."""
    groups = {}
    for r in rows:
        if r["status"] == "ok":
            groups.setdefault((r["program"], r["backend"], r["threads"]), []).append(r)
    out = [f"{'program':<14}{'backend':<8}{'threads':>8}{'runs':>5}{'min':>8}{'median':>8}"
           f"{'trace':>8}{'passes':>8}{'codegen':>8}{'load':>8}{'cpu':>7}{'cc cpu':>7}"
           f"{'steady ms':>10}{'kern':>6}  load avg"]
    for (name, backend, threads), rs in groups.items():
        def med(key):
            vals = [x["times"].get(key) for x in rs if x["times"].get(key) is not None]
            return statistics.median(vals) if vals else None
        firsts = [x["first_call"] for x in rs]
        loads = [v for x in rs for v in x["load"]]
        out.append(f"{name:<14}{backend:<8}{threads:>8}{len(rs):>5}{_fmt(min(firsts))}"
                   f"{_fmt(statistics.median(firsts))}{_fmt(med('trace'))}{_fmt(med('passes'))}"
                   f"{_fmt(med('codegen'))}{_fmt(med('load'))}"
                   f"{statistics.median(x['first_cpu'] for x in rs):>7.2f}"
                   f"{statistics.median(x['cc_cpu'] for x in rs):>7.2f}"
                   f"{statistics.median(x['steady_call'] for x in rs) * 1e3:>10.3f}"
                   f"{rs[0]['kernels']:>6}"
                   f"  {min(loads):.1f}-{max(loads):.1f}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--backend", default="both", choices=("numpy", "c", "both"))
    ap.add_argument("--only", default=",".join(PROGRAMS), help="comma-separated subset")
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per run")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration")
    ap.add_argument("--threads", default="default", choices=("default", "1", "both"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
        child(args.child, args.backend, args.quick)
        return 0
    names = [n for n in args.only.split(",") if n]
    for n in names:
        if n not in PROGRAMS:
            ap.error(f"unknown program {n!r}; choose from {sorted(PROGRAMS)}")
    backends = ("numpy", "c") if args.backend == "both" else (args.backend,)
    cflags = os.environ.get("TRACEGRAD_CFLAGS", "")
    print(f"# autograd examples ({'quick' if args.quick else 'full'} sizes): fresh process per "
          f"run, cold kernel cache, program cache off, timeout {args.timeout:.0f} s; seconds "
          f"unless marked" + (f"; TRACEGRAD_CFLAGS={cflags!r}" if cflags else ""))
    print(HEADER)
    rows, failed = [], False
    threads = ("1", "default") if args.threads == "both" else (args.threads,)
    for _ in range(args.repeat):  # interleaved, so a burst of load hits every configuration
        for th in threads:
            for backend in backends:
                for n in names:
                    r = run_one(n, backend, args.quick, args.timeout, th)
                    rows.append(r)
                    print(format_row(r), flush=True)
                    failed |= r["status"] not in ("ok", "timeout")
    seen = set()
    for r in rows:
        if "note" in r and r["program"] not in seen:
            seen.add(r["program"])
            print(f"#   {r['program']}: {r['note']}")
    if args.repeat > 1 or len(threads) > 1:
        print("# summary: first call, least and median over runs; phases are medians")
        print("\n".join(summary(rows)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
