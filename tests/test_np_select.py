"""The NumPy backend's ``where`` (prims/np_select.py): equal to ``np.where`` bit for bit on every
dtype, shape mix and special value, above and below the size where it switches to the
branch-free bitwise select; and the generated code uses it."""
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.prims import np_select

N_BIG = np_select.BITWISE_MIN_ELEMENTS * 2 + 3
DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64, np.float32,
          np.float64, np.complex64, np.complex128]
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.5, -2.25, 1e-45]


def _values(rng, dtype, n):
    shape = (n,)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    if np.issubdtype(dtype, np.complexfloating):  # real and imaginary parts drawn apart
        parts = rng.choice(np.array(SPECIAL), shape + (2,))
        return parts.astype(np.finfo(dtype).dtype).view(dtype)[..., 0]
    return rng.choice(np.array(SPECIAL), shape).astype(dtype)


def _same_bits(x, y):
    assert x.dtype == y.dtype and x.shape == y.shape
    assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("n", [7, N_BIG])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_select_into_equals_np_where_bit_for_bit(dtype, n):
    rng = np.random.default_rng(n)
    c = rng.random(n) < 0.5
    a, b = _values(rng, dtype, n), _values(rng, dtype, n)
    out = np.empty(n, dtype)
    _same_bits(np_select.select_into(c, a, b, out), np.where(c, a, b))


@pytest.mark.parametrize("n", [7, N_BIG])
def test_select_broadcasts_scalars_and_strided_operands(n):
    rng = np.random.default_rng(0)
    c = (rng.random((n, 3)) < 0.5)[:, 1:]             # strided condition
    a = rng.standard_normal((2 * n, 2)).astype(np.float32)[::2]  # strided operand
    b = np.float32(-0.0)                               # scalar operand
    want = np.where(c, a, b)
    _same_bits(np_select.select(c, a, b, want.shape, want.dtype), want)
    row = np.array([np.nan, 1.0], np.float32)          # a row broadcast against the condition
    _same_bits(np_select.select(c, row, a, want.shape, want.dtype), np.where(c, row, a))


def test_nan_payloads_are_copied_not_computed():
    a = np.full(N_BIG, np.nan, np.float64).view(np.uint64)
    a |= np.uint64(0xDEAD)                             # a NaN with a payload
    a = a.view(np.float64)
    c = np.arange(N_BIG) % 3 == 0
    out = np_select.select_into(c, a, np.zeros(N_BIG), np.empty(N_BIG))
    _same_bits(out, np.where(c, a, 0.0))


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_traced_where_on_a_random_mask(backend):
    """The ReLU-derivative shape that made W2's NumPy program slow: where(x > 0, 1, where(x ==
    0, 0.5, 0)) on random data, equal to NumPy's own where."""
    def f(x):
        return np.sum(np.maximum(x, 0.0) ** 2) + np.sum(np.where(x > 0, x, -0.0 * x))
    x = np.random.default_rng(1).standard_normal((128, 128)).astype(np.float32)
    x[::7, ::5] = 0.0
    g = tg.jit(tg.grad(f), backend=backend)(x)
    want = 2 * np.maximum(x, 0) + np.where(x > 0, 1.0, -0.0).astype(np.float32)
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=0)


def test_generated_numpy_code_uses_the_branch_free_select():
    f = tg.jit(lambda x: np.where(x > 0, x, 2 * x), backend="numpy")
    x = np.linspace(-1, 1, 10_000).astype(np.float32)
    src = f.lower(x).source
    assert "rt.select" in src and "where=" not in src
    _same_bits(f(x), np.where(x > 0, x, 2 * x))


class _CountingNumpy:
    """``np`` as np_select sees it, counting the ufunc passes that write ``out``."""

    def __init__(self):
        self.passes = 0

    def __getattr__(self, name):
        fn = getattr(np, name)
        if isinstance(fn, np.ufunc):
            def counted(*a, **k):
                self.passes += 1
                return fn(*a, **k)
            return counted
        return fn


@pytest.mark.parametrize("a, b, passes", [(0.5, 0.0, 1), (1.0, 0.0, 1), (0.5, -0.0, 2),
                                          (np.nan, 2.0, 2), (0.0, np.inf, 2)])
def test_select_of_two_single_values_takes_one_or_two_passes(monkeypatch, a, b, passes):
    """Two one-value branches (a ReLU derivative's where(x == 0, 0.5, 0.0)) need one pass
    (cond times the xor of their bits) and a second only when b's bits are not all zero; the
    result stays np.where's bit for bit."""
    counting = _CountingNumpy()
    monkeypatch.setattr(np_select, "np", counting)
    c = np.random.default_rng(3).random((N_BIG, 3)) < 0.5
    out = np.empty((N_BIG, 3), np.float32)
    got = np_select.select_into(c, np.float32(a), np.float32(b), out)
    assert counting.passes == passes
    _same_bits(got, np.where(c, np.float32(a), np.float32(b)))
    row = np.random.default_rng(4).random((1, 3)) < 0.5  # a condition broadcast against out
    _same_bits(np_select.select_into(row, np.float32(a), np.float32(b), out),
               np.broadcast_to(np.where(row, np.float32(a), np.float32(b)), out.shape))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_select_of_two_single_values_bit_for_bit(dtype):
    rng = np.random.default_rng(5)
    c = rng.random(N_BIG) < 0.5
    vals = _values(rng, dtype, 16)
    for a, b in zip(vals[::2], vals[1::2]):
        out = np.empty(N_BIG, dtype)
        _same_bits(np_select.select_into(c, a, b, out), np.where(c, a, b))
