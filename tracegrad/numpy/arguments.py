"""Static arguments (ints, shapes, axes, masks) and refused keywords: a traced value where a
static one is needed raises a typed error naming the user's line, never a NumPy error.
"""
from __future__ import annotations

import builtins
import operator

import numpy as _np

from .. import dtypes as _dt
from ..errors import ArgumentError, ShapeError, TracegradError, TracerBoolError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .registry import _unsupported


def _static_int(v, what):
    """A static Python int argument (shapes, axes, counts); tracers raise a clear error."""
    if isinstance(v, Tracer):
        raise TracerBoolError(
            f"{what} must be a static Python int, but it is a traced array {v.aval}; pass it "
            "as a Python int, or mark the argument static with static_argnums=(...)",
            src=user_src_with_text(4))
    try:
        return operator.index(v)
    except TypeError:
        raise TracegradError(f"{what} must be an int, got {type(v).__name__} {v!r}",
                             src=user_src_with_text(4)) from None


def _creation_dtype(dtype, fallback):
    return _dt.canonical(dtype, what="dtype=") if dtype is not None else fallback


def _static_shape(shape, what="shape"):
    """A shape as a tuple of non-negative Python ints; traced sizes raise TracerBoolError."""
    items = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if builtins.any(isinstance(d, Tracer) for d in items):
        raise TracerBoolError(
            f"{what} {tuple(items)} holds a traced value, but shapes are fixed when a function is "
            "traced; compute it from x.shape, or pass it with static_argnums=(...)",
            src=user_src_with_text(4))
    try:
        out = tuple(operator.index(d) for d in items)
    except TypeError:
        raise TracegradError(f"{what} must be ints, got {shape!r}", src=user_src_with_text(4)) \
            from None
    if builtins.any(d < 0 for d in out):
        raise ShapeError(f"negative dimensions are not allowed ({what} {out})",
                         src=user_src_with_text(4))
    return out


def _norm_axis(axis, ndim, name="axis"):
    if isinstance(axis, Tracer):
        raise TracerBoolError(f"{name} must be a static int, but it is a traced array "
                              f"{axis.aval}; pass it with static_argnums=(...)",
                              src=user_src_with_text(4))
    try:
        axis = operator.index(axis)
    except TypeError:
        raise ArgumentError(f"{name} must be an integer, got {axis!r}",
                            src=user_src_with_text(4)) from None
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{name} {axis} is out of bounds for an array of dimension {ndim}",
                         src=user_src_with_text(4))
    return axis % ndim if ndim else 0


def _norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(_norm_axis(a, ndim) for a in axis))
    return (_norm_axis(axis, ndim),)


def _no_extras(name, out=None, where=None, initial=None, **_):
    if out is not None:
        _unsupported(f"np.{name}(..., out=)", "return the result instead")
    if where is not None and where is not True:
        _unsupported(f"np.{name}(..., where=)", "use np.where on the input")
    if initial is not None:
        _unsupported(f"np.{name}(..., initial=)")


def _static_scalar(v, what):
    if isinstance(v, Tracer):
        raise TracerBoolError(
            f"{what} must be a static number, but it is a traced array {v.aval}; the result's "
            "shape would depend on it. Compute it outside the function or pass it with "
            "static_argnums=(...)", src=user_src_with_text(4))
    return v


def _static_mask(condition, what):
    if isinstance(condition, Tracer):
        _unsupported(f"{what} with a traced condition (the output shape would depend on data)",
                     "use np.where(cond, x, 0) to keep the shape")
    return _np.asarray(condition, dtype=bool)
