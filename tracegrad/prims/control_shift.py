"""A scan's carry at the start of each step, read from a stack of its values at the end of each
step instead of stacked a second time (reverse mode of ``scan``: control_rules.py, remat).

The backward sweep of a step often reads the carry the step started from (``h_prev`` in
``h @ W``'s pullback). When the forward loop already stacks that carry's end-of-step value
(the user's ``ys`` is the carry, as in an RNN returning ``(h, h)``, or another residual is),
the start-of-step value of step t is that stack at the previous step (t - 1, or t + 1 for a
reverse scan) and the init at the first step: the reverse loop gathers it from the stack it
already holds. Stacking it again would double the loop's memory (T carries more).
"""
from __future__ import annotations

from .. import dtypes
from ..ir import Var
from . import ops


def stacked_source(carry_out, ys_outputs, residuals) -> tuple | None:
    """Where a carry's end-of-step value ``carry_out`` is already stacked: ``("y", m)`` the
    m-th of the forward body's ``ys_outputs``, ``("s", p)`` the p-th of its stacked
    ``residuals`` (vars), or None."""
    if not isinstance(carry_out, Var):
        return None
    for m, a in enumerate(ys_outputs):
        if a is carry_out:
            return ("y", m)
    for p, a in enumerate(residuals):
        if a is carry_out:
            return ("s", p)
    return None


def step_inputs(length: int, reverse: bool) -> list:
    """The reverse loop's extra ``xs`` (computed once, outside it: per step only a gather and a
    select run): the step before each step's index, ``(length, 1)`` int32 (0 at the scan's
    first step, unused there), and whether the step is the scan's first, ``(length,)`` bool."""
    t = ops.iota((length,), 0, dtypes.int32)
    first = ops.elementwise("eq", t, 0 if not reverse else length - 1)
    prev = ops.elementwise("sub" if not reverse else "add", t, 1)
    prev = ops.select(first, ops.full((length,), 0, dtypes.int32), prev)  # in range everywhere
    return [ops.reshape(prev, (length, 1)), first]


def start_of_step(stack, init, prev, first):
    """The carry at the start of a step, given its ``step_inputs`` slices ``prev`` and
    ``first``: ``init`` at the scan's first step, else ``stack`` (end-of-step values, one per
    step) at the step before."""
    row = ops.gather(stack, prev)
    shape = ops.aval_of(init).shape  # primitives take operands of one shape: the condition too
    return ops.select(ops.broadcast_in_dim(first, shape, ()), init, row)
