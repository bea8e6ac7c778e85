"""GradBench's saddle eval: min over x of max over y of (x1^2 + y1^2) - (x2^2 + y2^2), both by
gradient descent from the same start, the inner maximisation nested inside the outer
minimisation's objective (nested AD). Functions ff, fr, rf, rr: forward (``tg.jacfwd``) or
reverse (``tg.grad``) mode for the outer and the inner gradient.

The descent is GradBench's solver (its Futhark and C++ tools): step ``x - eta g``; stop when
|g| <= 1e-5 or the step moves less than 1e-5; a better point is taken and counted, a worse one
halves eta; after 10 better steps eta doubles; eta starts at 1e-5. Written as a NumPy user
would with ``tg.while_loop`` and ``np.where`` choosing the next state (the candidate's value and
gradient are computed every step). ``MAX_STEPS`` bounds the loop for reverse mode. The expected
answer is GradBench's own reference value.
"""
from __future__ import annotations

import numpy as np

import tracegrad as tg

from .spec import Eval, Function, tolist

MAX_STEPS = 2000
EXPECTED = [8.246324826140356e-06] * 4  # GradBench's evals/saddle reference output


def _grad(mode, f):
    return tg.grad(f) if mode == "r" else tg.jacfwd(f)


def argmin(grad, f, x0):
    g = grad(f)

    def cond(state):
        return state[5]

    def step(state):
        x, fx, gx, eta, i, _ = state
        small_gradient = np.sqrt(np.sum(gx * gx)) <= 1e-5
        widen = i == 10
        candidate = x - eta * gx
        small_step = np.sqrt(np.sum((x - candidate) ** 2)) <= 1e-5
        f_candidate = f(candidate)
        better = f_candidate < fx
        move = ~small_gradient & ~widen & ~small_step & better
        halve = ~small_gradient & ~widen & ~small_step & ~better
        return (np.where(move, candidate, x), np.where(move, f_candidate, fx),
                np.where(move, g(candidate), gx),
                np.where(widen & ~small_gradient, 2 * eta, np.where(halve, eta / 2, eta)),
                np.where(move, i + 1, np.where(widen | halve, 0, i)),
                ~(small_gradient | (~widen & small_step)))

    state = (x0, f(x0), g(x0), np.float64(1e-5), np.int64(0), np.bool_(True))
    return tg.while_loop(cond, step, state, max_iter=MAX_STEPS)[0]


def argmax(grad, f, x0):
    return argmin(grad, lambda x: -f(x), x0)


def saddle(start, outer: str, inner: str):
    def f(p1, p2):
        return (p1[0] ** 2 + p1[1] ** 2) - (p2[0] ** 2 + p2[1] ** 2)

    def inner_max(p1):
        return f(p1, argmax(lambda h: _grad(inner, h), lambda p: f(p1, p), start))

    r1 = argmin(lambda h: _grad(outer, h), inner_max, start)
    r2 = argmax(lambda h: _grad(outer, h), lambda p: f(r1, p), start)
    return np.concatenate([r1, r2])


def _build(modes):
    def build(backend, static):
        return tg.jit(lambda s: saddle(s, modes[0], modes[1]), backend=backend)
    return build


def _prepare(inp):
    return (np.asarray(inp["start"], dtype=np.float64),), ()


SADDLE = Eval(
    name="saddle",
    functions={m: Function("gradient", _build(m)) for m in ("ff", "fr", "rf", "rr")},
    prepare=_prepare, post=lambda f, r, i: tolist(r),
    generate=lambda size, seed: {"start": [1.0, 1.0]},
    sizes=["w=0"], quick_sizes=["w=0"], bench_sizes=["w=0"],
    reference=lambda function, inp: EXPECTED if inp["start"] == [1.0, 1.0] else None,
    describe=str, smoke_backend="c")
