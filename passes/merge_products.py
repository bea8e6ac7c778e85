"""Products that share a large operand read it once: ``A @ x`` and ``A @ v`` become one product
of ``A`` with the stacked ``[x; v]``, whose rows are the two results.

Forward-over-reverse and jvp programs compute every product twice, once on the primal and once
on the tangent (the HVP of ``sum(f(A @ x))`` has ``A @ x`` and ``A @ v``); so do two layers
reading one input (``X @ W1``, ``X @ W2``). When the shared operand is large, each product is a
pass over it from memory, and one product over the stacked small operands makes one pass.

What merges: ``dot_general`` equations without batch axes whose operand on one side is the same
value contracted over the same axes (the other operands differ), of one inexact dtype, and
independent: no member's small operand depends on another member's result. The merged product
is placed at the last member; equations between the members that read an earlier member's
result move after it (nothing a member needs is among them, so the order stays valid).

The form: each small operand becomes rows ``[n_i, K]`` (its free axes, then its contracted
axes in the shared operand's pairing order), the rows are concatenated, and
``dot_general(rows, shared)`` gives ``[n, shared's free axes]``; member ``i``'s result is a
contiguous row block (a view on both backends), reshaped and transposed back to its own axis
order. Transposes that only move axes of length 1 are written as reshapes (views).

When: the shared operand's bytes exceed the copies merging adds (the stacked rows), so a small
shared operand (``X @ W1`` with a small ``X``) is left alone. The pass is in the C pipeline only:
the C backend multiplies a few stacked rows with one pass over the shared operand
(codegen/c/multi_gemv.py), where NumPy's matmul of a 2-row matrix calls OpenBLAS's sgemm, which
packs the whole shared matrix first (1000x1000 float32: 165 us against 2 x 37 us for two gemv).
"""
from __future__ import annotations

from tracegrad import dtypes
from tracegrad.ir import Eqn, Graph, Var
from tracegrad.prims import concatenate_p, dot_general_p, reshape_p, slice_p, transpose_p

from .bodies import in_bodies
from .registry import register

# A merged group has at most this many stacked rows: beyond it a product of the rows is an
# ordinary matrix product (gemm reads the shared operand once anyway) and stacking only copies.
MAX_ROWS = 8


def _member(e: Eqn):
    """(shared operand, its contracted axes, small operand, small's contracted axes paired in
    the shared's order, shared is lhs) for each side of a batch-free product, as candidates."""
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    if lb or rb or not dtypes.is_inexact(e.outputs[0].aval.dtype):
        return []
    out = []
    for side, (big, small, bc, sc) in enumerate(((e.inputs[0], e.inputs[1], lc, rc),
                                                 (e.inputs[1], e.inputs[0], rc, lc))):
        if not (isinstance(big, Var) and isinstance(small, Var)) or big is small:
            continue
        pairs = sorted(zip(bc, sc))
        out.append(((id(big), tuple(p[0] for p in pairs)), big,
                    tuple(p[1] for p in pairs), small, side == 0))
    return out


def _rows(small: Var, contract: tuple) -> int:
    n = 1
    for d, size in enumerate(small.aval.shape):
        if d not in contract:
            n *= size
    return n


@register("merge-products", "one product over stacked operands for products sharing a large "
          "operand (A @ x and A @ v read A once)")
@in_bodies
def merge_products(graph: Graph) -> Graph:
    # rounds: each merges one group and rebuilds the order; a shared operand is tried once
    tried: set = set()
    while True:
        group = _next_group(graph, tried)
        if group is None:
            return graph
        graph = _merge(graph, *group)


def _next_group(graph: Graph, tried: set):
    cands: dict = {}
    for pos, e in enumerate(graph.eqns):
        if e.prim is dot_general_p:
            for key, big, sc, small, lhs in _member(e):
                cands.setdefault(key, []).append((pos, e, big, sc, small, lhs))
    for key, members in cands.items():
        if key in tried or len(members) < 2:
            continue
        tried.add(key)
        chosen = _independent(graph, members)
        if len(chosen) >= 2:
            return key, chosen
    return None


def _independent(graph: Graph, members: list) -> list:
    """The members, in program order, that may join: at most ``MAX_ROWS`` rows, no member's
    small operand depending on an earlier joiner's result (a forward taint sweep), and worth
    it by bytes (checked on the whole set at the end)."""
    by_pos = {m[0]: m for m in members}
    chosen, taint, rows = [], set(), 0
    for pos in range(members[0][0], len(graph.eqns)):
        e = graph.eqns[pos]
        m = by_pos.get(pos)
        if m is not None and id(m[4]) not in taint and rows + _rows(m[4], m[3]) <= MAX_ROWS:
            chosen.append(m)
            rows += _rows(m[4], m[3])
            taint.update(id(o) for o in e.outputs)
            continue
        if any(isinstance(a, Var) and id(a) in taint for a in e.inputs):
            taint.update(id(o) for o in e.outputs)
    if len(chosen) < 2:
        return []
    big = chosen[0][2]
    # the copies merging adds: the stacked rows, and the results if their blocks need one
    copies = sum(m[4].aval.nbytes + m[1].outputs[0].aval.nbytes for m in chosen)
    return chosen if big.aval.nbytes > copies else []


def _add(eqns: list, prim, inputs, src, **params) -> Var:
    (aval,) = prim.abstract_eval([a.aval for a in inputs], **params)
    v = Var(aval)
    eqns.append(Eqn(prim, tuple(inputs), params, (v,), src))
    return v


def _permute(eqns: list, x: Var, perm: tuple, src) -> Var:
    """``x`` transposed by ``perm``: nothing when it is the identity, a reshape (a view) when
    only axes of length 1 move."""
    if perm == tuple(range(len(perm))):
        return x
    shape = tuple(x.aval.shape[p] for p in perm)
    moved = [p for p in perm if x.aval.shape[p] != 1]
    if moved == sorted(moved):
        return _add(eqns, reshape_p, [x], src, new_sizes=shape)
    return _add(eqns, transpose_p, [x], src, permutation=perm)


def _reshape(eqns: list, x: Var, shape: tuple, src) -> Var:
    if tuple(x.aval.shape) == tuple(shape):
        return x
    return _add(eqns, reshape_p, [x], src, new_sizes=tuple(shape))


def _merge(graph: Graph, key, chosen: list) -> Graph:
    big, bc = chosen[0][2], key[1]
    big_free = [d for d in range(big.aval.ndim) if d not in bc]
    free_shape = tuple(big.aval.shape[d] for d in big_free)
    K = 1
    for d in bc:
        K *= big.aval.shape[d]
    last = chosen[-1][0]
    src = graph.eqns[last].src
    new: list = []
    rows = []
    for _, e, _, sc, small, _ in chosen:  # each small operand as rows [n_i, K]
        sfree = tuple(d for d in range(small.aval.ndim) if d not in sc)
        t = _permute(new, small, sfree + tuple(sc), e.src)
        rows.append(_reshape(new, t, (_rows(small, sc), K), e.src))
    stacked = _add(new, concatenate_p, rows, src, dimension=0)
    prod = _add(new, dot_general_p, [stacked, big], src,
                dimension_numbers=(((1,), tuple(bc)), ((), ())))
    subst: dict[int, Var] = {}
    off = 0
    for (_, e, _, sc, small, big_is_lhs), r in zip(chosen, rows):
        n = r.aval.shape[0]
        block = _add(new, slice_p, [prod], e.src, start_indices=(off,) + (0,) * len(free_shape),
                     limit_indices=(off + n,) + free_shape,
                     strides=(1,) * (1 + len(free_shape)))
        off += n
        sfree_shape = tuple(small.aval.shape[d] for d in range(small.aval.ndim) if d not in sc)
        res = _reshape(new, block, sfree_shape + free_shape, e.src)
        if big_is_lhs:  # the member's own order: big's free axes first
            ns, nb = len(sfree_shape), len(free_shape)
            res = _permute(new, res, tuple(range(ns, ns + nb)) + tuple(range(ns)), e.src)
        subst[id(e.outputs[0])] = res
    return _rebuild(graph, {m[0] for m in chosen}, last, new, subst)


def _rebuild(graph: Graph, members: set, last: int, new: list, subst: dict) -> Graph:
    """The equations with the members removed, the merged ones at the last member, and the
    equations between that read a member's result moved after them."""
    first = min(members)
    waiting = {id(o) for p in members for o in graph.eqns[p].outputs}
    eqns, moved = [], []

    def fix(e):
        ins = tuple(subst.get(id(a), a) if isinstance(a, Var) else a for a in e.inputs)
        return e if ins == e.inputs else e.replace(inputs=ins)

    for pos, e in enumerate(graph.eqns):
        if pos in members:
            if pos == last:
                eqns.extend(new)
                eqns.extend(fix(m) for m in moved)
            continue
        if first < pos < last and any(isinstance(a, Var) and id(a) in waiting
                                      for a in e.inputs):
            waiting.update(id(o) for o in e.outputs)
            moved.append(e)
            continue
        eqns.append(fix(e))
    outputs = tuple(subst.get(id(a), a) if isinstance(a, Var) else a for a in graph.outputs)
    return Graph(graph.inputs, tuple(eqns), outputs, graph.meta)


__all__ = ["MAX_ROWS", "merge_products"]
