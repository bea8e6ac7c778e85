"""Constant folding: evaluate equations whose inputs are all literals or constants.

Broadcasts and iotas of constants are left alone (folding them would only make big constants);
results larger than ``MAX_FOLD_ELEMENTS`` are not folded. Loops are never evaluated; a branch
with a constant index, or a loop that cannot run, is replaced (passes/fold_control.py) and
the equations it leaves are folded in the same sweep. An equation that raises on its constants
(``Traits.may_raise``: an index out of range) is left unfolded: it raises when it runs, and in
an untaken branch or a loop of zero trips it never does.
"""
from __future__ import annotations

import numpy as np


from tracegrad.ir import Eqn, Graph, Lit, Var, make_lit
from tracegrad.primitive import eqn_may_raise
from tracegrad.prims import constant_p

from .bodies import in_bodies
from .fold_control import fold_control
from .registry import register

MAX_FOLD_ELEMENTS = 1 << 16


@register("constfold", "evaluate equations whose inputs are all constants")
@in_bodies
def constfold(graph: Graph) -> Graph:
    values: dict[int, np.ndarray] = {}
    subst: dict[int, object] = {}
    eqns = []
    changed = False

    def read(a):
        # chains: a folded branch's output is a Var its own equations may fold in turn
        while isinstance(a, Var) and id(a) in subst:
            a = subst[id(a)]
        return a

    def known(a):
        if isinstance(a, Lit):
            return np.asarray(a.value, a.aval.dtype)
        return values.get(id(a))

    pending = list(reversed(graph.eqns))  # a stack: a folded branch's equations go on top
    while pending:
        e = pending.pop()
        ins = tuple(read(a) for a in e.inputs)
        if ins != e.inputs:
            e = e.replace(inputs=ins)
        if e.prim.kind == "control":
            folded = fold_control(e, known)
            if folded is not None:
                new_eqns, outs = folded
                pending.extend(reversed(new_eqns))
                subst.update((id(o), a) for o, a in zip(e.outputs, outs))
                changed = True
                continue
        if e.prim is constant_p:
            values[id(e.outputs[0])] = e.params["value"]
            eqns.append(e)
            continue
        foldable = (e.prim.traits.foldable and e.inputs and
                    all(isinstance(a, Lit) or id(a) in values for a in e.inputs) and
                    all(o.aval.size <= MAX_FOLD_ELEMENTS for o in e.outputs))
        if not foldable:
            eqns.append(e)
            continue
        args = [np.asarray(a.value, a.aval.dtype) if isinstance(a, Lit) else values[id(a)]
                for a in e.inputs]
        try:
            with np.errstate(all="ignore"):
                out = e.prim.impl(*args, **e.params)
        except Exception:
            if not eqn_may_raise(e):
                raise
            # its error belongs to the run, if the run gets here (a body may not run, a
            # branch may not be taken): left for the program to raise (tests/test_hoist_raising)
            eqns.append(e)
            continue
        outs = out if e.prim.multiple_results else [out]
        changed = True
        for v, o in zip(e.outputs, outs):
            o = np.asarray(o, dtype=v.aval.dtype)
            if v.aval.shape == ():
                subst[id(v)] = make_lit(o.item(), v.aval.dtype)
            else:
                o = np.array(o)
                o.flags.writeable = False
                nv = Var(v.aval)
                eqns.append(Eqn(constant_p, (), {"value": o}, (nv,), e.src))
                values[id(nv)] = o
                subst[id(v)] = nv
    if not changed:
        return graph
    outputs = tuple(read(a) for a in graph.outputs)
    return Graph(graph.inputs, tuple(eqns), outputs, graph.meta)



