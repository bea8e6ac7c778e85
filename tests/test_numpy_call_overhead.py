"""Per-statement overhead of the NumPy backend's generated code (W2's step is ~75 statements, so
a microsecond each is a few percent of it): reductions call the ufunc's ``reduce`` directly,
a 2-D product returns the product itself (a returned view is checked against every input and
output for shared memory), results unchanged. No time is asserted."""
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.prims import np_helpers

REDUCTIONS = [(np.sum, "np.add.reduce"), (np.prod, "np.multiply.reduce"),
              (np.max, "np.maximum.reduce"), (np.min, "np.minimum.reduce")]


@pytest.mark.parametrize("np_fn, call", REDUCTIONS, ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_reductions_lower_to_the_ufunc_reduce(np_fn, call, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((6, 5)) * 50).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        x[1, 2], x[4, 0] = np.nan, -0.0
    for axis in (0, 1, (0, 1)):
        f = tg.jit(lambda v, axis=axis: np_fn(v * 1, axis=axis), backend="numpy")
        src = f.lower(x).source
        assert call + "(" in src and np_fn.__name__ + "(" not in src.replace(call, "")
        want = np_fn(x, axis=axis)
        got = f(x)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_empty_max_raises_as_numpy_does():
    f = tg.jit(lambda v: np.max(v, axis=0), backend="numpy")
    with pytest.raises(ValueError):
        np.max(np.zeros((0, 3)), axis=0)
    with pytest.raises(ValueError):
        f(np.zeros((0, 3)))


@pytest.mark.parametrize("dn, shapes", [
    ((((1,), (0,)), ((), ())), ((4, 3), (3, 5))),
    ((((0,), (0,)), ((), ())), ((3, 4), (3, 5))),      # a.T @ b
    ((((1,), (1,)), ((), ())), ((4, 3), (5, 3))),      # a @ b.T
    ((((2,), (0,)), ((0,), (2,))), ((2, 3, 4), (4, 5, 2)))])   # batched
def test_dot_general_of_one_free_axis_each_side_is_not_a_view(dn, shapes):
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(s) for s in shapes)
    got = np_helpers.dot_general(a, b, dn)
    want = np.einsum(*_einsum_args(dn, a, b))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.base is None


def test_dot_general_with_several_free_axes_keeps_its_shape():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5, 6))
    got = np_helpers.dot_general(a, b, (((2,), (0,)), ((), ())))
    np.testing.assert_allclose(got, np.tensordot(a, b, 1))


def _einsum_args(dn, a, b):
    (lc, rc), (lb, rb) = dn
    letters = iter("abcdefghij")
    la = [next(letters) for _ in range(a.ndim)]
    lb_ = [None] * b.ndim
    for i, j in zip(lc, rc):
        lb_[j] = la[i]
    for i, j in zip(lb, rb):
        lb_[j] = la[i]
    lb_ = [x or next(letters) for x in lb_]
    out = [la[i] for i in lb] + [la[i] for i in range(a.ndim) if i not in lc and i not in lb] + \
          [lb_[j] for j in range(b.ndim) if j not in rc and j not in rb]
    return f"{''.join(la)},{''.join(lb_)}->{''.join(out)}", a, b
