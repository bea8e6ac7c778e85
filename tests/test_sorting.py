"""Sorting and order statistics traced from plain NumPy (issue 15 item 5): np.sort, argsort,
partition, median, quantile/percentile (every method tracegrad has), cumprod, diff,
searchsorted and unique with a size hint, against NumPy itself on the NumPy and C backends,
and their gradients against finite differences in float64, both modes (second order where
the function is smooth).
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.testing import check_grads

from c_support import needs_c

RNG = np.random.default_rng(7)


def _with_nans():
    x = RNG.normal(size=(4, 6))
    x[1, 2] = np.nan
    x[3, :] = np.nan
    return x


def _ties():
    return np.array([[2.0, 1.0, 2.0, 1.0, 0.5], [3.0, 3.0, 3.0, -1.0, 3.0]])


# name, function of the arrays (called with np.* on traced arrays), arrays
FORWARD = [
    ("sort-last", lambda x: np.sort(x), (RNG.normal(size=(3, 5)),)),
    ("sort-axis0-nan", lambda x: np.sort(x, axis=0), (_with_nans(),)),
    ("sort-flat-int", lambda x: np.sort(x, axis=None), (RNG.integers(-4, 4, (3, 4)),)),
    ("sort-bool", lambda x: np.sort(x), (RNG.random((2, 7)) < 0.5,)),
    ("argsort-ties-stable", lambda x: np.argsort(x, kind="stable"), (_ties(),)),
    ("argsort-nan-last", lambda x: np.argsort(x, axis=1, kind="stable"), (_with_nans(),)),
    ("argsort-float32", lambda x: np.argsort(x, axis=0, kind="stable"),
     (RNG.normal(size=(5, 3)).astype(np.float32),)),
    ("partition", lambda x: np.partition(x, 2)[..., 2], (RNG.normal(size=(3, 6)),)),
    ("median-even", lambda x: np.median(x, axis=1), (RNG.normal(size=(3, 6)),)),
    ("median-odd-keepdims", lambda x: np.median(x, axis=0, keepdims=True),
     (RNG.normal(size=(5, 2)),)),
    ("median-int", lambda x: np.median(x), (RNG.integers(-5, 5, (4, 3)),)),
    ("median-nan", lambda x: np.median(x, axis=1), (_with_nans(),)),
    ("quantile-linear", lambda x: np.quantile(x, [0.1, 0.5, 0.93], axis=0),
     (RNG.normal(size=(7, 3)),)),
    ("quantile-axes-tuple", lambda x: np.quantile(x, 0.3, axis=(0, 2), keepdims=True),
     (RNG.normal(size=(3, 2, 4)),)),
    ("quantile-float32", lambda x: np.quantile(x, 0.25), (RNG.normal(size=9).astype(np.float32),)),
    ("quantile-int-q", lambda x: np.quantile(x, 1, axis=1), (RNG.integers(0, 9, (3, 4)),)),
    ("percentile", lambda x: np.percentile(x, [5, 50, 99], axis=1), (_with_nans(),)),
    ("cumprod", lambda x: np.cumprod(x, axis=1), (RNG.normal(size=(3, 9)),)),
    ("cumprod-int", lambda x: np.cumprod(x), (RNG.integers(-3, 4, (2, 5)).astype(np.int32),)),
    ("diff", lambda x: np.diff(x, n=2, axis=0), (RNG.normal(size=(5, 3)),)),
    ("searchsorted", lambda a, v: (np.searchsorted(a, v), np.searchsorted(a, v, side="right")),
     (np.array([0.0, 1.0, 1.0, 2.5, np.nan]), np.array([[-1.0, 1.0], [np.nan, 9.0]]))),
]

FORWARD += [
    ("nanmedian", lambda x: np.nanmedian(x, axis=1), (_with_nans(),)),
    ("nanmedian-keepdims", lambda x: np.nanmedian(x, axis=0, keepdims=True), (_with_nans(),)),
    ("nanquantile", lambda x: np.nanquantile(x, [0.0, 0.3, 0.5, 1.0], axis=1), (_with_nans(),)),
    ("nanquantile-float32", lambda x: np.nanquantile(x, 0.3, axis=1),
     (_with_nans().astype(np.float32),)),
    ("nanpercentile-nearest", lambda x: np.nanpercentile(x, 35, axis=0, method="nearest"),
     (_with_nans(),)),
]

for _m in ("linear", "lower", "higher", "midpoint", "nearest"):
    FORWARD.append((f"quantile-{_m}", lambda x, m=_m: np.quantile(x, [0.0, 0.35, 0.5, 1.0],
                                                                 axis=1, method=m),
                    (RNG.normal(size=(2, 6)),)))


def _assert_same(got, want):
    for g, w in zip(*(v if isinstance(v, tuple) else (v,) for v in (got, want))):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=1e-6 if w.dtype == np.float32 else 1e-13,
                                   atol=0, equal_nan=True)


@pytest.mark.filterwarnings("ignore:All-NaN slice")  # NumPy's, on the all-NaN row
@pytest.mark.parametrize("name,fn,args", FORWARD, ids=[f[0] for f in FORWARD])
def test_forward_numpy_backend(name, fn, args):
    _assert_same(tg.jit(fn, backend="numpy")(*args), fn(*args))


@needs_c
@pytest.mark.filterwarnings("ignore:All-NaN slice")
@pytest.mark.parametrize("name,fn,args", FORWARD, ids=[f[0] for f in FORWARD])
def test_forward_c_backend(name, fn, args):
    _assert_same(tg.jit(fn, backend="c")(*args), fn(*args))


def test_unique_with_size_hint_matches_numpy():
    x = np.array([[3.0, 1.0, 2.0], [2.0, np.nan, 1.0], [np.nan, 7.0, 3.0]])
    want = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    fn = tg.jit(lambda x: tnp.unique(x, return_index=True, return_inverse=True,
                                     return_counts=True, size=5), backend="numpy")
    _assert_same(tuple(fn(x)), want)
    padded = tg.jit(lambda x: tnp.unique(x, return_counts=True, size=7, fill_value=-1.0),
                    backend="numpy")(x)
    np.testing.assert_array_equal(padded[0], [1, 2, 3, 7, np.nan, -1, -1])
    np.testing.assert_array_equal(padded[1], [2, 2, 2, 1, 2, 0, 0])


def test_unique_without_size_names_the_hint():
    with pytest.raises(tg.ShapeError, match=r"size=N") as info:
        tg.jit(lambda x: np.unique(x))(np.ones(3))
    assert "test_sorting.py" in str(info.value)  # the user's line, not a line in tracegrad


def test_traced_quantile_position_is_an_error():
    with pytest.raises(tg.TracegradError, match="q must be a constant"):
        tg.jit(lambda x, q: np.quantile(x, q))(np.ones(3), 0.5)


# --- gradients ----------------------------------------------------------------------------
def _distinct(shape, seed):
    """Well-separated values: no ties, so sort is differentiable at them."""
    r = np.random.default_rng(seed)
    return r.permutation(np.prod(shape)).reshape(shape) * 0.37 + r.uniform(-0.05, 0.05, shape)


GRADS = [
    ("sort", lambda x: np.sort(x, axis=0) * np.arange(1.0, 4.0)[:, None], _distinct((3, 4), 1)),
    ("sort-flat", lambda x: np.sort(x, axis=None) ** 2, _distinct((2, 3), 2)),
    ("median", lambda x: np.median(x, axis=1), _distinct((3, 6), 3)),
    ("quantile", lambda x: np.quantile(x, [0.2, 0.75], axis=0), _distinct((7, 2), 4)),
    ("percentile-nearest", lambda x: np.percentile(x, 40, method="nearest"), _distinct((5,), 5)),
    ("partition", lambda x: np.partition(x, 1, axis=1)[:, 1], _distinct((2, 4), 6)),
    ("cumprod", lambda x: np.cumprod(x, axis=1), RNG.normal(size=(2, 7))),
    ("cumprod-zeros", lambda x: np.cumprod(x), np.array([1.5, 0.0, -2.0, 0.0, 0.7, 3.0])),
    ("cumprod-one-zero", lambda x: np.cumprod(x), np.array([1.5, -0.5, 0.0, 2.0, 0.7])),
    # distinct values (a tie is where unique's output set jumps): the first 4, then filled
    ("unique-values", lambda x: tnp.unique(x, size=4) * np.arange(1.0, 5.0),
     np.array([2.0, 1.0, 3.5, 9.0, 0.5])),
    ("unique-filled", lambda x: tnp.unique(x, size=5) * np.arange(1.0, 6.0),
     np.array([2.0, 1.0, 3.5])),
]


def test_unique_gradient_goes_to_the_first_occurrence():
    x = np.array([2.0, 1.0, 2.0, 1.0])
    g = tg.grad(lambda x: (tnp.unique(x, size=2) * np.array([1.0, 10.0])).sum())(x)
    np.testing.assert_array_equal(g, [10.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("name,fn,x", GRADS, ids=[g[0] for g in GRADS])
def test_gradient_matches_finite_differences(name, fn, x):
    check_grads(fn, (x,), order=2, modes=("rev", "fwd"))


def test_cumprod_gradient_at_zeros_is_exact_not_nan():
    """The division form d/dx_i prod = prod / x_i is NaN at a zero; the scan's products are
    exact there: with one zero, only the elements up to it and the zero itself matter."""
    x = np.array([2.0, 3.0, 0.0, 5.0])
    g = tg.grad(lambda x: np.cumprod(x)[-1])(x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 30.0, 0.0])
    g = tg.grad(lambda x: np.cumprod(x).sum())(x)
    # d/dx0 (x0 + x0 x1 + ...) = 1 + x1 = 4; d/dx1 = x0 = 2; d/dx2 = x0 x1 + x0 x1 x3 = 36
    np.testing.assert_array_equal(g, [4.0, 2.0, 36.0, 0.0])


def test_sort_gradient_goes_to_where_each_value_came_from():
    x = np.array([3.0, -1.0, 2.0])
    g = tg.grad(lambda x: (np.sort(x) * np.array([1.0, 10.0, 100.0])).sum())(x)
    np.testing.assert_array_equal(g, [100.0, 1.0, 10.0])


@needs_c
@pytest.mark.parametrize("name,fn,x", GRADS, ids=[g[0] for g in GRADS])
def test_gradient_c_backend_agrees(name, fn, x):
    shape = np.shape(fn(x))  # eager NumPy
    weights = np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)

    def loss(x):
        return (fn(x) * weights).sum()
    g_np = tg.jit(tg.grad(loss), backend="numpy")(x)
    g_c = tg.jit(tg.grad(loss), backend="c")(x)
    np.testing.assert_allclose(g_c, g_np, rtol=1e-12, atol=1e-14)


def test_array_methods_on_traced_arrays():
    x = np.array([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]])
    got = tg.jit(lambda x: (x.argsort(axis=0), x.cumprod(axis=1), x[:, 2].searchsorted(3.0)),
                 backend="numpy")(x)
    _assert_same(tuple(got), (x.argsort(axis=0, kind="stable"), x.cumprod(axis=1),
                              x[:, 2].searchsorted(3.0)))


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
def test_searchsorted_random_with_duplicates_and_nans(backend):
    """Binary search (log n gathers) against NumPy: duplicates, NaNs at the end of ``a`` and
    among the values, values below and above every element, both sides, a sorter, sizes 1..33
    (every halving path)."""
    r = np.random.default_rng(3)
    for n in (1, 2, 3, 7, 8, 33):
        a = np.sort(r.integers(0, 5, n).astype(float))
        if n > 2:
            a[-1] = np.nan
        v = np.concatenate([r.integers(-1, 7, 9).astype(float), [np.nan, -np.inf, np.inf]])
        order = r.permutation(n)
        shuffled = np.empty_like(a)
        shuffled[order] = a
        fn = tg.jit(lambda a, v, s, sh: (np.searchsorted(a, v), np.searchsorted(a, v, "right"),
                                         np.searchsorted(sh, v, sorter=s)), backend=backend)
        got = fn(a, v, order, shuffled)
        want = (np.searchsorted(a, v), np.searchsorted(a, v, "right"),
                np.searchsorted(shuffled, v, sorter=order))
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    ints = np.array([1, 3, 3, 9], np.int32)
    np.testing.assert_array_equal(
        tg.jit(lambda a, v: np.searchsorted(a, v, "right"), backend=backend)(ints, np.arange(11)),
        np.searchsorted(ints, np.arange(11), "right"))


def test_nan_quantile_gradient_is_the_quantile_of_the_numbers():
    """np.nanquantile / np.nanmedian differentiate as the quantile of each row's numbers: the
    gradient equals that of np.quantile on the row with its NaNs removed, and NaNs get 0."""
    x = _distinct((3, 7), 9)
    x[0, [1, 4]] = np.nan
    x[2, 6] = np.nan
    for f_nan, f in ((lambda r: np.nanquantile(r, 0.4), lambda r: np.quantile(r, 0.4)),
                     (lambda r: np.nanmedian(r), lambda r: np.median(r))):
        g = tg.grad(lambda x: sum(f_nan(x[i]) * (i + 1.0) for i in range(3)))(x)
        for i in range(3):
            keep = ~np.isnan(x[i])
            want = np.zeros(7)
            want[keep] = tg.grad(lambda r: f(r) * (i + 1.0))(x[i][keep])
            np.testing.assert_allclose(g[i], want, rtol=1e-12, atol=0)
