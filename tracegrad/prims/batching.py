"""Batching rules shared by many primitives (``vmap``; the pass is passes/vmap.py).

A rule is ``rule(args, batched, size, **params)``: ``batched[i]`` says whether ``args[i]``
carries the batch along axis 0 (``size`` long) or is shared by every example; it returns what
``bind`` returns, every output batched along axis 0. Each primitive registers its rule beside
its declaration (``defbatch``); the ones here are the building blocks:

  ``batch_elementwise``  broadcast shared operands, apply the primitive once;
  ``batch_by_loop``      a ``scan`` over the examples applying the primitive to each: correct
                         for any primitive, declared explicitly by those with no vectorised
                         rule yet (factorisations, sorts ...), so the choice is visible.
"""
from __future__ import annotations

import numpy as np

from ..ir import Lit
from ..primitive import Primitive, current_trace, is_traced
from . import ops

# the constfold pass's MAX_FOLD_ELEMENTS (passes/constfold.py; prims may not import passes)
MAX_EAGER_BROADCAST = 1 << 16


def with_batch(x, batched: bool, size: int):
    """``x`` carrying the batch along axis 0: broadcast when it is shared.

    A shared *concrete* array (a constant of the mapped function, run eagerly by the pass) whose
    broadcast would exceed ``MAX_EAGER_BROADCAST`` elements is broadcast by an equation recorded
    in the current trace, as ``ops.full`` does for a literal: evaluated eagerly it became a
    ``size``-times larger constant, so compile time and program size grew with the number of
    examples (vmap of jacfwd over 31,843 examples: 18 s). Smaller ones are still evaluated, as
    the constfold pass would fold them."""
    if batched:
        return x
    shape = ops.shape_of(x)
    if isinstance(x, Lit):
        return ops.full((size,) + shape, x.value, x.aval.dtype)
    dims = tuple(range(1, len(shape) + 1))
    if not is_traced(x) and current_trace() is not None and \
            size * int(np.prod(shape)) > MAX_EAGER_BROADCAST:
        return ops.broadcast_in_dim_p.bind(x, shape=(size,) + shape,
                                           broadcast_dimensions=dims, _ctx=current_trace())
    return ops.broadcast_in_dim(x, (size,) + shape, dims)


def shift_axes(axes, by: int = 1) -> tuple:
    return tuple(int(a) + by for a in axes)


def batch_elementwise(prim: Primitive):
    """Elementwise primitives: operands have one shape (scalar literals aside); shared operands
    are broadcast along the batch, literals stay literals."""
    def rule(args, batched, size, **params):
        vals = [a if (b or isinstance(a, Lit)) else with_batch(a, False, size)
                for a, b in zip(args, batched)]
        return prim.bind(*vals, **params)
    rule.__name__ = f"batch_{prim.name}"
    return rule


def batch_by_loop(prim: Primitive):
    """A ``scan`` over the examples: shared operands are the loop's constants, batched ones its
    ``xs``; literal operands stay literal inside the body."""
    def rule(args, batched, size, **params):
        from .control import scan_p
        from .control_rules import trace_graph
        shared = [a for a, b in zip(args, batched) if not b and not isinstance(a, Lit)]
        stacked = [a for a, b in zip(args, batched) if b]

        def body(ins):
            it_s, it_x = iter(ins[:len(shared)]), iter(ins[len(shared):])
            vals = [a if isinstance(a, Lit) and not b else next(it_x) if b else next(it_s)
                    for a, b in zip(args, batched)]
            out = prim.bind(*vals, **params)
            return list(out) if prim.multiple_results else [out]

        avals = [ops.aval_of(a) for a in shared] + \
            [ops.aval_of(a).update(shape=ops.shape_of(a)[1:]) for a in stacked]
        graph, captured = trace_graph(body, avals, f"vmap of {prim.name}")
        outs = scan_p.bind(*captured, *shared, *stacked, body=graph,
                           num_consts=len(captured) + len(shared), num_carry=0, length=size,
                           reverse=False, checkpoint=0)
        return list(outs) if prim.multiple_results else outs[0]
    rule.__name__ = f"batch_{prim.name}_by_loop"
    return rule
