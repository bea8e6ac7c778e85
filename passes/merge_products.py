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
shared operand (``X @ W1`` with a small ``X``) is left alone, and it has at least
``MIN_SHARED_ELEMENTS`` (codegen/c/multi_gemv.py's threshold: a smaller matrix stays in L1 for
both products, and its merged product would be a gemm call packing it, where each alone is a
gemv). The pass is in the C pipeline only:
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
# smaller shared operands are left alone: codegen/c/multi_gemv.MIN_MATRIX_ELEMENTS, the size
# from which C multiplies stacked rows in one pass (tests/test_merge_products.py checks both)
MIN_SHARED_ELEMENTS = 1 << 14


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
    # rounds: each merges every group of one shared operand in one rebuild (one product fewer at
    # least, so they end); a shared operand whose products cannot merge is not tried again.
    # Merged products with room for more rows may join others in a later round.
    tried: set = set()
    while True:
        found = _next_groups(graph, tried)
        if found is None:
            return graph
        graph = _merge(graph, *found)


def _next_groups(graph: Graph, tried: set):
    cands: dict = {}
    for pos, e in enumerate(graph.eqns):
        if e.prim is dot_general_p:
            for key, big, sc, small, lhs in _member(e):
                cands.setdefault(key, []).append((pos, e, big, sc, small, lhs))
    for key, members in cands.items():
        if key in tried or len(members) < 2:
            continue
        groups = _groups(graph, members)
        if groups:
            return key, groups
        tried.add(key)
    return None


def _groups(graph: Graph, members: list) -> list:
    """The members in program order, cut into groups that may merge: one sweep, a group closed
    when the next member depends on one of its results (a forward taint from the group's
    members) or would take it past ``MAX_ROWS``; that member opens the next group. The groups
    are disjoint intervals of the program, so one rebuild merges them all (linear in the
    program: an unrolled recurrence's ``U @ x_t`` merge eight at a time, its ``W @ h`` chain
    stays). A group is kept when it has two members and the shared operand's bytes exceed the
    copies merging adds."""
    members = [m for m in members if _rows(m[4], m[3]) < MAX_ROWS]  # room for another
    if len(members) < 2:
        return []
    by_pos = {m[0]: m for m in members}
    groups: list = []
    cur: list = []
    taint: set = set()
    rows = 0
    for pos in range(members[0][0], members[-1][0] + 1):
        e = graph.eqns[pos]
        m = by_pos.get(pos)
        if m is not None:
            n = _rows(m[4], m[3])
            if id(m[4]) in taint or rows + n > MAX_ROWS:
                _close(cur, groups)
                cur, taint, rows = [], set(), 0
            cur.append(m)
            rows += n
            taint.update(id(o) for o in e.outputs)
        elif cur and any(isinstance(a, Var) and id(a) in taint for a in e.inputs):
            taint.update(id(o) for o in e.outputs)
    _close(cur, groups)
    return groups


def _close(group: list, groups: list) -> None:
    if len(group) < 2:
        return
    # the copies merging adds: the stacked rows, and the results if their blocks need one
    copies = sum(m[4].aval.nbytes + m[1].outputs[0].aval.nbytes for m in group)
    shared = group[0][2].aval
    if shared.nbytes > copies and shared.size >= MIN_SHARED_ELEMENTS:
        groups.append(group)


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


def _merge(graph: Graph, key, groups: list) -> Graph:
    built, subst = [], {}
    for chosen in groups:
        new, sub = _merge_group(graph, key, chosen)
        built.append(({m[0] for m in chosen}, chosen[0][0], chosen[-1][0], new))
        subst.update(sub)
    return _rebuild(graph, built, subst)


def _merge_group(graph: Graph, key, chosen: list):
    """The equations computing ``chosen``'s products as one, and their results' substitutes."""
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
    return new, subst


def _rebuild(graph: Graph, built: list, subst: dict) -> Graph:
    """The equations with each group's members removed, its merged equations at its last
    member, and the equations between its members that read one of its results moved after
    them (groups are disjoint intervals, in program order)."""
    eqns: list = []
    moved: list = []
    waiting: set = set()
    gi = 0

    def fix(e):
        ins = tuple(subst.get(id(a), a) if isinstance(a, Var) else a for a in e.inputs)
        return e if ins == e.inputs else e.replace(inputs=ins)

    for pos, e in enumerate(graph.eqns):
        group = built[gi] if gi < len(built) else None
        if group is not None and pos == group[1]:
            waiting = {id(o) for p in group[0] for o in graph.eqns[p].outputs}
        if group is not None and pos in group[0]:
            if pos == group[2]:
                eqns.extend(group[3])
                eqns.extend(fix(m) for m in moved)
                moved, waiting = [], set()
                gi += 1
            continue
        if group is not None and group[1] < pos < group[2] and \
                any(isinstance(a, Var) and id(a) in waiting for a in e.inputs):
            waiting.update(id(o) for o in e.outputs)
            moved.append(e)
            continue
        eqns.append(fix(e))
    outputs = tuple(subst.get(id(a), a) if isinstance(a, Var) else a for a in graph.outputs)
    return Graph(graph.inputs, tuple(eqns), outputs, graph.meta)


__all__ = ["MAX_ROWS", "merge_products"]
