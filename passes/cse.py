"""Common-subexpression elimination: equations with the same primitive, operands and
parameters compute the same value once. Source-free primitives (constants) are keyed by
their value's bytes. Literals and scalar parameters are keyed by ``tracegrad.identity``
(type and bit pattern), never by ``==``: ``x * 0.0`` and ``x * -0.0`` are different values.
Graph parameters (loop bodies, branches) are keyed by their structure (passes/bodies.py), so two
loops merge only when their bodies compute the same thing; CSE also runs inside each body."""
from __future__ import annotations

import hashlib

import numpy as np

from tracegrad.identity import value_key
from tracegrad.ir import Graph, Graph as _G, Lit, Var

from .bodies import graph_key, in_bodies
from .registry import register


def _param_key(v):
    if isinstance(v, np.ndarray):
        return ("array", v.shape, str(v.dtype), hashlib.sha1(np.ascontiguousarray(v).tobytes())
                .hexdigest())
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_param_key(x) for x in v))
    if isinstance(v, _G):
        return graph_key(v, _param_key)
    if callable(v):
        return ("id", id(v))
    return value_key(v)


def _atom_key(a):
    if isinstance(a, Lit):
        return ("lit", a.key)
    return ("var", id(a))


@register("cse", "compute identical equations once")
@in_bodies
def cse(graph: Graph) -> Graph:
    seen: dict = {}
    subst: dict[int, Var] = {}
    eqns = []
    changed = False
    for e in graph.eqns:
        ins = tuple(subst.get(id(a), a) if isinstance(a, Var) else a for a in e.inputs)
        if ins != e.inputs:
            e = e.replace(inputs=ins)
        key = (e.prim.name, tuple(_atom_key(a) for a in e.inputs),
               tuple(sorted((k, _param_key(v)) for k, v in e.params.items())))
        hit = seen.get(key)
        if hit is not None:
            for o, h in zip(e.outputs, hit.outputs):
                subst[id(o)] = h
            changed = True
            continue
        seen[key] = e
        eqns.append(e)
    if not changed:
        return graph
    outputs = tuple(subst.get(id(a), a) if isinstance(a, Var) else a for a in graph.outputs)
    return Graph(graph.inputs, tuple(eqns), outputs, graph.meta)
