"""Dead-code elimination: drop equations none of whose outputs reach a graph output."""
from __future__ import annotations

from tracegrad.ir import Graph, Var

from .registry import register


@register("dce", "drop equations whose outputs are never used")
def dce(graph: Graph) -> Graph:
    live = {id(a) for a in graph.outputs if isinstance(a, Var)}
    kept = []
    for e in reversed(graph.eqns):
        if any(id(o) in live for o in e.outputs):
            kept.append(e)
            for a in e.inputs:
                if isinstance(a, Var):
                    live.add(id(a))
    if len(kept) == len(graph.eqns):
        return graph
    return Graph(graph.inputs, tuple(reversed(kept)), graph.outputs, graph.meta)
