"""Row kernels on a team (codegen/c/row_kernels.py): the rows of a big [R, C] space run as a
parallel loop over a fixed number of chunks (chosen by size only), each chunk with its own
partial column and full sums, added in chunk order after the loop. So the rows really run on
several threads, the results are the same bits whatever the thread setting and the CPUs free at
the call (threads.SHARED[0]), they equal the NumPy backend, and the gradients are right."""
from __future__ import annotations

import os

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c import threads as c_threads
from tracegrad.prims import fused_p
from tracegrad.pytree import tree_flatten

from c_support import needs_c

pytestmark = [needs_c, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def layernorm_gelu(x, gain, bias):  # W4's shape of program: column sums in its gradient
    mu = np.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    y = xc / np.sqrt(var + 1e-5) * gain + bias
    g = 0.5 * y * (1 + np.tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
    return np.sum(g * g)


def _args(R, C, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((R, C)).astype(dtype),
            (1 + 0.1 * rng.standard_normal(C)).astype(dtype),
            (0.1 * rng.standard_normal(C)).astype(dtype))


GRAD = tg.value_and_grad(layernorm_gelu, argnums=(0, 1, 2))


def _flat(out):
    return [np.asarray(a) for a in tree_flatten(out)[0]]


def _run(monkeypatch, args, threads=None, free=None):
    """One fresh program: ``threads`` fixes TRACEGRAD_NUM_THREADS (None: the default, which
    follows the load); ``free`` pins the CPUs-free word the modules read (no sampling)."""
    if threads is None:
        monkeypatch.delenv("TRACEGRAD_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("TRACEGRAD_NUM_THREADS", str(threads))
    if free is not None:
        monkeypatch.setattr(c_threads, "refresh", lambda now=None: None)
        c_threads.SHARED[0] = free
    fn = tg.jit(GRAD, backend="c")
    assert [e.params["name"] for e in fn.lower(*args).ir.eqns if e.prim is fused_p] == ["rows1"]
    return _flat(fn(*args))


@pytest.fixture
def shared_word():
    saved = c_threads.SHARED[0]
    yield
    c_threads.SHARED[0] = saved


def test_row_kernel_results_do_not_depend_on_threads_or_load(monkeypatch, shared_word):
    """One thread, two, the default with two CPUs free and with one: the same bits (the value,
    dx, and the column sums dgain/dbias), and close to the NumPy backend."""
    args = _args(1024, 512)
    runs = [_run(monkeypatch, args, 1), _run(monkeypatch, args, 2),
            _run(monkeypatch, args, None, free=2), _run(monkeypatch, args, None, free=1)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)
    monkeypatch.undo()
    ref = _flat(tg.jit(GRAD, backend="numpy")(*args))
    for a, b in zip(runs[0], ref):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)


def _thread_ticks() -> dict[str, int]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        out[tid] = int(fields[11]) + int(fields[12])  # utime + stime, clock ticks
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or (os.cpu_count() or 1) < 2,
                    reason="needs /proc and two CPUs")
def test_row_kernel_rows_run_on_two_threads(monkeypatch):
    """The rows of a W4-sized kernel are shared by the team: with two threads, a second thread
    of this process does CPU work during the calls (its own clock ticks, whatever the load:
    the work is split before it runs). Issue 19 measured W4 with default threads at its
    one-thread time."""
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "2")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    args = _args(4096, 1024)
    fn = tg.jit(GRAD, backend="c")
    fn(*args)
    before = _thread_ticks()
    for _ in range(30):
        fn(*args)
    after = _thread_ticks()
    busy = sorted((after[t] - before.get(t, 0) for t in after), reverse=True)
    assert len(busy) >= 2 and busy[1] >= 2, busy


def test_row_kernel_gradients_match_finite_differences_float64():
    """dx, dgain and dbias of the row kernel (column sums across rows) against central
    differences at float64, along random directions."""
    args = _args(96, 80, np.float64, seed=3)
    fn = tg.jit(GRAD, backend="c")
    assert [e.params["name"] for e in fn.lower(*args).ir.eqns if e.prim is fused_p] == ["rows1"]
    value, grads = fn(*args)
    np.testing.assert_allclose(value, layernorm_gelu(*args), rtol=1e-12)
    rng = np.random.default_rng(4)
    h = 1e-6
    for k in range(3):
        for _ in range(2):
            d = rng.standard_normal(args[k].shape)
            plus = [a + h * d if i == k else a for i, a in enumerate(args)]
            minus = [a - h * d if i == k else a for i, a in enumerate(args)]
            fd = (layernorm_gelu(*plus) - layernorm_gelu(*minus)) / (2 * h)
            np.testing.assert_allclose(np.sum(np.asarray(grads[k]) * d), fd, rtol=1e-6,
                                       atol=1e-8)


@pytest.mark.parametrize("rows", [256, 384, 640])
def test_row_chunks_split_evenly_on_smaller_teams(rows):
    """A kernel worth k threads is cut into 4k chunks (by size, never by the team), so the team
    the load leaves it (any count up to k, often 2) gets equal shares: with k chunks, a
    3-thread kernel on 2 threads ran 2 chunks on one of them."""
    import re

    from tracegrad.codegen.c.kernels import team_size
    args = _args(rows, 1024)
    src = tg.jit(GRAD, backend="c").lower(*args).source
    k = team_size(rows * 1024)
    chunks = int(re.search(r"for \(int t = 0; t < (\d+); t\+\+\)", src).group(1))
    assert f"TG_PARALLEL_FOR_N({k})" in src and chunks == 4 * k
    assert all(chunks % team == 0 for team in (1, 2, 4))


# --- the class: random row programs, chunked and on a team, give one answer -------------------
from contextlib import contextmanager  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402

from test_fuse_rows import _row_program, row_kernels_at_any_size, row_programs  # noqa: E402


@contextmanager
def _every_kernel_on_a_team_of_3():
    """Row kernels at the fuzzer's small sizes chunked and run as if worth 3 threads (size
    alone decides both, and small sizes would otherwise get one chunk and no team)."""
    from tracegrad.codegen.c import row_kernels as rk
    saved = rk.team_size, rk.parallel_for
    rk.team_size, rk.parallel_for = (lambda work: 3), (lambda work: "TG_PARALLEL_FOR_N(3)")
    try:
        yield
    finally:
        rk.team_size, rk.parallel_for = saved


@settings(max_examples=12, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck), print_blob=True)
@given(row_programs())
def test_random_row_programs_give_the_same_bits_on_any_team(case):
    """Values and gradients of random row programs (column and full sums included) on one
    thread, on two, and on the default with one CPU free: the same bits."""
    R, C, stages, dtype, seed = case
    rng = np.random.default_rng(seed)
    x, g = rng.uniform(-2, 2, (R, C)).astype(dtype), rng.uniform(0.5, 1.5, C).astype(dtype)
    f = _row_program(stages)
    loss = lambda x, g: np.sum(f(x, g)[0] * np.cos(x)) + np.sum(f(x, g)[2])  # noqa: E731
    saved_env, saved_free = os.environ.get("TRACEGRAD_NUM_THREADS"), c_threads.SHARED[0]
    saved_refresh = c_threads.refresh
    runs = []
    try:
        with row_kernels_at_any_size(), _every_kernel_on_a_team_of_3():
            for threads, free in (("1", None), ("2", None), ("", 1)):
                os.environ["TRACEGRAD_NUM_THREADS"] = threads
                if free is not None:
                    c_threads.refresh = lambda now=None: None
                    c_threads.SHARED[0] = free
                runs.append(_flat((tg.jit(f, backend="c")(x, g),
                                   tg.jit(tg.grad(loss, argnums=(0, 1)), backend="c")(x, g))))
    finally:
        c_threads.refresh, c_threads.SHARED[0] = saved_refresh, saved_free
        if saved_env is None:
            os.environ.pop("TRACEGRAD_NUM_THREADS", None)
        else:
            os.environ["TRACEGRAD_NUM_THREADS"] = saved_env
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)
