"""Operands written in place into the value that assembles them: a ``concatenate`` (or ``pad``)
whose operand is computed only to be copied into it gets that operand computed straight into
its block of the result's buffer, and the copy disappears.

The backend says which operands of an equation land as one contiguous block of its result
(``place(e)`` -> ``[(input position, element offset)]``); this module decides which of them may
live there: the operand is a planned value of this graph (written by its own equation), is read
by nothing else (one use, not returned), and is not a view's base. The assembling value's
buffer then lives from the first placed operand's definition on (``extend``), so nothing else
shares its slot meanwhile; placements chain (a concatenate placed into another).
"""
from __future__ import annotations

from tracegrad.ir import Var


def placed_operands(graph, candidates, outputs: set, viewed: set, place) -> dict:
    """``{id(operand): (assembling var, element offset)}`` for the operands that may be
    computed in place. ``candidates``: the plan's (var, position, eqn) of planned values;
    ``outputs``: ids of values the program returns; ``viewed``: ids of views' bases."""
    uses: dict[int, int] = {}
    for e in graph.eqns:
        for a in e.inputs:
            if isinstance(a, Var):
                uses[id(a)] = uses.get(id(a), 0) + 1
    for a in graph.outputs:
        if isinstance(a, Var):
            uses[id(a)] = uses.get(id(a), 0) + 2  # returned: never placed
    planned = {id(v) for v, _, _ in candidates}
    placed: dict[int, tuple] = {}
    for e in graph.eqns:
        spots = place(e)
        if not spots:
            continue
        out = e.outputs[0]
        if id(out) not in planned and id(out) not in outputs:
            continue
        for i, offset in spots:
            a = e.inputs[i]
            if isinstance(a, Var) and id(a) in planned and uses.get(id(a)) == 1 and \
                    id(a) not in outputs and id(a) not in viewed and a.aval.size > 0:
                placed[id(a)] = (out, offset)
    return placed


def extend(placed: dict, by_id: dict, defined_at: dict) -> set:
    """Start each assembling buffer's life at its earliest placed operand's definition
    (following chains to the outermost buffer). Returns the ids of the buffers extended."""
    extended = set()
    for vid, (out, _) in placed.items():
        root = out
        while id(root) in placed:
            root = placed[id(root)][0]
        b = by_id.get(id(root))
        if b is not None and defined_at[vid] < b.first:
            b.first = defined_at[vid]
            extended.add(id(root))
    return extended
