"""Running loops and branches on arrays: shared by the reference interpreter (bodies evaluated
with ``eval_graph``) and the NumPy backend (bodies are generated functions; ``rt.run_scan``).

Under an active trace the interpreter never gets here for traced operands (``bind`` records a
``scan`` equation instead), so these functions see concrete arrays only.
"""
from __future__ import annotations

import numpy as np


def run_scan(body, num_consts, num_carry, length, reverse, y_dtypes, y_shapes, *args):
    """``body(*consts, *carry, *x_slices) -> (*carry, *y_slices)`` for t over ``length`` steps;
    returns ``[*final_carry, *ys]``. The ys are allocated once and written in place."""
    consts = args[:num_consts]
    carry = list(args[num_consts:num_consts + num_carry])
    xs = args[num_consts + num_carry:]
    ys = [np.empty((length,) + tuple(s), dtype=d) for s, d in zip(y_shapes, y_dtypes)]
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        outs = body(*consts, *carry, *[x[t] for x in xs])
        carry = [np.asarray(c) for c in outs[:num_carry]]
        for y, o in zip(ys, outs[num_carry:]):
            y[t] = o
    return carry + ys


def run_while(cond, body, cond_nconsts, body_nconsts, max_iter, *args):
    """Apply ``body`` to the carry while ``cond`` holds, at most ``max_iter`` times (None: no
    bound); returns the final carry."""
    cc = args[:cond_nconsts]
    bc = args[cond_nconsts:cond_nconsts + body_nconsts]
    carry = list(args[cond_nconsts + body_nconsts:])
    n = 0
    while (max_iter is None or n < max_iter) and bool(np.asarray(cond(*cc, *carry)[0])):
        carry = [np.asarray(c) for c in body(*bc, *carry)]
        n += 1
    return carry


def run_cond(branches, index, *args):
    """``branches[clamp(index)](*args)``, as ``lax.switch`` clamps an out-of-range index."""
    k = min(max(int(np.asarray(index)), 0), len(branches) - 1)
    return [np.asarray(o) for o in branches[k](*args)]
