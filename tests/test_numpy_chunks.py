"""Fused kernels run over row chunks on the NumPy backend (codegen/numpy_chunks.py): the same
results as the whole-array form (bit for bit for elementwise values and row reductions; a sum
over every axis within float rounding), for kernels with a shorter last chunk, broadcasts,
0-d operands, where, integer and bool values, returned and internal values; the C backend
agrees. Chunks are made small here (CHUNK_ELEMENTS patched) so small arrays take the loop."""
import numpy as np
import pytest
from tracegrad.codegen import numpy_chunks
from tracegrad.passes import fuse as fuse_mod

import tracegrad as tg


@pytest.fixture(autouse=True)
def planned_at_any_size(monkeypatch):
    """Small programs skip fusion and the memory plan: plan these."""
    monkeypatch.setattr(fuse_mod, "SMALL_PROGRAM_BYTES", 0)


def _jit_pair(fn, monkeypatch, chunk=64):
    """(chunked, whole) jitted versions of ``fn`` (fresh jit objects: nothing cached)."""
    monkeypatch.setattr(numpy_chunks, "CHUNK_ELEMENTS", chunk)
    chunked = tg.jit(fn, backend="numpy")
    return chunked, lambda *a: _whole(fn, monkeypatch, chunk, *a)


def _whole(fn, monkeypatch, chunk, *a):
    monkeypatch.setattr(numpy_chunks, "MIN_CHUNKS", 10 ** 12)
    try:
        f = tg.jit(fn, backend="numpy")
        assert "for _c0" not in f.lower(*a).source
        return f(*a)
    finally:
        monkeypatch.setattr(numpy_chunks, "MIN_CHUNKS", 4)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def w1_like(x, y):
    return np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))


def test_an_elementwise_gradient_kernel_runs_in_chunks(monkeypatch):
    """W1's forward+gradient is one fused kernel of 21 operations: run over chunks, its 15
    internal values live in scratch; dx and dy bit for bit, the value within rounding."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(1000).astype(np.float32)
    vg = tg.value_and_grad(w1_like, argnums=(0, 1))
    chunked, whole = _jit_pair(vg, monkeypatch)
    src = chunked.lower(x, y).source
    assert "for _c0 in range(0, 1000, 64)" in src and "_V[" not in src.split("return")[0] \
        .split("for _c0")[1]  # internal values in scratch, not the arena
    (v1, (dx1, dy1)), (v2, (dx2, dy2)) = chunked(x, y), whole(x, y)
    _same(dx1, dx2)
    _same(dy1, dy2)
    np.testing.assert_allclose(v1, v2, rtol=1e-5)
    vc, (dxc, _) = tg.jit(vg, backend="c")(x, y)
    np.testing.assert_allclose(dx1, dxc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v1, vc, rtol=1e-5)


def softmax_rows(a, b):
    z = np.exp(a * 0.5 - b[:, None]) * 2.0 + 1.0
    return np.sum(z, axis=1), np.maximum(z, 1.5), np.max(np.sqrt(z) + z, axis=1)


@pytest.mark.parametrize("rows", [40, 37])   # 37: the last chunk is shorter
def test_row_reductions_and_broadcasts_in_chunks_are_bit_for_bit(monkeypatch, rows):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((rows, 16)).astype(np.float32)
    b = rng.standard_normal(rows).astype(np.float32)
    chunked, whole = _jit_pair(softmax_rows, monkeypatch, chunk=64)  # 4 rows per chunk
    assert "for _c0" in chunked.lower(a, b).source
    for got, want in zip(chunked(a, b), whole(a, b)):
        _same(got, want)


def mixed(x, k, m):
    c = x > 0.25
    w = np.where(c, x * 2.0, -x)           # where reading values dying at it
    w2 = np.where(x < -0.5, 3.0, w + 1.0)  # a one-value branch
    i = (m * 3 + 1) % 7                    # integers
    flag = np.logical_and(c, i > 2)        # bool
    return w2 * k, i, flag, np.sum(w * w2), np.min(w2 - w)


def test_where_integers_bool_and_0d_operands_in_chunks(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(515)
    x[::9] = 0.25
    x[::13] = -0.0
    m = rng.integers(-50, 50, 515)
    k = np.float64(1.75)
    chunked, whole = _jit_pair(mixed, monkeypatch)
    assert "for _c0" in chunked.lower(x, k, m).source
    got, want = chunked(x, k, m), whole(x, k, m)
    for g, w in zip(got[:3], want[:3]):
        _same(g, w)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-12)
    _same(got[4], want[4])  # min of chunk minima: exact


def test_small_kernels_and_single_value_chains_stay_whole(monkeypatch):
    monkeypatch.setattr(numpy_chunks, "CHUNK_ELEMENTS", 64)
    x = np.linspace(-1, 1, 100_000, dtype=np.float32)
    few = tg.jit(lambda v: np.exp(v) * 2.0, backend="numpy")   # nothing kept in scratch
    assert "for _c0" not in few.lower(x).source
    small = tg.jit(lambda v: np.exp(np.sin(v) * 2.0 + 1.0) * v, backend="numpy")
    assert "for _c0" not in small.lower(x[:200]).source       # fewer than MIN_CHUNKS chunks
    assert "for _c0" in small.lower(x).source


CHUNKED: list[bool] = []


@pytest.mark.parametrize("seed", range(12))
def test_random_elementwise_programs_chunked_equal_whole(monkeypatch, seed):
    """Random chains of the elementwise table's unary and binary operations over two inputs
    (one broadcast row, one 0-d), several values read more than once and some returned."""
    rng = np.random.default_rng(seed)
    unary = [np.sin, np.tanh, np.exp, np.abs, np.negative, np.sqrt, np.log1p, np.square]
    binary = [np.add, np.subtract, np.multiply, np.maximum, np.minimum, np.divide]
    plan = [(int(rng.integers(2)), int(rng.integers(8)), int(rng.integers(6)),
             int(rng.integers(100)), int(rng.integers(100))) for _ in range(int(rng.integers(4, 12)))]

    def prog(x, r, s):
        vals = [x, x * r, x + s]
        for kind, u, b, i, j in plan:
            a1, a2 = vals[i % len(vals)], vals[j % len(vals)]
            vals.append(unary[u](np.abs(a1) * 0.5) if kind == 0 else binary[b](a1, a2 + 1.5))
        return vals[-1], vals[len(vals) // 2] * 2.0, np.sum(vals[-1], axis=1)

    x = rng.standard_normal((33, 8)).astype(np.float32)
    r = rng.standard_normal(8).astype(np.float32)
    s = np.float32(0.5)
    chunked, whole = _jit_pair(prog, monkeypatch, chunk=16)
    src = chunked.lower(x, r, s).source
    CHUNKED.append("for _c0" in src)
    got, want = chunked(x, r, s), whole(x, r, s)
    for g, w in zip(got, want):
        _same(g, w)


def test_random_programs_took_the_chunked_route():
    """(runs after them) most random programs were chunked, so their test compared the loop."""
    if len(CHUNKED) == 12:
        assert sum(CHUNKED) >= 8, CHUNKED
