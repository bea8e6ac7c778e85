"""Loops and branches in the random programs (tests/fuzz_programs.py): ``scan``, ``while_loop``
and ``cond`` lines whose intervals and error bounds are known.

A program's source calls ``scan(...)``, ``while_loop(...)`` and ``cond(...)`` from its namespace
(``LOOP_NAMESPACE``): on traced values they are tracegrad's (``tg.scan`` ...), on arrays a plain
Python loop or ``if`` (the NumPy reference, which never touches tracegrad), so eager NumPy and
every backend run the very same source.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from fuzz_programs import Reject, Val, _conv_err, rounding


def _traced(*trees) -> bool:
    from tracegrad.pytree import tree_flatten
    from tracegrad.tracer import Tracer
    return any(isinstance(leaf, Tracer) for t in trees for leaf in tree_flatten(t)[0])


def scan(f, init, xs):
    if _traced(init, xs):
        import tracegrad as tg
        return tg.scan(f, init, xs)
    carry, ys = init, []
    for t in xs:
        carry, y = f(carry, t)
        ys.append(np.asarray(y))
    if not ys:  # the stacked type of a step's y, from a step on zeros (then thrown away)
        _, y = f(init, np.zeros(np.shape(xs)[1:], np.asarray(xs).dtype))
        return carry, np.zeros((0,) + np.shape(y), np.asarray(y).dtype)
    return carry, np.stack(ys)


def while_loop(cond_fun, body_fun, init, max_iter=None):
    if _traced(init):
        import tracegrad as tg
        return tg.while_loop(cond_fun, body_fun, init, max_iter=max_iter)
    n = 0
    while (max_iter is None or n < max_iter) and cond_fun(init):
        init = body_fun(init)
        n += 1
    return init


def cond(pred, true_fun, false_fun, operand):
    if _traced(pred, operand):
        import tracegrad as tg
        return tg.cond(pred, true_fun, false_fun, operand)
    return true_fun(operand) if pred else false_fun(operand)


LOOP_NAMESPACE = {"scan": scan, "while_loop": while_loop, "cond": cond}


def _float_array(g, v: Val) -> bool:
    return v.kind == "f" and not v.weak and v.dtype == g.float_dt


def op_scan(g):
    """``scan(lambda c, t: (np.tanh(c * 0.5 + t), c * t), x, xs)`` and its carry or its ys."""
    x = g.pick(lambda v: _float_array(g, v))
    v = g.vals[x]
    steps = g.draw(st.integers(0 if g.allow_zero else 1, 4))
    xs = g.new_arg((steps,) + v.shape, g.float_dt, -1.0, 1.0)
    r = rounding(g.float_dt, 2.0, 4)  # one step's add, tanh (4 ulp) and scaling
    # the carry contracts (|d tanh| <= 1, times 0.5): errors stay below 2 r + the start's
    carry_err = _conv_err(v, g.float_dt) + steps * r
    code = f"scan(lambda c, t: (np.tanh(c * 0.5 + t), c * t), {x}, {xs})"
    if steps and g.draw(st.booleans()):
        bound = max(v.bound, 1.0)
        ys = Val((steps,) + v.shape, g.float_dt, -bound, bound,
                 carry_err + rounding(g.float_dt, bound))
        return g.emit(f"{code}[1]", ys)
    out = Val(v.shape, g.float_dt, -1.0, 1.0, carry_err) if steps else v
    return g.emit(f"{code}[0]", out)


def op_while(g):
    """A counted ``while_loop`` (``max_iter`` may cut it short): c -> sin(c) * 0.5 + 0.25."""
    x = g.pick(lambda v: _float_array(g, v))
    v = g.vals[x]
    n = g.draw(st.integers(0, 4))
    cap = g.draw(st.integers(0, 5))
    trips = min(n, cap)
    code = (f"while_loop(lambda c: c[1] < {n}, lambda c: (np.sin(c[0]) * 0.5 + 0.25, "
            f"c[1] + 1), ({x}, 0), max_iter={cap})[0]")
    if not trips:
        return g.emit(code, v)
    err = _conv_err(v, g.float_dt) * 0.5 ** trips + trips * rounding(g.float_dt, 1.0, 6)
    return g.emit(code, Val(v.shape, g.float_dt, -0.25, 0.75, err))


def op_cond(g):
    """``cond(np.max(p) > 0, sin, x * 0.5, x)`` on an exactly known predicate operand."""
    p = g.pick(lambda v: v.exact and v.kind in "fib" and v.size > 0 and not v.weak)
    x = g.pick(lambda v: _float_array(g, v))
    v, pv = g.vals[x], g.vals[p]
    code = f"cond(np.max({p}) > 0, lambda v: np.sin(v), lambda v: v * 0.5, {x})"
    branches = []
    if pv.hi > 0:
        branches.append((-1.0, 1.0, v.err + rounding(g.float_dt, 1.0, 4)))
    if pv.lo <= 0:
        branches.append((v.lo * 0.5, v.hi * 0.5, v.err * 0.5))
    if not branches:
        raise Reject("empty predicate interval")
    return g.emit(code, Val(v.shape, g.float_dt, min(b[0] for b in branches),
                            max(b[1] for b in branches), max(b[2] for b in branches)))


def op_skipped_raise(g):
    """A loop of zero trips, or an untaken branch, around an index out of range of an argument
    (``x[k]``, ``k`` past the end): NumPy never runs it, so no backend may (code motion moves
    only what cannot raise: tests/test_hoist_raising.py). The trip count and the predicate are
    arguments (0), so nothing folds the loop or the branch away before the passes see it."""
    x = g.pick(lambda v: _float_array(g, v) and v.ndim >= 1 and v.shape[0] >= 1)
    v = g.vals[x]
    k = g.new_arg((), "int64", v.shape[0] + 2, v.shape[0] + 2)   # out of range
    m = g.new_arg((), "int64", 0, 0)                              # trips / predicate
    # the index is computed from x, so it stays traced where the checks close over the integer
    # arguments as constants (second order: a constant index out of range is refused at trace
    # time by indexing.py, even in a body that never runs)
    i = f"{x}[(np.sum({x}) * 0).astype(np.int64) + {k}]"
    if g.draw(st.booleans()):
        code = (f"while_loop(lambda c: c[1] < {m}, lambda c: (c[0] + {i} * 0.5, c[1] + 1), "
                f"({x}[0], 0), max_iter=3)[0]")
    else:
        code = f"cond({m} > 0, lambda u: u + {i} * 0.5, lambda u: u * 0.5, {x}[0])"
        v = Val(v.shape, v.dtype, min(v.lo * 0.5, v.lo), max(v.hi * 0.5, v.hi), v.err)
    return g.emit(code, Val(v.shape[1:], g.float_dt, v.lo, v.hi, v.err))


def op_loop(g):
    # (op_skipped_raise is drawn by tests/test_hoist_raising.py's own run: adding it here
    # would change every derandomized CI draw of the loop lines)
    kind = g.draw(st.sampled_from(["scan", "while", "cond"]))
    return {"scan": op_scan, "while": op_while, "cond": op_cond}[kind](g)
