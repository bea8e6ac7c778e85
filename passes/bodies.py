"""Passes inside loop bodies and branches: the one helper through which every pass that walks
equations reaches the graphs nested in ``scan`` / ``while`` / ``cond`` (DESIGN.md section 10).

``in_bodies(pass_fn)`` makes a ``Graph -> Graph`` pass recursive: it runs on every nested graph
(innermost first), then on the graph itself. Only control primitives (``kind == "control"``)
are entered: a fused kernel's body is fusion's own output and a custom call's graphs are its
rules (the ``lower`` pass inlines those). Unchanged graphs are returned as the same objects and
unchanged equations keep their ``params`` dict (``ir.replace_subgraphs``), so provenance notes
keyed on ``id(params)`` (passes/autodiff.py) survive a pass that changed nothing in a body.
A pass run this way must keep each body's signature (input and output types): ``map_bodies``
checks it. Changing a signature (dropping a carry, adding a constant) is the business of the
loop equation's own pass (passes/loop_dce.py, passes/hoist.py), which rewrites both sides.
``graph_key`` gives a nested graph a structural identity for passes that compare parameters.
"""
from __future__ import annotations

import functools
from typing import Callable

from tracegrad.errors import IRError
from tracegrad.ir import Graph, Lit, replace_subgraphs, subgraphs


def has_bodies(graph: Graph) -> bool:
    return any(e.prim.kind == "control" for e in graph.eqns)


def map_bodies(graph: Graph, fn: Callable[[Graph], Graph]) -> Graph:
    """``graph`` with ``fn`` applied to each graph nested in its control equations (one level:
    ``fn`` recurses if it wants to); the same object when ``fn`` changed nothing."""
    if not has_bodies(graph):
        return graph
    def checked(g: Graph) -> Graph:
        new = fn(g)
        if new is not g and (new.in_avals != g.in_avals or new.out_avals != g.out_avals):
            name = getattr(fn, "__name__", "a pass")
            raise IRError(f"{name} changed a loop body's signature from "
                          f"{_sig(g)} to {_sig(new)}; only the loop's own pass may do that")
        return new

    eqns, changed = [], False
    for e in graph.eqns:
        if e.prim.kind == "control":
            params = replace_subgraphs(e.params, checked)
            if params is not e.params:
                e = e.replace(params=params)
                changed = True
        eqns.append(e)
    return Graph(graph.inputs, tuple(eqns), graph.outputs, graph.meta) if changed else graph


def _sig(g: Graph) -> str:
    return (f"({', '.join(map(str, g.in_avals))}) -> "
            f"({', '.join(map(str, g.out_avals))})")


def in_bodies(pass_fn: Callable[..., Graph]) -> Callable[..., Graph]:
    """``pass_fn`` applied to every nested body (innermost first), then to the graph itself.
    Keyword arguments reach every level."""
    @functools.wraps(pass_fn)
    def run(graph: Graph, *args, **kwargs) -> Graph:
        def in_body(g: Graph) -> Graph:
            return run(g, *args, **kwargs)
        in_body.__name__ = f"pass {pass_fn.__name__!r}"  # for map_bodies' error
        graph = map_bodies(graph, in_body)
        return pass_fn(graph, *args, **kwargs)
    return run


def graph_key(graph: Graph, param_key: Callable) -> tuple:
    """A hashable structural identity of ``graph``: equal for two graphs that compute the same
    thing the same way (same input types, equations, parameters and literals by
    ``tracegrad.identity``), whatever their Var objects. ``param_key`` keys parameter values
    (nested graphs included, through it)."""
    index: dict[int, int] = {}

    def ref(a):
        if isinstance(a, Lit):
            return ("lit", a.key)
        return ("v", index[id(a)])

    parts: list = [tuple((v.aval.shape, v.aval.dtype.str) for v in graph.inputs)]
    for v in graph.inputs:
        index[id(v)] = len(index)
    for e in graph.eqns:
        parts.append((e.prim.name, tuple(ref(a) for a in e.inputs),
                      tuple(sorted((k, param_key(v)) for k, v in e.params.items())),
                      tuple((o.aval.shape, o.aval.dtype.str) for o in e.outputs)))
        for o in e.outputs:
            index[id(o)] = len(index)
    parts.append(tuple(ref(a) for a in graph.outputs))
    return ("graph", tuple(parts))


def nested_eqn_count(graph: Graph) -> int:
    """Equations of ``graph`` and of every graph nested in its parameters."""
    return sum(1 + sum(nested_eqn_count(g) for _, g in subgraphs(e.params))
               for e in graph.eqns)


__all__ = ["has_bodies", "map_bodies", "in_bodies", "graph_key", "nested_eqn_count"]
