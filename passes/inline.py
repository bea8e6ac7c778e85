"""Inline custom-rule calls: replace each custom_vjp_call / custom_jvp_call by the equations of
its forward graph. Runs before code generation (the backends know only built-in primitives);
derivative rules were already expanded by the autodiff pass, so nothing is lost.
"""
from __future__ import annotations

from tracegrad.ir import Eqn, Graph, Lit, Var

from .bodies import map_bodies

CALLS = ("custom",)  # primitive kinds inlined before code generation


def unfuse(graph: Graph) -> Graph:
    """Expand fused kernels back into their equations (to differentiate an optimised graph)."""
    return inline_calls(graph, ("fused",))


def inline_calls(graph: Graph, calls=CALLS) -> Graph:
    """Replace each equation whose primitive's kind is in ``calls`` by its body graph (the
    parameter named by the primitive's ``Traits.body_param``), in loop bodies and branches too."""
    graph = map_bodies(graph, lambda g: inline_calls(g, calls))
    if not any(e.prim.kind in calls for e in graph.eqns):
        return graph
    subst: dict[int, object] = {}

    def read(a):
        return a if isinstance(a, Lit) else subst.get(id(a), a)

    eqns: list[Eqn] = []
    for e in graph.eqns:
        if e.prim.kind not in calls:
            eqns.append(e.replace(inputs=tuple(read(a) for a in e.inputs)) if subst else e)
            continue
        body = e.params[e.prim.traits.body_param]
        body = inline_calls(body, calls)  # nested calls
        local: dict[int, object] = {id(v): read(a) for v, a in zip(body.inputs, e.inputs)}

        def lread(a):
            return a if isinstance(a, Lit) else local[id(a)]
        for be in body.eqns:
            outs = tuple(Var(o.aval) for o in be.outputs)
            eqns.append(Eqn(be.prim, tuple(lread(a) for a in be.inputs), be.params, outs,
                            be.src or e.src))
            for o, n in zip(be.outputs, outs):
                local[id(o)] = n
        for o, r in zip(e.outputs, body.outputs):  # residual outputs of fwd are dropped
            subst[id(o)] = lread(r)
    outputs = tuple(read(a) for a in graph.outputs)
    return Graph(graph.inputs, tuple(eqns), outputs, graph.meta)
