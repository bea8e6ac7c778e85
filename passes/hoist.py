"""Loop-invariant code motion: a body equation whose operands are all loop constants (or
values computed from them only) runs once before the loop, and its result becomes a new
constant of the loop (``h @ W.T`` in an RNN step transposes ``W`` once, not once per step).

Every primitive is pure (no effects, no state), so evaluating an invariant that the loop would
have skipped changes no result; it costs one evaluation at most. But some raise on some values
(``Traits.may_raise``: an index out of range, a factorisation that fails): such an equation
(``eqn_may_raise``, nested loops included) leaves a body only where it surely runs anyway, so a
loop NumPy would not have entered never raises (tests/test_hoist_raising.py): a ``scan`` of at
least one step, and a ``while``'s condition (evaluated at least once unless ``max_iter=0``).
A ``while``'s body may run zero times: such an invariant leaves it guarded, as a ``cond`` on
the loop's condition at its initial carry (passes/hoist_guard.py). Branches of ``cond`` are
left alone (hoisting would run the untaken branch's work, for no saving). Equations that read
no loop constant (constants, iotas, broadcasts of literals, and values made from those only)
stay in the body, where constant folding and fusion handle them; an invariant that reads one
is hoisted with a copy of them.
Runs innermost body first (``in_bodies``), so an invariant of nested loops climbs out of all
of them in one run.
"""
from __future__ import annotations

from collections.abc import Callable

from tracegrad.ir import Eqn, Graph, Var
from tracegrad.primitive import eqn_may_raise
from tracegrad.prims import scan_p, while_p

from .bodies import in_bodies
from .hoist_guard import guarded, will_run
from .registry import register


def hoist_from(graph: Graph, nconsts: int, operands, surely_runs: bool,
               guard: Callable[[Eqn], list[Eqn]] | None = None) -> tuple[list, Graph, list]:
    """Split ``graph`` (whose first ``nconsts`` inputs are loop constants bound to the outer
    atoms ``operands``) into equations to run before the loop, the new body, and the outer
    atoms of its added constants (inserted right after the old ones). The new body reuses
    the hoisted values' Vars as its added inputs. Unless ``surely_runs`` (the graph runs at
    least once whenever the loop equation does), equations that may raise stay, or leave
    through ``guard`` (the equations to run before the loop instead of the one given)."""
    outer: dict[int, object] = {id(v): a for v, a in zip(graph.inputs[:nconsts], operands)}
    free: dict[int, Eqn] = {}   # body values made without loop constants -> their equation
    before: list[Eqn] = []
    kept: list[Eqn] = []
    hoisted_vars: list[Var] = []

    def copy_out(e: Eqn) -> None:
        """Emit ``e`` before the loop (its free operands first) and map its outputs."""
        for a in e.inputs:
            if isinstance(a, Var) and id(a) not in outer:
                copy_out(free[id(a)])
        outs = tuple(Var(o.aval, o.hint) for o in e.outputs)
        ins = tuple(outer[id(a)] if isinstance(a, Var) else a for a in e.inputs)
        new = Eqn(e.prim, ins, e.params, outs, e.src)  # params kept: provenance
        before.extend(guard(new) if not surely_runs and eqn_may_raise(e) else [new])
        for o, n in zip(e.outputs, outs):
            outer[id(o)] = n

    for e in graph.eqns:
        vs = [a for a in e.inputs if isinstance(a, Var)]
        if not all(id(a) in outer or id(a) in free for a in vs) or (
                not surely_runs and guard is None and eqn_may_raise(e)):
            kept.append(e)  # (what reads a kept value is kept in turn)
        elif not any(id(a) in outer for a in vs):
            kept.append(e)  # invariant but reads no constant: stays, copied out if needed
            free.update((id(o), e) for o in e.outputs)
        else:
            copy_out(e)
            hoisted_vars.extend(e.outputs)
    if not before:
        return [], graph, []
    read = {id(a) for e in kept for a in e.inputs if isinstance(a, Var)}
    read |= {id(a) for a in graph.outputs if isinstance(a, Var)}
    new_consts = [v for v in hoisted_vars if id(v) in read]
    body = Graph(graph.inputs[:nconsts] + tuple(new_consts) + graph.inputs[nconsts:],
                 tuple(kept), graph.outputs, graph.meta)
    return before, body, [outer[id(v)] for v in new_consts]


def _hoist_scan(e: Eqn) -> list[Eqn]:
    nc = e.params["num_consts"]
    before, body, added = hoist_from(e.params["body"], nc, e.inputs[:nc],
                                     surely_runs=e.params["length"] > 0)
    if not before:
        return [e]
    params = {**e.params, "body": body, "num_consts": nc + len(added)}
    return before + [e.replace(inputs=e.inputs[:nc] + tuple(added) + e.inputs[nc:],
                               params=params)]


def _hoist_while(e: Eqn) -> list[Eqn]:
    p = e.params
    ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
    cc, bc, init = e.inputs[:ncc], e.inputs[ncc:ncc + nbc], e.inputs[ncc + nbc:]
    runs_cond = p["max_iter"] is None or p["max_iter"] > 0  # the condition is evaluated
    index: list = []  # the guard's cond index, made on first use

    def guard(e: Eqn) -> list[Eqn]:
        pre = []
        if not index:
            pre, i = will_run(p["cond"], cc + init, e.src)
            index.append(i)
        return pre + [guarded(e, index[0])]
    before_c, cond, added_c = hoist_from(p["cond"], ncc, cc, surely_runs=runs_cond)
    before_b, body, added_b = hoist_from(p["body"], nbc, bc, surely_runs=False,
                                         guard=guard if runs_cond else None)
    if not before_c and not before_b:
        return [e]
    params = {**p, "cond": cond, "body": body, "cond_nconsts": ncc + len(added_c),
              "body_nconsts": nbc + len(added_b)}
    inputs = cc + tuple(added_c) + bc + tuple(added_b) + init
    return before_c + before_b + [e.replace(inputs=inputs, params=params)]


_HOISTERS = {scan_p: _hoist_scan, while_p: _hoist_while}


@register("hoist", "move loop-invariant equations out of loop bodies (they become constants)")
@in_bodies
def hoist(graph: Graph) -> Graph:
    if not any(e.prim in _HOISTERS for e in graph.eqns):
        return graph
    eqns: list[Eqn] = []
    changed = False
    for e in graph.eqns:
        fn = _HOISTERS.get(e.prim)
        new = fn(e) if fn is not None else [e]
        changed |= new[-1] is not e
        eqns.extend(new)
    if not changed:
        return graph
    return Graph(graph.inputs, tuple(eqns), graph.outputs, graph.meta)
