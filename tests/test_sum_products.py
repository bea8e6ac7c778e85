"""sum-products: a sum over a product's free axes sums the operand first. The gradient of a value
broadcast into a product (GradBench gmm's mu) no longer builds the full (k, n, d) product."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tracegrad as tg
from tracegrad.passes import PIPELINES

WITHOUT = [n for n in PIPELINES["O2"] if n != "sum-products"]


def _products(ir):
    return [e for e in ir.eqns if e.prim.name == "dot_general"]


def _gmm_like(mu, q, x):
    centred = x[None, :, :] - mu[:, None, :]                  # (k, n, d)
    return np.sum(np.log(1 + np.sum((centred @ q) ** 2, axis=2)))


def test_gradient_of_a_broadcast_into_a_product_sums_before_multiplying():
    rng = np.random.default_rng(0)
    mu, q, x = rng.normal(size=(5, 4)), rng.normal(size=(5, 4, 4)), rng.normal(size=(300, 4))
    g = tg.jit(tg.grad(_gmm_like, argnums=(0, 1)))
    want = tg.jit(tg.grad(_gmm_like, argnums=(0, 1)), opt_level=WITHOUT)(mu, q, x)
    for a, b in zip(g(mu, q, x), want):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    ir = g.lower(mu, q, x).ir
    sizes = sorted(e.outputs[0].aval.size for e in _products(ir))
    # forward (k, n, d), q's (k, d, d), and mu's (k, d) from the cotangent summed over n:
    # before, mu's was a second (k, n, d) product (the cotangent of centred), then summed
    assert sizes == [5 * 4, 5 * 4 * 4, 5 * 300 * 4], sizes


def test_scaled_and_negated_sums_and_both_sides():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 7, 3)), rng.normal(size=(3, 5))

    def f1(a, b):  # a sum over free axes of both operands, through -(p * 2.5)
        return np.sum(-(np.einsum("ijk,kl->ijl", a, b) * 2.5), axis=(1, 2))

    def f2(a, b):
        return np.sum(np.einsum("ijk,kl->ijl", a, b), axis=1)
    for f in (f1, f2):
        np.testing.assert_allclose(tg.jit(f)(a, b), f(a, b), rtol=1e-12)
        assert all(e.outputs[0].aval.size < 6 * 7 * 5 for e in _products(tg.jit(f).lower(a, b).ir))


def test_a_product_read_elsewhere_is_kept():
    a, b = np.ones((4, 3)), np.ones((3, 2))
    f = tg.jit(lambda a, b: (np.sum(a @ b, axis=0), a @ b))
    assert [e.outputs[0].aval.shape for e in _products(f.lower(a, b).ir)] == [(4, 2)]


@st.composite
def _cases(draw):
    nb = draw(st.integers(0, 1))
    lf = draw(st.integers(0, 2))
    rf = draw(st.integers(0, 2))
    nc = draw(st.integers(1, 2))
    sizes = [draw(st.integers(1, 4)) for _ in range(nb + lf + rf + nc)]
    bs, ls, rs, cs = sizes[:nb], sizes[nb:nb + lf], sizes[nb + lf:nb + lf + rf], sizes[-nc:]
    out_rank = nb + lf + rf
    axes = draw(st.sets(st.integers(0, max(out_rank - 1, 0)), max_size=out_rank))
    chain = draw(st.sampled_from(["", "neg", "mul", "neg-mul"]))
    return bs, ls, rs, cs, tuple(sorted(a for a in axes if a < out_rank)), chain


@settings(max_examples=60, deadline=None)
@given(_cases())
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_every_product_layout_and_sum_agrees_with_the_unrewritten_program(backend, case):
    """The class: any batch/free/contracted layout, any set of summed output axes (batch ones
    are left alone), with and without a linear chain, vs the program without the pass."""
    bs, ls, rs, cs, axes, chain = case
    lhs_shape, rhs_shape = (*bs, *ls, *cs), (*bs, *cs, *rs)
    nb, nl = len(bs), len(ls)
    dn = ((tuple(range(nb + nl, nb + nl + len(cs))), tuple(range(nb, nb + len(cs)))),
          (tuple(range(nb)), tuple(range(nb))))
    rng = np.random.default_rng(len(axes) * 7 + len(chain))
    a, b, s = rng.normal(size=lhs_shape), rng.normal(size=rhs_shape), rng.normal()

    def f(a, b, s):
        p = tg.lax.dot_general(a, b, dn)
        if "neg" in chain:
            p = -p
        if "mul" in chain:
            p = s * p
        return np.sum(p, axis=axes) if axes else p
    want = tg.jit(f, backend=backend, opt_level=WITHOUT)(a, b, s)
    np.testing.assert_allclose(tg.jit(f, backend=backend)(a, b, s), want, rtol=1e-12,
                               atol=1e-12)
