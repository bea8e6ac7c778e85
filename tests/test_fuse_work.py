"""Fusion legality does work proportional to the program, not to its square (issue 13): the
edges its searches examine, counted (never timed), grow no faster than the equations on
unrolled programs whose kernels gather many inputs (gradient accumulators), read long-lived
values (forward residuals in the backward pass) or chain far (elementwise chains)."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.passes import fuse as fuse_mod
from tracegrad.passes.registry import run_pipeline

BEFORE_FUSE = ["stabilize", "lower", "simplify", "constfold", "cse", "dce"]


def _rnn(steps):
    def f(w, u, b, xs, h):
        for t in range(steps):
            h = np.tanh(h @ w + xs[t] @ u + b)
        return np.sum(h * h)
    r = np.random.default_rng(0)
    return f, (r.standard_normal((8, 8)) * 0.1, r.standard_normal((4, 8)) * 0.1, np.zeros(8),
               r.standard_normal((steps, 6, 4)), np.zeros((6, 8)))


def _chain(steps):
    def f(x, y):
        for i in range(steps):
            x = np.tanh(x * y + 0.5) if i % 2 else np.sin(x) - y * 0.25
        return np.sum(x * x)
    return f, (np.ones((4, 5)) * 0.1, np.ones((4, 5)) * 0.3)


def _mlp(steps):
    def f(ws, x):
        for w in ws:
            x = np.tanh(x @ w) + 0.1 * x
        return np.sum(x * x)
    r = np.random.default_rng(0)
    return f, ([r.standard_normal((5, 5)) * 0.1 for _ in range(steps)],
               r.standard_normal((4, 5)))


def _work_per_eqn(make, steps):
    fn, args = make(steps)
    graph = tg.make_ir(fn, grad=True, stage="grad")(*args)
    graph, _ = run_pipeline(graph, BEFORE_FUSE)
    fuse_mod.fuse(graph, force=True)
    return fuse_mod.last_legality_work / len(graph.eqns)


@pytest.mark.parametrize("make", [_rnn, _chain, _mlp], ids=["rnn", "chain", "mlp"])
def test_legality_work_is_linear_in_program_size(make):
    small, large = _work_per_eqn(make, 25), _work_per_eqn(make, 400)
    assert small > 0
    # 16x the equations: a quadratic search would examine ~16x more edges per equation
    assert large <= 1.5 * small + 1, (small, large)
