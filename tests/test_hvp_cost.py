"""Issue 19 item 2: forward-over-reverse HVP of W6 (``sum(log(1 + exp(A @ x)))``) optimizes to
the hand formula's three matrix-vector products, ``A @ x``, ``A @ v`` and ``A.T @ w``, with no
transpose materialised (it folds into the product's dimension numbers) and no multiply by the
seed's array of ones (a splat constant is a literal to simplify). Counts, not times."""
from __future__ import annotations

import numpy as np

import tracegrad as tg


def _w6(a, x):
    return np.sum(np.log(1 + np.exp(a @ x)))


def _hvp_graph(n=12):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    x, v = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    j = tg.jit(lambda a, x, v: tg.hvp(lambda y: _w6(a, y), (x,), (v,)))
    return j.lower(a, x, v).ir, (a, x, v), j


def _count(graph, name):
    n = 0
    for e in graph.eqns:
        if e.prim.name == name:
            n += 1
        for p in e.params.values():  # fused kernels hold their bodies as graphs
            if hasattr(p, "eqns"):
                n += _count(p, name)
    return n


def test_w6_hvp_has_three_products_and_no_transpose():
    g, args, j = _hvp_graph()
    assert _count(g, "dot_general") == 3, g
    assert _count(g, "transpose") == 0, g
    # the gradient's seed of ones reaches the HVP as a constant array: a multiply by it is gone
    assert _count(g, "constant") == 0, g


def test_w6_hvp_matches_hand_formula():
    _, (a, x, v), j = _hvp_graph()
    s = 1 / (1 + np.exp(-(a.astype(np.float64) @ x)))
    want = a.T.astype(np.float64) @ (s * (1 - s) * (a @ v))
    got = j(a, x, v)
    got = got[0] if isinstance(got, (tuple, list)) else got
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_transposed_product_folds_for_every_layout():
    """x @ A, (A.T @ x) and batched (B @ C).swapaxes: no transpose survives the pipeline."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 5, 4))
    f = tg.jit(lambda a, b: np.swapaxes(a @ b, 1, 2))
    g = f.lower(a, b).ir
    assert _count(g, "transpose") == 0, g
    np.testing.assert_allclose(f(a, b), np.swapaxes(a @ b, 1, 2), rtol=1e-12)


def test_w6_hvp_c_backend_calls_gemv_not_gemm():
    """OpenBLAS's gemm with one column packs the whole matrix (4x a gemv at 1000x1000): each of
    the HVP's three matrix-vector products must be a gemv call in the C source."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((12, 12)).astype(np.float32)
    x, v = rng.standard_normal(12).astype(np.float32), rng.standard_normal(12).astype(np.float32)
    j = tg.jit(lambda a, x, v: tg.hvp(lambda y: _w6(a, y), (x,), (v,)), backend="c")
    src = j.lower(a, x, v).source
    body = src[src.index("tg_program("):]
    assert body.count("tg_sgemv(") == 3 and "tg_sgemm(" not in body, body
    s = 1 / (1 + np.exp(-(a.astype(np.float64) @ x)))
    np.testing.assert_allclose(np.asarray(j(a, x, v)), a.T @ (s * (1 - s) * (a @ v)),
                               rtol=1e-4, atol=1e-5)
