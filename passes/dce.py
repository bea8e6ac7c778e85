"""Dead-code elimination: drop equations none of whose outputs reach a graph output. A loop or
branch equation keeps only its used outputs and what they need, inside its bodies too
(passes/loop_dce.py); one with no used output is dropped like any pure equation."""
from __future__ import annotations

from tracegrad.ir import Graph, Var

from .loop_dce import prune
from .registry import register


@register("dce", "drop equations whose outputs are never used (unused loop outputs, carries "
                 "and constants too)")
def dce(graph: Graph) -> Graph:
    live = {id(a) for a in graph.outputs if isinstance(a, Var)}
    kept = []
    changed = False
    for e in reversed(graph.eqns):
        if e.prim.kind == "control":
            used = {i for i, o in enumerate(e.outputs) if id(o) in live}
            new = prune(e, used, dce)
            changed |= new is not e
            if new is None:
                continue
            e = new
        elif not any(id(o) in live for o in e.outputs):
            changed = True
            continue
        kept.append(e)
        for a in e.inputs:
            if isinstance(a, Var):
                live.add(id(a))
    if not changed:
        return graph
    return Graph(graph.inputs, tuple(reversed(kept)), graph.outputs, graph.meta)
