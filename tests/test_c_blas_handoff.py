"""One pool at a time: the loops of a C call that runs BLAS products on n threads use only the
CPUs those threads leave (codegen/c/module.py ``tg_blas_busy``). OpenBLAS's workers keep
spinning after each product (its THREAD_TIMEOUT, ~0.1 s), so a loop team that also took their
CPUs waited a scheduler tick per call: GradBench's kmeans distance row minimum after its
product took 8 ms with the default two threads, 0.8 ms on one."""
import os
import subprocess
import sys

import numpy as np

import tracegrad as tg

_PROBE = r"""
import os, numpy as np, tracegrad as tg
from tracegrad.codegen.c import threads as c_threads
c_threads.refresh = lambda now=None: None   # the CPUs free are what this probe says
rng = np.random.default_rng(0)
p, c = rng.random((20000, 16)), rng.random((100, 16))
x = rng.standard_normal(1 << 21)
both = tg.jit(lambda p, c: np.min(np.exp(p @ c.T), axis=1), backend="c").lower(p, c).executable
loops = tg.jit(lambda v: np.exp(np.sin(v)) * 2.0, backend="c").lower(x).executable
assert "TG_PARALLEL" in both.source and "TG_PARALLEL" in loops.source
for exe in (both, loops):
    exe._adapt = True
    exe.set_threads(2)
p @ c.T                                      # NumPy's OpenBLAS has started its workers
tasks = lambda: len(os.listdir("/proc/self/task"))
c_threads.SHARED[0] = 2                      # two CPUs free
before = tasks()
both(p, c); both(p, c)                       # BLAS on two threads: its loops on the one left
after_both = tasks()
loops(x)                                     # no BLAS: libgomp starts its worker
print(before, after_both, tasks())
"""


def test_loops_of_a_call_running_blas_on_two_threads_take_no_second_thread():
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRACEGRAD_NUM_THREADS", "TRACEGRAD_ADAPT_THREADS", "OMP_NUM_THREADS",
                        "OPENBLAS_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    before, after_both, after_loops = map(int, out.stdout.split())
    assert after_both == before, f"{after_both - before} OpenMP worker(s) beside BLAS's threads"
    assert after_loops > after_both, "no worker for a loop-only call: the probe cannot see one"


def test_results_with_and_without_the_handoff_are_the_same_bits(monkeypatch):
    """Only the team changes, and loops give the same bits on any team."""
    from tracegrad.codegen.c import threads as c_threads
    rng = np.random.default_rng(1)
    p, c = rng.random((20000, 16)), rng.random((100, 16))
    exe = tg.jit(lambda p, c: (np.min(p @ c.T, axis=1), np.sum(np.exp(-p))),
                 backend="c").lower(p, c).executable
    exe._adapt = True
    monkeypatch.setattr(c_threads, "refresh", lambda now=None: None)
    saved = c_threads.SHARED[0]
    outs = []
    try:
        for n, free in ((1, 1), (2, 2), (2, 1 << 20)):
            exe.set_threads(n)
            c_threads.SHARED[0] = free
            outs.append(exe(p, c))
    finally:
        c_threads.SHARED[0] = saved
    for other in outs[1:]:
        np.testing.assert_array_equal(other[1], outs[0][1])
        np.testing.assert_allclose(other[0], outs[0][0], rtol=1e-12)
