"""Dtype conversion and array creation (asarray, full/zeros/ones, *_like, arange,
linspace, ...); shapes are static Python ints, and NumPy constants become traced constants.
"""
from __future__ import annotations

import math

import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..tracer import Tracer, current_trace
from .registry import _public
from .arguments import _creation_dtype, _static_int, _static_scalar, _static_shape
from .promotion import _as_array, _as_operand, _dtype, _is_scalar, _shape, _WEAK_STANDIN


@_public
def astype(x, dtype, copy=True):
    x = _as_array(x)
    return lax.convert(x, _dt.canonical(dtype, what="astype target"))


@_public
def asarray(a, dtype=None, order=None, *, copy=None):
    """Inside a trace a NumPy array becomes a traced constant, so ``tnp.asarray(table)[i]``
    indexes it with a traced ``i`` (NumPy's own indexing cannot take traced indices)."""
    a = _as_array(a)
    if isinstance(a, _np.ndarray) and current_trace() is not None:
        a = _constant(a)
    return a if dtype is None else astype(a, dtype)


def _constant(arr):
    """A traced constant of the innermost active trace holding ``arr``."""
    ctx = current_trace()
    if arr.ndim == 0:
        return lax.full((), arr.item(), _dt.canonical(arr.dtype, what="array"))
    return Tracer(ctx, ctx.atom(arr))


array = asarray


@_public
def full(shape, fill_value, dtype=None):
    shape = _static_shape(shape)
    if isinstance(fill_value, Tracer) or not _is_scalar(fill_value) and _np.ndim(fill_value):
        fill = _as_operand(fill_value)
        return broadcast_to(astype(fill, dtype) if dtype is not None else fill, shape)
    dt = _creation_dtype(dtype, _dt.result_type(fill_value) if _is_scalar(fill_value)
                         else _dt.canonical(_np.asarray(fill_value).dtype, what="fill value"))
    return lax.full(shape, fill_value, dt)


@_public
def zeros(shape, dtype=None):
    return full(shape, 0, _creation_dtype(dtype, _dt.float64))


@_public
def ones(shape, dtype=None):
    return full(shape, 1, _creation_dtype(dtype, _dt.float64))


@_public
def full_like(a, fill_value, dtype=None, shape=None):
    a = _as_operand(a)
    return full(_shape(a) if shape is None else shape, fill_value,
                _creation_dtype(dtype, _dtype(a)))


@_public
def zeros_like(a, dtype=None, shape=None):
    return full_like(a, 0, dtype, shape)


@_public
def ones_like(a, dtype=None, shape=None):
    return full_like(a, 1, dtype, shape)


@_public
def empty_like(a, dtype=None, shape=None):
    return full_like(a, 0, dtype, shape)


@_public
def copy(a, order="K", subok=False):
    a = _as_operand(a)
    if isinstance(a, Tracer):  # a new array object that owns its value (inplace.py)
        ctx = current_trace()
        ctx = ctx if ctx is not None and ctx.level > a._ctx.level else a._ctx
        a = Tracer(ctx, ctx.atom(a))
        a._view = OWNED
    return a


@_public
def shape(a):
    return _shape(_as_operand(a))


@_public
def ndim(a):
    return len(_shape(_as_operand(a)))


@_public
def size(a, axis=None):
    s = _shape(_as_operand(a))
    return int(_np.prod(s, dtype=_np.int64)) if axis is None else s[axis]


@_public
def result_type(*args):
    def part(a):
        if _is_scalar(a):
            return a
        if isinstance(a, (_np.dtype, type, str)):
            return _np.dtype(a)  # a dtype-like (np.float32, "f4", float)
        if isinstance(a, Tracer) and a._weak:
            return _WEAK_STANDIN[a.dtype.kind]
        return _dtype(_as_operand(a))
    return _dt.result_type(*[part(a) for a in args])


@_public
def eye(N, M=None, k=0, dtype=float):
    return _np.eye(N, M, k, dtype=dtype)


def _static_array(arr):
    """A NumPy constant converted to a supported dtype (float16 and friends widen)."""
    return _as_operand(_np.asarray(arr))


@_public
def arange(start, stop=None, step=None, dtype=None):
    args = [_static_scalar(v, "np.arange's start/stop/step") for v in (start, stop, step)]
    return _static_array(_np.arange(*[a for a in args if a is not None] if step is None
                                    else args, dtype=dtype))


@_public
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    if isinstance(start, Tracer) or isinstance(stop, Tracer):
        # start + (stop - start) * i / div, as NumPy computes it, with traced end points
        num = _static_int(num, "num of np.linspace")
        div = (num - 1) if endpoint else num
        a, b = _as_operand(start), _as_operand(stop)
        step = true_divide(subtract(b, a), div) if div > 0 else multiply(subtract(b, a), math.nan)
        i = _np.arange(num, dtype=_np.float64).reshape((-1,) + (1,) * len(_shape(a)))
        y = add(multiply(i, step) if div > 0 else multiply(i, subtract(b, a)), a)
        if endpoint and num > 1:
            y = concatenate([y[:-1], expand_dims(astype(b, _dtype(y)), 0)], axis=0)
        y = moveaxis(y, 0, axis) if axis != 0 else y
        y = astype(y, dtype) if dtype is not None else y
        return (y, step) if retstep else y
    out = _np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    return (_static_array(out[0]), out[1]) if retstep else _static_array(out)


@_public
def tri(N, M=None, k=0, dtype=float):
    return _static_array(_np.tri(N, M, k, dtype=dtype))


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import add, multiply, subtract, true_divide  # noqa: E402
from .manipulation import broadcast_to, concatenate, expand_dims, moveaxis  # noqa: E402
from .inplace import OWNED  # noqa: E402
