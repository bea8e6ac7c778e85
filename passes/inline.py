"""Inline custom-rule calls: replace each custom_vjp_call / custom_jvp_call by the equations of
its forward graph. Runs before code generation (the backends know only built-in primitives);
derivative rules were already expanded by the autodiff pass, so nothing is lost.
"""
from __future__ import annotations

from tracegrad.ir import Eqn, Graph, Lit, Var

CALLS = ("custom_vjp_call", "custom_jvp_call")


def inline_calls(graph: Graph) -> Graph:
    if not any(e.prim.name in CALLS for e in graph.eqns):
        return graph
    subst: dict[int, object] = {}

    def read(a):
        return a if isinstance(a, Lit) else subst.get(id(a), a)

    eqns: list[Eqn] = []
    for e in graph.eqns:
        if e.prim.name not in CALLS:
            eqns.append(e.replace(inputs=tuple(read(a) for a in e.inputs)) if subst else e)
            continue
        body = e.params["fwd"] if e.prim.name == "custom_vjp_call" else e.params["fun"]
        body = inline_calls(body)  # nested custom calls
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
