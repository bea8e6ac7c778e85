"""Transposes on the C backend run in cache tiles (codegen/c/tiling.py, issue 19).

A transpose used to be a plain nest writing the output in row order and reading the operand a
whole row apart per element (1000x1000 float32: 521 us one thread, now ~160 us). These tests
check every permutation of 2-d and 3-d operands of odd sizes (partial tiles on every side,
short axes that stretch a tile), alone and feeding elementwise ops with broadcasts, against
NumPy bit for bit, on one and two threads; that the emitted C of a transposed copy is the
tiled nest; and that the permutation coalescing behind it describes the same copy for every
permutation of shapes with extent-1 axes.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c import threads as c_threads
from tracegrad.codegen.c import tiling
from tracegrad.codegen.c.kernels import PARALLEL_MIN_ELEMENTS
from c_support import needs_c

pytestmark = needs_c

# odd extents, none a multiple of the tile: partial tiles on both sides; 5 and 3 stretch it
SHAPES = [(37, 45), (5, 301), (29, 33, 41), (3, 70, 9)]
CASES = [(s, p) for s in SHAPES for p in itertools.permutations(range(len(s)))]
DTYPES = [np.float32, np.float64]


def _fn(perm):
    def f(a, b):
        t = a.transpose(perm)
        # elementwise ops of exactly rounded results only (NumPy's and C's libm may differ);
        # b broadcast along every axis but the last
        return t, (t * 3.0 - b) / 7.0, t + t.sum() * 0.0
    return f


def _operands(shape, perm, dt, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dt)
    b = rng.standard_normal(shape[perm[-1]]).astype(dt)
    return a, b


def _expected(a, b, perm):
    t = np.ascontiguousarray(a.transpose(perm))
    return [t, (t * a.dtype.type(3.0) - b) / a.dtype.type(7.0), t]


def _run(exe, args, threads):
    exe._adapt = True
    saved, refresh = c_threads.SHARED[0], c_threads.refresh
    c_threads.refresh = lambda now=None: None
    try:
        exe.set_threads(threads)
        c_threads.SHARED[0] = 1 << 20  # every CPU free: the team is what the kernel asks
        return [np.array(o, copy=True) for o in exe(*args)]
    finally:
        c_threads.SHARED[0], c_threads.refresh = saved, refresh


def _check(outs, want):
    for got, w in zip(outs, want):
        assert got.shape == w.shape and got.dtype == w.dtype
        assert got.tobytes() == w.tobytes()


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape,perm", CASES, ids=str)
def test_every_permutation_matches_numpy_bit_for_bit(shape, perm, dt):
    a, b = _operands(shape, perm, dt)
    exe = tg.jit(_fn(perm), backend="c").lower(a, b).executable
    _check(_run(exe, (a, b), 1), _expected(a, b, perm))


# big enough for a team of two (and, at 1.1M elements, for the Ctrl-C polling nest)
BIG = [((517, 613), (1, 0)), ((67, 71, 73), (2, 0, 1)), ((67, 71, 73), (1, 2, 0)),
       ((101, 103, 107), (2, 1, 0))]


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape,perm", BIG, ids=str)
def test_tiled_transpose_same_bits_on_one_and_two_threads(shape, perm, dt):
    assert np.prod(shape) >= 2 * PARALLEL_MIN_ELEMENTS
    a, b = _operands(shape, perm, dt, seed=1)
    lo = tg.jit(_fn(perm), backend="c").lower(a, b)
    assert "TG_PARALLEL_FOR_N" in _transpose_kernel(lo.source)
    want = _expected(a, b, perm)
    for threads in (1, 2):
        _check(_run(lo.executable, (a, b), threads), want)


def _transpose_kernel(source: str) -> str:
    kernels = source.split("TG_KERNEL ")
    found = [k for k in kernels if k.startswith("void") and "restrict x" in k]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("shape,perm", [((1000, 1000), (1, 0)), ((26, 10000, 3), (1, 2, 0)),
                                        ((10000, 3, 26), (2, 0, 1))], ids=str)
def test_a_transposed_copy_emits_the_tiled_nest(shape, perm):
    a = np.zeros(shape, np.float32)
    src = _transpose_kernel(tg.jit(lambda a: a.transpose(perm), backend="c").lower(a).source)
    # one parallel loop over tiles, the output's contiguous axis innermost within a tile
    assert "for (int64_t tg_t = 0;" in src and "tg_o[tg_ib] = tg_x[tg_ib *" in src, src
    assert "for (int64_t i1 = 0;" not in src, src  # no plain row-order nest


def test_a_transpose_keeping_the_last_axis_keeps_the_plain_nest():
    a = np.arange(2 * 3 * 40, dtype=np.float64).reshape(2, 3, 40)
    lo = tg.jit(lambda a: a.transpose(1, 0, 2), backend="c").lower(a)
    assert "tg_t" not in _transpose_kernel(lo.source)
    np.testing.assert_array_equal(lo.executable(a)[0], a.transpose(1, 0, 2))


@pytest.mark.parametrize("rank", [1, 2, 3, 4])
def test_coalesced_permutation_describes_the_same_copy(rank):
    """Every shape of extents in {1, 2, 3} and every permutation: the coalesced (shape, perm)
    moves the same elements to the same places."""
    for shape in itertools.product((1, 2, 3), repeat=rank):
        x = np.arange(int(np.prod(shape))).reshape(shape)
        for perm in itertools.permutations(range(rank)):
            shp, prm = tiling.coalesce(shape, perm)
            assert sorted(prm) == list(range(len(shp)))
            # adjacent operand axes never stay adjacent and in order after coalescing
            assert all(prm[k] + 1 != prm[k + 1] for k in range(len(prm) - 1))
            got = x.reshape(shp).transpose(prm).ravel()
            np.testing.assert_array_equal(got, x.transpose(perm).ravel())


def test_tile_sides_stretch_along_a_long_axis():
    assert tiling.tile_sides(1000, 1000) == (tiling.TILE, tiling.TILE)
    ta, tb = tiling.tile_sides(30000, 26)
    assert tb == 26 and ta * tb >= tiling.TILE_ELEMENTS - 26
    assert tiling.tile_sides(3, 5) == (3, 5)


@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: np.dtype(d).name)
def test_blas_canonical_copies_of_a_transposed_operand_are_tiled(dt):
    """A contraction whose operand layouts BLAS cannot take by a trans flag copies them to a
    canonical layout first (blas.py); those copies read across rows as a transpose does."""
    from tracegrad.prims import ops
    dn = (((1, 2), (2, 1)), ((), ()))   # both operands need a copy: (35, 29*3) and (3*29, 31)
    rng = np.random.default_rng(2)
    a = rng.standard_normal((35, 29, 3)).astype(dt)
    b = rng.standard_normal((31, 3, 29)).astype(dt)

    def f(a, b):
        return ops.dot_general(a, b, dn)
    lo = tg.jit(f, backend="c").lower(a, b)
    assert "for (int64_t j0" not in lo.source  # the plain copy nest (before)
    assert "for (int64_t tg_t = 0;" in lo.source
    want = np.einsum("ijk,lkj->il", a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(lo.executable(a, b)[0], want, rtol=1e-5 if dt == np.float32
                               else 1e-12, atol=1e-4 if dt == np.float32 else 1e-12)


@pytest.mark.parametrize("shape", [(3, 1, 37, 5), (1, 33, 2, 35)], ids=str)
def test_every_rank_4_permutation_with_unit_axes_in_one_program(shape):
    """Coalescing end to end: extent-1 axes dropped, adjacent axes merged, every permutation
    of a 4-d operand in one program (one build), bit for bit."""
    perms = list(itertools.permutations(range(4)))
    a = np.random.default_rng(3).standard_normal(shape)
    exe = tg.jit(lambda a: [a.transpose(p) for p in perms], backend="c").lower(a).executable
    for got, p in zip(_run(exe, (a,), 1), perms):
        assert got.tobytes() == np.ascontiguousarray(a.transpose(p)).tobytes(), p


def test_elementwise_kernels_never_read_across_rows():
    """Why only copies need tiles: a fused kernel reads its operands whole (row order) or
    through broadcast_in_dim, whose dimensions must increase, so an operand's innermost
    index is the output's or absent; a transposing broadcast is refused at trace time."""
    from tracegrad.errors import ShapeError
    from tracegrad.prims import broadcast_in_dim_p
    with pytest.raises(ShapeError):
        tg.jit(lambda x: broadcast_in_dim_p.bind(x, shape=(3, 2), broadcast_dimensions=(1, 0)),
               backend="c")(np.ones((2, 3)))  # a transpose, if it were allowed
