"""NaN/inf tests, closeness, and elementwise choice (where, select, clip, heaviside), plus
the real-only complex helpers; every result has NumPy's broadcast shape and dtype.
"""
from __future__ import annotations

import math

import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..errors import DTypeError, ShapeError, TracegradError
from ..source_info import user_src_with_text
from .registry import _public, _unsupported
from .arguments import _no_extras
from .promotion import (_as_array, _as_operand, _broadcast_shapes, _dtype, _float_operand,
                        _is_scalar, _prepare, _result_dtype, _shape)


@_public
def isnan(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        return zeros_like(x, dtype=_dt.bool_)
    return not_equal(x, x)


@_public
def isinf(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        return zeros_like(x, dtype=_dt.bool_)
    return equal(abs(x), math.inf)


@_public
def isfinite(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        return ones_like(x, dtype=_dt.bool_)
    return logical_not(logical_or(isnan(x), isinf(x)))


@_public
def where(condition, x=None, y=None):
    if x is None or y is None:
        _unsupported("np.where with one argument (data-dependent output shape)",
                     "use the three-argument form np.where(cond, a, b)")
    cond = _as_operand(condition)
    cond = astype(_np.asarray(cond) if _is_scalar(cond) else cond, _dt.bool_)
    vals, dt = _prepare([x, y])
    shape = _broadcast_shapes(_shape(cond), *[_shape(v) for v in vals if not _is_scalar(v)])
    a, b = [v if _is_scalar(v) else lax.broadcast_to(v, shape) for v in vals]
    if _is_scalar(a) and _is_scalar(b):
        a = full(shape, a, dt)
    return lax.select(lax.broadcast_to(cond, shape), a, b)


@_public
def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    _no_extras("clip", out)
    if kwargs:
        _unsupported(f"np.clip(..., {', '.join(sorted(kwargs))}=)")
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    a = _as_operand(a)
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


@_public
def heaviside(x1, x2):
    (a, b), _ = _prepare([_float_operand(x1), _float_operand(x2)], scalars_as_arrays=True)
    # NaN is neither < 0, > 0 nor == 0: NumPy propagates it rather than returning x2
    return where(less(a, 0), 0.0, where(greater(a, 0), 1.0, where(equal(a, 0), b, a)))


@_public
def conjugate(x):
    x = _as_array(x)
    return lax.conj(x) if _dt.is_complex(_dtype(x)) else x


conj = conjugate


@_public
def real(val):
    val = _as_array(val)
    return lax.real(val) if _dt.is_complex(_dtype(val)) else val


@_public
def imag(val):
    val = _as_array(val)
    return lax.imag(val) if _dt.is_complex(_dtype(val)) else zeros_like(val)


@_public
def iscomplexobj(x):
    return _dt.is_complex(_dtype(_as_array(x)))


@_public
def isrealobj(x):
    return not iscomplexobj(x)


@_public
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """NumPy's formula: |a - b| <= atol + rtol * |b| where b is finite, or a == b exactly."""
    x, y = _as_operand(a), _as_operand(b)
    if not _is_scalar(y) and not _dt.is_float(_dtype(y)):
        y = astype(y, _dt.float64)
    elif isinstance(y, int):
        y = float(y)
    close = logical_and(less_equal(abs(subtract(x, y)), add(atol, multiply(rtol, abs(y)))),
                        isfinite(y))
    result = logical_or(close, equal(x, y))
    if equal_nan:
        result = logical_or(result, logical_and(isnan(x), isnan(y)))
    return result


@_public
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A 0-d bool array (traced, so it cannot drive Python control flow)."""
    return all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@_public
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = _as_operand(x)
    dt = _dtype(x)
    if not _dt.is_float(dt):
        return x
    info = _np.finfo(dt)
    big = float(info.max) if posinf is None else posinf
    small = float(info.min) if neginf is None else neginf
    x = where(isnan(x), nan, x)
    x = where(equal(x, math.inf), big, x)
    return where(equal(x, -math.inf), small, x)


@_public
def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ShapeError("list of cases must be same length as list of conditions",
                         src=user_src_with_text(3))
    if not condlist:
        raise TracegradError("select with an empty condition list is not possible",
                             src=user_src_with_text(3))
    choices = [_as_operand(c) for c in choicelist] + [_as_operand(default)]
    dt = _result_dtype(choices)
    conds = [_as_array(c) for c in condlist]
    shape = _broadcast_shapes(*[_shape(c) for c in conds + choices if not _is_scalar(c)])
    out = broadcast_to(astype(_as_array(choices[-1]), dt), shape)
    for cond, choice in zip(reversed(conds), reversed(choices[:-1])):
        if not _dt.is_bool(_dtype(cond)):
            raise DTypeError(f"invalid entry in condlist: should be boolean ndarray, got "
                             f"{_dtype(cond)}", src=user_src_with_text(3))
        out = where(cond, choice, out)  # the first true condition wins
    return astype(out, dt)


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import (abs, add, equal, greater, less, less_equal, logical_and,  # noqa: E402
                         logical_not, logical_or, maximum, minimum, multiply, not_equal, subtract)
from .creation import astype, full, ones_like, zeros_like  # noqa: E402
from .manipulation import broadcast_to  # noqa: E402
from .reductions import all  # noqa: E402
