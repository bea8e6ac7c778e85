"""The value ranges of passes/ranges.py decide where reverse mode may skip the NaN-safety mask,
so a range that claims too little is a wrong gradient (iota and argmax were once taken to lie in
[0, 1]: exp(50 * argmax(x)) passed as finite and a where's untaken branch gave NaN). Here every
claim is checked against the values the program really computes: each variable of the corpus
programs' forward and gradient graphs lies within its [lo, hi], and is finite where the analysis
says it cannot be non-finite."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.ir import Lit
from tracegrad.passes.ranges import analyze
from tracegrad.pytree import tree_flatten

from programs import PROGRAMS


def _values(graph, args):
    """Every variable's value, equation by equation (reference implementations)."""
    env = {id(v): np.asarray(a) for v, a in zip(graph.inputs, args)}
    for e in graph.eqns:
        ins = [np.asarray(a.value) if isinstance(a, Lit) else env[id(a)] for a in e.inputs]
        with np.errstate(all="ignore"):
            out = e.prim.impl(*ins, **e.params)
        outs = out if e.prim.multiple_results else [out]
        for v, o in zip(e.outputs, outs):
            env[id(v)] = np.asarray(o)
    return env


def _check(graph, args):
    facts = analyze(graph)
    env = _values(graph, args)
    checked = 0
    for e in graph.eqns:
        if e.prim.kind in ("custom", "fused"):
            continue
        for v in e.outputs:
            f, x = facts.get(id(v)), env[id(v)]
            if f is None or x.dtype.kind not in "fiub" or x.size == 0:
                continue
            x = x.astype(np.float64)
            where = f"{e.prim.name} at {e.src}"
            if not f.nonfinite:
                assert np.all(np.isfinite(x)), f"{where}: non-finite values, ranges said finite"
            fin = x[np.isfinite(x)]
            if f.lo is not None and fin.size:
                assert fin.min() >= f.lo - 1e-9 * (1 + abs(f.lo)), (where, fin.min(), f.lo)
            if f.hi is not None and fin.size:
                assert fin.max() <= f.hi + 1e-9 * (1 + abs(f.hi)), (where, fin.max(), f.hi)
            checked += 1
    return checked


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_every_range_claim_holds_on_the_corpus(prog):
    args = prog.make_args(np.random.default_rng(0))
    leaves, _ = tree_flatten(args)
    for graph in (tg.make_ir(prog.fn)(*args), tg.make_ir(prog.fn, grad=True)(*args)):
        assert _check(graph, leaves) > 0


def test_index_ranges_cover_the_whole_axis():
    def f(x, y):
        i = np.argmax(x, axis=1).astype(np.float64)
        return np.sum(np.where(i < 1, y * np.exp(50.0 * i), 0.0))
    x = np.zeros((4, 20))
    x[:, 15] = 1
    x[0, 0] = 2
    y = np.ones(4)
    graph = tg.make_ir(f)(x, y)
    assert _check(graph, [x, y]) > 0
    for backend in ("numpy", "c"):
        g = tg.jit(tg.grad(f, argnums=1), backend=backend)(x, y)
        np.testing.assert_array_equal(g, [1.0, 0.0, 0.0, 0.0])
