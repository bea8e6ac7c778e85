"""Cost estimates for ``.stats``: floating-point operations and the peak bytes of intermediates."""
from __future__ import annotations

from tracegrad.ir import Graph, Var

# Primitives whose evaluation is pure data movement (no arithmetic).
_NO_FLOPS = {"broadcast_in_dim", "reshape", "transpose", "slice", "pad", "concatenate", "rev",
             "gather", "constant", "iota", "convert", "stop_gradient"}


def eqn_flops(e) -> int:
    name = e.prim.name
    if name == "fused":
        return flops(e.params["body"])
    if name in _NO_FLOPS:
        return 0
    if name == "dot_general":
        (lc, _), _ = e.params["dimension_numbers"]
        a = e.inputs[0].aval
        k = 1
        for i in lc:
            k *= a.shape[i]
        return 2 * k * e.outputs[0].aval.size
    if e.prim.kind == "reduction" or name == "scatter_add":
        return max(a.aval.size for a in e.inputs)
    return sum(o.aval.size for o in e.outputs)


def flops(graph: Graph) -> int:
    return sum(eqn_flops(e) for e in graph.eqns)


def kernel_count(graph: Graph) -> int:
    """Loops a call runs: every top-level equation except constants and pure views."""
    views = {"reshape", "transpose", "slice", "broadcast_in_dim", "rev", "stop_gradient",
             "constant"}
    return sum(1 for e in graph.eqns if e.prim.name not in views)


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
