"""Near-miss patterns for the random-program fuzzer: the shapes stabilize's rules rewrite
(softmax, logsumexp, log-softmax, a hand-shifted logsumexp or log-softmax, log1p, expm1,
sigmoid, softplus, log-sigmoid) drawn both right and slightly wrong: the reduced value put back
with keepdims, without it (NumPy's trailing-axis broadcast, which lines up only for the leading
axis), with ``expand_dims`` at another axis, or swapped with another axis; the max of a shift
taken over another axis; another literal or a missing negation. On square arrays every variant
is a legal program, so a rule that fires on the wrong one gives a wrong value or gradient.

``op_stable_pattern`` is one of fuzz_programs' ops (drawn among the others); ``near_miss_programs``
draws short programs made mostly of it. Choices are ordered so that hypothesis' simplest draw
is a near-miss (the last axis, no keepdims, a 3x3 operand): the CI profile's few derandomized
examples, which lean toward simple draws, then cover the wrong variants as well as the right.
"""
from __future__ import annotations

import math

import numpy as np
from fuzz_programs import (ULPS, Gen, Reject, Val, eps, finish_program, start_program)
from hypothesis import strategies as st

MAX_X = 10.0     # |x| bound: exp(x) stays far from float32 overflow in NumPy's naive form
MAX_WIDTH = 8.0  # hi - lo: quotients exp(x_i) / exp(x_j) stay below e**8


# --- elementwise: the naive form's rounding is measured against long double --------------------
ELEMENTWISE = [
    "np.log(1 + np.exp({x}))", "np.log(2 + np.exp({x}))", "np.log1p(np.exp({x}))",
    "np.exp({x}) - 1", "1 - np.exp({x})", "np.exp({x}) - 2",
    "1 / (1 + np.exp(-{x}))", "1 / (1 + np.exp({x}))", "2 / (1 + np.exp(-{x}))",
    "1 / (2 + np.exp(-{x}))", "np.log(1 / (1 + np.exp(-{x})))",
    "np.log(1 - 1 / (1 + np.exp(-{x})))", "np.log1p(-1 / (1 + np.exp(-{x})))",
    "np.log1p(1 / (1 + np.exp(-{x})))", "np.log(2 - 1 / (1 + np.exp(-{x})))",
]


def _elementwise_val(code: str, v: Val, dt: str, shape) -> Val:
    """Interval and error bound of ``code`` (a monotone function of x) on [v.lo, v.hi]: the
    naive form's own rounding measured on a grid against long double, four times over, plus
    the input's error times the largest slope."""
    grid = np.linspace(v.lo, v.hi, 513)
    with np.errstate(all="ignore"):
        exact = eval(code.format(x="grid_ld"), {"np": np, "grid_ld": grid.astype(np.longdouble)})
        naive = eval(code.format(x="grid"), {"np": np, "grid": grid.astype(dt)})
    exact = np.asarray(exact, np.float64)
    if not (np.all(np.isfinite(exact)) and np.all(np.isfinite(naive))):
        raise Reject("outside the domain")
    dev = float(np.max(np.abs(naive.astype(np.float64) - exact)))
    slope = float(np.max(np.abs(np.diff(exact)) / np.maximum(np.diff(grid), 1e-300))) \
        if len(grid) > 1 and v.hi > v.lo else 1.0
    lo, hi = float(exact.min()), float(exact.max())
    err = 4 * dev + ULPS * eps(dt) * max(1.0, abs(lo), abs(hi)) + 1.5 * slope * v.err
    return Val(shape, dt, lo - err, hi + err, err)


# --- reductions: where the broadcasts go ------------------------------------------------------
def _put_back(g: Gen, red, ax: int, ndim: int) -> str:
    """``red(keepdims)`` is the code of a reduction over ``ax``; its value put back next to an
    operand of rank ``ndim``: with keepdims (right), without (right only for ax == 0, else a
    legal broadcast along other axes when sizes agree), expand_dims at a drawn axis, or
    keepdims then swapped with a drawn axis."""
    how = g.draw(st.sampled_from(["plain", "keepdims", "expand", "swap", "plain"]))
    if how == "keepdims":
        return red(True)
    if how == "plain":
        return red(False)
    other = g.draw(st.integers(0, ndim - 1))
    if how == "expand":
        return f"np.expand_dims({red(False)}, {other})"
    return f"np.swapaxes({red(True)}, {ax}, {other})"


def _near(g: Gen, ax: int, ndim: int) -> int:
    """``ax`` most of the time, else any axis (a max over another axis than the sum's)."""
    return g.draw(st.integers(0, ndim - 1)) if g.draw(st.integers(0, 3)) == 3 else ax


def _kd(keep: bool) -> str:
    return ", keepdims=True" if keep else ""


def _reduction_pattern(g: Gen, x: str, v: Val):
    """(code, lo, hi, err) of a softmax-family pattern over x."""
    nd = v.ndim
    ax = nd - 1 - g.draw(st.integers(0, nd - 1))  # the last axis first: ax == 0 lines up
    n, W, B, e, ex = v.shape[ax], v.hi - v.lo, v.bound, eps(v.dtype), v.err
    logn = math.log(n)
    # exp, sum of n terms, a quotient, and the stable forms' x - max (error up to e * W)
    rel = 2 * ex + (n + ULPS * (4 + 2 * W)) * e
    kind = g.draw(st.sampled_from(["softmax", "hand_lse", "hand_log_softmax", "log_softmax",
                                   "lse", "softmax", "hand_lse", "hand_log_softmax"]))

    if kind in ("softmax", "log_softmax"):
        den = _put_back(g, lambda k: f"np.sum(np.exp({x}), axis={ax}{_kd(k)})", ax, nd)
        code = f"np.exp({x}) / {den}"
        if kind == "softmax":
            hi = math.exp(W) / n
            return code, math.exp(-W) / n, hi, hi * rel
        return f"np.log({code})", -W - logn, W - logn, rel + ULPS * e * (W + logn + 1)
    if kind == "lse":
        code = f"np.log(np.sum(np.exp({x}), axis={ax}{_kd(g.draw(st.booleans()))}))"
        lo, hi = v.lo + logn, v.hi + logn
        return code, lo, hi, rel + ULPS * e * (max(abs(lo), abs(hi)) + 1)
    # a hand-shifted form: one max value (as users write ``m = x.max(1)``), put back in the
    # shift, perhaps the wrong way, and perhaps taken over another axis than the sum
    ma = _near(g, ax, nd)
    m, keep = _max_value(g, x, v, ma)
    inner = f"np.sum(np.exp({x} - {_value_back(g, m, keep, ma, nd)}), axis={ax}"
    if kind == "hand_lse":
        m2 = f"np.max({x}, axis={_near(g, ax, nd)})" if g.draw(st.integers(0, 3)) == 3 else \
            (f"np.squeeze({m}, axis={ma})" if keep else m)
        lo, hi = logn + 2 * v.lo - v.hi, logn + 2 * v.hi - v.lo
        return (f"np.log({inner})) + {m2}", lo, hi,
                ex + rel + ULPS * e * (max(abs(lo), abs(hi)) + B + 1))
    lse = _put_back(g, lambda k: f"np.log({inner}{_kd(k)}))", ax, nd)
    code = f"({x} - {_value_back(g, m, keep, ma, nd)}) - {lse}"
    return code, -2 * W - logn, 2 * W - logn, 2 * ex + rel + ULPS * e * (2 * W + logn + B + 1)


def _max_value(g: Gen, x: str, v: Val, axis: int) -> tuple[str, bool]:
    """``vN = np.max(x, axis=axis[, keepdims=True])``: (its name, keepdims)."""
    keep = g.draw(st.booleans())
    code = f"np.max({x}, axis={axis}{_kd(keep)})"
    shape, dt = g.probe(code)
    return g.emit(code, Val(shape, dt, v.lo, v.hi, v.err)), keep


def _value_back(g: Gen, m: str, keep: bool, axis: int, nd: int) -> str:
    """The max ``m`` next to an operand of rank ``nd``: as it is (right with keepdims; NumPy's
    trailing alignment without), swapped with an axis, or expand_dims at an axis."""
    if not g.draw(st.booleans()):
        return m
    other = g.draw(st.integers(0, nd - 1))
    return f"np.swapaxes({m}, {axis}, {other})" if keep else f"np.expand_dims({m}, {other})"


def _operand(g: Gen) -> str:
    """A float operand for a pattern: mostly a fresh square argument (where every
    near-miss broadcast is legal NumPy), else an earlier value in range."""
    if g.draw(st.integers(0, 3)) != 3:
        k = 3 - g.draw(st.integers(0, 2))
        lo, hi = g.interval()
        return g.new_arg((k,) * g.draw(st.sampled_from([2, 2, 3, 1])), g.float_dt, lo, hi)
    return g.pick(lambda v: v.kind == "f" and not v.weak and v.ndim >= 1 and v.size > 0
                  and v.bound <= MAX_X and v.hi - v.lo <= MAX_WIDTH)


def op_stable_pattern(g: Gen):
    x = _operand(g)
    v = g.vals[x]
    if g.draw(st.integers(0, 3)) == 3:
        template = g.draw(st.sampled_from(ELEMENTWISE))
        code = template.format(x=x)
        shape, dt = g.probe(code)
        return g.emit(code, _elementwise_val(template, v, dt, shape))
    code, lo, hi, err = _reduction_pattern(g, x, v)
    shape, dt = g.probe(code)  # NumPy decides the broadcast (or refuses: Reject)
    return g.emit(code, Val(shape, dt, lo - err, hi + err, err))


@st.composite
def near_miss_programs(draw, max_steps: int = 2, grad_safe: bool | None = None):
    """A short program built around near-miss patterns (an ordinary op now and then)."""
    from fuzz_programs import OPS, _OP_CHOICES
    if grad_safe is None:
        grad_safe = draw(st.integers(0, 2)) != 2  # float64, gradients checked, two in three
    g = start_program(draw, grad_safe, allow_zero_size=False)
    n = draw(st.integers(1, max_steps))
    for step in range(n):
        for _ in range(8):  # patterns reject often (shapes, ranges): retry a few times
            ordinary = step and not draw(st.integers(0, 3))
            try:
                (OPS[draw(st.sampled_from(_OP_CHOICES))][0] if ordinary else
                 op_stable_pattern)(g)
                break
            except Reject:
                pass
    return finish_program(draw, g)
