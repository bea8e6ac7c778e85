"""The value of a traced array that does not depend on the function's arguments, computed while
tracing: ``float(np.sum(np.ones(3)))``, ``np.int64(tnp.asarray(table)[2])`` and ``int(x.size *
tnp.float64(2))`` are the same number on every call, so they may become Python/NumPy numbers.

A value is known when every equation it is computed from reads only constants (no argument of
the trace, no value captured from an enclosing trace; loop and branch bodies are closed graphs,
so their equation's inputs are all they read); the equations are run once by the reference
interpreter. Anything reading an argument (Python-int arguments included: jit reuses
the trace for every int) stays unknown, and the caller raises its error.
"""
from __future__ import annotations

from ..interpreter import eval_graph
from ..ir import Graph, Var


def known_value(t):
    """The NumPy value of tracer ``t`` when its trace can compute it from constants alone, else
    None. Walks the trace's equations backwards from ``t`` (once, only on this error path)."""
    ctx = t._ctx
    if not ctx.active:
        return None
    target = t._var
    opaque = {id(v) for v in ctx.inputs}
    opaque.update(id(v) for _, v in ctx.captured.values())
    if id(target) in opaque:
        return None
    needed, picked = {id(target)}, []
    for eqn in reversed(ctx.eqns):
        outs = {id(o) for o in eqn.outputs}
        if not outs & needed:
            continue
        picked.append(eqn)
        needed -= outs
        for a in eqn.inputs:
            if isinstance(a, Var):
                if id(a) in opaque:
                    return None
                needed.add(id(a))
        if not needed:
            break
    if needed:
        return None
    graph = Graph((), tuple(reversed(picked)), (target,), {})
    return eval_graph(graph, [])[0]

