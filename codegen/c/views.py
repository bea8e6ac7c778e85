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
"""
from __future__ import annotations

from tracegrad.ir import Lit
from tracegrad.prims import slice_p

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
