"""Guarded hoisting out of a ``while`` body: an invariant that may raise (``Traits.may_raise``: a
gather, a factorisation) runs once before the loop only if the loop runs at least once.

A ``while`` body may run zero times, so hoisting ``solve(A, b)`` out of it unguarded would raise
where NumPy's loop never ran it (tests/test_hoist_raising.py); leaving it in runs it on every
step (a 100x100 solve in a 200-step loop: 7.1 ms on C instead of 0.05 ms). Here each such
equation becomes a ``cond`` on the loop's own condition evaluated on the initial carry: the
branch taken when the loop will run computes it, the other gives zeros, which the body never
reads because it never runs. The condition is evaluated once more than before, at most; it
runs at least once whenever the loop does (``max_iter`` of 0 is never guarded: passes/hoist.py).
"""
from __future__ import annotations

import numpy as np

from tracegrad.ir import Eqn, Graph, Lit, Var, make_lit
from tracegrad.prims import broadcast_in_dim_p, cond_p, convert_p

from .fold_control import inline_graph


def will_run(cond: Graph, operands, src) -> tuple[list[Eqn], Var]:
    """Equations computing ``cond(*operands)`` (the loop's condition on its initial carry) as
    the ``i32[]`` index of a ``cond``: 1 when the loop runs at least once."""
    eqns, (pred,) = inline_graph(cond, operands, src)
    if isinstance(pred, Lit):
        pred = make_lit(bool(pred.value), np.dtype("bool"))
    index = Var(cond.out_avals[0].update(dtype=np.dtype("int32")))
    eqns.append(Eqn(convert_p, (pred,), {"new_dtype": "int32"}, (index,), src))
    return eqns, index


def guarded(e: Eqn, index: Var) -> Eqn:
    """``e`` as a ``cond`` on ``index``: branch 1 runs ``e``, branch 0 gives zeros of its
    output types. Same outputs as ``e`` (its Vars), operands its Var inputs."""
    operands = list({id(a): a for a in e.inputs if isinstance(a, Var)}.values())  # distinct
    ins = {id(a): Var(a.aval, a.hint) for a in operands}
    inner_outs = tuple(Var(o.aval, o.hint) for o in e.outputs)
    run = Eqn(e.prim, tuple(ins.get(id(a), a) if isinstance(a, Var) else a for a in e.inputs),
              e.params, inner_outs, e.src)
    taken = Graph(tuple(ins[id(a)] for a in operands), (run,), inner_outs)
    zeros, zero_outs = [], []
    for o in e.outputs:
        z = Var(o.aval)
        zeros.append(Eqn(broadcast_in_dim_p, (make_lit(0, o.aval.dtype),),
                         {"shape": tuple(o.aval.shape), "broadcast_dimensions": ()}, (z,), e.src))
        zero_outs.append(z)
    skipped = Graph(tuple(Var(a.aval) for a in operands), tuple(zeros), tuple(zero_outs))
    return Eqn(cond_p, (index,) + tuple(operands), {"branches": (skipped, taken)}, e.outputs,
               e.src)
