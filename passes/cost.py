"""Cost estimates for ``.stats``: floating-point operations and the peak bytes of intermediates."""
from __future__ import annotations

from tracegrad.ir import Graph, Var, subgraphs
from tracegrad.prims import (broadcast_in_dim_p, constant_p, conv_p, dot_general_p, fused_p,
                             reshape_p, scatter_add_p)


def eqn_flops(e) -> int:
    if e.prim is fused_p:
        return flops(e.params["body"])
    if e.prim.kind == "control":
        return _loop_flops(e)
    if not e.prim.traits.flops:  # pure data movement
        return 0
    if e.prim is dot_general_p:
        (lc, _), _ = e.params["dimension_numbers"]
        a = e.inputs[0].aval
        k = 1
        for i in lc:
            k *= a.shape[i]
        return 2 * k * e.outputs[0].aval.size
    if e.prim is conv_p:  # each output element is a dot product of Cg * prod(kernel) terms
        k = 1
        for d in e.inputs[1].aval.shape[1:]:
            k *= d
        return 2 * k * e.outputs[0].aval.size
    if e.prim.kind == "reduction" or e.prim is scatter_add_p:
        return max(a.aval.size for a in e.inputs)
    return sum(o.aval.size for o in e.outputs)


def flops(graph: Graph) -> int:
    return sum(eqn_flops(e) for e in graph.eqns)


def _loop_flops(e) -> int:
    """A scan: its steps times one step; a while: ``max_iter`` iterations (condition and body)
    when bounded, else one (the trip count is not known before running); a cond: its most
    expensive branch."""
    p = e.params
    if e.prim.name == "scan":
        return p["length"] * flops(p["body"])
    if e.prim.name == "while":
        trips = p["max_iter"] if p["max_iter"] is not None else 1
        return trips * (flops(p["cond"]) + flops(p["body"])) + flops(p["cond"])
    return max((flops(g) for _, g in subgraphs(p)), default=0)


def kernel_count(graph: Graph) -> int:
    """Loops a call runs: every top-level equation except constants and pure views."""
    return sum(1 for e in graph.eqns if not (e.prim.traits.view or e.prim is constant_p))


def naive_peak_bytes(graph: Graph) -> int:
    """Peak bytes of live intermediates when every equation gets a fresh buffer freed after its
    last use (inputs and outputs excluded): the figure memory planning improves on."""
    last_use: dict[int, int] = {}
    for i, e in enumerate(graph.eqns):
        for a in e.inputs:
            if isinstance(a, Var):
                last_use[id(a)] = i
    outputs = {id(a) for a in graph.outputs if isinstance(a, Var)}
    live = peak = 0
    frees: dict[int, int] = {}
    for i, e in enumerate(graph.eqns):
        for o in e.outputs:
            if id(o) in outputs:
                continue
            live += o.aval.nbytes
            end = last_use.get(id(o), i)
            frees[end] = frees.get(end, 0) + o.aval.nbytes
        peak = max(peak, live)
        live -= frees.pop(i, 0)
    return peak


# Per-element cost of an operation in units of one load or store from L1 (the row kernels'
# recompute-or-buffer choice, passes/fuse_rows.py and codegen/c/row_kernels.py): views 0, else
# the primitive's declared ``Traits.cost``.
STORE_AND_LOAD = 2  # keeping a value in a row buffer: one store in its phase, one load later


def op_weight(e) -> int:
    if e.prim is broadcast_in_dim_p or e.prim is reshape_p:
        return 0
    return e.prim.traits.cost
