"""Passes that prepare a differentiated graph for code generation: custom-rule calls are
inlined and ``stop_gradient`` (an identity once differentiation is done) disappears."""
from __future__ import annotations

from tracegrad.ir import Graph

from .bodies import in_bodies
from .inline import inline_calls
from .registry import register
from .rewrite import Rule, rewrite_once

_IDENTITY = Rule(lambda e, b: [e.inputs[0]], "ad-only identity (stop_gradient(x)) -> x")


@register("lower", "inline custom-rule calls and drop stop_gradient (after differentiation)")
def lower(graph: Graph) -> Graph:
    # inline everywhere first (loop bodies too), so that a loop that came out of a custom
    # call's graph is visited when the identities are dropped
    return _drop_ad_only(inline_calls(graph))


@in_bodies
def _drop_ad_only(graph: Graph) -> Graph:
    ad_only = {e.prim.name for e in graph.eqns if e.prim.traits.ad_only}
    if ad_only:  # rewrite rules are looked up by the equation's primitive name
        graph, _ = rewrite_once(graph, {n: [_IDENTITY] for n in ad_only})
    return graph
