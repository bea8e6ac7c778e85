"""Reductions (sum, mean, var, max, any, argmax, cumsum, NaN-aware ones, average): NumPy's
accumulator dtypes, keepdims and empty-axis identities; out=/where= are refused clearly.
"""
from __future__ import annotations

import builtins
import math

import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..errors import ArgumentError, ShapeError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .registry import _public
from .arguments import _no_extras, _norm_axes, _norm_axis
from .promotion import _as_array, _as_operand, _dtype, _shape


def _finish_reduction(out, a_shape, axes, keepdims):
    if keepdims:
        return lax.reshape(out, [1 if i in axes else d for i, d in enumerate(a_shape)])
    return out


def _sum_dtype(a, dtype):
    if dtype is not None:
        return _dt.canonical(dtype, what="dtype=")
    d = _dtype(a)
    if _dt.is_bool(d) or (_dt.is_int(d) and d.itemsize < 8):
        return _dt.int64  # NumPy sums small integers and bools in the platform integer
    return d


@_public
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_extras("sum", out, where)
    a = _as_array(a)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    x = lax.convert(a, _sum_dtype(a, dtype))
    r = _with_initial(lax.reduce_sum(x, axes), initial, add)
    return _finish_reduction(r, s, axes, keepdims)


def _with_initial(r, initial, combine):
    """Fold a reduction's ``initial=`` value into its result (keeping the result's dtype)."""
    if initial is None:
        return r
    return lax.convert(combine(r, initial), _dtype(r))


@_public
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_extras("prod", out, where)
    a = _as_array(a)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    x = lax.convert(a, _sum_dtype(a, dtype))
    r = _with_initial(lax.reduce_prod(x, axes), initial, multiply)
    return _finish_reduction(r, s, axes, keepdims)


@_public
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _no_extras("mean", out, where)
    a = _as_array(a)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    dt = _dt.canonical(dtype, what="dtype=") if dtype is not None else _dt.float_result(_dtype(a))
    count = int(_np.prod([s[i] for i in axes], dtype=_np.int64))
    total = sum(a, axis=axes, keepdims=keepdims, dtype=dt)
    r = true_divide(total, float(count)) if count else multiply(total, math.nan)
    return r if _dtype(r) == dt else astype(r, dt)  # an integer dtype= truncates, as in NumPy


@_public
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    _no_extras("var", out, where)
    a = _as_array(a)
    if correction is not None:
        ddof = correction
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, _np.integer, _np.floating)):
        raise ArgumentError(f"ddof must be a number, got {ddof!r}", src=user_src_with_text(3))
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    dt = _dt.canonical(dtype, what="dtype=") if dtype is not None else _dt.float_result(_dtype(a))
    a = lax.convert(a, dt)
    n = int(_np.prod([s[i] for i in axes], dtype=_np.int64))
    d = subtract(a, globals()["mean"](a, axis=axes, keepdims=True))
    if n == 1:
        # one element per reduction: a - mean(a) is 0 (NaN for inf/NaN) whatever a is, so the
        # result does not depend on a; differentiated through, std's sqrt'(0) = inf met
        # d(a - mean a) = 0 and gave NaN (autograd and JAX give 0)
        d = lax.stop_gradient(d)
    count = n - ddof
    ss = sum(multiply(d, d), axis=axes, keepdims=keepdims)
    return true_divide(ss, float(count)) if count > 0 else multiply(ss, math.inf)


@_public
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    return sqrt(var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,  # noqa
                    where=where, correction=correction))


def _extremum(name, reducer):
    def fn(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        _no_extras(name, out, where)
        a = _as_array(a)
        s = _shape(a)
        axes = _norm_axes(axis, len(s))
        combine = maximum if name == "max" else minimum
        if builtins.any(s[i] == 0 for i in axes):
            if initial is None:
                raise ShapeError(f"zero-size array to reduction operation {name} which has no "
                                 f"identity (shape {s}); pass initial=", src=user_src_with_text(3))
            r = full([d for i, d in enumerate(s) if i not in axes], initial, _dtype(a))
        else:
            r = _with_initial(reducer(a, axes), initial, combine)
        return _finish_reduction(r, s, axes, keepdims)
    fn.__name__ = name
    return _public(fn)


max = _extremum("max", lax.reduce_max)


min = _extremum("min", lax.reduce_min)


amax, amin = max, min


@_public
def any(a, axis=None, out=None, keepdims=False, where=None):
    _no_extras("any", out, where)
    a = astype(_as_array(a), _dt.bool_)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    if any_zero(s, axes):  # an empty reduction gives the identity, False
        return _finish_reduction(full([d for i, d in enumerate(s) if i not in axes], False,
                                      _dt.bool_), s, axes, keepdims)
    return _finish_reduction(lax.reduce_max(a, axes), s, axes, keepdims)


@_public
def all(a, axis=None, out=None, keepdims=False, where=None):
    _no_extras("all", out, where)
    a = astype(_as_array(a), _dt.bool_)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    if any_zero(s, axes):  # an empty reduction gives the identity, True
        return _finish_reduction(full([d for i, d in enumerate(s) if i not in axes], True,
                                      _dt.bool_), s, axes, keepdims)
    return _finish_reduction(lax.reduce_min(a, axes), s, axes, keepdims)


def any_zero(shape, axes):
    return builtins.any(shape[i] == 0 for i in axes)


def _arg_extremum(name, fn_lax):
    def fn(a, axis=None, out=None, keepdims=False):
        _no_extras(name, out)
        a = _as_array(a)
        s = _shape(a)
        if axis is None:
            r = fn_lax(ravel(a), 0)
            return reshape(r, (1,) * len(s)) if keepdims else r
        ax = _norm_axis(axis, len(s))
        return _finish_reduction(fn_lax(a, ax), s, (ax,), keepdims)
    fn.__name__ = name
    return _public(fn)


argmax = _arg_extremum("argmax", lax.argmax)


argmin = _arg_extremum("argmin", lax.argmin)


@_public
def cumsum(a, axis=None, dtype=None, out=None):
    _no_extras("cumsum", out)
    a = _as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, len(_shape(a)))
    return lax.cumsum(lax.convert(a, _sum_dtype(a, dtype)), ax)


@_public
def ptp(a, axis=None, out=None, keepdims=False):
    _no_extras("ptp", out)
    return subtract(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))


@_public
def count_nonzero(a, axis=None, *, keepdims=False):
    a = _as_array(a)
    nz = a if _dt.is_bool(_dtype(a)) else not_equal(a, 0)
    return sum(nz, axis=axis, keepdims=keepdims, dtype=_dt.int64)


@_public
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = _as_array(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return avg
        n = size(a) if axis is None else int(_np.prod([_shape(a)[i]
                                                       for i in _norm_axes(axis, ndim(a))]))
        return avg, full_like(avg, n)
    w = _as_operand(weights)
    sa, sw = _shape(a), _shape(w)
    if sa != sw:
        if axis is None:
            raise ShapeError("np.average: axis must be given when the shapes of a and weights "
                             f"differ ({sa} vs {sw})", src=user_src_with_text(3))
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(_norm_axis(x, len(sa)) for x in axes)
        if tuple(sa[x] for x in axes) != tuple(sw):
            raise ShapeError(f"np.average: weights {sw} do not match a {sa} along axis {axis}",
                             src=user_src_with_text(3))
        w = lax.broadcast_in_dim(w, sa, axes) if isinstance(w, Tracer) else \
            _np.broadcast_to(_np.expand_dims(w, [i for i in range(len(sa)) if i not in axes]), sa)
    dt = result_type(a, w, 1.0)
    scl = sum(w, axis=axis, dtype=dt, keepdims=keepdims)
    avg = true_divide(sum(multiply(astype(a, dt), astype(w, dt)), axis=axis, keepdims=keepdims),
                      scl)
    return (avg, broadcast_to(scl, _shape(avg))) if returned else avg


def _nan_reduction(name, base, fill):
    def fn(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        a = _as_operand(a)
        if not _dt.is_float(_dtype(a)):
            kw = {"dtype": dtype} if dtype is not None else {}
            return base(a, axis=axis, out=out, keepdims=keepdims, **kw, **kwargs)
        kw = {"dtype": dtype} if dtype is not None else {}
        return base(where(isnan(a), fill, a), axis=axis, out=out, keepdims=keepdims, **kw,
                    **kwargs)
    fn.__name__ = name
    return _public(fn)


nansum = _nan_reduction("nansum", sum, 0.0)


nanprod = _nan_reduction("nanprod", prod, 1.0)


def _nan_extremum(name, base, fill):
    def fn(a, axis=None, out=None, keepdims=False, **kwargs):
        a = _as_operand(a)
        if not _dt.is_float(_dtype(a)):
            return base(a, axis=axis, out=out, keepdims=keepdims, **kwargs)
        nan_ = isnan(a)
        r = base(where(nan_, fill, a), axis=axis, out=out, keepdims=keepdims, **kwargs)
        # an all-NaN slice gives NaN (NumPy also warns)
        return where(all(nan_, axis=axis, keepdims=keepdims), math.nan, r)
    fn.__name__ = name
    return _public(fn)


nanmax = _nan_extremum("nanmax", max, -math.inf)


nanmin = _nan_extremum("nanmin", min, math.inf)


@_public
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    a = _as_array(a)
    if not _dt.is_float(_dtype(a)):
        return mean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
    ok = logical_not(isnan(a))
    dt = _dtype(a) if dtype is None else _dt.canonical(dtype, what="dtype=")
    total = sum(where(ok, a, 0.0), axis=axis, dtype=dt, out=out, keepdims=keepdims, **kwargs)
    count = sum(ok, axis=axis, dtype=_dt.int64, keepdims=keepdims)
    return true_divide(total, astype(count, dt))


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import (add, logical_not, maximum, minimum, multiply, not_equal,  # noqa: E402
                         subtract, true_divide)
from .transcendental import sqrt  # noqa: E402
from .predicates import isnan, where  # noqa: E402
from .creation import astype, full, full_like, ndim, result_type, size  # noqa: E402
from .manipulation import broadcast_to, ravel, reshape  # noqa: E402
