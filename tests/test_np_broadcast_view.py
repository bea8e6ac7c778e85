"""``rt.broadcast_in_dim`` (the NumPy backend's broadcast): a read-only view equal to
``np.broadcast_to`` of the placed operand for every layout, made from strides for a
C-contiguous operand (np.broadcast_to's argument handling cost 5-7 us per call, eleven times
per W2 step), and NumPy's own error for shapes that do not broadcast."""
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.prims import np_helpers


def _reference(x, shape, dims):
    expanded = [1] * len(shape)
    for s, d in enumerate(dims):
        expanded[d] = np.shape(x)[s]
    return np.broadcast_to(np.reshape(x, expanded), shape)


CASES = [
    (np.float32(2.5), (256, 10), ()),                          # a 0-d value (NumPy scalar)
    (3.0, (2, 2), ()),                                         # a Python number
    (np.arange(256, dtype=np.float32), (256, 256), (1,)),      # a bias row
    (np.arange(256, dtype=np.float32), (256, 3), (0,)),        # a column
    (np.arange(6.).reshape(2, 3), (2, 5, 3), (0, 2)),          # a middle axis inserted
    (np.ones((1, 3)), (4, 3), (0, 1)),                         # a length-1 axis stretched
    (np.arange(3.)[None], (4, 3), (0, 1)),
    (np.arange(6.).reshape(2, 3)[:, ::2], (2, 2, 5), (0, 1)),  # strided: the general route
    (np.arange(6.).reshape(2, 3), (3, 2, 4), (1, 0)),          # unsorted dims: the general route
    (np.zeros((0, 3)), (0, 3), (0, 1)),                        # empty
    (np.float64(1.0), (), ()),
    (np.array([True, False]), (4, 2), (1,)),
    (np.arange(4, dtype=np.complex64), (2, 4), (1,)),
    (np.arange(4, dtype=np.int16), (3, 4, 2), (1,)),
]


@pytest.mark.parametrize("x, shape, dims", CASES)
def test_broadcast_in_dim_is_broadcast_to_of_the_placed_operand(x, shape, dims):
    got, want = np_helpers.broadcast_in_dim(x, shape, dims), _reference(x, shape, dims)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()
    assert not got.flags.writeable                 # as np.broadcast_to's: never written through
    if isinstance(x, np.ndarray) and x.size:
        assert np.shares_memory(got, x)            # a view, no copy


def test_broadcast_in_dim_of_a_contiguous_array_is_made_from_strides(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("np.broadcast_to called for a contiguous operand")
    monkeypatch.setattr(np_helpers.np, "broadcast_to", refuse)
    b = np.arange(256, dtype=np.float32)
    v = np_helpers.broadcast_in_dim(b, (128, 256), (1,))
    assert v.strides == (0, 4) and v[77].tobytes() == b.tobytes()
    assert np_helpers.broadcast_in_dim(np.float32(-1.5), (256, 1), ()).strides == (0, 0)


def test_broadcast_in_dim_raises_numpys_error_for_a_mismatch():
    with pytest.raises(ValueError):
        np_helpers.broadcast_in_dim(np.arange(3.), (4,), (0,))


def test_generated_code_with_broadcasts_matches_numpy():
    def f(x, b, s):
        return np.sum(np.maximum(x + b, 0) * s[:, None] + 2.0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    b, s = rng.standard_normal(32).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    g = tg.jit(tg.grad(f, argnums=(0, 1, 2)), backend="numpy")(x, b, s)
    mask = (x + b > 0).astype(np.float32) + 0.5 * (x + b == 0)
    np.testing.assert_allclose(g[0], mask * s[:, None], rtol=1e-6)
    np.testing.assert_allclose(g[1], (mask * s[:, None]).sum(0), rtol=1e-5)
    np.testing.assert_allclose(g[2], np.maximum(x + b, 0).sum(1), rtol=1e-5)
