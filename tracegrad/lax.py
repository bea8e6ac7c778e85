"""Primitive-level operations: thin, strict wrappers over ``bind`` used by the NumPy layer,
the differentiation rules and the passes. Python scalars become literals of the other
operand's dtype; shapes must already agree (no implicit broadcasting here).

The wrappers live at the IR level in ``tracegrad/prims/ops.py`` (the derivative rules use them
without importing the tracer; the elementwise ones are generated from the registry); this
module re-exports them and adds what needs the tracing layer (``stop_gradient`` over pytrees).
"""
from __future__ import annotations

from .errors import TracegradError
from .prims import iota_p, stop_gradient_p  # noqa: F401  (lax.iota_p: indexing's eager iota)
from .prims.ops import ELEMENTWISE_OPS
from .prims.ops import conj, imag, real  # noqa: F401  (complex values apart)
from .prims.special_incomplete import betainc, gammainc, gammaincc  # noqa: F401
from .prims.ops import (aval_of as aval, argmax, argmin, broadcast_in_dim,  # noqa: F401
                        broadcast_to, concatenate, convert, cumsum, dot_general, dtype_of,
                        elementwise, full, gather, iota, is_python_scalar, pad, reduce_max,
                        reduce_min, reduce_prod, reduce_sum, reshape, rev, scatter_add, select,
                        shape_of, slice, transpose, zeros_like)
from .tracer import Tracer, bind


def __getattr__(name):  # tracegrad.lax.scan ...: the loops live in control_flow (it imports lax)
    if name in ("scan", "fori_loop", "while_loop", "cond", "switch"):
        from . import control_flow
        return getattr(control_flow, name)
    raise AttributeError(f"module 'tracegrad.lax' has no attribute {name!r}")

# add, sub, ..., logical_and, ...: one per elementwise primitive of the registry
globals().update(ELEMENTWISE_OPS)


def stop_gradient(x):
    """Identity forward, zero gradient (``tg.stop_gradient``); on a pytree, leaf by leaf."""
    if isinstance(x, Tracer):
        return bind(stop_gradient_p, x)
    from .pytree import tree_flatten, tree_unflatten
    from .source_info import user_src_with_text
    from .staging import leaf_aval
    leaves, tree = tree_flatten(x)
    if tree.kind != "leaf":
        return tree_unflatten(tree, [stop_gradient(v) for v in leaves])
    try:
        leaf_aval(x, "the argument of tg.stop_gradient")
    except TracegradError as exc:
        raise exc.with_src(user_src_with_text(2)) from None
    return bind(stop_gradient_p, x)
