"""Slices that are views in C: a slice whose result is one contiguous block of its operand's
row-major buffer is the operand's pointer plus an offset, not a copy.

Which slices qualify: every axis after some axis p is taken whole, every axis before p has
length 1 in the result, and axis p is a unit-stride range (or one element). Then the result's
elements are the operand's elements ``offset .. offset + size`` in the same order. RK4's
``y[:-1]``, a scan's stacked residual ``ys[t]`` and a gradient's ``g[1:]`` are such slices;
each was a full read and write of the block per use.

The memory plan treats such a slice like a reshape (``passes/memplan.analyse``'s ``view_eqn``):
it owns no storage and extends the life of the value it views; the emitter reads it as
``(base + offset)``. A partial view returned by the program is copied into its output (the
base is not written straight into an output it does not fill).

The other direction: an operand of a ``concatenate`` or ``pad`` that lands as one contiguous block
of the result (``placement``) is computed straight into that block when nothing else reads it
(``passes/memplan_place``), and the copy disappears: RK4's ``concatenate([x[:1], x[1:] * y[:-1]])``
and its gradient's ``pad``.
"""
from __future__ import annotations

import math

from tracegrad.ir import Lit
from tracegrad.prims import concatenate_p, pad_p, slice_p

from .lowerings import lowering


def slice_view_offset(e) -> int | None:
    """The element offset of ``e``'s result in its operand's buffer when ``e`` is a slice
    whose result is one contiguous block of that buffer (same order), else None."""
    if e.prim is not slice_p:
        return None
    src, out = e.inputs[0], e.outputs[0]
    shape, oshape = tuple(src.aval.shape), tuple(out.aval.shape)
    if isinstance(src, Lit):  # a literal has no buffer
        return None
    if out.aval.size == 0 or src.aval.dtype != out.aval.dtype:
        return None
    starts, steps = e.params["start_indices"], e.params["strides"]
    n = len(shape)
    # p: the first axis (from the right) that is not taken whole
    p = n - 1
    while p >= 0 and oshape[p] == shape[p]:
        p -= 1
    if p >= 0 and oshape[p] > 1 and steps[p] != 1:
        return None
    if any(oshape[q] != 1 for q in range(p)):
        return None
    offset, stride = 0, 1
    for q in range(n - 1, -1, -1):
        offset += starts[q] * stride
        stride *= shape[q]
    return offset


def is_view_eqn(e) -> bool:
    """Storage-free in C: a view lowering (a reshape of a contiguous buffer), or a slice that
    is a contiguous block (``slice_view_offset``)."""
    return lowering(e.prim).view or slice_view_offset(e) is not None


def is_partial_view(e) -> bool:
    """A view that covers only part of its operand's buffer (so the operand cannot be written
    straight into the program output that returns the view)."""
    return not lowering(e.prim).view and slice_view_offset(e) is not None


def placement(e) -> list[tuple[int, int]]:
    """``[(input position, element offset)]``: the operands of a ``concatenate`` or ``pad`` that
    land as one contiguous block of its result (so they can be computed in place there,
    ``passes/memplan_place``). A concatenate along axis k qualifies when the result's axes
    before k have length 1; a pad (no interior padding, no cropping) when it pads one axis
    and the result's axes before it have length 1."""
    o = e.outputs[0]
    oshape = tuple(o.aval.shape)
    if e.prim is concatenate_p:
        ax = e.params["dimension"]
        if any(oshape[q] != 1 for q in range(ax)):
            return []
        stride = math.prod(oshape[ax + 1:])
        spots, at = [], 0
        for i, x in enumerate(e.inputs):
            if not isinstance(x, Lit) and x.aval.dtype == o.aval.dtype:
                spots.append((i, at * stride))
            at += x.aval.shape[ax]
        return spots
    if e.prim is pad_p:
        lo, hi, interior = e.params["low"], e.params["high"], e.params["interior"]
        x = e.inputs[0]
        if isinstance(x, Lit) or any(interior) or min(lo, default=0) < 0 or \
                min(hi, default=0) < 0 or x.aval.dtype != o.aval.dtype:
            return []
        padded = [q for q in range(len(oshape)) if lo[q] or hi[q]]
        if len(padded) > 1:
            return []
        p = padded[0] if padded else 0
        if any(oshape[q] != 1 for q in range(p)):
            return []
        return [(0, (lo[p] if padded else 0) * math.prod(oshape[p + 1:]))]
    return []


def placed_pointer(base: str, offset: int) -> str:
    """The C pointer of an operand placed at ``offset`` elements into the buffer ``base``."""
    return base if offset == 0 else f"({base} + {offset})"
