"""A ``while_loop`` body's invariants that may raise, computed once before the loop under a
``cond`` on the loop running at all (its condition on the initial carry), at trace time.

An equation of the body that reads only values from outside the loop is loop-invariant. The
tracer records such an equation outside the body, unless it may raise (``Traits.may_raise``: a
gather, a factorisation) and the body may run zero times: then it stays in the body
(tracegrad/tracer.py), and would run on every step. passes/hoist.py moves it out again guarded,
but reverse mode sees the body first: it turns the loop into a scan of ``max_iter`` guarded
steps whose backward holds the invariant's transpose per step (the gather of ``E[idx]`` as a
scatter of the whole table, 300 times). Guarded here, the invariant is one ``cond`` before the
loop, a loop constant to the body, and its derivative is taken once, through that ``cond``.
"""
from __future__ import annotations

from .interpreter import eval_graph
from .ir import Graph, Var
from .primitive import eqn_may_raise
from .prims import ops


def _invariants(body: Graph, nconsts: int) -> list:
    """Equations of ``body`` reading at least one loop constant and only loop constants (or
    values computed so), in order."""
    inv_ids = {id(v) for v in body.inputs[:nconsts]}
    out = []
    for e in body.eqns:
        vs = [a for a in e.inputs if isinstance(a, Var)]
        if vs and all(id(a) in inv_ids for a in vs):
            out.append(e)
            inv_ids.update(id(o) for o in e.outputs)
    return out


def guard_invariants(cond_graph: Graph, cond_consts, body: Graph, body_consts, init, max_iter,
                     cond_fn) -> tuple[Graph, list]:
    """``(body, body_consts)`` with the body's invariants hoisted (the new constants follow the
    old ones) when one of them may raise; unchanged otherwise. ``cond_fn``: tracegrad's
    ``cond``, to emit the guard."""
    if max_iter == 0:
        return body, list(body_consts)
    nb = len(body_consts)
    inv = _invariants(body, nb)
    if not any(eqn_may_raise(e) for e in inv):
        return body, list(body_consts)
    hoisted_ids = {id(e) for e in inv}
    kept = [e for e in body.eqns if id(e) not in hoisted_ids]
    read = {id(a) for e in kept for a in e.inputs if isinstance(a, Var)}
    read |= {id(a) for a in body.outputs if isinstance(a, Var)}
    outs = [o for e in inv for o in e.outputs if id(o) in read]
    if not outs:
        return body, list(body_consts)
    once = Graph(body.inputs[:nb], tuple(inv), tuple(outs))
    runs = eval_graph(cond_graph, list(cond_consts) + list(init))[0]
    vals = cond_fn(runs, lambda *c: tuple(eval_graph(once, list(c))),
                   lambda *c: tuple(ops.full(o.aval.shape, 0, o.aval.dtype) for o in outs),
                   *body_consts)
    new_body = Graph(body.inputs[:nb] + tuple(outs) + body.inputs[nb:], tuple(kept),
                     body.outputs, body.meta)
    return new_body, list(body_consts) + list(vals)
