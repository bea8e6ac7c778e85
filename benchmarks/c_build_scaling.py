"""``python -m benchmarks.c_build_scaling [--quick] [--steps 30,60,100] [--hidden 40]
[--fuse both|on|off] [--ftime-report] [--auto]``

How the C backend's build (issue 13 item 2) grows with the number of kernels: an unrolled tanh
RNN (``steps`` steps, hidden size ``hidden``), forward plus gradient, jitted with
``backend="c"`` in a fresh kernel cache (TRACEGRAD_CACHE_DIR: a new temporary directory,
TRACEGRAD_PROGRAM_CACHE=0), with fusion on and off (``TRACEGRAD_DISABLE_PASSES=fuse-all``
gives one kernel per equation: the many-small-kernels case). For each size it prints the
kernels, the generated source's lines, and ``.lower(...).stats["times"]``: passes, codegen
(writing the source) and compile (``load``: the C compiler, since the cache is cold), and the
compiler's CPU time (steadier than wall time on a shared machine). ``--ftime-report``
recompiles the last source once with ``gcc -ftime-report`` and prints the top phases;
``--auto`` times the first call on ``backend="auto"``, where a long build runs in the
background while NumPy answers.

``TRACEGRAD_CFLAGS=-DTG_KERNEL=static`` measures the build as it was before kernels were kept
out of line (codegen/c/module.py): gcc then inlines every kernel into one huge tg_program.

Timings are printed, never asserted. Measured 2026-11-29 (gcc 12.2, 2 shared CPUs, hidden 40,
compile wall s / cc CPU s; before = TRACEGRAD_CFLAGS=-DTG_KERNEL=static):

    fusion off  330 kernels   1.33 / 1.35  ->  0.97 / 0.58
                1100 kernels  8.31 / 7.24  ->  3.20 / 1.73   (12.2 s wall on a quieter run)
                2200 kernels 21.06 / 20.90 ->  3.46 / 3.45
    fusion on   599 kernels   5.68 / 3.09  ->  2.29 / 1.30
    program call time unchanged (118 vs 116 us at 1,100 kernels)

Flags tried on the 1,100-kernel source (cc CPU s): inlined -O3 8.5, -O2 -fno-tree-vectorize
1.6, -O1 4.0; out of line -O3 1.7, -O2 1.7, -O1 3.3, and per-kernel
``__attribute__((optimize("O1")))`` or ``("O2", "no-tree-vectorize")`` on the small kernels
1.9: once kernels are out of line, lowering the optimisation of small ones saves nothing (and
turning vectorisation off could change the numbers: libmvec's vector tanhf/expf need not
round as the scalar ones do), so every kernel keeps -O3. With fusion on, no two same-shape
elementwise kernels are adjacent in the RNN (matrix products separate them): nothing to merge.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

F32 = np.float32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = (30, 60, 100)
QUICK_STEPS = (10, 30)


def rnn(steps: int, hidden: int, batch: int = 4, features: int = 8):
    """loss(w, u, b, xs, h0) of a tanh RNN unrolled over ``steps`` inputs, and its arguments."""
    def loss(w, u, b, xs, h):
        for t in range(steps):
            h = np.tanh(h @ w + xs[t] @ u + b)
        return np.sum(h * h)
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((hidden, hidden)).astype(F32) * 0.1,
            rng.standard_normal((features, hidden)).astype(F32) * 0.1,
            np.zeros(hidden, F32),
            rng.standard_normal((steps, batch, features)).astype(F32),
            np.zeros((batch, hidden), F32))
    return loss, args


def measure(steps: int, hidden: int, fuse: bool) -> dict:
    """Build the RNN's value_and_grad on C in a cold cache; the lowering's statistics."""
    import tracegrad as tg
    loss, args = rnn(steps, hidden)
    old = os.environ.get("TRACEGRAD_DISABLE_PASSES")
    os.environ["TRACEGRAD_DISABLE_PASSES"] = "" if fuse else "fuse-all"
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        lowered = tg.jit(tg.value_and_grad(loss), backend="c").lower(*args)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        if old is None:
            os.environ.pop("TRACEGRAD_DISABLE_PASSES", None)
        else:
            os.environ["TRACEGRAD_DISABLE_PASSES"] = old
    t = lowered.stats["times"]
    calls = []
    for _ in range(30):  # the built program's own speed: out-of-line kernels cost calls
        t0 = time.perf_counter()
        lowered.executable(*args)
        calls.append(time.perf_counter() - t0)
    return {"call_us": 1e6 * sorted(calls)[len(calls) // 2],
            "steps": steps, "fuse": fuse, "kernels": lowered.stats["kernels"],
            "lines": lowered.source.count("\n"), "passes": t["passes"], "codegen": t["codegen"],
            "compile": t["load"], "source": lowered.source,
            # the compiler's own CPU time: steadier than wall time on a shared machine
            "cc_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


def first_call_auto(steps: int, hidden: int, fuse: bool) -> tuple[float, str, float]:
    """(seconds of the first call, its backend state, seconds until C answers) of the RNN's
    value_and_grad on ``backend="auto"`` in a fresh kernel cache: a long build runs in the
    background (codegen/c/background.py) while NumPy answers."""
    import tracegrad as tg
    loss, args = rnn(steps, hidden)
    saved = {k: os.environ.get(k) for k in ("TRACEGRAD_CACHE_DIR", "TRACEGRAD_DISABLE_PASSES",
                                            "TRACEGRAD_BACKEND")}
    os.environ["TRACEGRAD_BACKEND"] = "auto"  # what backend="auto" resolves through
    os.environ["TRACEGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="tracegrad-c-build-")
    os.environ["TRACEGRAD_DISABLE_PASSES"] = "" if fuse else "fuse-all"
    try:
        fn = tg.jit(tg.value_and_grad(loss), backend="auto")
        t0 = time.perf_counter()
        fn(*args)
        first = time.perf_counter() - t0
        state = fn.cache_info().backends[0]
        wait = getattr(fn.lower(*args).executable, "wait", None)
        if wait is not None:
            wait()
        return first, state, time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ftime_report(source: str) -> str:
    """The top phases of ``gcc -ftime-report`` for ``source`` under the backend's flags."""
    from tracegrad.codegen.c import compiler
    comp = compiler._compiler(compiler._cc_setting())
    build = compiler._build_config(comp, uses_blas=False, openmp=True, fast_math=False)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "prog.c")
        with open(path, "w") as f:
            f.write(source.replace("TG_MODULE_NAME", "tg_bench"))
        r = subprocess.run([*comp.argv, *build.cflags, "-ftime-report", "-c", path, "-o",
                            os.path.join(d, "prog.o")], capture_output=True, text=True)
    rows = [ln for ln in r.stderr.splitlines() if ":" in ln and "%" in ln]
    phase = [ln for ln in rows if ln.strip().startswith("phase") or "TOTAL" in ln]

    def user(ln):
        try:
            return float(ln.split(":", 1)[1].split()[0])
        except (IndexError, ValueError):
            return 0.0
    top = sorted((ln for ln in rows if ln not in phase and "callgraph" not in ln),
                 key=user, reverse=True)[:8]
    return "\n".join(phase + ["  top passes (usr, sys, wall):"] + top)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke test)")
    ap.add_argument("--steps", default="", help="comma-separated RNN lengths")
    ap.add_argument("--hidden", type=int, default=40)
    ap.add_argument("--fuse", choices=("both", "on", "off"), default="both")
    ap.add_argument("--ftime-report", action="store_true")
    ap.add_argument("--auto", action="store_true",
                    help="also time the first call on backend='auto' (background build)")
    ns = ap.parse_args(argv)
    steps = tuple(int(s) for s in ns.steps.split(",") if s) or \
        (QUICK_STEPS if ns.quick else STEPS)
    # a cold kernel cache of our own, and no program cache: every build is measured
    os.environ["TRACEGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="tracegrad-c-build-")
    os.environ["TRACEGRAD_PROGRAM_CACHE"] = "0"
    fuses = {"both": (False, True), "on": (True,), "off": (False,)}[ns.fuse]
    print(f"tanh RNN, hidden {ns.hidden}, value_and_grad on backend='c', cold kernel cache; "
          f"CFLAGS extra: {os.environ.get('TRACEGRAD_CFLAGS', '')!r}")
    print(f"{'fuse':>5} {'steps':>5} {'kernels':>7} {'lines':>7} {'passes s':>9} "
          f"{'codegen s':>9} {'compile s':>9} {'cc cpu s':>9} {'call us':>8}")
    last = None
    for fuse in fuses:
        for s in steps:
            r = measure(s, ns.hidden, fuse)
            last = r
            print(f"{'on' if fuse else 'off':>5} {s:>5} {r['kernels']:>7} {r['lines']:>7} "
                  f"{r['passes']:>9.2f} {r['codegen']:>9.2f} {r['compile']:>9.2f} "
                  f"{r['cc_cpu']:>9.2f} {r['call_us']:>8.1f}", flush=True)
    if ns.auto:
        print("\nbackend='auto', fresh cache: first call, its backend, until C answers")
        for fuse in fuses:
            for st in steps:
                # a new process: this one has the C modules measured above loaded already
                code = ("import json; from benchmarks.c_build_scaling import first_call_auto; "
                        f"print(json.dumps(first_call_auto({st}, {ns.hidden}, {fuse})))")
                out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                     text=True, check=True, cwd=ROOT).stdout
                first, state, until_c = json.loads(out.strip().splitlines()[-1])
                print(f"  fuse {'on' if fuse else 'off'} {st:>4} steps: first call "
                      f"{first:.2f} s ({state}); C answering after {until_c:.2f} s", flush=True)
    if ns.ftime_report and last is not None:
        print(f"\ngcc -ftime-report, fuse {'on' if last['fuse'] else 'off'}, "
              f"{last['steps']} steps:")
        print(ftime_report(last["source"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
