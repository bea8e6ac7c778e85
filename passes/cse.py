"""Common-subexpression elimination: equations with the same primitive, operands and
parameters compute the same value once. Source-free primitives (constants) are keyed by
their value's bytes."""
from __future__ import annotations

import hashlib

import numpy as np

from tracegrad.ir import Graph, Graph as _G, Lit, Var

from .registry import register


def _param_key(v):
    if isinstance(v, np.ndarray):
        return ("array", v.shape, str(v.dtype), hashlib.sha1(np.ascontiguousarray(v).tobytes())
                .hexdigest())
    if isinstance(v, (tuple, list)):
        return tuple(_param_key(x) for x in v)
    if isinstance(v, _G) or callable(v):
        return ("id", id(v))
    return v


def _atom_key(a):
    if isinstance(a, Lit):
        return ("lit", a.value, str(a.aval.dtype), type(a.value).__name__)
    return ("var", id(a))


@register("cse", "compute identical equations once")
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
