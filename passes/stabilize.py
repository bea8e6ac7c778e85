"""Numerical stabilisation: rewrite patterns that overflow or lose precision into stable forms.

Runs on forward graphs before differentiation (so gradients are derived from the stable form)
and again in jit's O2 pipeline. Every rewrite is exact in real arithmetic; all of them keep
values and gradients finite at +-80 (float32) and +-700 (float64) where the naive form gives
inf or NaN. A rule that matches a reduction and the broadcast putting it back proves with
passes/match.py that the broadcast re-expands exactly the reduced axes (``exp(x) / exp(x).sum(1)``
on a square x broadcasts along the other axis: not a softmax); tests/rule_cases.py holds a
firing case and near-misses for every rule.
"""
from __future__ import annotations

import math

from tracegrad.ir import Graph, Lit

from .match import (lit_equals, producer_named, reduction_axes, reexpands, same_aval,
                    same_computation, same_value, view_of)
from .bodies import in_bodies
from .registry import register
from .rewrite import Rule, rewrite_fixpoint

RULES: dict[str, list[Rule]] = {}


def rule(prim: str, doc: str):
    def deco(fn):
        RULES.setdefault(prim, []).append(Rule(fn, doc))
        return fn
    return deco


_is = producer_named   # the equation producing an atom, if it is that primitive
_lit = lit_equals      # a literal of that value (sign of zero included)


@rule("log", "log(1 + x) -> log1p(x)")
def _log1p(e, b):
    p = _is(b, e.inputs[0], "add")
    if p is None:
        return None
    x, y = p.inputs
    for one, other in ((x, y), (y, x)):
        if _lit(one, 1) and other.aval == e.outputs[0].aval:
            return [b.add("log1p", other)]


@rule("sub", "exp(x) - 1 -> expm1(x)")
def _expm1(e, b):
    x, y = e.inputs
    p = _is(b, x, "exp")
    if p is not None and _lit(y, 1) and same_aval(p.inputs[0], e.outputs[0]):
        return [b.add("expm1", p.inputs[0])]


@rule("log1p", "log1p(exp(x)) -> softplus(x)")
def _softplus(e, b):
    p = _is(b, e.inputs[0], "exp")
    if p is not None and same_aval(p.inputs[0], e.outputs[0]):
        return [b.add("softplus", p.inputs[0])]


@rule("div", "1 / (1 + exp(-x)) -> sigmoid(x)")
def _sigmoid(e, b):
    one, den = e.inputs
    if not _lit(one, 1):
        return None
    a = _is(b, den, "add")
    if a is None:
        return None
    for u, v in (a.inputs, a.inputs[::-1]):
        ex = _is(b, v, "exp") if _lit(u, 1) else None
        ng = _is(b, ex.inputs[0], "neg") if ex is not None else None
        if ng is not None and ng.inputs[0].aval == e.outputs[0].aval:
            return [b.add("sigmoid", ng.inputs[0])]


@rule("log", "log(sigmoid(x)) -> -softplus(-x)")
def _log_sigmoid(e, b):
    p = _is(b, e.inputs[0], "sigmoid")
    if p is not None and same_aval(p.inputs[0], e.outputs[0]):
        return [b.add("neg", b.add("softplus", b.add("neg", p.inputs[0])))]


@rule("log", "log(1 - sigmoid(x)) -> -softplus(x)")
def _log_one_minus_sigmoid(e, b):
    p = _is(b, e.inputs[0], "sub")
    if p is None or not _lit(p.inputs[0], 1):
        return None
    s = _is(b, p.inputs[1], "sigmoid")
    if s is not None and same_aval(s.inputs[0], e.outputs[0]):
        return [b.add("neg", b.add("softplus", s.inputs[0]))]


@rule("log1p", "log1p(-sigmoid(x)) -> -softplus(x)")
def _log1p_neg_sigmoid(e, b):
    p = _is(b, e.inputs[0], "neg")
    s = _is(b, p.inputs[0], "sigmoid") if p is not None else None
    if s is not None and same_aval(s.inputs[0], e.outputs[0]):
        return [b.add("neg", b.add("softplus", s.inputs[0]))]


_SHIFT_PATH = ("stop_gradient", "guard")  # what may sit between a max and the shift it makes


def _shift_of(b, atom, x, axes):
    """If ``atom`` is max(x) over ``axes`` put back into x's shape (through broadcasts,
    keepdims reshapes, stop_gradient and the finite guard ``_shifted_max`` adds), return
    (the reduce_max equation, whether the path cuts gradients); else None. A max broadcast
    along another axis (``x - x.max(1)`` on a square x) is not a shift and gives None."""
    v = view_of(b, atom, through=_SHIFT_PATH)
    m = _is(b, v.base, "reduce_max")
    if m is None or m.inputs[0] is not x or reduction_axes(m) != tuple(sorted(axes)):
        return None
    if not reexpands(v, m.outputs[0], axes, x.aval.shape, atom.aval.shape):
        return None
    return m, v.stop_gradient


def _already_shifted(b, x, axes) -> bool:
    """x is ``y - max(y)`` over the same axes: the user (or this pass) already shifted it."""
    p = _is(b, x, "sub")
    return p is not None and _shift_of(b, p.inputs[1], p.inputs[0], axes) is not None


def _shifted_max(b, x, axes):
    """stop_gradient(m) where m = max(x) over axes, replaced by 0 where not finite (all -inf
    rows would otherwise give inf - inf)."""
    m = b.add("reduce_max", x, axes=axes)
    finite = b.add("lt", b.add("abs", m), b.lit(math.inf, m.aval.dtype))
    safe = b.add("where", finite, m, b.lit(0.0, m.aval.dtype))
    # the shift cancels exactly in the derivative, so it carries no gradient (as in JAX)
    return b.add("stop_gradient", safe)


def _bcast_back(b, m, x, axes):
    kept = tuple(d for d in range(len(x.aval.shape)) if d not in axes)
    return b.add("broadcast_in_dim", m, shape=x.aval.shape, broadcast_dimensions=kept)


def _logsumexp(b, x, axes):
    if _already_shifted(b, x, axes):  # x <= 0 with a 0 in every row: no overflow possible
        return b.add("log", b.add("reduce_sum", b.add("exp", x), axes=axes))
    m = _shifted_max(b, x, axes)
    shifted = b.add("sub", x, _bcast_back(b, m, x, axes))
    s = b.add("reduce_sum", b.add("exp", shifted), axes=axes)
    return b.add("add", b.add("log", s), m)


@rule("log", "log(sum(exp(x))) -> max-shifted logsumexp")
def _lse(e, b):
    s = _is(b, e.inputs[0], "reduce_sum")
    ex = _is(b, s.inputs[0], "exp") if s is not None else None
    if ex is None or not _float(e) or not same_aval(ex.inputs[0], ex.outputs[0]):
        return None
    x, axes = ex.inputs[0], reduction_axes(s)
    if _already_shifted(b, x, axes):
        return None
    return [_logsumexp(b, x, axes)]


def _float(e) -> bool:
    return e.outputs[0].aval.dtype.kind == "f"


def _softmax_of(b, num_atom, den_atom):
    """If ``num_atom / den_atom`` is exp(x) / sum(exp(x)) with the sum put back into x's shape
    along the very axes it removed, return (x, axes)."""
    num = _is(b, num_atom, "exp")
    if num is None or num.outputs[0].aval.dtype.kind != "f" or \
            not same_aval(num.inputs[0], num.outputs[0]):
        return None
    x = num.inputs[0]
    v = view_of(b, den_atom)  # no stop_gradient here: it would change the derivative
    s = _is(b, v.base, "reduce_sum")
    den = _is(b, s.inputs[0], "exp") if s is not None else None
    if den is None or den.inputs[0] is not x:
        return None
    axes = reduction_axes(s)
    if not reexpands(v, s.outputs[0], axes, x.aval.shape, den_atom.aval.shape):
        return None
    return x, axes


def _user_lse(b, atom):
    """If ``atom`` is log(sum(exp(x - m))) with m = max(x) over the same axes, put back
    along them (a logsumexp the user already shifted by hand), return (x, axes, the reduce_max
    equation, whether the shift's path cuts gradients)."""
    lg = _is(b, atom, "log")
    s = _is(b, lg.inputs[0], "reduce_sum") if lg is not None else None
    ex = _is(b, s.inputs[0], "exp") if s is not None else None
    sh = _is(b, ex.inputs[0], "sub") if ex is not None else None
    if sh is None or not _float(lg):
        return None
    x, axes = sh.inputs[0], reduction_axes(s)
    found = _shift_of(b, sh.inputs[1], x, axes)
    return None if found is None else (x, axes) + found


@rule("add", "log(sum(exp(x - m))) + m, m = max(x) -> logsumexp(x) (the shift gets no gradient)")
def _hand_shifted_lse(e, b):
    """The value is unchanged; the derivative through m, which cancels exactly in real
    arithmetic, is no longer computed (it cost the max's tie-weight passes). It cancels only
    if both m's are the same value at the same coordinates and both carry the gradient."""
    for u, v in (e.inputs, e.inputs[::-1]):
        found = _user_lse(b, u)
        if found is None or isinstance(v, Lit):
            continue
        x, axes, m, cut = found
        vv = view_of(b, v, through=_SHIFT_PATH)
        if cut or vv.stop_gradient:
            continue  # both cut: already the canonical form (which this rule returns); one
            # cut: the derivative through m no longer cancels, so it is not a logsumexp
        if same_value(vv, m.outputs[0], v.aval.shape, b) and same_aval(u, v, e.outputs[0]):
            return [_logsumexp_canonical(b, x, axes)]
    return None


@rule("sub", "(x - m) - log(sum(exp(x - m))), m = max(x) -> x - logsumexp(x) (log-softmax)")
def _hand_shifted_log_softmax(e, b):
    z, r = e.inputs
    if isinstance(r, Lit) or isinstance(z, Lit):
        return None
    rv = view_of(b, r)
    found = _user_lse(b, rv.base)
    if found is None:
        return None
    x, axes, m, cut = found
    if not reexpands(rv, rv.base, axes, x.aval.shape, r.aval.shape):
        return None  # the logsumexp subtracted along other axes than it was taken over
    zp = _is(b, z, "sub")
    if zp is None or zp.inputs[0] is not x or not same_aval(z, x, e.outputs[0]):
        return None
    shift = _shift_of(b, zp.inputs[1], x, axes)
    if shift is None or shift[1] != cut or \
            not same_computation(b, shift[0].outputs[0], m.outputs[0]):
        return None
    lse = _logsumexp_canonical(b, x, axes)
    return [b.add("sub", x, _bcast_back(b, lse, x, axes))]


def _logsumexp_canonical(b, x, axes):
    """max-shifted logsumexp whose shift carries no gradient (whatever x looks like)."""
    m = _shifted_max(b, x, axes)
    shifted = b.add("sub", x, _bcast_back(b, m, x, axes))
    s = b.add("reduce_sum", b.add("exp", shifted), axes=axes)
    return b.add("add", b.add("log", s), m)


@rule("log", "log(softmax(x)) -> x - logsumexp(x) (log-softmax)")
def _log_softmax(e, b):
    d = _is(b, e.inputs[0], "div")
    parts = _softmax_of(b, *d.inputs) if d is not None else None
    if parts is None:
        return None
    x, axes = parts
    lse = _logsumexp(b, x, axes)
    return [b.add("sub", x, _bcast_back(b, lse, x, axes))]


@rule("div", "exp(x) / sum(exp(x)) -> exp(x - max) / sum(exp(x - max)) (stable softmax)")
def _softmax(e, b):
    parts = _softmax_of(b, *e.inputs)
    if parts is None:
        return None
    x, axes = parts
    if _already_shifted(b, x, axes):
        return None
    m = _shifted_max(b, x, axes)
    ex = b.add("exp", b.add("sub", x, _bcast_back(b, m, x, axes)))
    total = b.add("reduce_sum", ex, axes=axes)
    return [b.add("div", ex, _bcast_back(b, total, x, axes))]


@register("stabilize", "rewrite overflow-prone patterns (logsumexp, log1p, expm1, softplus, "
                       "log-sigmoid, log-softmax, softmax) into stable forms")
@in_bodies
def stabilize(graph: Graph) -> Graph:
    return rewrite_fixpoint(graph, RULES)
