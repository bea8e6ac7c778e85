"""``fuse-rows``: the kernels of one row space [R, C] that reductions over rows keep apart become
one row kernel, which walks the rows once and keeps each row's intermediates in cache.

After ``fuse-all``, a row-wise softmax/logsumexp or a layernorm is still several kernels: a
reduction over each row (max, sum, mean, variance) ends a kernel, and the next kernel reads the
per-row result broadcast across the row, so ``exp(x - m)`` or ``x - mean`` is written to memory
and read back (W3, W4: 5-10 passes over [R, C] arrays of 8-16 MB). Here every such kernel, with
the reductions, per-row scalar kernels ([R] or [R, 1]) and reshapes between them, joins one
``fused`` equation named ``rows<n>`` whose body is the plain concatenation of the members (so
its meaning, and the interpreter's and NumPy's result, is the members' in order). The C backend
(codegen/c/row_kernels.py) runs it as one loop over rows; per row, one column loop per
reduction level ("phase"), with several reductions of one level in the same loop (the backward
pass's row sums with each other, the forward's sums with its max). A row value needed in a
later phase is recomputed there when that is cheaper than a store and a load (``recompute``
below, from the operations' weights), else kept in a row buffer of C elements (L1/L2): the
[R, C] intermediate is never materialised either way.

Joined: equations whose every operand and result has a shape of the row space ([R, C], [R],
[R, 1], [C], [1, C], []) and that are elementwise over [R, C] or [R]/[R, 1], row reductions
(axis 1; sum, max, min), column sums (axis 0) and full sums of [R, C] or [R] values (summed
across rows per thread, then in thread order), broadcasts into the row space and reshapes
between [R] and [R, 1]. A column or full sum is complete only after every row: its readers stay
outside. Legality: an equation that reads a value computed outside from a member (directly or
not) stays outside and so does everything reading it, so the group never waits on itself.
Square spaces (R == C) are left alone: [R] would not say whether it is per row or per column.
"""
from __future__ import annotations

from tracegrad.ir import Eqn, Graph, Lit, Var
from tracegrad.prims import (broadcast_in_dim_p, fused_p, reduce_max_p, reduce_min_p,  # noqa: F401
                             reduce_sum_p, reshape_p)
from tracegrad.prims.fused import ROW_PREFIX, is_row_kernel

from .cost import STORE_AND_LOAD, op_weight  # noqa: F401  (the row kernels' cost model)
from .fuse import _dce, _topological
from .registry import register

MAX_ROW_BYTES = 1 << 16   # a row of one value (the column loop's working set stays in L1/L2)
MIN_ELEMENTS = 1 << 12    # below this the separate kernels cost no memory traffic worth saving
MAX_SPACES = 8
MAX_BODY_EQNS = 200       # equations per row kernel


def _shapes(R, C):
    return {(R, C), (R,), (R, 1), (C,), (1, C), ()}


def _red_ok(e, R, C) -> bool:
    """A reduction the row kernel runs: over each row (sum/max/min), down the columns or over
    everything (sums), or a sum of per-row values."""
    shp, axes, prim = tuple(e.inputs[0].aval.shape), tuple(e.params["axes"]), e.prim
    if shp == (R, C):
        if axes == (1,):
            return prim in (reduce_sum_p, reduce_max_p, reduce_min_p)
        return axes in ((0,), (0, 1)) and prim is reduce_sum_p
    if shp in ((R,), (R, 1)):
        return prim is reduce_sum_p and axes == tuple(range(len(shp)))
    return False


def _eqn_ok(e, R, C, top: bool) -> bool:
    shapes = _shapes(R, C)
    for a in list(e.inputs) + list(e.outputs):
        if tuple(a.aval.shape) not in shapes:
            return False
    out = tuple(e.outputs[0].aval.shape)
    if e.prim.traits.reduction:
        return _red_ok(e, R, C)
    if e.prim is broadcast_in_dim_p:
        src = tuple(e.inputs[0].aval.shape)
        if out == (R, C) or (out in ((R,), (R, 1)) and src in ((R,), (R, 1), ())):
            return True
        return not top and out in ((C,), (1, C)) and src in ((C,), (1, C), ())
    if e.prim is reshape_p:
        return {out, tuple(e.inputs[0].aval.shape)} <= {(R,), (R, 1)}
    if e.prim.kind == "elementwise":
        return out in ((R, C), (R,), (R, 1)) or (not top and out == ())
    if e.prim is fused_p and top:
        return all(_eqn_ok(b, R, C, False) for b in e.params["body"].eqns)
    return False


def _touches_rows(e, R, C) -> bool:
    """Runs a loop over the whole [R, C] space (what joining saves a pass of)."""
    body = e.params["body"].eqns if e.prim is fused_p else [e]
    return any(tuple(a.aval.shape) == (R, C) for b in body for a in list(b.inputs) + list(b.outputs)
               if isinstance(a, Var))


def _acc_outputs(e) -> set:
    """Results complete only after every row (column and full sums): never read in the group."""
    body = e.params["body"].eqns if e.prim is fused_p else [e]
    out = set()
    for b in body:
        if b.prim.traits.reduction and b.params["axes"] and 0 in tuple(b.params["axes"]):
            out.add(id(b.outputs[0]))
    if e.prim is fused_p:  # the body's result -> the kernel's result
        body_out = e.params["body"].outputs
        return {id(o) for o, bo in zip(e.outputs, body_out) if id(bo) in out}
    return out


@register("fuse-rows", "join the kernels of one row space separated by row reductions into one "
          "row kernel (C pipelines): per-row results feed the rest of the row from cache")
def fuse_rows(graph: Graph) -> Graph:
    from .bodies import in_bodies
    return in_bodies(_fuse_rows)(graph)


def _spaces(graph: Graph):
    """Candidate row spaces: the 2-D shapes row reductions run over, largest first."""
    seen = {}
    for e in graph.eqns:
        for b in (e.params["body"].eqns if e.prim is fused_p else [e]):
            if b.prim.traits.reduction and tuple(b.params["axes"]) == (1,):
                s = tuple(b.inputs[0].aval.shape)
                if len(s) == 2 and s[0] != s[1] and min(s) >= 2 and s[0] * s[1] >= MIN_ELEMENTS \
                        and s[1] * b.inputs[0].aval.dtype.itemsize <= MAX_ROW_BYTES:
                    seen[s] = True
    # each space is one linear sweep of the program: the largest MAX_SPACES keep it linear
    return sorted(seen, key=lambda s: -s[0] * s[1])[:MAX_SPACES]


def _fuse_rows(graph: Graph) -> Graph:
    # in_bodies also reaches fusion's own kernel bodies (no fused equation inside): not those
    if not any(e.prim is fused_p for e in graph.eqns):
        return graph
    n = 0
    for R, C in _spaces(graph):
        graph, made = _fuse_space(graph, R, C, n)
        n += made
    return graph


def _body_size(e) -> int:
    return len(e.params["body"].eqns) if e.prim is fused_p else 1


def _fuse_space(graph: Graph, R: int, C: int, n: int):
    """One sweep in program order; a group closes at MAX_BODY_EQNS (the C compiler's time
    grows faster than a function's size) and the next one starts. A group runs after every
    equation of earlier groups, so it may read their results, sums included."""
    eqns = graph.eqns
    groups: list[list[int]] = []
    members: list[int] = []
    size = 0
    member_out: set[int] = set()   # ids of values the open group computes
    acc_out: set[int] = set()      # ... of which complete only after all rows
    tainted: set[int] = set()      # values computed outside that read a member's value
    for i, e in enumerate(eqns):
        if members and size + _body_size(e) > MAX_BODY_EQNS and _eqn_ok(e, R, C, True):
            groups.append(members)
            members, size, member_out, acc_out, tainted = [], 0, set(), set(), set()
        ins = [id(a) for a in e.inputs if isinstance(a, Var)]
        reads_group = any(a in member_out for a in ins)
        blocked = any(a in tainted or a in acc_out for a in ins)
        if not blocked and e.prim.name != "constant" and not is_row_kernel(e) and \
                _body_size(e) <= MAX_BODY_EQNS and _eqn_ok(e, R, C, True):
            members.append(i)
            size += _body_size(e)
            member_out.update(id(o) for o in e.outputs)
            acc_out |= _acc_outputs(e)
        elif reads_group or blocked:
            tainted.update(id(o) for o in e.outputs)
    groups.append(members)
    groups = [g for g in groups if sum(1 for i in g if _touches_rows(eqns[i], R, C)) >= 2]
    if not groups:
        return graph, 0
    at_last = {}
    graph_outs = frozenset(id(a) for a in graph.outputs if isinstance(a, Var))
    readers: dict[int, list[int]] = {}
    for i, e in enumerate(eqns):
        for a in e.inputs:
            if isinstance(a, Var):
                readers.setdefault(id(a), []).append(i)
    for k, g in enumerate(groups):
        at_last[g[-1]] = _build(graph, g, f"{ROW_PREFIX}{n + k + 1}", (graph_outs, readers))
    joined = {i for g in groups for i in g}
    new = [at_last[i] if i in at_last else e for i, e in enumerate(eqns)
           if i in at_last or i not in joined]
    # a kernel stands at its last member; _topological moves readers placed before it after
    return _dce(Graph(graph.inputs, tuple(_topological(new)), graph.outputs, graph.meta)), \
        len(groups)


def _build(graph: Graph, members: list[int], name: str, outputs: tuple) -> Eqn:
    """One ``fused`` equation: the members' equations (fused bodies inlined) over fresh
    variables, the values read from outside as inputs, those read outside as outputs."""
    eqns = graph.eqns
    member_set = set(members)
    graph_outs, readers = outputs

    last = members[-1]

    def used_outside(o) -> bool:  # by a graph output or an equation outside the group
        rs = readers.get(id(o), ())  # in program order: a reader after the group decides fast
        return id(o) in graph_outs or (rs and rs[-1] > last) or \
            any(r not in member_set for r in rs)
    inner: dict[int, Var] = {}
    inputs, body_in, body_eqns, outs, body_outs = [], [], [], [], []

    def get(a):
        if isinstance(a, Lit):
            return a
        if id(a) not in inner:
            v = Var(a.aval)
            inner[id(a)] = v
            inputs.append(a)
            body_in.append(v)
        return inner[id(a)]

    for i in members:
        e = eqns[i]
        if e.prim is fused_p:
            b = e.params["body"]
            local = {id(bv): get(a) for bv, a in zip(b.inputs, e.inputs)}
            for be in b.eqns:
                ins = tuple(a if isinstance(a, Lit) else local[id(a)] for a in be.inputs)
                new_outs = tuple(Var(o.aval) for o in be.outputs)
                body_eqns.append(be.replace(inputs=ins, outputs=new_outs))
                local.update({id(o): no for o, no in zip(be.outputs, new_outs)})
            for o, bo in zip(e.outputs, b.outputs):
                inner[id(o)] = bo if isinstance(bo, Lit) else local[id(bo)]
        else:
            ins = tuple(get(a) for a in e.inputs)
            new_outs = tuple(Var(o.aval) for o in e.outputs)
            body_eqns.append(e.replace(inputs=ins, outputs=new_outs))
            inner.update({id(o): no for o, no in zip(e.outputs, new_outs)})
        for o in e.outputs:
            if used_outside(o) and isinstance(inner[id(o)], Var):
                outs.append(o)
                body_outs.append(inner[id(o)])
    body = Graph(tuple(body_in), tuple(body_eqns), tuple(body_outs))
    return Eqn(fused_p, tuple(inputs), {"body": body, "name": name}, tuple(outs),
               eqns[members[-1]].src)
