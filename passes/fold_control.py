"""Control flow whose outcome constant folding can see: a ``cond`` whose index is a known
constant becomes the equations of the branch it picks (clamped, as ``run_cond`` clamps); a
``scan`` of zero steps becomes its initial carry and empty ``ys``; a ``while`` with
``max_iter=0`` becomes its initial carry. Loops are never evaluated (``Traits.foldable`` is
False for them); this only removes the ones that cannot run.
"""
from __future__ import annotations

import numpy as np

from tracegrad.ir import Eqn, Lit, Var
from tracegrad.prims import cond_p, constant_p, scan_p, while_p


def inline_graph(graph, operands, src) -> tuple[list[Eqn], list]:
    """The equations of ``graph`` on ``operands`` with fresh output Vars (a graph may be held
    by several equations, and each copy must define its own values), and its outputs."""
    env: dict[int, object] = {id(v): a for v, a in zip(graph.inputs, operands)}

    def read(a):
        return a if isinstance(a, Lit) else env[id(a)]
    eqns = []
    for e in graph.eqns:
        outs = tuple(Var(o.aval, o.hint) for o in e.outputs)
        eqns.append(Eqn(e.prim, tuple(read(a) for a in e.inputs), e.params, outs,
                        e.src or src))
        env.update((id(o), n) for o, n in zip(e.outputs, outs))
    return eqns, [read(a) for a in graph.outputs]


def fold_control(e: Eqn, known) -> tuple[list[Eqn], list] | None:
    """``(equations, outputs)`` replacing the control equation ``e``, or None when its outcome
    is not known. ``known(atom)``: the atom's constant value, or None."""
    p = e.params
    if e.prim is cond_p:
        index = known(e.inputs[0])
        if index is None:
            return None
        branches = p["branches"]
        k = min(max(int(np.asarray(index)), 0), len(branches) - 1)
        return inline_graph(branches[k], e.inputs[1:], e.src)
    if e.prim is scan_p and p["length"] == 0:
        nc, nk = p["num_consts"], p["num_carry"]
        eqns, outs = [], list(e.inputs[nc:nc + nk])
        for o in e.outputs[nk:]:
            value = np.zeros(o.aval.shape, o.aval.dtype)  # no steps: nothing stacked
            value.flags.writeable = False
            v = Var(o.aval)
            eqns.append(Eqn(constant_p, (), {"value": value}, (v,), e.src))
            outs.append(v)
        return eqns, outs
    if e.prim is while_p and p["max_iter"] == 0:
        return [], list(e.inputs[p["cond_nconsts"] + p["body_nconsts"]:])
    return None
