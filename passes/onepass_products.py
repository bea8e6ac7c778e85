"""``A.T @ g(A @ X)`` reads ``A`` once: the pattern becomes one kernel (``fused`` named
``onepass<k>``) that the C backend runs as one pass over ``A`` (codegen/c/onepass.py).

Every GLM gradient has the pattern (the gradient of ``sum(f(A @ x))`` is ``A.T @ f'(A @ x)``), and
so has the HVP of one after merge-products stacked ``A @ x`` and ``A @ v`` (W6). Two products
read ``A`` twice from memory (or L3); one pass computes a few rows' dots with the stacked
vectors, applies ``g`` to those few values, and adds the rows times ``g``'s values into the
output while the rows are still in L1.

What matches (before fusion): a product ``P`` of a 2-D ``A`` [R, K], contracted along its
columns, with a small operand ``S`` (``[n, K]`` rows, n <= 8, or one vector), whose result is
read only by row-local elementwise work (slices of one row of ``P``, reshapes of R values,
elementwise ops, broadcasts of scalars; other operands: literals, scalars, R-value vectors),
whose values are read only by that work and by one product ``Q`` of the same ``A`` contracted
along its rows with one of those values. Anything else (a reduction over the rows, a second
reader of an intermediate, another matrix, a graph output among the intermediates) leaves
the products as they were. The kernel's body is the matched equations themselves, so the
interpreter and the NumPy backend compute it as before; the pass is in the C pipeline only.
"""
from __future__ import annotations

from tracegrad.ir import Eqn, Graph, Lit, Var
from tracegrad.prims import broadcast_in_dim_p, dot_general_p, reshape_p, slice_p
from tracegrad.prims.fused import ONEPASS_PREFIX as PREFIX
from tracegrad.prims.fused import fused_p, is_onepass

from .bodies import in_bodies
from .registry import register

MAX_VECTORS = 8
_G_DTYPES = ("float32", "float64", "bool")
MIN_MATRIX_ELEMENTS = 1 << 14   # smaller: the two products as before (nothing to stream)

def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _vector_shape(shape, R: int) -> bool:
    """R values in row order: one axis of length R, the rest of length 1."""
    return _size(shape) == R and sum(1 for d in shape if d != 1) <= 1


def _single_contraction(e: Eqn):
    """``(lc, rc, a, b)`` when ``e`` is a product contracting one axis of each operand and no
    batch axes, else None."""
    if e.prim is not dot_general_p:
        return None
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    if lb or rb or len(lc) != 1:
        return None
    a, b = e.inputs
    return lc, rc, a, b


def first_product(e: Eqn):
    """``(A, S, n)`` when ``e`` is ``A`` [R, K] contracted along its columns with ``S``'s rows
    (``S`` [n, K] contracted on axis 1 as the lhs, or a single vector [K] / [K, 1] / [1, K])."""
    got = _single_contraction(e)
    if got is None:
        return None
    lc, rc, a, b = got
    if not (isinstance(a, Var) and isinstance(b, Var)) or a is b:
        return None
    dt = e.outputs[0].aval.dtype
    if str(dt) not in ("float32", "float64") or a.aval.dtype != dt or b.aval.dtype != dt:
        return None
    for A, S, ac, sc, s_lhs in ((b, a, rc[0], lc[0], True), (a, b, lc[0], rc[0], False)):
        if A.aval.ndim != 2 or ac != 1:
            continue
        R, K = A.aval.shape
        if R * K < MIN_MATRIX_ELEMENTS or R < 2:
            continue
        if S.aval.ndim == 2 and s_lhs and sc == 1 and 2 <= S.aval.shape[0] <= MAX_VECTORS:
            return A, S, S.aval.shape[0]      # [n, K] . A[R, K] -> [n, R]
        if _size(S.aval.shape) == K and _vector_shape(S.aval.shape, K):
            return A, S, 1                    # one vector: the result is R values
    return None


def second_product(e: Eqn, A: Var, vals: dict):
    """The value ``t`` (R values) when ``e`` is ``A`` contracted along its rows with ``t``."""
    got = _single_contraction(e)
    if got is None:
        return None
    lc, rc, a, b = got
    R = A.aval.shape[0]
    for M, t, mc, tc in ((a, b, lc[0], rc[0]), (b, a, rc[0], lc[0])):
        if M is A and t is not A and isinstance(t, Var) and id(t) in vals and mc == 0 \
                and _vector_shape(t.aval.shape, R) and t.aval.shape[tc] == R:
            return t
    return None


def _region_op(e: Eqn, vals: dict, n: int, R: int) -> bool:
    """Whether ``e`` (reading a value of the region) computes R row-local values."""
    outs = e.outputs
    if len(outs) != 1 or not _vector_shape(outs[0].aval.shape, R):
        return False
    ins = [a for a in e.inputs if isinstance(a, Var) and id(a) in vals]
    if e.prim is slice_p:   # row q of the stacked product [n, R]
        src = e.inputs[0]
        return vals.get(id(src)) == "P" and n > 1 and \
            tuple(e.params["strides"] or (1, 1)) == (1, 1) and \
            e.params["start_indices"][1] == 0 and e.params["limit_indices"][1] == R and \
            e.params["limit_indices"][0] - e.params["start_indices"][0] == 1
    if any(vals.get(id(a)) == "P" for a in ins):   # the product itself: only a reshape of one
        return e.prim is reshape_p and n == 1
    if e.prim is reshape_p:
        return True
    if e.prim is broadcast_in_dim_p:
        return False   # of a region value: not row-local in general (scalars come as externals)
    if e.prim.kind != "elementwise" or e.prim.multiple_results:
        return False
    if any(str(v.aval.dtype) not in _G_DTYPES for v in (*e.inputs, *e.outputs)):
        return False   # integer work in g: its C lowering may need domain flags (pow)
    for a in e.inputs:
        if isinstance(a, Lit) or id(a) in vals:
            continue
        if a.aval.shape != () and not _vector_shape(a.aval.shape, R):
            return False
    return True


def _external_ok(a, R: int) -> bool:
    """An operand from outside the region: a scalar or R values in row order."""
    return a.aval.shape == () or _vector_shape(a.aval.shape, R)


def _match(graph: Graph, pos: int, uses: dict, outs: set):
    e = graph.eqns[pos]
    m = first_product(e)
    if m is None:
        return None
    A, S, n = m
    R = A.aval.shape[0]
    vals = {id(e.outputs[0]): "P"}
    region = []
    q = None
    for p2 in range(pos + 1, len(graph.eqns)):
        f = graph.eqns[p2]
        if not any(isinstance(a, Var) and id(a) in vals for a in f.inputs):
            continue
        t = second_product(f, A, vals)
        if t is not None:
            q = (p2, t)
            break
        if not _region_op(f, vals, n, R):
            return None
        region.append(p2)
        vals[id(f.outputs[0])] = "g"
    if q is None:
        return None
    members = {pos, *region, q[0]}
    for v in vals:   # every intermediate read only inside: no second reader, no output
        if v in outs or not uses.get(v, set()) <= members:
            return None
    if sum(1 for a in graph.eqns[q[0]].inputs if isinstance(a, Var) and id(a) in vals) != 1:
        return None
    for p2 in region:
        for a in graph.eqns[p2].inputs:
            if isinstance(a, Var) and id(a) not in vals and not _external_ok(a, R):
                return None
    return A, S, region, q[0]


def _build(graph: Graph, pos: int, match, k: int) -> Eqn:
    A, S, region, qpos = match
    inner: dict = {}
    inputs: list = []

    def inner_of(a):
        if isinstance(a, Lit):
            return a
        if id(a) not in inner:
            inner[id(a)] = Var(a.aval)
            inputs.append(a)
        return inner[id(a)]

    inner_of(A)
    inner_of(S)
    body_eqns = []
    for p in (pos, *region, qpos):
        f = graph.eqns[p]
        ins = tuple(inner_of(a) for a in f.inputs)
        new_outs = tuple(Var(o.aval) for o in f.outputs)
        body_eqns.append(f.replace(inputs=ins, outputs=new_outs))
        for o, no in zip(f.outputs, new_outs):
            inner[id(o)] = no
    q = graph.eqns[qpos]
    body = Graph(tuple(inner[id(a)] for a in inputs), tuple(body_eqns),
                 (inner[id(q.outputs[0])],))
    return Eqn(fused_p, tuple(inputs), {"body": body, "name": f"{PREFIX}{k}"}, q.outputs,
               q.src)


@register("onepass-products", "A.T @ g(A @ X) with g row-local as one kernel streaming A once "
          "(GLM gradients, the HVP after merge-products)")
@in_bodies
def onepass_products(graph: Graph) -> Graph:
    uses: dict = {}
    for i, f in enumerate(graph.eqns):
        for a in f.inputs:
            if isinstance(a, Var):
                uses.setdefault(id(a), set()).add(i)
    outs = {id(o) for o in graph.outputs if isinstance(o, Var)}
    taken: set = set()
    place: dict = {}
    for pos, e in enumerate(graph.eqns):
        if pos in taken or e.prim is not dot_general_p:
            continue
        m = _match(graph, pos, uses, outs)
        if m is None or taken & {pos, *m[2], m[3]}:
            continue
        taken.update({pos, *m[2], m[3]})
        place[m[3]] = _build(graph, pos, m, len(place) + 1)
    if not place:
        return graph
    eqns = []
    for i, f in enumerate(graph.eqns):
        if i in place:
            eqns.append(place[i])
        elif i not in taken:
            eqns.append(f)
    return Graph(graph.inputs, tuple(eqns), graph.outputs, graph.meta)


__all__ = ["is_onepass", "onepass_products"]
