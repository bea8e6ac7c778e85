"""loop-args: a value a scan receives twice (constants or xs) is passed once, so reverse mode keeps
one cotangent accumulator per value instead of one per capture site (GradBench's RK4 captured
x[1:] four times per step: four carries of x's size in the backward loop)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tracegrad as tg
from tracegrad.testing import check_grads

from passes.loop_args import dedupe_scan


def _rk4(x):
    def f(y):
        return np.concatenate([x[:1], x[1:] * y[:-1]])

    def step(i, y):
        k1 = f(y)
        k2 = f(y + 0.05 * k1)
        k3 = f(y + 0.05 * k2)
        k4 = f(y + 0.1 * k3)
        return y + 0.1 / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return tg.fori_loop(0, 4, step, np.zeros_like(x))


def _scans(ir):
    out = []
    for e in ir.eqns:
        if e.prim.name == "scan":
            out.append(e)
            out += _scans(e.params["body"])
    return out


def test_rk4_backward_loop_has_one_accumulator_per_captured_value():
    x = np.linspace(0.3, 0.9, 7)
    g = tg.jit(tg.grad(lambda v: _rk4(v)[-1]), backend="numpy")
    scans = _scans(g.lower(x).ir)
    backward = [e for e in scans if e.params["reverse"]]
    assert backward, [e.params for e in scans]
    # the y cotangent, x[1:]'s and x[:1]'s accumulators: before, 1 + 4 + 4
    assert backward[0].params["num_carry"] == 3
    assert all(len({id(a) for a in e.inputs[:e.params["num_consts"]]}) ==
               e.params["num_consts"] for e in scans)
    check_grads(lambda v: _rk4(v)[-1], (x,), modes=("rev",))


def test_dedupe_keeps_the_equation_when_nothing_repeats():
    x = np.ones(3)
    ir = tg.jit(lambda x, z: tg.fori_loop(0, 2, lambda i, c: c * x + z, x),
                backend="numpy").lower(x, x + 1).ir
    for e in _scans(ir):
        assert dedupe_scan(e) is e


@st.composite
def _patterns(draw):
    n = draw(st.integers(1, 3))
    uses = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))
    xs_uses = draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=3))
    return n, uses, xs_uses


@settings(max_examples=25, deadline=None)
@given(_patterns())
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_every_repeat_pattern_keeps_values_and_gradients(backend, case):
    """The class: any number of captured values, each captured at several sites, some also
    scanned over as xs more than once; values and reverse-mode gradients against finite
    differences, and no scan left with a repeated constant."""
    n, uses, xs_uses = case
    vals = tuple(np.linspace(0.2, 0.8, 3) + 0.1 * i for i in range(n))

    def f(*vs):
        xs = tuple(np.stack([vs[i]] * 2) for i in xs_uses)

        def body(c, xrows):
            for k, i in enumerate(uses):
                c = c + np.sin(vs[i] * (k + 1)) * c * 0.1
            for r in xrows:
                c = c + r * 0.05
            return c, np.sum(c)
        c, ys = tg.scan(body, np.ones(3), xs, length=2)
        return np.sum(c) + np.sum(ys)
    got = tg.jit(f, backend=backend)(*vals)
    np.testing.assert_allclose(got, tg.jit(f, backend="numpy")(*vals),
                               rtol=1e-12)
    check_grads(f, vals, modes=("rev",))
    ir = tg.jit(tg.grad(f, argnums=tuple(range(n))), backend=backend).lower(*vals).ir
    for e in _scans(ir):
        consts = [id(a) for a in e.inputs[:e.params["num_consts"]]
                  if type(a).__name__ == "Var"]
        assert len(consts) == len(set(consts))
