"""fuse: a lone elementwise operation reading a broadcast is a kernel of its own that recomputes
the broadcast, instead of reading a materialised one (GradBench gmm's x[None] - mu[:, None]
wrote both (k, n, d) broadcasts before subtracting: three passes and 3x the bytes)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg

from c_support import needs_c


def _top_broadcasts(ir):
    return [e for e in ir.eqns if e.prim.name == "broadcast_in_dim"
            and e.outputs[0].aval.size > e.inputs[0].aval.size]


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
def test_centred_points_feeding_a_product_are_one_kernel(backend):
    rng = np.random.default_rng(0)
    x, mu, q = rng.normal(size=(200, 6)), rng.normal(size=(4, 6)), rng.normal(size=(4, 6, 6))

    def f(x, mu, q):
        return np.sum((x[None, :, :] - mu[:, None, :]) @ q)
    jf = tg.jit(f, backend=backend)
    np.testing.assert_allclose(jf(x, mu, q), f(x, mu, q), rtol=1e-12)
    ir = jf.lower(x, mu, q).ir
    assert not _top_broadcasts(ir), "a (k, n, d) broadcast is materialised"
    kernels = [e for e in ir.eqns if e.prim.name == "fused"]
    assert any(any(b.prim.name == "broadcast_in_dim" for b in k.params["body"].eqns)
               for k in kernels)


@st.composite
def _cases(draw):
    shape = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3))))
    keep = [draw(st.booleans()) for _ in shape]
    small = tuple(n if k else 1 for n, k in zip(shape, keep))
    op = draw(st.sampled_from(["add", "sub", "mul", "maximum", "where"]))
    return shape, small, op


@settings(max_examples=30, deadline=None)
@given(_cases())
@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
def test_every_lone_op_on_broadcasts_agrees_with_numpy(backend, case):
    """The class: a single elementwise op of any arity on broadcast operands of any shape,
    whose result a non-fusable consumer (a product) or the caller reads."""
    shape, small, op = case
    rng = np.random.default_rng(len(shape))
    a, b = rng.normal(size=small), rng.normal(size=shape)

    def f(a, b):
        big = np.broadcast_to(a, shape)
        r = {"add": lambda: big + b, "sub": lambda: b - big, "mul": lambda: big * b,
             "maximum": lambda: np.maximum(big, b),
             "where": lambda: np.where(b > 0, big, b)}[op]()
        flat = r.reshape(-1)
        return r, flat @ flat
    got = tg.jit(f, backend=backend)(a, b)
    for x, y in zip(got, f(a, b)):
        np.testing.assert_allclose(x, y, rtol=1e-12)
