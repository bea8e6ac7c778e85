"""The C backend against the NumPy backend and NumPy eager: every primitive row at every dtype
it supports, the program corpus forward and gradient, caching, threads, fallbacks.

Tolerances: float64 rtol 1e-12 everywhere (libmvec's double functions are within 4 ulp, and
float32 sums accumulate in double); float32 rtol 2e-6 (libmvec's float functions are within
4 ulp of the correctly rounded result, NumPy's SIMD ones within 1-4 ulp); ints and bools exact.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c.unsupported import first_complex
from tracegrad.errors import UnsupportedOperationError
from tracegrad.pytree import tree_flatten

from cases import CASES, make_args, shapes_id
from programs import PROGRAMS
from c_support import needs_c

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _tol(dtype):
    return dict(rtol=2e-6, atol=1e-6) if np.dtype(dtype) in (np.float32, np.complex64) else \
        dict(rtol=1e-12, atol=1e-13)


def _compare(got, ref, dtype=None):
    for g, r in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
        g, r = np.asarray(g), np.asarray(r)
        assert g.shape == r.shape and g.dtype == r.dtype, (g.shape, r.shape, g.dtype, r.dtype)
        if g.dtype.kind in "iub":
            np.testing.assert_array_equal(g, r)
        else:
            np.testing.assert_allclose(g, r, equal_nan=True, **_tol(g.dtype))


def _row_params():
    out = []
    for c in CASES:
        # two shape sets per row: the largest and one with a scalar or size-1 dimension
        sets = sorted(c.shapes, key=lambda s: -sum(int(np.prod(x)) for x in s))
        picks = sets[:1] + [s for s in sets[1:] if any(len(x) == 0 or 1 in x for x in s)][:1]
        for s in picks:
            for dt in c.dtypes:
                out.append(pytest.param(c, s, dt, id=f"{c.id}-{shapes_id(s)}-{dt}"))
    return out


@needs_c
@pytest.mark.parametrize("case,shape_set,dtype", _row_params())
def test_primitive_rows(case, shape_set, dtype):
    args = make_args(case, shape_set, dtype, np.random.default_rng(0))
    ref_fn = tg.jit(case.fn, backend="numpy")
    ref = ref_fn(*args)
    if first_complex(ref_fn.lower(*args).ir) is not None:
        # complex values in an operation C has no complex form of (FFT, pow, dot, ...): a
        # typed refusal, never a number; every other complex row is compared below
        with pytest.raises(UnsupportedOperationError, match='backend="numpy"'):
            tg.jit(case.fn, backend="c")(*args)
        return
    got = tg.jit(case.fn, backend="c")(*args)
    _compare(got, ref)


@needs_c
@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_programs_forward_and_gradient(prog):
    args = prog.make_args(np.random.default_rng(0))
    _compare(tg.jit(prog.fn, backend="c")(*args), prog.fn(*args))
    vg = tg.value_and_grad(prog.fn)
    _compare(tg.jit(vg, backend="c")(*args), tg.jit(vg, backend="numpy")(*args))


@needs_c
def test_float32_workload_w1_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_003).astype(np.float32)  # odd size: vector remainder loops
    y = rng.standard_normal(100_003).astype(np.float32)
    f = lambda x, y: np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))  # noqa: E731
    vg = tg.value_and_grad(f, argnums=(0, 1))
    got = tg.jit(vg, backend="c")(x, y)
    ref = tg.jit(vg, backend="numpy")(x, y)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-4)  # NumPy's float32 pairwise sum
    for g, r in zip(got[1], ref[1]):
        np.testing.assert_allclose(g, r, rtol=2e-6, atol=1e-6)


@needs_c
def test_second_call_hits_the_cache_without_compiling():
    from tracegrad.codegen.c.disk_cache import CACHE_STATS
    f = lambda x: np.sum(np.cos(x) * 3.0)  # noqa: E731
    tg.jit(f, backend="c")(np.ones(7))
    before = dict(CACHE_STATS)
    tg.jit(f, backend="c")(np.ones(7))  # a new jit object: same program, same source
    assert CACHE_STATS["compiles"] == before["compiles"]


@needs_c
def test_results_deterministic_and_thread_counts_agree(monkeypatch):
    x = np.random.default_rng(1).standard_normal(300_001)
    f = lambda v: np.sum(np.exp(np.sin(v)))  # noqa: E731
    a = tg.jit(f, backend="c")(x)
    b = tg.jit(f, backend="c")(x)
    assert a == b  # same thread count: bit-identical
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "1")
    c = tg.jit(lambda v: np.sum(np.exp(np.sin(v))), backend="c")(x)
    np.testing.assert_allclose(a, c, rtol=1e-13)


@needs_c
def test_inputs_never_written_and_outputs_fresh():
    x = np.arange(6.0).reshape(2, 3)
    x_t = np.asfortranarray(x)  # non-contiguous input
    keep = x_t.copy()
    f = tg.jit(lambda v: (v * 2.0, v.T, v.reshape(6)), backend="c")
    outs = f(x_t)
    np.testing.assert_array_equal(x_t, keep)
    np.testing.assert_array_equal(outs[0], keep * 2)
    np.testing.assert_array_equal(outs[1], keep.T)
    outs2 = f(x_t)
    assert not np.shares_memory(outs[0], outs2[0])


def test_missing_compiler_auto_falls_back_once(monkeypatch):
    from tracegrad.api import lowering
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")  # the suite's default is numpy
    monkeypatch.setattr(lowering, "_C_UNAVAILABLE", [])
    from tracegrad.codegen.c import loader as c_loader
    if hasattr(c_loader, "_reset_compiler_check"):
        c_loader._reset_compiler_check()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = tg.jit(lambda x: x * 2.0, backend="auto")(np.ones(3))
        b = tg.jit(lambda x: x * 3.0, backend="auto")(np.ones(3))
    np.testing.assert_array_equal(a, 2.0)
    np.testing.assert_array_equal(b, 3.0)
    msgs = [str(w.message) for w in caught if issubclass(w.category, tg.TracegradWarning)]
    assert len(msgs) == 1 and "NumPy backend" in msgs[0]
    with pytest.raises(tg.CompileError):
        tg.jit(lambda x: x * 4.0, backend="c")(np.ones(3))
    if hasattr(c_loader, "_reset_compiler_check"):
        c_loader._reset_compiler_check()


@needs_c
def test_source_is_readable_c_with_ir_comments():
    def f(x):
        return np.sum(np.tanh(x) * 2.0)  # the line the comments should name
    lo = tg.jit(f, backend="c").lower(np.ones(5))
    assert lo.stats["backend"] == "c"
    assert "tanh a" in lo.source and "test_c_backend.py:" in lo.source
    assert "PyInit_" in lo.source
