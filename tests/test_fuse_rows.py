"""Row kernels (passes/fuse_rows.py, codegen/c/row_kernels.py): the kernels of one [R, C] space
that row reductions kept apart run as one pass over rows on the C backend, equal to the NumPy
backend and at least as accurate against a float64 reference."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.prims import fused_p
from tracegrad.pytree import tree_flatten

from c_support import needs_c

pytestmark = [needs_c, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def logsumexp(a):
    m = np.max(a, axis=1, keepdims=True)
    return np.sum(np.log(np.sum(np.exp(a - m), axis=1)) + m[:, 0])


def softmax_xent(a):
    z = a - np.max(a, axis=1, keepdims=True)
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    return np.sum(p * z)


def layernorm_gelu(x, gain, bias):
    mu = np.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    y = xc / np.sqrt(var + 1e-5) * gain + bias
    g = 0.5 * y * (1 + np.tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
    return np.sum(g * g)


def row_stats(x):  # max, min, sums over rows and columns, values read back per element
    mx, mn = np.max(x, axis=1), np.min(x, axis=1)
    r = (x - mn[:, None]) / (mx - mn + 1.0)[:, None]
    return r, np.sum(r, axis=0), np.sum(r * r), mx


def _kernels(f, *args):
    lo = tg.jit(f, backend="c").lower(*args)
    return [e for e in lo.ir.eqns if e.prim is fused_p], lo


def _rows_and_ref(f, args, argnums=None):
    g = tg.value_and_grad(f, argnums=argnums) if argnums is not None else f
    return g, tg.jit(g, backend="c")(*args), tg.jit(g, backend="numpy")(*args)


def _close(got, ref, rtol=2e-5, atol=1e-5):
    for a, b in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol,
                                   equal_nan=True)


def test_logsumexp_gradient_is_one_row_kernel():
    a = np.random.default_rng(0).standard_normal((256, 96)).astype(np.float32)
    ks, lo = _kernels(tg.value_and_grad(logsumexp), a)
    assert [e.params["name"] for e in ks] == ["rows1"]
    # no [R, C] value between kernels: the row max, exp and sums stay inside the loop
    assert all(o.aval.shape != (256, 96) or o in lo.ir.outputs
               for e in lo.ir.eqns for o in e.outputs)
    # exp(a - m) is kept in a row buffer (dearer than a store and a load), a - m recomputed
    assert "rb_" in lo.source and lo.source.count("tg_expf(") >= 1


def test_layernorm_gelu_forward_and_backward_in_one_pass():
    rng = np.random.default_rng(1)
    args = (rng.standard_normal((128, 64)).astype(np.float32),
            (1 + 0.1 * rng.standard_normal(64)).astype(np.float32),
            (0.1 * rng.standard_normal(64)).astype(np.float32))
    ks, _ = _kernels(tg.value_and_grad(layernorm_gelu, argnums=(0, 1, 2)), *args)
    assert [e.params["name"] for e in ks] == ["rows1"]
    _, c, n = _rows_and_ref(layernorm_gelu, args, (0, 1, 2))
    _close(c, n)


@pytest.mark.parametrize("f", [logsumexp, softmax_xent])
def test_row_kernels_equal_numpy_backend(f):
    a = np.random.default_rng(2).standard_normal((64, 40)).astype(np.float32) * 5
    _, c, n = _rows_and_ref(f, (a,), 0)
    _close(c, n)


def test_max_min_column_and_full_sums_with_nan_rows():
    x = np.random.default_rng(3).standard_normal((100, 63))
    x[7, 5] = np.nan
    x[9, :] = -np.inf
    c = tg.jit(row_stats, backend="c")(x)
    n = tg.jit(row_stats, backend="numpy")(x)
    _close(c, n, rtol=1e-12, atol=1e-12)
    assert [e.params["name"] for e in _kernels(row_stats, x)[0]] == ["rows1"]


def test_softmax_float32_accuracy_on_large_range_inputs():
    """Large-range rows (+-80 around offsets of 1e4): the row kernel's float32 result is at
    least as close to a float64 reference as the NumPy backend's."""
    rng = np.random.default_rng(4)
    a64 = rng.uniform(-80, 80, (64, 200)) + rng.choice([0, 1e4, -1e4], (64, 1))
    a = a64.astype(np.float32)
    ref = tg.jit(tg.value_and_grad(logsumexp), backend="numpy")(a.astype(np.float64))
    c = tg.jit(tg.value_and_grad(logsumexp), backend="c")(a)
    n = tg.jit(tg.value_and_grad(logsumexp), backend="numpy")(a)

    def err(got):
        return max(float(np.max(np.abs(np.asarray(g, np.float64) - r) / (np.abs(r) + 1e-30)))
                   for g, r in zip(tree_flatten(got)[0], tree_flatten(ref)[0]))
    assert err(c) <= 1.5 * err(n) + 1e-7


def test_a_reader_of_an_outside_value_computed_from_the_group_stays_outside():
    """m feeds a matrix product whose result is read per row again: joining that reader into
    the row kernel would make the kernel wait on itself."""
    def f(x, w):
        m = np.max(x, axis=1, keepdims=True)
        z = np.exp(x - m)
        h = z @ w  # outside (BLAS), reads a member's value
        return np.sum(z * h, axis=1) + np.sum(h, axis=1)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((64, 48)), rng.standard_normal((48, 48)) / 7
    _close(tg.jit(f, backend="c")(x, w), tg.jit(f, backend="numpy")(x, w), 1e-12, 1e-12)


def test_square_spaces_and_wide_rows_are_left_to_fuse():
    a = np.ones((80, 80), np.float32)
    assert not any(e.params["name"].startswith("rows") for e in _kernels(logsumexp, a)[0])
    wide = np.ones((4, 40000), np.float32)  # a row of 160 KB: no longer in L1/L2 per value
    assert not any(e.params["name"].startswith("rows") for e in _kernels(logsumexp, wide)[0])
