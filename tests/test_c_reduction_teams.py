"""Reductions of the C backend give the same bits whatever team runs them, and their teams
follow the CPUs free (issue 19 item 3).

A full reduction used to split its loop into one share per thread and add the threads'
partials, so its sum depended on the team; to keep results reproducible its team was sized
by the work alone, not by the load, and on a busy machine its second thread waited for a CPU
another process held (GradBench lse, 1.28M elements: 40 ms on two threads vs 0.92 ms on one).
Now the work is cut into chunks chosen by size alone, each chunk's partial is combined in
chunk order, and the team (any size) only decides who computes which chunk.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c import threads as c_threads
from tracegrad.codegen.c.kernels import PARALLEL_MIN_ELEMENTS
from tracegrad.codegen.c.lowerings import LOWERINGS, lowering
from tracegrad.prims import reduce_max_p, reduce_min_p, reduce_prod_p, reduce_sum_p
from c_support import needs_c

pytestmark = needs_c

# every reduction the C kernels lower as an epilogue, with its NumPy form: a reduction added
# to codegen/c without a row here fails test_every_c_reduction_is_covered
REDUCTIONS = {reduce_sum_p: np.sum, reduce_prod_p: np.prod, reduce_max_p: np.max,
              reduce_min_p: np.min}


def _operand(x, name):
    # products of values near 1 stay finite over millions of elements
    return 1.0 + x * 1e-6 if name == "reduce_prod" else np.exp(np.sin(x)) - 1.2


# layouts whose code differs (kernels.py: full 1-D, full 2-D, per-output accumulators over a
# suffix, general axes; row_kernels.py: row-fused reductions with a full sum of their rows)
LAYOUTS = {
    "full 1-D": ((3 * PARALLEL_MIN_ELEMENTS + 17,), None),
    "full 2-D": ((613, 1031), None),
    "rows": ((613, 1031), 1),
    "columns": ((613, 1031), 0),
}


def _teams(fn, *args):
    """Outputs with 1 thread, with 2 threads and every CPU free, and with 2 threads while only
    one CPU is free (c_threads.SHARED[0] forced, the load sampler switched off)."""
    exe = tg.jit(fn, backend="c").lower(*args).executable
    exe._adapt = True  # follow the word even where the environment fixed a thread count
    saved, refresh = c_threads.SHARED[0], c_threads.refresh
    c_threads.refresh = lambda now=None: None
    outs = []
    try:
        for threads, free in ((1, 1 << 20), (2, 1 << 20), (2, 1)):
            exe.set_threads(threads)
            c_threads.SHARED[0] = free
            outs.append([np.array(o, copy=True) for o in exe(*args)])
    finally:
        c_threads.SHARED[0], c_threads.refresh = saved, refresh
    return outs


def _same_bits(outs):
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert a.tobytes() == b.tobytes(), (a, b)


def test_every_c_reduction_is_covered():
    lowering(reduce_sum_p)  # loads every emitter module
    have = {p for p, low in LOWERINGS.items() if low.reduction is not None}
    assert have == set(REDUCTIONS), {p.name for p in have ^ set(REDUCTIONS)}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("prim", list(REDUCTIONS), ids=lambda p: p.name)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reductions_give_the_same_bits_on_any_team(prim, layout, dtype):
    shape, axis = LAYOUTS[layout]
    red = REDUCTIONS[prim]
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    outs = _teams(lambda v: red(_operand(v, prim.name), axis=axis), x)
    _same_bits(outs)
    # against float64 NumPy, to the rounding of the sum's terms (values near 0 cancel)
    want = red(_operand(x.astype(np.float64), prim.name), axis=axis)
    terms = x.size // np.size(want)
    tol = (1e-6 if dtype == np.float32 else 1e-14) * terms
    np.testing.assert_allclose(outs[0][0], want, rtol=tol, atol=tol)


def test_logsumexp_and_its_gradient_are_the_same_on_any_team():
    """GradBench's lse at 1.28M elements: the measured case (a max, then a sum of exps)."""
    x = np.random.default_rng(1).standard_normal(1_280_000)

    def lse(v):
        m = np.max(v)
        return m + np.log(np.sum(np.exp(v - m)))
    _same_bits(_teams(tg.value_and_grad(lse), x))


def test_a_nan_reaches_the_full_max_on_any_team():
    x = np.random.default_rng(2).standard_normal(1 << 20)
    x[777_777] = np.nan
    outs = _teams(lambda v: (np.max(v * 2.0), np.min(v * 2.0)), x)
    _same_bits(outs)
    assert np.isnan(outs[0][0]) and np.isnan(outs[0][1])


_TEAM_PROBE = r"""
import os, numpy as np, tracegrad as tg
from tracegrad.codegen.c import threads as c_threads
c_threads.refresh = lambda now=None: None   # the CPUs free are what this probe says
x = np.random.default_rng(0).standard_normal(1 << 21)
exe = tg.jit(lambda v: np.sum(np.exp(np.sin(v))), backend="c").lower(x).executable
assert "TG_PARALLEL" in exe.source, "no parallel loop: pick a bigger reduction"
exe._adapt = True
exe.set_threads(2)
tasks = lambda: len(os.listdir("/proc/self/task"))
before = tasks()
c_threads.SHARED[0] = 1      # one CPU free: the team must be one thread, no worker started
exe(x); exe(x)
busy = tasks()
c_threads.SHARED[0] = 2      # two free: libgomp starts its worker (the probe can see one)
exe(x)
print(before, busy, tasks())
"""


def test_the_team_of_a_full_reduction_follows_the_cpus_free():
    """In a fresh process (libgomp has no worker yet), a full reduction called while one CPU is
    free starts no OpenMP worker thread; called with two free, it does. Before, its team was
    sized by the work alone and took a second thread whatever the load."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRACEGRAD_NUM_THREADS", "TRACEGRAD_ADAPT_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", _TEAM_PROBE], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    before, busy, free = map(int, out.stdout.split())
    assert busy == before, f"a team of {busy - before + 1} with one CPU free"
    assert free > busy, "no worker with two CPUs free: the probe cannot see a team"


TEAM_READERS = ("TG_THREAD_ID", "TG_NUM_THREADS", "TG_PARALLEL_REGION_N", "omp_get_thread_num",
                "omp_get_num_threads", "omp_get_max_threads", "omp.h", "omp parallel\n")


def test_generated_kernels_cannot_read_their_team():
    """The module gives kernels no thread id or team size (a result computed from them would
    change with the load), and its one parallel construct follows the CPUs free."""
    src = tg.jit(lambda v: (np.sum(v * 2.0), np.sum(v, axis=0)), backend="c").lower(
        np.ones((1024, 1024))).executable.source
    for name in TEAM_READERS:
        assert name not in src, name
    assert "num_threads(TG_TEAM_NOW(k))" in src


def test_no_c_emitter_writes_code_that_reads_its_team():
    """The same over every emitter's source (an OpenMP call compiles without omp.h on older
    compilers): a kernel's result may depend on its size, never on its team."""
    import tracegrad.codegen.c as c_pkg
    folder = os.path.dirname(c_pkg.__file__)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name)) as f:
                text = f.read()
            for reader in TEAM_READERS:
                assert reader not in text, f"codegen/c/{name} writes {reader!r}"
