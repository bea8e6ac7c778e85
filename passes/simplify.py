"""Algebraic simplification: a rule table indexed by primitive, run to a fixed point.

Every rule keeps results bit-for-bit for all inputs, NaN and inf included, unless its docstring
says otherwise. Deliberately absent (they change results for NaN/inf inputs): ``x * 0 -> 0``,
``x - x -> 0``, ``x / x -> 1``, ``0 / x -> 0``. Rules that look through a producer rely on the
IR's strict typing (elementwise operands of one shape and dtype, as ir.verify checks) and on the
engine's check that a replacement keeps the output's shape and dtype; a rule relating a
reduction to a broadcast must prove the axes line up with passes/match.py. Each rule has a
firing case and near-misses in tests/rule_cases.py.
"""
from __future__ import annotations

from tracegrad import dtypes
from tracegrad.identity import same_value
from tracegrad.ir import Graph, Lit, Var
from tracegrad.primitive import PRIMITIVES
from tracegrad.prims import ELEMENTWISE  # noqa: F401  (registers every declaration)

from .bodies import in_bodies
from .registry import register
from .rewrite import Rule, rewrite_fixpoint

RULES: dict[str, list[Rule]] = {}


def rule(*prims: str, doc: str):
    def deco(fn):
        for p in prims:
            RULES.setdefault(p, []).append(Rule(fn, doc))
        return fn
    return deco


def is_lit(a, value=None) -> bool:
    """``a`` is a literal (equal to ``value`` by identity: ``-0.0`` is not ``0``, see
    tracegrad/identity.py; ``x - -0.0`` is not ``x`` for ``x = -0.0``)."""
    if not isinstance(a, Lit) or value is None:
        return isinstance(a, Lit)
    v = type(a.value)(value)  # the literal's own type: is_lit(int 0, 0.5) must be False
    return v == value and same_value(a.value, v)


def _same_type(a, out) -> bool:
    return isinstance(a, Var) and a.aval == out.aval


# --- arithmetic identities -------------------------------------------------------------------
@rule("mul", doc="x * 1 -> x")
def _mul_one(e, b):
    x, y = e.inputs
    for u, v in ((x, y), (y, x)):
        if is_lit(v, 1) and _same_type(u, e.outputs[0]) and _real_out(e):
            return [u]


@rule("mul", doc="x * -1 -> neg x")
def _mul_minus_one(e, b):
    x, y = e.inputs
    for u, v in ((x, y), (y, x)):
        if is_lit(v, -1) and _same_type(u, e.outputs[0]) and _real_out(e):
            return [b.add("neg", u)]


def _zero_for_sum(a, out) -> bool:
    """``a`` is the additive identity of ``out``'s dtype: ``-0.0`` for floats (``x + -0.0`` is
    ``x`` for every x; ``-0.0 + 0.0`` is ``+0.0``, so ``+0.0`` is not), ``-0.0 - 0.0j`` for
    complex (each part on its own), ``0`` for integers."""
    if dtypes.is_complex(out.aval.dtype):
        return is_lit(a, complex(-0.0, -0.0))
    return is_lit(a, -0.0) if dtypes.is_float(out.aval.dtype) else is_lit(a, 0)


def _real_out(e) -> bool:
    """Multiplicative identities hold bit for bit on reals only: ``z * (1+0j)`` computes
    ``re*0 + im``, which turns an imaginary ``-0.0`` into ``+0.0`` (so do ``/ 1`` and ``** 1``)."""
    return not dtypes.is_complex(e.outputs[0].aval.dtype)


@rule("add", doc="x + (-0.0) -> x (floats; x + 0 for ints: -0.0 + 0.0 is +0.0, so not +0.0)")
def _add_zero(e, b):
    x, y = e.inputs
    for u, v in ((x, y), (y, x)):
        if _zero_for_sum(v, e.outputs[0]) and _same_type(u, e.outputs[0]):
            return [u]


@rule("sub", doc="x - 0 -> x")
def _sub_zero(e, b):
    x, y = e.inputs
    if is_lit(y, 0) and _same_type(x, e.outputs[0]):
        return [x]


@rule("sub", doc="(-0.0) - x -> neg x (floats; 0 - x for ints: 0.0 - 0.0 is +0.0, neg -0.0)")
def _zero_sub(e, b):
    x, y = e.inputs
    if _zero_for_sum(x, e.outputs[0]) and _same_type(y, e.outputs[0]):
        return [b.add("neg", y)]


@rule("div", doc="x / 1 -> x")
def _div_one(e, b):
    x, y = e.inputs
    if is_lit(y, 1) and _same_type(x, e.outputs[0]) and _real_out(e):
        return [x]


@rule("neg", doc="neg(neg x) -> x")
def _neg_neg(e, b):
    p = b.producer(e.inputs[0])
    if p is not None and p.prim.name == "neg":
        return [p.inputs[0]] if _same_type(p.inputs[0], e.outputs[0]) else None


@rule("add", doc="x + neg(y) -> x - y")
def _add_neg(e, b):
    x, y = e.inputs
    for u, v in ((x, y), (y, x)):
        p = b.producer(v)
        if p is not None and p.prim.name == "neg":
            return [b.add("sub", u, p.inputs[0])]


@rule("sub", doc="x - neg(y) -> x + y")
def _sub_neg(e, b):
    x, y = e.inputs
    p = b.producer(y)
    if p is not None and p.prim.name == "neg":
        return [b.add("add", x, p.inputs[0])]


@rule("mul", doc="x * (1 / y) -> x / y (one rounding instead of two)")
def _mul_recip(e, b):
    x, y = e.inputs
    for u, v in ((x, y), (y, x)):
        p = b.producer(v)
        if p is not None and p.prim.name == "div" and is_lit(p.inputs[0], 1):
            return [b.add("div", u, p.inputs[1])]


@rule("pow", doc="x ** 1 -> x")
def _pow_one(e, b):
    x, y = e.inputs
    if is_lit(y, 1) and _same_type(x, e.outputs[0]) and _real_out(e):
        return [x]


@rule("pow", doc="x ** 2 -> x * x (exact; NumPy's power rounds the same)")
def _pow_two(e, b):
    # real only: NumPy's complex power special-cases 2 differently from its multiply
    # ((-0+0j)**2 is +0j, (-0+0j)*(-0+0j) is -0j)
    x, y = e.inputs
    if is_lit(y, 2) and isinstance(x, Var) and _real_out(e):
        return [b.add("mul", x, x)]


@rule("pow", doc="x ** 3 -> x * x * x (may differ from pow by one rounding)")
def _pow_three(e, b):
    x, y = e.inputs
    if is_lit(y, 3) and isinstance(x, Var) and dtypes.is_float(x.aval.dtype):
        return [b.add("mul", b.add("mul", x, x), x)]


@rule("pow", doc="x ** 0.5 -> sqrt x (sqrt(-0.0) is -0.0 where pow gives +0.0)")
def _pow_half(e, b):
    x, y = e.inputs
    if is_lit(y, 0.5) and isinstance(x, Var) and dtypes.is_float(x.aval.dtype):
        return [b.add("sqrt", x)]


@rule("pow", doc="x ** -1 -> 1 / x")
def _pow_minus_one(e, b):
    x, y = e.inputs
    if is_lit(y, -1) and isinstance(x, Var) and dtypes.is_float(x.aval.dtype):
        return [b.add("div", b.lit(1.0, x.aval.dtype), x)]


@rule("where", doc="where(c, x, x) -> x")
def _select_same(e, b):
    c, x, y = e.inputs
    if (x is y or (is_lit(x) and is_lit(y) and x.value == y.value)) and \
            not isinstance(x, Lit) and _same_type(x, e.outputs[0]):
        return [x]


@rule("where", doc="where(not c, a, b) -> where(c, b, a)")
def _select_not(e, b):
    c, x, y = e.inputs
    p = b.producer(c)
    if p is not None and p.prim.name == "not":
        return [b.add("where", p.inputs[0], y, x)]


@rule("convert", doc="convert to the same dtype -> x")
def _convert_same(e, b):
    x = e.inputs[0]
    if _same_type(x, e.outputs[0]):
        return [x]


# --- shape chains ----------------------------------------------------------------------------
@rule("reshape", doc="reshape(reshape x) -> reshape x; reshape to the same shape -> x")
def _reshape_chain(e, b):
    x = e.inputs[0]
    if _same_type(x, e.outputs[0]):
        return [x]
    p = b.producer(x)
    if p is not None and p.prim.name == "reshape":
        inner = p.inputs[0]
        if inner.aval.shape == e.outputs[0].aval.shape:
            return [inner]
        return [b.add("reshape", inner, new_sizes=e.params["new_sizes"])]


@rule("transpose", doc="transpose(transpose x) -> one transpose (or x)")
def _transpose_chain(e, b):
    p = b.producer(e.inputs[0])
    if p is not None and p.prim.name == "transpose":
        inner_perm, perm = p.params["permutation"], e.params["permutation"]
        composed = tuple(inner_perm[i] for i in perm)
        if composed == tuple(range(len(composed))):
            return [p.inputs[0]]
        return [b.add("transpose", p.inputs[0], permutation=composed)]


@rule("broadcast_in_dim", doc="broadcast to its own shape -> x")
def _bcast_identity(e, b):
    x = e.inputs[0]
    if _same_type(x, e.outputs[0]) and tuple(e.params["broadcast_dimensions"]) == \
            tuple(range(len(e.params["shape"]))):
        return [x]


@rule("broadcast_in_dim", doc="broadcast(broadcast x) -> one broadcast")
def _bcast_chain(e, b):
    p = b.producer(e.inputs[0])
    if p is not None and p.prim.name == "broadcast_in_dim":
        outer = e.params["broadcast_dimensions"]
        dims = tuple(outer[d] for d in p.params["broadcast_dimensions"])
        return [b.add("broadcast_in_dim", p.inputs[0], shape=tuple(e.params["shape"]),
                      broadcast_dimensions=dims)]


@rule("broadcast_in_dim", doc="broadcast of a literal to shape () -> the literal")
def _bcast_scalar_lit(e, b):
    x = e.inputs[0]
    if isinstance(x, Lit) and e.params["shape"] == ():
        return [x]


def _with_trait(trait: str) -> list[str]:
    """Names of the declared primitives whose ``Traits.<trait>`` is set (rules are looked up by
    the equation's primitive name)."""
    return [name for name, p in PRIMITIVES.items() if getattr(p.traits, trait)]


def _splat(b, a):
    """The literal every element of ``a`` equals when ``a`` is a broadcast of a literal or a
    ``constant`` whose elements are all bit-identical (constant folding and derivative seeds
    leave such arrays, e.g. the ones an HVP's cotangent seed becomes), else None."""
    import numpy as np
    p = b.producer(a)
    if p is None:
        return None
    if p.prim.name == "broadcast_in_dim" and isinstance(p.inputs[0], Lit):
        return p.inputs[0]
    if p.prim.name == "constant":
        v = np.asarray(p.params["value"])
        if v.size == 0 or v.dtype.kind not in "biuf":
            return None
        first = v.reshape(-1)[:1]
        # bit patterns, not ==: a constant mixing 0.0 and -0.0 (or NaN payloads) is no splat
        if not np.array_equal(v.reshape(-1).view(np.uint8).reshape(v.size, -1),
                              np.broadcast_to(first.view(np.uint8), (v.size, v.itemsize))):
            return None
        return b.lit(first[0].item(), a.aval.dtype)
    return None


def _scalar_operand_rule(e, b):
    """An elementwise operand that is a broadcast of a literal (or a constant with one value
    throughout) is replaced by the literal: scalar literals are the one operand elementwise
    primitives broadcast (DESIGN.md 3)."""
    new, changed = [], False
    for a in e.inputs:
        lit = _splat(b, a)
        if lit is not None:
            new.append(lit)
            changed = True
        else:
            new.append(a)
    if not changed:
        return None
    if all(a.aval.shape == () for a in new) and e.outputs[0].aval.shape != ():
        return None  # at least one operand must keep the output's shape
    if e.prim.name == "where" and new[0].aval.shape == () and \
            all(a.aval.shape == () for a in new[1:]):
        return None
    return [b.add(e.prim.name, *new, **e.params)]


for _p in _with_trait("scalar_operand"):
    RULES.setdefault(_p, []).append(Rule(_scalar_operand_rule,
                                         "elementwise op of broadcast(literal) -> op of literal"))


@rule("dot_general", doc="dot_general with a rank-0 operand -> mul (a scaling)")
def _dot_scalar(e, b):
    x, y = e.inputs
    for s, other in ((x, y), (y, x)):
        if s.aval.shape == () and isinstance(other, Var) and other.aval == e.outputs[0].aval:
            if isinstance(s, Lit):
                return [b.add("mul", other, s)]
            return [b.add("mul", other, b.add("broadcast_in_dim", s, shape=other.aval.shape,
                                              broadcast_dimensions=()))]


_TRANSPOSED_OPERAND = ("dot_general(transpose(x), y) -> dot_general(x, y) (the transpose folds "
                       "into the contracted axes: a BLAS flag instead of a copy)")


@rule("dot_general", doc=_TRANSPOSED_OPERAND)
def _dot_of_transpose(e, b):
    """An operand that is a transpose of ``x`` is ``x`` read along permuted axes: the product
    can contract ``x``'s own axes, when the output keeps its order (the batch axes stay in
    front, the free axes keep their relative order). ``X @ A.T`` otherwise copied A
    transposed (a 1000x1000 float32 copy on C: 0.6 ms, where the product takes 0.05)."""
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    for side in (0, 1):
        p = b.producer(e.inputs[side])
        if p is None or p.prim.name != "transpose":
            continue
        perm = tuple(p.params["permutation"])
        con, bat = (lc, lb) if side == 0 else (rc, rb)
        free = [d for d in range(len(perm)) if d not in con and d not in bat]
        moved_free = [perm[d] for d in free]
        if [perm[d] for d in bat] != list(range(len(bat))) or moved_free != sorted(moved_free):
            continue
        new_con = tuple(perm[d] for d in con)
        dims = ((new_con, tuple(rc)), (tuple(lb), tuple(rb))) if side == 0 else \
            ((tuple(lc), new_con), (tuple(lb), tuple(rb)))
        ins = [e.inputs[0], e.inputs[1]]
        ins[side] = p.inputs[0]
        return [b.add("dot_general", *ins, **dict(e.params, dimension_numbers=dims))]
    return None


@rule("reduce_sum", doc="sum of broadcast(scalar) over all axes -> scalar * count")
def _sum_of_bcast(e, b):
    p = b.producer(e.inputs[0])
    if p is None or p.prim.name != "broadcast_in_dim" or p.inputs[0].aval.shape != ():
        return None
    if e.outputs[0].aval.shape != ():
        return None
    x = p.inputs[0]
    n = e.inputs[0].aval.size
    if not dtypes.is_float(x.aval.dtype) and not dtypes.is_int(x.aval.dtype):
        return None
    # the count and the product in x's dtype: integers wrap as the sum of n copies does
    # (a Python product could leave the dtype's range: not a valid literal, not the sum)
    import numpy as np
    dt = x.aval.dtype
    with np.errstate(all="ignore"):
        count = np.asarray(n).astype(dt)
        if isinstance(x, Lit):
            return [b.lit((np.asarray(x.value, dt) * count).item(), dt)]
    return [b.add("mul", x, b.lit(count.item(), dt))]


@register("simplify", "algebraic identities and shape-chain folding (rule table, fixed point)")
@in_bodies
def simplify(graph: Graph) -> Graph:
    return rewrite_fixpoint(graph, RULES)


def _literal_value(b, a):
    """The literal behind ``a`` (itself, or a broadcast of it), else None."""
    if isinstance(a, Lit):
        return a
    p = b.producer(a)
    if p is not None and p.prim.name == "broadcast_in_dim" and isinstance(p.inputs[0], Lit):
        return p.inputs[0]
    return None


def _fold_literal_elementwise(e, b):
    """Elementwise op whose operands are all literals (or broadcasts of them): compute the
    scalar once and broadcast it (exact: the same primitive evaluates it)."""
    import numpy as np
    lits = [_literal_value(b, a) for a in e.inputs]
    if any(v is None for v in lits) or e.prim.multiple_results:
        return None
    with np.errstate(all="ignore"):
        val = e.prim.impl(*[np.asarray(v.value, v.aval.dtype) for v in lits], **e.params)
    out = e.outputs[0]
    lit = b.lit(np.asarray(val, out.aval.dtype).item(), out.aval.dtype)
    if out.aval.shape == ():
        return [lit]
    return [b.add("broadcast_in_dim", lit, shape=out.aval.shape, broadcast_dimensions=())]


for _p in _with_trait("literal_fold"):
    RULES.setdefault(_p, []).insert(0, Rule(_fold_literal_elementwise,
                                            "elementwise op of literals -> broadcast literal"))


@rule("where", doc="where(True, a, b) -> a; where(False, a, b) -> b")
def _select_const(e, b):
    c = _literal_value(b, e.inputs[0])
    if c is None:
        return None
    pick = e.inputs[1] if c.value else e.inputs[2]
    if isinstance(pick, Lit):
        return [b.add("broadcast_in_dim", pick, shape=e.outputs[0].aval.shape,
                      broadcast_dimensions=())] if e.outputs[0].aval.shape else [pick]
    return [pick] if pick.aval == e.outputs[0].aval else None


@rule("transpose", doc="transpose(dot_general(x, y)) swapping the free axes -> dot_general(y, x) "
      "(the BLAS may sum in another order)")
def _transpose_of_dot(e, b):
    """dot_general's output is (batch, lhs free, rhs free); a transpose that keeps the batch axes
    and swaps the two free blocks (each in order) is the product with its operands swapped, so
    the transpose folds into the contraction's dimension numbers (a gemm/gemv transpose flag)
    instead of a copy. Only when the transpose is the product's one reader (the graph keeps
    one product either way)."""
    p = b.producer(e.inputs[0])
    if p is None or p.prim.name != "dot_general" or b.uses(e.inputs[0]) != 1:
        return None
    (lc, rc), (lb, rb) = p.params["dimension_numbers"]
    x, y = p.inputs
    nb = len(lb)
    nlf = len(x.aval.shape) - len(lc) - nb
    nrf = len(y.aval.shape) - len(rc) - nb
    want = tuple(range(nb)) + tuple(range(nb + nlf, nb + nlf + nrf)) + tuple(range(nb, nb + nlf))
    if tuple(e.params["permutation"]) != want or nlf == 0 or nrf == 0:
        return None
    params = dict(p.params, dimension_numbers=((tuple(rc), tuple(lc)), (tuple(rb), tuple(lb))))
    return [b.add("dot_general", y, x, **params)]
