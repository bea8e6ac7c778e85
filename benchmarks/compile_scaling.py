"""``python -m benchmarks.compile_scaling [--quick] [--max-eqns N] [--programs chain,rnn]``

How compile time grows with program size (issue 13): builds programs of about 100, 1,000,
10,000 and 50,000 equations (a long elementwise chain, an unrolled tanh RNN, an MLP stack, and
the gradient of each) and times every phase separately: the trace, reverse-mode autodiff (for
the gradients), each pass of the O2 pipeline by name, NumPy code generation and C code
generation (source only, no compiler). Then it fits ``time ~ eqns ** k`` by least squares on
log-log axes over the sizes from 1,000 equations up and prints ``k`` per phase: near 1 is
linear, 2 is quadratic. Timings are printed, never asserted (tests run ``--quick`` as a smoke
test only); the numbers of record live in benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import math
import sys
import time

import numpy as np

F32 = np.float32
SIZES = (100, 1_000, 10_000, 50_000)
QUICK_SIZES = (30, 100, 300)
FIT_FROM = 1_000  # the exponent is fitted on sizes from here up (smaller ones are overhead)


# --- the programs: (fn, args), with a knob `steps` that sets their length ------------------------
def chain(steps):
    """A long elementwise chain: each step is a few elementwise operations on one array."""
    def f(x, y):
        for i in range(steps):
            x = np.tanh(x * y + 0.5) if i % 2 else np.sin(x) - y * 0.25
        return np.sum(x * x)
    return f, (np.ones((16, 32), F32) * 0.1, np.ones((16, 32), F32) * 0.3)


def rnn(steps):
    """An unrolled tanh RNN over ``steps`` inputs: h = tanh(h @ W + x_t @ U + b)."""
    def f(w, u, b, xs, h):
        for t in range(steps):
            h = np.tanh(h @ w + xs[t] @ u + b)
        return np.sum(h * h)
    rng = np.random.default_rng(0)
    return f, (rng.standard_normal((32, 32)).astype(F32) * 0.1,
               rng.standard_normal((8, 32)).astype(F32) * 0.1, np.zeros(32, F32),
               rng.standard_normal((steps, 16, 8)).astype(F32), np.zeros((16, 32), F32))


def mlp(steps):
    """An MLP stack of ``steps`` layers, each with its own weights (one argument list)."""
    def f(ws, bs, x):
        for w, b in zip(ws, bs):
            x = np.tanh(x @ w + b) + 0.1 * x
        return np.sum(x * x)
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((32, 32)).astype(F32) * 0.1 for _ in range(steps)]
    bs = [np.zeros(32, F32) for _ in range(steps)]
    return f, (ws, bs, rng.standard_normal((16, 32)).astype(F32))


PROGRAMS = {"chain": chain, "rnn": rnn, "mlp": mlp}


# --- building one program of a given size --------------------------------------------------------
def _trace(make, steps):
    from tracegrad.staging import trace
    fn, args = make(steps)
    t0 = time.perf_counter()
    traced = trace(fn, args, {})
    return traced.graph, time.perf_counter() - t0


def _gradient(graph):
    """The reverse-mode graph of ``graph`` w.r.t. every float input (after PRE_AD, as tg.grad)."""
    from tracegrad.passes.autodiff import vjp_graph
    from tracegrad.passes.registry import PRE_AD, run_pipeline
    seconds = {}
    t0 = time.perf_counter()
    pre, rec = run_pipeline(graph, PRE_AD)
    for name, s in rec.seconds.items():
        seconds[f"pre_ad.{name}"] = s
    t1 = time.perf_counter()
    g = vjp_graph(pre, list(range(len(pre.inputs))))
    seconds["autodiff"] = time.perf_counter() - t1
    seconds["pre_ad+autodiff"] = time.perf_counter() - t0
    return g, seconds


def steps_for(make, target, grad):
    """Steps giving about ``target`` traced equations (measured on a small build)."""
    probe = 20
    g, _ = _trace(make, probe)
    if grad:
        g, _ = _gradient(g)
    base_g, _ = _trace(make, 2 * probe)
    if grad:
        base_g, _ = _gradient(base_g)
    per_step = max((len(base_g.eqns) - len(g.eqns)) / probe, 1e-9)
    fixed = len(g.eqns) - per_step * probe
    return max(1, round((target - fixed) / per_step))


def _timed(fn, pause_gc):
    gc.collect()
    if pause_gc:
        gc.disable()
    try:
        t0 = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - t0
    finally:
        gc.enable()


def measure(make, steps, grad, c_codegen=True, repeat=1, pause_gc=False):
    """Phase -> seconds (the least of ``repeat`` runs: the machine is shared, and the least
    is the run with the least interference) for one program, and its equation count."""
    from tracegrad.passes.registry import run_pipeline
    phases: dict[str, float] = {}

    def keep(name, seconds):
        phases[name] = min(phases.get(name, seconds), seconds)
    for _ in range(repeat):
        (graph, _), t = _timed(lambda: _trace(make, steps), pause_gc)
        keep("trace", t)
        if grad:
            (graph, s), _ = _timed(lambda: _gradient(graph), pause_gc)
            for name, t in s.items():
                keep(name, t)
        n = len(graph.eqns)
        (out, rec), _ = _timed(lambda: run_pipeline(graph, "O2"), pause_gc)
        for name, t in rec.seconds.items():
            keep(f"O2.{name}", t)
        keep("O2 total", sum(rec.seconds.values()))
        _, t = _timed(lambda: _emit_numpy(out, rec.analyses.get("memplan")), pause_gc)
        keep("numpy codegen", t)
        if c_codegen:
            from tracegrad.codegen.c.emit import emit_c
            _, t = _timed(lambda: emit_c(out, "program"), pause_gc)
            keep("c codegen", t)
    return n, phases


def _emit_numpy(graph, plan):
    """NumPy source of ``graph`` with memory plan ``plan`` (the pipeline's memplan analysis)
    as NumpyExecutable generates it (without exec'ing it)."""
    from tracegrad.codegen.numpy_emit import emit_numpy
    if plan is not None or any(e.prim.name == "fused" for e in graph.eqns):
        from tracegrad.codegen.numpy_plan import emit_numpy_planned
        return emit_numpy_planned(graph, plan, "program", {})[0]
    return emit_numpy(graph, "program", {})[0]


def fit_exponent(points):
    """Least-squares slope of log(time) against log(eqns) over ``(eqns, seconds, target)``
    points from the target size FIT_FROM up (smaller ones measure fixed overhead, not growth;
    all points when none is that large); None with fewer than two points."""
    if any(target >= FIT_FROM for _, _, target in points):
        points = [p for p in points if p[2] >= FIT_FROM]
    pts = [(math.log(n), math.log(max(t, 1e-6))) for n, t, _ in points]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def run(programs, sizes, c_codegen=True, repeat=1, pause_gc=False, out=sys.stdout):
    results = {}
    for pname in programs:
        make = PROGRAMS[pname]
        for grad in (False, True):
            label = f"{pname}{' grad' if grad else ''}"
            rows = []
            for target in sizes:
                steps = steps_for(make, target, grad)
                n, phases = measure(make, steps, grad, c_codegen, repeat, pause_gc)
                rows.append((n, phases, target))
                out.write(f"# {label}: {n} eqns, O2 {phases['O2 total']:.3f} s\n")
                out.flush()
            results[label] = rows
            report(label, rows, out)
    return results


def report(label, rows, out=sys.stdout):
    names = []
    for _, phases, _ in rows:
        for k in phases:
            if k not in names:
                names.append(k)
    head = f"{label:<22}" + "".join(f"{n:>11}" for n, _, _ in rows) + f"{'exponent':>10}"
    out.write(head + "\n")
    for name in names:
        pts = [(n, ph[name], target) for n, ph, target in rows if name in ph]
        k = fit_exponent(pts)
        out.write(f"  {name:<20}" + "".join(f"{ph.get(name, float('nan')):>11.4f}"
                                             for _, ph, _ in rows)
                  + (f"{k:>10.2f}" if k is not None else f"{'-':>10}") + "\n")
    out.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    ap.add_argument("--max-eqns", type=int, default=None, help="skip sizes above this")
    ap.add_argument("--programs", default=",".join(PROGRAMS), help="comma-separated subset")
    ap.add_argument("--no-c", action="store_true", help="skip C code generation")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per program, the least time kept (default 2, 1 with --quick)")
    ap.add_argument("--pause-gc", action="store_true",
                    help="disable Python's cyclic garbage collector while a phase runs: its "
                         "full collections scan the whole heap, which grows with the program "
                         "(shows the algorithms' own growth)")
    args = ap.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.max_eqns is not None:
        sizes = tuple(s for s in sizes if s <= args.max_eqns)
    programs = [p for p in args.programs.split(",") if p]
    for p in programs:
        if p not in PROGRAMS:
            ap.error(f"unknown program {p!r}; choose from {sorted(PROGRAMS)}")
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    repeat = args.repeat or (1 if args.quick else 2)
    print(f"# compile scaling: sizes {list(sizes)}, least of {repeat} run(s), garbage collector "
          f"{'paused in each phase' if args.pause_gc else 'on'}")
    run(programs, sizes, c_codegen=not args.no_c, repeat=repeat, pause_gc=args.pause_gc)


if __name__ == "__main__":
    main()
