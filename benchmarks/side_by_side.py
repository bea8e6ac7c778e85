"""``python -m benchmarks.side_by_side [--quick] [--rounds 5] [--threads 1,default] [--only W3]
[--clock wall|cpu]``

W1-W6 forward+gradient (W6: the HVP) for NumPy eager with a hand-written backward, tracegrad's
C and NumPy backends, JAX ``jit`` and PyTorch eager (when installed), in one process per thread
setting. The systems are timed in rounds, one after the other within a round, so that a change
of machine load hits all of them alike; each round's figure is a median of several calls, and
the speed-up is the median over rounds of (eager time / system time) of the same round. The
thread settings run in fresh processes: ``1`` sets every knob (TRACEGRAD_NUM_THREADS,
OMP/OpenBLAS, XLA's Eigen pool, torch.set_num_threads) to one thread; ``default`` sets none.
Prints a markdown table per setting.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ONE_THREAD = {"TRACEGRAD_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
# cpu: the process's CPU seconds (every thread), steady under other jobs' load where wall time
# swings 5x; meaningful for one thread (with several it adds the threads up)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
SYSTEMS = ("eager", "tg-c", "tg-c-no-rows", "tg-numpy", "jax", "torch")


def _time(fn, args, min_s: float, small: bool, clock=time.perf_counter) -> float:
    inner = 200 if small else 1
    times, t_end = [], time.perf_counter() + min_s
    while len(times) < 5 or time.perf_counter() < t_end:
        t0 = clock()
        for _ in range(inner):
            fn(*args)
        times.append((clock() - t0) / inner)
    return statistics.median(times)


def _systems(w: str, wargs):
    import tracegrad as tg

    from . import peers
    from .__main__ import EAGER, build
    out = {"eager": (EAGER[w][0], wargs)}
    for b in ("c", "numpy"):
        out[f"tg-{b}"] = (build(b)[w][0], wargs)
    if w in ("W3", "W4"):  # the row kernels' effect, in the same run
        out["tg-c-no-rows"] = (_without_fuse_rows(build("c")[w][0]), wargs)
    for name, make in (("jax", peers.make_jax), ("torch", peers.make_torch)):
        try:
            made = make(w, wargs)
        except Exception as exc:  # a peer that cannot run a workload is reported, not fatal
            print(f"[{name} {w}: {type(exc).__name__}: {exc}]", file=sys.stderr)
            made = None
        if made is not None:
            out[name] = made
    _ = tg
    return out


def _without_fuse_rows(fn):
    """``fn`` called with the fuse-rows pass disabled (the option is part of the program's
    key, read at each call: set around every call)."""
    def run(*a):
        old = os.environ.get("TRACEGRAD_DISABLE_PASSES")
        os.environ["TRACEGRAD_DISABLE_PASSES"] = "fuse-rows"
        try:
            return fn(*a)
        finally:
            if old is None:
                del os.environ["TRACEGRAD_DISABLE_PASSES"]
            else:
                os.environ["TRACEGRAD_DISABLE_PASSES"] = old
    return run


def _value(w: str, out) -> np.ndarray:
    """The loss (W1-W5) or the HVP (W6) of a system's result, as float64."""
    v = out if w == "W6" else out[0]
    v = v.detach() if hasattr(v, "detach") else v
    return np.asarray(v, np.float64)


def _check(w: str, systems) -> dict:
    """Each system's value against eager NumPy's (relative 1e-3: float32 sums in any order)."""
    fn, a = systems["eager"]
    ref = _value(w, fn(*a))
    out = {}
    for s, (fn, a) in systems.items():
        err = float(np.max(np.abs(_value(w, fn(*a)) - ref)) / (np.max(np.abs(ref)) + 1e-30))
        out[s] = "ok" if err <= 1e-3 else f"MISMATCH {err:.1e}"
    return out


def worker(only, rounds: int, quick: bool, clock: str = "wall") -> dict:
    if os.environ.get("TRACEGRAD_NUM_THREADS") == "1":
        # XLA's flags leave JAX two Eigen threads (measured: ~0.84 ms CPU each per W2 call, so
        # "one thread" ran on two cores); pinning the process to one CPU makes it one for all
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        try:
            import torch
            torch.set_num_threads(1)
        except ImportError:
            pass
    from .__main__ import EAGER
    rng = np.random.default_rng(0)
    scale = 0.05 if quick else 1.0
    result = {}
    for w in only:
        wargs = EAGER[w][2](rng, scale)
        systems = _systems(w, wargs)
        for fn, a in systems.values():  # first calls: compiles, caches, arenas
            for _ in range(3):
                fn(*a)
        checks = _check(w, systems)
        per = {s: [] for s in systems}
        for _ in range(rounds):
            for s, (fn, a) in systems.items():
                per[s].append(_time(fn, a, 0.05 if quick else 0.3, w == "W5", CLOCKS[clock]))
        row = {}
        for s, ts in per.items():
            ratios = [e / t for e, t in zip(per["eager"], ts)]
            row[s] = {"ms": statistics.median(ts) * 1e3, "speedup": statistics.median(ratios),
                      "spread": [min(ratios), max(ratios)], "check": checks[s]}
        result[w] = row
    return result


def table(res: dict, title: str) -> str:
    cols = [s for s in SYSTEMS if any(s in row for row in res.values())]
    lines = [f"{title}", "", "| | " + " | ".join(cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for w, row in res.items():
        cells = []
        for s in cols:
            if s not in row:
                cells.append("-")
            elif row[s]["check"] != "ok":
                cells.append(row[s]["check"])
            elif s == "eager":
                cells.append(f"{row[s]['ms']:.3g} ms")
            else:
                cells.append(f"{row[s]['ms']:.3g} ms ({row[s]['speedup']:.2f}x)")
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.side_by_side", description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="1,default")
    ap.add_argument("--only", default="W1,W2,W3,W4,W5,W6")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", default="")
    ap.add_argument("--clock", default="wall", choices=sorted(CLOCKS),
                    help="wall, or cpu (process CPU time: for --threads 1 on a loaded machine)")
    a = ap.parse_args(argv)
    only = [w for w in a.only.split(",") if w]
    if a.worker:
        print(json.dumps(worker(only, a.rounds, a.quick, a.clock)))
        return 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    everything = {}
    for mode in a.threads.split(","):
        env = dict(os.environ, **(ONE_THREAD if mode == "1" else {}))
        cmd = [sys.executable, "-m", "benchmarks.side_by_side", "--worker", "--only", a.only,
               "--rounds", str(a.rounds), "--clock", a.clock] + (["--quick"] if a.quick else [])
        out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
        if out.returncode:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        res = json.loads(out.stdout.strip().splitlines()[-1])
        everything[mode] = res
        print(table(res, f"threads: {mode} ({a.clock} clock, median ms; speed-up over NumPy "
                         f"eager, median over {a.rounds} rounds)"))
        print()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
