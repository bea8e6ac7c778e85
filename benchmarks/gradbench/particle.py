"""GradBench's particle eval: a charged particle starting at (0, 8) with velocity (0.75, 0),
pushed by charges at (10, 10 - w) and (10, 0), integrated by naive Euler (dt = 0.1) until it
would cross the x axis; the crossing point by linear interpolation; the control w minimising
x(t_f)^2 found by the gradient-descent solver of saddle.py. The force is minus the gradient of
the potential (inner AD, inside the loop), the descent differentiates the whole trajectory
(outer AD): functions ff, fr, rf, rr pick forward or reverse mode for each.

Written as NumPy with ``tg.while_loop`` (``MAX_EULER_STEPS`` bounds it for reverse mode); the
expected answer is GradBench's own reference value.
"""
from __future__ import annotations

import numpy as np

import tracegrad as tg

from .saddle import argmin
from .spec import Eval, Function

MAX_EULER_STEPS = 1000
EXPECTED = 0.2071918746486116  # GradBench's evals/particle reference output for w = 0
DT = 0.1


def _grad(mode, f):
    return tg.grad(f) if mode == "r" else tg.jacfwd(f)


def miss_distance(w, inner: str):
    """x(t_f)^2 of the trajectory for control ``w`` (a scalar)."""
    charges = np.stack([np.stack([np.float64(10.0) + 0 * w, 10 - w]), np.array([10.0, 0.0])])

    def potential(x):
        return np.sum(1 / np.sqrt(np.sum((x - charges) ** 2, axis=1)))

    force = _grad(inner, potential)

    def step(state):
        x, xdot, _ = state
        x_new = x + DT * xdot
        above = x_new[1] > 0
        return (np.where(above, x_new, x), np.where(above, xdot - DT * force(x), xdot), above)

    x, xdot, _ = tg.while_loop(lambda s: s[2], step,
                               (np.array([0.0, 8.0]), np.array([0.75, 0.0]), np.bool_(True)),
                               max_iter=MAX_EULER_STEPS)
    t_f = -x[1] / xdot[1]
    return (x[0] + t_f * xdot[0]) ** 2


def particle(w0, outer: str, inner: str):
    best = argmin(lambda h: _grad(outer, h), lambda w: miss_distance(w[0], inner),
                  np.reshape(w0, (1,)))
    return best[0]


def _build(modes):
    def build(backend, static):
        return tg.jit(lambda w: particle(w, modes[0], modes[1]), backend=backend)
    return build


def _prepare(inp):
    return (np.float64(inp["w"]),), ()


PARTICLE = Eval(
    name="particle",
    functions={m: Function("gradient", _build(m)) for m in ("ff", "fr", "rf", "rr")},
    prepare=_prepare, post=lambda f, r, i: float(r),
    generate=lambda size, seed: {"w": 0.0},
    sizes=["w=0"], quick_sizes=["w=0"], bench_sizes=["w=0"],
    reference=lambda function, inp: EXPECTED if inp["w"] == 0.0 else None,
    describe=str, smoke_backend="c")
