"""Passes that prepare a differentiated graph for code generation: custom-rule calls are
inlined and ``stop_gradient`` (an identity once differentiation is done) disappears."""
from __future__ import annotations

from tracegrad.ir import Graph

from .inline import inline_calls
from .registry import register
from .rewrite import Rule, rewrite_once

_STRIP = {"stop_gradient": [Rule(lambda e, b: [e.inputs[0]], "stop_gradient(x) -> x")]}


@register("lower", "inline custom-rule calls and drop stop_gradient (after differentiation)")
def lower(graph: Graph) -> Graph:
    graph = inline_calls(graph)
    if any(e.prim.name == "stop_gradient" for e in graph.eqns):
        graph, _ = rewrite_once(graph, _STRIP)
    return graph
