"""onepass-products (passes/onepass_products.py): ``A.T @ g(A @ X)`` with ``g`` row-local becomes one
kernel that the C backend runs as one pass over ``A`` (codegen/c/onepass.py).

Checked: the W6 HVP and logistic-regression gradients (and a three-vector form) match the
program without the pass on the C backend at a tolerance (the sums reassociate), both dtypes,
sizes whose rows are not a whole number of the kernel's row blocks; one and two threads give
the same bits (chunks chosen by size, partials summed in chunk order); the gradient agrees with
finite differences; the kernel is in the optimised program where the pattern holds, and not
where it must not be fused (a reduction over the rows in ``g``, a second reader of an
intermediate, a different matrix in the second product, a small matrix)."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c import threads as c_threads
from tracegrad.passes.registry import PIPELINES, run_pipeline
from tracegrad.prims.fused import is_onepass

from c_support import needs_c

ON = list(PIPELINES["O2-c"])
OFF = [p for p in ON if p != "onepass-products"]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _w6(a, x):
    return np.sum(np.log(1 + np.exp(a @ x)))


def _hvp(a, x, v):
    return tg.hvp(lambda y: _w6(a, y), (x,), (v,))


def _glm(a, x, y):
    z = a @ x
    return np.sum(np.logaddexp(0, z) - y * z)


def _glm_grad(a, x, y):
    return tg.grad(lambda w: _glm(a, w, y))(x)


def _three(a, x, v, u):
    # three stacked vectors, an outside vector and a scalar in g
    return a.T @ (np.tanh(a @ x) * (a @ v) + 0.5 * (a @ u) * u[: a.shape[0]].sum())


def _args(kind, R, K, dt, seed=0):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((R, K)) / np.sqrt(K)).astype(dt)
    x = rng.standard_normal(K).astype(dt)
    if kind == "hvp":
        return _hvp, (a, x, rng.standard_normal(K).astype(dt))
    if kind == "glm":
        return _glm_grad, (a, x, (rng.random(R) < 0.5).astype(dt))
    return _three, (a, x, rng.standard_normal(K).astype(dt), rng.standard_normal(K).astype(dt))


def _kernels(fn, args, passes=ON):
    g = tg.make_ir(fn, stage="traced")(*args)
    opt, _ = run_pipeline(g, passes, check=True)
    return [e for e in opt.eqns if is_onepass(e)]


# odd sizes: rows not a multiple of the 4- or 8-row blocks, columns not of any vector width
SIZES = [(203, 151), (1000, 1000), (517, 1029)]


@needs_c
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("R,K", SIZES)
@pytest.mark.parametrize("kind", ["hvp", "glm", "three"])
def test_one_pass_matches_the_two_products(kind, R, K, dt):
    fn, args = _args(kind, R, K, dt)
    assert len(_kernels(fn, args)) == 1
    got = np.asarray(tg.jit(fn, backend="c", opt_level=ON)(*args))
    want = np.asarray(tg.jit(fn, backend="c", opt_level=OFF)(*args))
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=TOL[dt], atol=TOL[dt] * np.abs(want).max())
    lo = tg.jit(fn, backend="c", opt_level=ON).lower(*args)
    assert "read once (onepass.py)" in lo.source   # the kernel, not the products


def _run(exe, args, threads):
    exe._adapt = True
    saved, refresh = c_threads.SHARED[0], c_threads.refresh
    c_threads.refresh = lambda now=None: None
    try:
        exe.set_threads(threads)
        c_threads.SHARED[0] = 1 << 20  # every CPU free: the team is what the kernel asks
        return np.array(exe(*args), copy=True)
    finally:
        c_threads.SHARED[0], c_threads.refresh = saved, refresh


@needs_c
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kind", ["hvp", "glm"])
def test_same_bits_on_one_and_two_threads(kind, dt):
    fn, args = _args(kind, 1001, 1003, dt, seed=3)   # big enough for a team of two
    lo = tg.jit(fn, backend="c", opt_level=ON).lower(*args)
    kernel = lo.source.split("read once (onepass.py) */")[1].split("TG_KERNEL")[1]
    assert "TG_PARALLEL_FOR_N" in kernel
    one, two = _run(lo.executable, args, 1), _run(lo.executable, args, 2)
    assert one.tobytes() == two.tobytes()


@needs_c
def test_gradient_by_finite_differences():
    fn, (a, x, y) = _args("glm", 211, 160, np.float64, seed=5)
    got = np.asarray(tg.jit(fn, backend="c", opt_level=ON)(a, x, y))
    h = 1e-6
    fd = np.array([(_glm(a, x + h * e, y) - _glm(a, x - h * e, y)) / (2 * h)
                   for e in np.eye(x.size)])
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7)


# (function, argument shapes): the pattern's must-not-fuse cases
NOT_FUSED = {
    # g is not row-local: softmax over the rows reads every row's dot
    "reduction_in_g": (lambda a, x: a.T @ (np.exp(a @ x) / np.sum(np.exp(a @ x))),
                       [(300, 200), (200,)]),
    # a second reader of the intermediate: the value and the gradient both read A @ x
    "second_reader": (lambda a, x, y: tg.value_and_grad(lambda w: _glm(a, w, y))(x),
                      [(300, 200), (200,), (300,)]),
    # the intermediate is an output of the program
    "intermediate_out": (lambda a, x: (np.tanh(a @ x), a.T @ np.tanh(a @ x)),
                         [(300, 200), (200,)]),
    # a different matrix in the second product
    "other_matrix": (lambda a, b, x: b.T @ np.tanh(a @ x), [(300, 200), (300, 200), (200,)]),
    # rows reversed in g: not row-local
    "reversed_rows": (lambda a, x: a.T @ np.tanh(a @ x)[::-1], [(300, 200), (200,)]),
    # a small matrix: nothing to stream
    "small": (lambda a, x: a.T @ np.tanh(a @ x), [(30, 20), (20,)]),
}


@pytest.mark.parametrize("case", sorted(NOT_FUSED))
def test_must_not_fuse(case):
    fn, shapes = NOT_FUSED[case]
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    assert _kernels(fn, args) == []


@needs_c
@pytest.mark.parametrize("form", ["A.T @ g", "g @ A"])
def test_the_plain_pattern_fuses(form):
    # the control of test_must_not_fuse: the same program with a row-local g does fuse, with
    # the second product written either way round
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(s) for s in [(300, 200), (200,)]]
    fn = (lambda a, x: a.T @ np.tanh(a @ x)) if form == "A.T @ g" else \
        (lambda a, x: np.tanh(a @ x) @ a)
    assert len(_kernels(fn, args)) == 1
    assert _kernels(fn, args, OFF) == []
    np.testing.assert_allclose(np.asarray(tg.jit(fn, backend="c", opt_level=ON)(*args)),
                               args[0].T @ np.tanh(args[0] @ args[1]), rtol=1e-12)


@pytest.mark.parametrize("kind", ["hvp", "glm", "three"])
def test_the_kernel_body_keeps_results_on_the_numpy_backend(kind):
    # the kernel's body is the matched equations: the interpreter runs it as before
    fn, args = _args(kind, 203, 151, np.float64)
    g = tg.make_ir(fn, stage="traced")(*args)
    fused, _ = run_pipeline(g, ON[:ON.index("onepass-products") + 1], check=True)
    plain, _ = run_pipeline(g, OFF[:OFF.index("merge-products") + 1], check=True)
    from tracegrad.interpreter import eval_graph
    got = eval_graph(fused, list(args))
    want = eval_graph(plain, list(args))
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
