"""vmap of gather and scatter_add (the batching rules in tracegrad/prims/structural.py).

A shared index lets the batch ride along as an un-indexed axis of the operand (two transposes)
instead of a per-example index built from an iota and a concatenate; a batched index into a shared
operand addresses it as it is. Which form is taken for a shared index is a cost choice, so every
combination of batched operand / index / updates is checked against a Python loop with each form
forced in turn and with the choice left to the cost model, on both backends; Jacobians through
vmap against finite differences; and the optimised programs are checked for the index they no
longer build (the regressions: GradBench ht's Jacobian built a (26, 153600, 2) index per call).
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.prims.structural as structural

from c_support import needs_c

B = 3
BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]
FORMS = ["cost", "transposes", "index"]


@contextlib.contextmanager
def form(which: str):
    """Force the shared-index form ("transposes" or "index"), or leave it to the cost model."""
    if which == "cost":
        yield
        return
    saved = structural._transposes_cheaper
    structural._transposes_cheaper = lambda *a: which == "transposes"
    try:
        yield
    finally:
        structural._transposes_cheaper = saved


def _index(rng, shape, batch_shape, k):
    """An index of ``batch_shape + (k,)`` into the first ``k`` axes of ``shape``, negatives too."""
    cols = [rng.integers(-shape[j], shape[j], batch_shape + (1,)) for j in range(k)]
    return np.concatenate(cols, -1).astype(np.int64)


def _gather_ref(x, idx):
    return x[tuple(idx[..., j] for j in range(idx.shape[-1]))]


def _scatter_ref(x, idx, upd):
    out = np.array(x, copy=True)
    np.add.at(out, tuple(idx[..., j] for j in range(idx.shape[-1])), upd)
    return out


def _args(rng, mapped, shape, batch_shape, k, scatter):
    """Per-example draws of (x, idx[, updates]), stacked on axis 0 where ``mapped``."""
    def draw():
        x = rng.standard_normal(shape)
        idx = _index(rng, shape, batch_shape, k)
        upd = rng.standard_normal(batch_shape + shape[k:])
        return (x, idx, upd) if scatter else (x, idx)
    draws = [draw() for _ in range(B)]
    stacked = tuple(np.stack([d[i] for d in draws]) if m else draws[0][i]
                    for i, m in enumerate(mapped))
    per_example = [tuple(s[b] if m else s for s, m in zip(stacked, mapped)) for b in range(B)]
    return stacked, per_example


# (operand shape, k) pairs and index batch shapes: operand ranks 1-3, every k, index ranks 1-3
SHAPES = [((5,), 1), ((5, 4), 1), ((5, 4), 2), ((5, 4, 3), 1), ((5, 4, 3), 2), ((4, 3, 2), 3)]
BATCH_SHAPES = [(), (6,), (2, 3)]
GATHER_MAPS = [(True, False), (False, True), (True, True)]
SCATTER_MAPS = [m for m in itertools.product((True, False), repeat=3) if any(m)]


def _check(fn, stacked, per_example, mapped, backend, in_axes=None, out_axes=0):
    axes = tuple(0 if m else None for m in mapped) if in_axes is None else in_axes
    got = np.asarray(tg.jit(tg.vmap(fn, in_axes=axes, out_axes=out_axes),
                            backend=backend)(*stacked))
    ref = np.moveaxis(np.stack([fn_ref(*ex) for ex, fn_ref in
                                zip(per_example, [fn.ref] * B)]), 0, out_axes)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def _gather(x, idx):
    return tg.lax.gather(x, idx)


def _scatter(x, idx, upd):
    return tg.lax.scatter_add(x, idx, upd)


_gather.ref, _scatter.ref = _gather_ref, _scatter_ref


@pytest.mark.parametrize("which", FORMS)
@pytest.mark.parametrize("mapped", GATHER_MAPS, ids=str)
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("shape,k", SHAPES, ids=str)
def test_vmap_gather_equals_loop_numpy(shape, k, batch_shape, mapped, which):
    stacked, per_example = _args(np.random.default_rng(len(shape) * 10 + k), mapped, shape,
                                 batch_shape, k, scatter=False)
    with form(which):
        _check(_gather, stacked, per_example, mapped, "numpy")


@pytest.mark.parametrize("which", FORMS)
@pytest.mark.parametrize("mapped", SCATTER_MAPS, ids=str)
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("shape,k", SHAPES, ids=str)
def test_vmap_scatter_add_equals_loop_numpy(shape, k, batch_shape, mapped, which):
    stacked, per_example = _args(np.random.default_rng(len(shape) * 10 + k), mapped, shape,
                                 batch_shape, k, scatter=True)
    with form(which):
        _check(_scatter, stacked, per_example, mapped, "numpy")


@needs_c
@pytest.mark.parametrize("which", ["transposes", "index"])
@pytest.mark.parametrize("shape,k,batch_shape", [((5, 4, 3), 1, (2, 3)), ((5, 4), 2, ()),
                                                 ((5,), 1, (6,))], ids=str)
def test_vmap_gather_and_scatter_equal_loop_c(shape, k, batch_shape, which):
    """Every combination in one C program per form (a compile per test keeps this short)."""
    rng = np.random.default_rng(7)
    cases = [(_gather, m, _args(rng, m, shape, batch_shape, k, False)) for m in GATHER_MAPS] + \
        [(_scatter, m, _args(rng, m, shape, batch_shape, k, True)) for m in SCATTER_MAPS]

    def everything(*flat):
        outs, it = [], iter(flat)
        for fn, m, (stacked, _) in cases:
            args = [next(it) for _ in stacked]
            outs.append(tg.vmap(fn, in_axes=tuple(0 if b else None for b in m))(*args))
        return outs
    flat = [a for _, _, (stacked, _) in cases for a in stacked]
    with form(which):
        got = tg.jit(everything, backend="c")(*flat)
    for (fn, m, (_, per_example)), g in zip(cases, got):
        ref = np.stack([fn.ref(*ex) for ex in per_example])
        np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-12, atol=1e-12, err_msg=str(m))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", FORMS)
def test_vmap_gather_scatter_in_axes_out_axes_not_zero(backend, which):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, B, 4))                # examples along axis 1
    idx = _index(rng, (5, 4), (6, B), 1)[:, :, :]     # examples along axis 1 of the index
    idx_shared = _index(rng, (5, 4), (6,), 1)
    upd = rng.standard_normal((6, 4, B))              # examples along the last axis
    with form(which):
        got = tg.jit(tg.vmap(_gather, in_axes=(1, None), out_axes=2), backend=backend)(
            x, idx_shared)
        ref = np.stack([_gather_ref(x[:, b], idx_shared) for b in range(B)], 2)
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12)
        got = tg.jit(tg.vmap(_gather, in_axes=(None, 1), out_axes=-1), backend=backend)(
            x[:, 0], idx)
        ref = np.stack([_gather_ref(x[:, 0], idx[:, b]) for b in range(B)], -1)
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12)
        got = tg.jit(tg.vmap(_scatter, in_axes=(1, None, 2), out_axes=1), backend=backend)(
            x, idx_shared, upd)
        ref = np.stack([_scatter_ref(x[:, b], idx_shared, upd[..., b]) for b in range(B)], 1)
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12)


# --- Jacobians through vmap (jacfwd: vmap of jvp; jacrev: vmap of vjp, whose gather transposes
# to a scatter_add with a shared index) against central differences --------------------------
IDX1 = np.array([[2], [0], [4], [2], [-1], [3], [1], [0]])
IDX2 = np.array([[1, 2], [0, 0], [-1, 1], [1, 2]])


def _gathering(x):
    rows = tg.lax.gather(x, IDX1)                    # (8, 3): rows, repeats and a negative
    pts = tg.lax.gather(x, IDX2)                     # (4,): single elements
    return tg.numpy.sin(rows) * rows[:, :1] + tg.numpy.sum(pts * pts)


def _gathering_np(x):
    rows = _gather_ref(x, IDX1)
    pts = _gather_ref(x, IDX2)
    return np.sin(rows) * rows[:, :1] + np.sum(pts * pts)


def _fd_jacobian(f, x, h=1e-6):
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, -1).reshape(f(x).shape + x.shape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", FORMS)
@pytest.mark.parametrize("jac", ["jacfwd", "jacrev"])
def test_jacobian_of_gathering_function_matches_finite_differences(jac, which, backend):
    x = np.random.default_rng(5).standard_normal((5, 3))
    with form(which):
        got = tg.jit(getattr(tg, jac)(_gathering), backend=backend)(x)
    np.testing.assert_allclose(np.asarray(got), _fd_jacobian(_gathering_np, x),
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_example_gradients_through_gather_match_finite_differences(backend):
    """vmap(grad) with the operand mapped: the gradient's scatter_add has a shared index."""
    xs = np.random.default_rng(6).standard_normal((B, 5, 3))
    loss = lambda x: tg.numpy.sum(_gathering(x) ** 2)
    got = tg.jit(tg.vmap(tg.grad(loss)), backend=backend)(xs)
    for b in range(B):
        fd = _fd_jacobian(lambda x: np.sum(_gathering_np(x) ** 2), xs[b])
        np.testing.assert_allclose(np.asarray(got[b]), fd, rtol=1e-6, atol=1e-7)


# --- what the optimised programs build ---------------------------------------------------------
def _prims(graph, out=None):
    """Every equation's (primitive name, output shapes), nested bodies included."""
    out = [] if out is None else out
    for e in graph.eqns:
        out.append((e.prim.name, [tuple(v.aval.shape) for v in e.outputs]))
        for p in e.params.values():
            if hasattr(p, "eqns"):
                _prims(p, out)
    return out


def _builds_index(prims, size, rows, k) -> bool:
    """Whether some equation makes the per-example index (size, rows, k + 1) or its iota."""
    return any(n in ("iota", "concatenate") and s[0][:1] == (size,) and s[0][-1:] in ((1,), (k + 1,))
               and rows in s[0] for n, s in prims)


# 50 rows of a 3-row operand, an argument (a constant index would be folded, hiding the build)
SHARED = np.array([[i % 3] for i in range(50)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_gather_with_shared_index_builds_no_index(backend):
    """Regression (GradBench ht): vmap of a gather at a shared index built an iota of example
    numbers and concatenated it to a broadcast of the index, every call."""
    x = np.random.default_rng(0).standard_normal((7, 3))
    f = tg.jit(tg.vmap(lambda v, i: tg.lax.gather(v, i) * 2.0, in_axes=(0, None)),
               backend=backend)
    prims = _prims(f.lower(x, SHARED).ir)
    assert not _builds_index(prims, 7, 50, 1), prims
    np.testing.assert_allclose(np.asarray(f(x, SHARED)), x[:, SHARED[:, 0]] * 2.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_jacrev_scatter_with_shared_index_builds_no_index(backend):
    """jacrev of a gather: its transpose, a scatter_add at the shared index, is batched over
    the cotangent basis (8 rows) without an iota/concatenate index."""
    f = tg.jit(lambda v, i: tg.jacrev(lambda w: tg.lax.gather(w, i) * 3.0)(v), backend=backend)
    x = np.random.default_rng(1).standard_normal((3,))
    prims = _prims(f.lower(x, SHARED[:8]).ir)
    assert not _builds_index(prims, 8, 8, 1), prims
    ref = np.zeros((8, 3))
    ref[np.arange(8), SHARED[:8, 0]] = 3.0
    np.testing.assert_allclose(np.asarray(f(x, SHARED[:8])), ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_gather_of_shared_operand_does_not_broadcast_it(backend):
    """A batched index into a shared operand: no copy of the operand per example and no iota."""
    rng = np.random.default_rng(2)
    table = rng.standard_normal((40, 5))
    idx = rng.integers(0, 40, (B, 6, 1))
    f = tg.jit(tg.vmap(lambda i: tg.lax.gather(table, i)), backend=backend)
    prims = _prims(f.lower(idx).ir)
    assert not any(n == "iota" or (n == "broadcast_in_dim" and s[0] == (B, 40, 5))
                   for n, s in prims), prims
    np.testing.assert_allclose(np.asarray(f(idx)), table[idx[..., 0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_scatter_add_of_batched_operand_only_builds_no_index(backend):
    """Only the operand differs per example: one shared scatter added to it."""
    xs = np.random.default_rng(4).standard_normal((B, 5, 2))
    upd = np.ones((50, 2))
    f = tg.jit(tg.vmap(lambda x, i: tg.lax.scatter_add(x[:3], i, upd), in_axes=(0, None)),
               backend=backend)
    prims = _prims(f.lower(xs, SHARED).ir)
    assert not _builds_index(prims, B, 50, 1), prims
    ref = np.stack([_scatter_ref(x[:3], SHARED, upd) for x in xs])
    np.testing.assert_allclose(np.asarray(f(xs, SHARED)), ref)


def test_cost_model_keeps_the_index_for_a_large_operand_read_at_few_rows():
    """An embedding table read at 2 rows per example: the transposes would copy the whole
    table per example, so the per-example index is kept (and the answer is the same)."""
    xs = np.random.default_rng(8).standard_normal((B, 500, 4))
    idx = np.array([[3], [17]])
    f = tg.jit(tg.vmap(lambda x, i: tg.lax.gather(x, i), in_axes=(0, None)), backend="numpy")
    prims = _prims(f.lower(xs, idx).ir)
    assert _builds_index(prims, B, 2, 1) and "transpose" not in [n for n, _ in prims], prims
    np.testing.assert_allclose(np.asarray(f(xs, idx)), xs[:, idx[:, 0]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["transposes", "index"])
@pytest.mark.parametrize("scatter", [False, True])
def test_vmap_shared_index_out_of_range_raises_in_either_form(scatter, which, backend):
    """Moving the batch axis keeps the indexed axes first: an index past them still raises."""
    xs = np.zeros((B, 4))
    bad = np.array([[1], [4]])
    fn = (lambda v, i: tg.lax.scatter_add(v, i, tg.numpy.ones(2))) if scatter else \
        (lambda v, i: tg.lax.gather(v, i))
    with form(which), pytest.raises(tg.errors.TracedIndexError):
        tg.jit(tg.vmap(fn, in_axes=(0, None)), backend=backend)(xs, bad)
