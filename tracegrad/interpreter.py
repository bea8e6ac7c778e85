"""The reference interpreter: evaluate a graph equation by equation with each primitive's ``impl``.

Under an active trace (arguments are tracers) the same walk re-records the equations, which is
how a finished graph is inlined into an enclosing trace (nested transforms).
"""
from __future__ import annotations

import numpy as np

from .errors import IRError
from .ir import Graph, Lit
from .primitive import is_traced


def eval_graph(graph: Graph, args, *, check: bool = False) -> list:
    """Run ``graph`` on ``args`` (arrays or tracers); returns the list of outputs.

    With ``check=True`` every concrete intermediate is compared with its aval (shape and dtype),
    which is how the tests hold each primitive's lowering to its declared type rule.
    """
    if len(args) != len(graph.inputs):
        raise IRError(f"graph takes {len(graph.inputs)} inputs, got {len(args)}")
    env: dict[int, object] = {}
    for i, (v, a) in enumerate(zip(graph.inputs, args)):
        if check and not is_traced(a):
            arr = np.asarray(a)
            if arr.shape != v.aval.shape or arr.dtype != v.aval.dtype:
                raise IRError(f"input {i} is {arr.dtype}{list(arr.shape)} but the graph takes "
                              f"{v.aval}")
        env[id(v)] = a

    def read(a):
        if isinstance(a, Lit):
            return a
        return env[id(a)]

    for eqn in graph.eqns:
        vals = [read(a) for a in eqn.inputs]
        # through the primitive (the IR layer): the tracer installs bind, so a graph's impl
        # (a custom rule's, a fused kernel's) can run it without importing the tracing layer
        outs = eqn.prim.bind(*vals, _src=eqn.src, **eqn.params)
        if not eqn.prim.multiple_results:
            outs = [outs]
        elif len(outs) != len(eqn.outputs):
            raise IRError(f"{eqn.prim.name} produced {len(outs)} outputs but the equation has "
                          f"{len(eqn.outputs)}")
        for v, o in zip(eqn.outputs, outs):
            if not is_traced(o):
                o = np.asarray(o)
                if check and (o.shape != v.aval.shape or o.dtype != v.aval.dtype):
                    raise IRError(f"{eqn.prim.name} produced {o.dtype}{list(o.shape)} but its rule "
                                  f"says {v.aval}")
                if o.dtype != v.aval.dtype:
                    o = o.astype(v.aval.dtype)
            env[id(v)] = o
    out = []
    for a in graph.outputs:
        r = read(a)
        if isinstance(r, Lit):
            r = np.asarray(r.value, r.aval.dtype)
        out.append(r)
    return out
