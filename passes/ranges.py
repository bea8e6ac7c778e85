"""Value-range facts about a graph's variables: lower/upper bounds and whether a value may be
inf or NaN (given finite inputs). The reverse-mode pass uses them to mask only the partials
that can be non-finite (0 * inf would otherwise put NaN into a gradient through a `where`
branch not taken); everything else keeps its plain, cheaper product.

The analysis is conservative: an unknown bound is ``None`` and "may be non-finite" is the
default for singular primitives. Overflow of ordinary arithmetic on finite values is not
modelled (it is not what the masks are for).
"""
from __future__ import annotations

import cmath
import math

import numpy as np

from tracegrad import dtypes
from tracegrad.ir import Graph, Lit
from tracegrad.prims import (ELEMENTWISE, broadcast_in_dim_p, constant_p, gather_p, reduce_max_p,
                             reshape_p, scatter_add_p, select_p, stop_gradient_p)

# Each primitive's class (``Traits.range``): ``unit`` outputs lie in [0, 1], ``index`` ones in
# [0, extent - 1]; ``hull`` outputs
# within the bounds of their operands; ``exploding`` ones can overflow unless bounds prove
# otherwise; ``singular`` ones may be non-finite for finite inputs. ``Traits.bounds`` gives a
# fixed output interval (tanh, sigmoid ...). The rest are transferred one primitive at a time.
_E = ELEMENTWISE
_LOGS = (_E["log"], _E["log2"])
_HYPERBOLIC = (_E["sinh"], _E["cosh"])
_MAX_MIN = (_E["max"], _E["min"])
_POSITIVE_DOMAIN = (_E["log"], _E["log2"], _E["sqrt"])  # partial finite only for x > 0
# the (broadcast) maximum of a value stays known through these (where: the guarded branch)
_KEEPS_MAX_OF = (broadcast_in_dim_p, reshape_p, stop_gradient_p, select_p)


class Fact:
    """Bounds of a value (``None``: unknown), whether it may be inf/NaN, and ``max_of``: the id
    of the variable this value is the (broadcast) maximum of, so ``x - max(x) <= 0`` is known."""

    __slots__ = ("lo", "hi", "nonfinite", "max_of", "neg_of", "max_axes", "peak_axes")

    def __init__(self, lo=None, hi=None, nonfinite=False, max_of=None):
        self.lo, self.hi, self.nonfinite, self.max_of = lo, hi, nonfinite, max_of
        self.neg_of = None  # id of the variable this value is the negation of
        self.max_axes = None   # with max_of: the axes the maximum was taken over
        self.peak_axes = None  # every slice along these axes reaches its upper bound hi

    def __repr__(self):
        return f"Fact(lo={self.lo}, hi={self.hi}, nonfinite={self.nonfinite})"


UNKNOWN = Fact()
_COMPLEX_FACT = Fact(None, None, True)


def _add(a, b):
    return None if a is None or b is None else a + b


def analyze(graph: Graph) -> dict[int, Fact]:
    facts: dict[int, Fact] = {}

    def get(a) -> Fact:
        if isinstance(a, Lit):
            if isinstance(a.value, complex):
                return Fact(None, None, not cmath.isfinite(a.value))
            v = float(a.value)
            return Fact(v, v, not math.isfinite(v))
        return facts.get(id(a), UNKNOWN)

    for e in graph.eqns:
        ins = [get(a) for a in e.inputs]
        # complex values (and what is computed from them) have no interval: the traits' bounds
        # are for real arguments (sin of a complex value is unbounded), so assume the worst
        f = _COMPLEX_FACT if any(dtypes.is_complex(v.aval.dtype)
                                 for v in (*e.inputs, *e.outputs)) else _transfer(e, ins)
        for o in e.outputs:
            facts[id(o)] = f
    return facts


def _index_extent(e) -> int:
    """How many positions an ``index``-range primitive counts: iota's counted dimension, or
    the axis argmax/argmin reduce. (Taking [0, 1] for these once let exp(50 * argmax(x)) pass
    as finite, so a where's untaken branch gave a NaN gradient.)"""
    if "dimension" in e.params:
        return int(e.params["shape"][e.params["dimension"]])
    return int(e.inputs[0].aval.shape[e.params["axis"]])


def _transfer(e, ins) -> Fact:
    prim, traits = e.prim, e.prim.traits
    nonfinite = any(f.nonfinite for f in ins)
    if traits.range == "unit":
        return Fact(0.0, 1.0, False)
    if traits.range == "index":  # a position along one axis: iota, argmax, argmin
        return Fact(0.0, float(max(_index_extent(e) - 1, 0)), False)
    if prim is constant_p:
        v = e.params["value"]
        if v.size == 0 or v.dtype.kind == "b":
            return Fact(0.0, 1.0, False)
        vals = v.astype(np.float64)
        fin = bool(np.all(np.isfinite(vals)))
        return Fact(float(vals.min()), float(vals.max()), not fin) if fin else Fact(None, None, True)
    if traits.range == "singular":
        return Fact(None, None, True)
    if traits.range == "hull":
        pool = ins[1:] if prim is select_p else ins
        if prim is gather_p:
            pool = ins[:1]
        if prim is scatter_add_p:
            return Fact(None, None, nonfinite)
        los = [f.lo for f in pool]
        his = [f.hi for f in pool]
        lo = None if None in los else min(los)
        hi = None if None in his else max(his)
        fact = Fact(lo, hi, any(f.nonfinite for f in pool))
        if prim is reduce_max_p:
            fact.max_of = id(e.inputs[0])
            fact.max_axes = tuple(e.params["axes"])
        elif prim in _KEEPS_MAX_OF:
            src = ins[1] if prim is select_p else ins[0]  # where(finite, m, 0): the guarded max
            fact.max_of, fact.max_axes = src.max_of, src.max_axes
        return fact
    name = prim.name  # the rest: one primitive at a time
    if name == "neg":
        (a,) = ins
        f = Fact(None if a.hi is None else -a.hi, None if a.lo is None else -a.lo, nonfinite)
        f.neg_of = id(e.inputs[0])
        return f
    if name == "abs":
        return Fact(0.0, None, nonfinite)
    if name == "add":
        a, b = ins
        return Fact(_add(a.lo, b.lo), _add(a.hi, b.hi), nonfinite)
    if name == "sub":
        a, b = ins
        if b.max_of is not None and b.max_of == id(e.inputs[0]):
            f = Fact(None, 0.0, nonfinite)  # x - max(x) <= 0 (softmax, logsumexp shifts)
            f.peak_axes = b.max_axes  # ... and = 0 at each slice's maximum
            return f
        return Fact(_add(a.lo, None if b.hi is None else -b.hi),
                    _add(a.hi, None if b.lo is None else -b.lo), nonfinite)
    if name == "mul":
        if e.inputs[0] is e.inputs[1]:
            return Fact(0.0, None, nonfinite)  # a square
        neg_of = [getattr(f, "neg_of", None) for f in ins]
        if neg_of[0] == id(e.inputs[1]) or neg_of[1] == id(e.inputs[0]):
            return Fact(None, 0.0, nonfinite)  # -x * x <= 0
        a, b = ins
        if None not in (a.lo, b.lo) and a.lo >= 0 and b.lo >= 0:
            hi = None if None in (a.hi, b.hi) else a.hi * b.hi
            return Fact(a.lo * b.lo, hi, nonfinite)
        for x, c in ((a, b), (b, a)):
            if c.lo is not None and c.lo == c.hi:  # times a constant
                k = c.lo
                lo, hi = (x.lo, x.hi) if k >= 0 else (x.hi, x.lo)
                return Fact(None if lo is None else lo * k, None if hi is None else hi * k,
                            nonfinite)
        return Fact(None, None, nonfinite)
    if name == "div":
        a, b = ins
        safe = b.lo is not None and b.lo > 0
        if safe and b.lo == b.hi and a.lo is not None and a.lo >= 0:
            return Fact(a.lo / b.lo, None if a.hi is None else a.hi / b.lo, nonfinite)
        if safe and a.lo is not None and a.lo >= 0:
            return Fact(0.0, None if a.hi is None else a.hi / b.lo, nonfinite)
        return Fact(None, None, nonfinite or not safe)
    if name == "sqrt":
        (a,) = ins
        ok = a.lo is not None and a.lo >= 0
        return Fact(math.sqrt(a.lo) if ok else 0.0,
                    None if a.hi is None or a.hi < 0 else math.sqrt(a.hi), nonfinite or not ok)
    if prim in _LOGS:
        (a,) = ins
        ok = a.lo is not None and a.lo > 0
        log = math.log if name == "log" else math.log2
        return Fact(log(a.lo) if ok else None,
                    None if a.hi is None or a.hi <= 0 else log(a.hi), nonfinite or not ok)
    if name == "log1p":
        (a,) = ins
        ok = a.lo is not None and a.lo > -1
        return Fact(math.log1p(a.lo) if ok else None,
                    None if a.hi is None or a.hi <= -1 else math.log1p(a.hi), nonfinite or not ok)
    if traits.range == "exploding":
        (a,) = ins
        ok = a.hi is not None and a.hi < 80 and (prim not in _HYPERBOLIC or
                                                  (a.lo is not None and a.lo > -80))
        if name == "exp":
            f = Fact(0.0, math.exp(a.hi) if ok else None, nonfinite or not ok)
            f.peak_axes = a.peak_axes if a.hi == 0.0 else None  # exp(x - max x) peaks at 1
            return f
        return Fact(None, None, nonfinite or not ok)
    if name == "pow":
        a, b = ins
        int_exp = b.lo is not None and b.lo == b.hi and float(b.lo).is_integer() and b.lo >= 0
        ok = int_exp or (a.lo is not None and a.lo > 0)
        return Fact(0.0 if int_exp and b.lo % 2 == 0 else None, None, nonfinite or not ok)
    if traits.bounds is not None:
        return Fact(*traits.bounds, nonfinite)
    if prim in _MAX_MIN:
        a, b = ins
        pick = max if name == "max" else min
        lo = pick(a.lo, b.lo) if None not in (a.lo, b.lo) else (
            (a.lo if a.lo is not None else b.lo) if name == "max" else None)
        hi = pick(a.hi, b.hi) if None not in (a.hi, b.hi) else (
            (a.hi if a.hi is not None else b.hi) if name == "min" else None)
        return Fact(lo, hi, nonfinite)
    if name == "reduce_sum":
        (a,) = ins
        n = max(1, e.inputs[0].aval.size // max(1, e.outputs[0].aval.size))
        if a.peak_axes is not None and a.lo is not None and a.lo >= 0 and \
                set(a.peak_axes) <= set(e.params["axes"]):
            # a sum of non-negative terms one of which is its slice's peak value hi
            return Fact(max(a.hi, 0.0), None if a.hi is None else a.hi * n, nonfinite)
        return Fact(None if a.lo is None else min(a.lo * n, a.lo),
                    None if a.hi is None else max(a.hi * n, a.hi), nonfinite)
    return Fact(None, None, nonfinite)


def partial_may_be_nonfinite(e, i: int, facts: dict[int, Fact]) -> bool:
    """Whether partial derivative ``i`` of elementwise equation ``e`` can be inf or NaN."""
    def get(a):
        if isinstance(a, Lit):
            if isinstance(a.value, complex):
                return Fact(None, None, not cmath.isfinite(a.value))
            v = float(a.value)
            return Fact(v, v, not math.isfinite(v))
        return facts.get(id(a), UNKNOWN)
    ins = [get(a) for a in e.inputs]
    out = facts.get(id(e.outputs[0]), UNKNOWN)
    name = e.prim.name
    if name == "mul":
        return ins[1 - i].nonfinite
    if any(f.nonfinite for f in ins) or out.nonfinite:
        return True
    if name == "div":
        b = ins[1]
        return not (b.lo is not None and b.lo > 0)
    if e.prim in _POSITIVE_DOMAIN:
        return not (ins[0].lo is not None and ins[0].lo > 0)
    if name == "log1p":
        return not (ins[0].lo is not None and ins[0].lo > -1)
    if name == "pow":
        a, b = ins
        if i == 0:
            return not ((a.lo is not None and a.lo > 0) or
                        (b.lo is not None and b.lo == b.hi and b.lo >= 1))
        return not (a.lo is not None and a.lo >= 0)
    if e.prim.traits.range == "exploding":
        return out.nonfinite
    if e.prim.traits.range == "singular":
        return True
    return False
