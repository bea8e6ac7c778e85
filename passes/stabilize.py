"""Numerical stabilisation: rewrite patterns that overflow or lose precision into stable forms.

Runs on forward graphs before differentiation (so gradients are derived from the stable form)
and again in jit's O2 pipeline. Every rewrite is exact in real arithmetic; all of them keep
values and gradients finite at +-80 (float32) and +-700 (float64) where the naive form gives
inf or NaN.
"""
from __future__ import annotations

import math

from tracegrad.ir import Graph, Lit

from .registry import register
from .rewrite import Rule, rewrite_fixpoint

RULES: dict[str, list[Rule]] = {}


def rule(prim: str, doc: str):
    def deco(fn):
        RULES.setdefault(prim, []).append(Rule(fn, doc))
        return fn
    return deco


def _is(b, atom, name):
    p = b.producer(atom)
    return p if p is not None and p.prim.name == name else None


def _lit(a, value) -> bool:
    return isinstance(a, Lit) and a.value == value


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
    if p is not None and _lit(y, 1):
        return [b.add("expm1", p.inputs[0])]


@rule("log1p", "log1p(exp(x)) -> softplus(x)")
def _softplus(e, b):
    p = _is(b, e.inputs[0], "exp")
    if p is not None:
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
    if p is not None:
        return [b.add("neg", b.add("softplus", b.add("neg", p.inputs[0])))]


@rule("log", "log(1 - sigmoid(x)) -> -softplus(x)")
def _log_one_minus_sigmoid(e, b):
    p = _is(b, e.inputs[0], "sub")
    if p is None or not _lit(p.inputs[0], 1):
        return None
    s = _is(b, p.inputs[1], "sigmoid")
    if s is not None:
        return [b.add("neg", b.add("softplus", s.inputs[0]))]


@rule("log1p", "log1p(-sigmoid(x)) -> -softplus(x)")
def _log1p_neg_sigmoid(e, b):
    p = _is(b, e.inputs[0], "neg")
    s = _is(b, p.inputs[0], "sigmoid") if p is not None else None
    if s is not None:
        return [b.add("neg", b.add("softplus", s.inputs[0]))]


def _max_source(b, atom):
    """The reduce_max equation behind ``atom``, looking through broadcasts, stop_gradient and
    the finite-guard ``where`` that ``_shifted_max`` adds."""
    for _ in range(6):
        p = b.producer(atom)
        if p is None:
            return None
        if p.prim.name == "reduce_max":
            return p
        if p.prim.name in ("broadcast_in_dim", "stop_gradient", "reshape") or (
                p.prim.name == "slice" and p.outputs[0].aval.size == p.inputs[0].aval.size):
            atom = p.inputs[0]  # the same values, another shape (m[:, 0] of a keepdims max)
        elif p.prim.name == "where":
            atom = p.inputs[1]
        else:
            return None
    return None


def _already_shifted(b, x, axes) -> bool:
    """x is ``y - max(y)`` over the same axes: the user (or this pass) already shifted it."""
    p = _is(b, x, "sub")
    if p is None:
        return False
    m = _max_source(b, p.inputs[1])
    return m is not None and m.inputs[0] is p.inputs[0] and tuple(m.params["axes"]) == axes


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
    if ex is None or not _float(e):
        return None
    x, axes = ex.inputs[0], tuple(s.params["axes"])
    if _already_shifted(b, x, axes):
        return None
    return [_logsumexp(b, x, axes)]


def _float(e) -> bool:
    return e.outputs[0].aval.dtype.kind == "f"


def _sum_through_bcast(b, atom):
    """The reduce_sum behind ``atom`` = sum(...) or broadcast(sum(...)) (scalar operands may
    have lost their broadcast to simplify)."""
    bc = _is(b, atom, "broadcast_in_dim")
    return _is(b, bc.inputs[0] if bc is not None else atom, "reduce_sum")


def _softmax_parts(b, atom):
    """If atom is exp(x) / broadcast(sum(exp(x))), return (x, axes)."""
    d = _is(b, atom, "div")
    if d is None:
        return None
    num = _is(b, d.inputs[0], "exp")
    s = _sum_through_bcast(b, d.inputs[1])
    den = _is(b, s.inputs[0], "exp") if s is not None else None
    if num is None or den is None or num.inputs[0] is not den.inputs[0]:
        return None
    return num.inputs[0], tuple(s.params["axes"])


def _user_lse(b, atom):
    """If ``atom`` is log(sum(exp(x - m))) with m = max(x) over the same axes (a logsumexp the
    user already shifted by hand), return (x, axes, the reduce_max equation)."""
    lg = _is(b, atom, "log")
    s = _is(b, lg.inputs[0], "reduce_sum") if lg is not None else None
    ex = _is(b, s.inputs[0], "exp") if s is not None else None
    sh = _is(b, ex.inputs[0], "sub") if ex is not None else None
    if sh is None:
        return None
    m = _max_source(b, sh.inputs[1])
    axes = tuple(s.params["axes"])
    if m is None or m.inputs[0] is not sh.inputs[0] or tuple(m.params["axes"]) != axes:
        return None
    return sh.inputs[0], axes, m


@rule("add", "log(sum(exp(x - m))) + m, m = max(x) -> logsumexp(x) (the shift gets no gradient)")
def _hand_shifted_lse(e, b):
    """The value is unchanged; the derivative through m, which cancels exactly in real
    arithmetic, is no longer computed (it cost the max's tie-weight passes)."""
    for u, v in (e.inputs, e.inputs[::-1]):
        found = _user_lse(b, u)
        if found is None or isinstance(v, Lit):
            continue
        x, axes, m = found
        if _max_source(b, v) is m and v.aval == e.outputs[0].aval and \
                _is(b, _max_source_input(b, v), "stop_gradient") is None:
            return [_logsumexp_canonical(b, x, axes)]
    return None


@rule("sub", "(x - m) - log(sum(exp(x - m))), m = max(x) -> x - logsumexp(x) (log-softmax)")
def _hand_shifted_log_softmax(e, b):
    z, r = e.inputs
    bc = _is(b, r, "broadcast_in_dim")
    found = _user_lse(b, bc.inputs[0] if bc is not None else r)
    if found is None:
        return None
    x, axes, m = found
    zp = _is(b, z, "sub")
    if zp is None or zp.inputs[0] is not x or _max_source(b, zp.inputs[1]) is not m:
        return None
    lse = _logsumexp_canonical(b, x, axes)
    return [b.add("sub", x, _bcast_back(b, lse, x, axes))]


def _max_source_input(b, atom):
    """The atom right below the shape-only ops in front of a max (to spot stop_gradient)."""
    p = b.producer(atom)
    return p.inputs[0] if p is not None and p.inputs else atom


def _logsumexp_canonical(b, x, axes):
    """max-shifted logsumexp whose shift carries no gradient (whatever x looks like)."""
    m = _shifted_max(b, x, axes)
    shifted = b.add("sub", x, _bcast_back(b, m, x, axes))
    s = b.add("reduce_sum", b.add("exp", shifted), axes=axes)
    return b.add("add", b.add("log", s), m)


@rule("log", "log(softmax(x)) -> x - logsumexp(x) (log-softmax)")
def _log_softmax(e, b):
    parts = _softmax_parts(b, e.inputs[0])
    if parts is None:
        return None
    x, axes = parts
    lse = _logsumexp(b, x, axes)
    return [b.add("sub", x, _bcast_back(b, lse, x, axes))]


@rule("div", "exp(x) / sum(exp(x)) -> exp(x - max) / sum(exp(x - max)) (stable softmax)")
def _softmax(e, b):
    num = _is(b, e.inputs[0], "exp")
    s = _sum_through_bcast(b, e.inputs[1])
    den = _is(b, s.inputs[0], "exp") if s is not None else None
    if num is None or den is None or num.inputs[0] is not den.inputs[0]:
        return None
    x, axes = num.inputs[0], tuple(s.params["axes"])
    if _already_shifted(b, x, axes):
        return None
    m = _shifted_max(b, x, axes)
    ex = b.add("exp", b.add("sub", x, _bcast_back(b, m, x, axes)))
    total = b.add("reduce_sum", ex, axes=axes)
    return [b.add("div", ex, _bcast_back(b, total, x, axes))]


@register("stabilize", "rewrite overflow-prone patterns (logsumexp, log1p, expm1, softplus, "
                       "log-sigmoid, log-softmax, softmax) into stable forms")
def stabilize(graph: Graph) -> Graph:
    return rewrite_fixpoint(graph, RULES)
