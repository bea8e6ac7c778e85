"""Sorting and order statistics: sort, argsort, partition, median, quantile/percentile (and
their NaN-ignoring forms), cumprod, searchsorted and unique, on the ``argsort`` primitive
(stable, NaN last, as NumPy sorts).

Sorted values are a ``take_along_axis`` of the input at the order, so gradients follow the
permutation (a gather, whose transpose scatters back). Quantile positions are static (``q`` is
a constant), so a quantile is a fixed blend of two sorted elements; the cumulative product is
a log-depth scan of multiplications, whose derivative is exact at zeros (no division by x).
"""
from __future__ import annotations

import numpy as _np

from .. import dtypes as _dt
from ..errors import ArgumentError, ShapeError
from ..prims.sort import argsort as _argsort_prim
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .registry import _public, _unsupported
from .arguments import _no_extras, _norm_axes, _norm_axis, _static_int
from .promotion import _as_array, _as_operand, _dtype, _shape


def _along(a, axis):
    """``a`` and a non-negative axis; ``axis=None`` sorts the flattened array (NumPy's rule)."""
    a = _as_array(a)
    if axis is None:
        return ravel(a), 0
    if len(_shape(a)) == 0:
        raise ShapeError("sorting along an axis needs an array of at least one dimension",
                         src=user_src_with_text(4))
    return a, _norm_axis(axis, len(_shape(a)))


def _check_kind(kind, stable, who):
    if kind not in (None, "quicksort", "mergesort", "heapsort", "stable", "introselect"):
        raise ArgumentError(f"{who}: unknown kind {kind!r}", src=user_src_with_text(4))
    if stable is False:
        _unsupported(f"{who}(..., stable=False)", "tracegrad's sort is always stable; drop it")


@_public
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """The stable order (int64), NaN last: for ties, the one order NumPy's stable sort gives."""
    _check_kind(kind, stable, "np.argsort")
    if order is not None:
        _unsupported("np.argsort(..., order=)", "structured arrays are not traced")
    a, ax = _along(a, axis)
    return _argsort_prim(a, ax)


@_public
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    _check_kind(kind, stable, "np.sort")
    if order is not None:
        _unsupported("np.sort(..., order=)", "structured arrays are not traced")
    a, ax = _along(a, axis)
    return take_along_axis(a, _argsort_prim(a, ax), ax)


def _check_kth(kth, a, ax, who):
    n = _shape(a)[ax]
    for k in _np.atleast_1d(_np.asarray(kth)).ravel():
        if isinstance(kth, Tracer) or not -n <= int(k) < n:
            raise ArgumentError(f"{who}: kth {kth!r} must be static ints in [-{n}, {n})",
                                src=user_src_with_text(4))


@_public
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """A full sort: it meets partition's contract (kth in place, smaller before, larger after;
    NumPy leaves the order within each side unspecified)."""
    a, ax = _along(a, axis)
    _check_kth(kth, a, ax, "np.partition")
    return sort(a, axis=ax)


@_public
def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    a, ax = _along(a, axis)
    _check_kth(kth, a, ax, "np.argpartition")
    return argsort(a, axis=ax)


# --- order statistics ----------------------------------------------------------------------
def _to_last(a, axis):
    """``a`` with the reduced axes flattened into one last axis, and the kept shape (keepdims
    shape too)."""
    a = _as_array(a)
    shape = _shape(a)
    axes = _norm_axes(axis, len(shape))
    kept = [d for d in range(len(shape)) if d not in axes]
    moved = transpose(a, kept + list(axes)) if len(shape) else a
    n = int(_np.prod([shape[d] for d in axes], dtype=_np.int64))
    flat = reshape(moved, tuple(shape[d] for d in kept) + (n,))
    keep_shape = tuple(1 if d in axes else shape[d] for d in range(len(shape)))
    return flat, n, tuple(shape[d] for d in kept), keep_shape


def _nan_guard(sorted_, result):
    """NumPy's median and quantile are NaN wherever a NaN was in the reduced axis: after a
    NaN-last sort, wherever the last element is NaN."""
    if not _dt.is_float(_dtype(sorted_)):
        return result
    last = sorted_[..., -1]
    return where(isnan(last), _np.nan, result)


@_public
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    _no_extras("median", out)
    flat, n, kept, keep_shape = _to_last(a, axis)
    if n == 0:
        raise ShapeError("np.median of an empty axis (NumPy gives NaN with a warning)",
                         src=user_src_with_text(3))
    s = sort(flat, axis=-1)
    mid = s[..., (n - 1) // 2:n // 2 + 1]
    res = _nan_guard(s, mean(mid, axis=-1))  # mean: NumPy's dtype (float64 for ints)
    return reshape(res, keep_shape) if keepdims else res


_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _positions(n, q, method):
    """Static (previous, next, gamma) per quantile, as NumPy's ``_quantile`` computes them
    (gamma None: NumPy takes the element at ``previous`` without interpolating)."""
    if method == "lower":
        return _np.asarray(_np.floor((n - 1) * q)).astype(_np.intp), None, None
    if method == "higher":
        return _np.asarray(_np.ceil((n - 1) * q)).astype(_np.intp), None, None
    if method == "nearest":
        return _np.asarray(_np.around((n - 1) * q)).astype(_np.intp), None, None
    if method == "linear":
        virtual = _np.asanyarray((n - 1) * q)
    else:  # midpoint
        virtual = _np.asanyarray(0.5 * (_np.floor((n - 1) * q) + _np.ceil((n - 1) * q)))
    prev = _np.array(_np.floor(virtual), ndmin=1)
    nxt = prev + 1
    virtual = _np.array(virtual, ndmin=1)
    prev[virtual >= n - 1] = -1
    nxt[virtual >= n - 1] = -1
    prev[virtual < 0] = 0
    nxt[virtual < 0] = 0
    gamma = _np.asanyarray(virtual - prev)
    if method == "midpoint":
        gamma = _np.where(virtual % 1 == 0, 0.0, 0.5)
    shape = _np.shape(q)
    return (prev.astype(_np.intp).reshape(shape), nxt.astype(_np.intp).reshape(shape),
            gamma.astype(virtual.dtype).reshape(shape))


def _quantile(a, q, axis, method, keepdims, who, scale, numpy_fn):
    if isinstance(q, Tracer):
        raise ArgumentError(f"{who}: q must be a constant (the positions it selects are fixed "
                            "when the function is traced); pass it as a number or a NumPy "
                            "array", src=user_src_with_text(4))
    if method not in _METHODS:
        _unsupported(f"{who}(..., method={method!r})", f"tracegrad has {', '.join(_METHODS)}")
    qa = _np.true_divide(q, scale) if scale != 1 else _np.asanyarray(q)
    if qa.ndim > 1 or not (_np.all(qa >= 0) and _np.all(qa <= 1)):
        raise ArgumentError(f"{who}: q must be a scalar or 1-d within range, got {q!r}",
                            src=user_src_with_text(4))
    flat, n, kept, keep_shape = _to_last(a, axis)
    if n == 0:
        raise ShapeError(f"{who} of an empty axis", src=user_src_with_text(4))
    # NumPy's result dtype, read off NumPy itself on a probe of the same dtype and q
    probe = numpy_fn(_np.zeros(2, _dtype(flat)), q, method=method)
    out_dt = _dt.canonical(_np.asarray(probe).dtype)
    s = sort(flat, axis=-1)
    # integer q (0 or 1) gives integer positions: NumPy takes the element, no interpolation
    exact = method == "linear" and qa.dtype.kind in "iub"
    prev, nxt, gamma = _positions(n, qa, "lower" if exact else method)
    results = []
    for j in _np.ndindex(qa.shape):
        lo = s[..., int(prev[j])]
        if gamma is None:
            r = lo
        else:
            hi = s[..., int(nxt[j])]
            t = float(gamma[j])
            # NumPy's _lerp, in the same order: a + d * t, or b - d * (1 - t) from t = 0.5 on
            d = astype(subtract(hi, lo), out_dt)
            lo, hi = astype(lo, out_dt), astype(hi, out_dt)
            r = subtract(hi, d * (1 - t)) if t >= 0.5 else add(lo, d * t)
        results.append(astype(_nan_guard(s, r), out_dt))
    res = stack(results, axis=0) if qa.ndim else results[0]
    if keepdims:
        res = reshape(res, qa.shape + keep_shape)
    return res


@_public
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None, interpolation=None):
    _no_extras("quantile", out)
    if weights is not None or interpolation is not None:
        _unsupported("np.quantile(..., weights=/interpolation=)", "use method=")
    return _quantile(a, q, axis, method, keepdims, "np.quantile", 1, _np.quantile)


@_public
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None, interpolation=None):
    _no_extras("percentile", out)
    if weights is not None or interpolation is not None:
        _unsupported("np.percentile(..., weights=/interpolation=)", "use method=")
    return _quantile(a, q, axis, method, keepdims, "np.percentile", 100, _np.percentile)


# --- NaN-ignoring order statistics: positions depend on each row's count of numbers ---------
def _take_last(s, idx):
    """``s[..., idx]`` for an index array with s's leading shape (a gather per row)."""
    return take_along_axis(s, expand_dims(idx, -1), -1)[..., 0]


def _nan_counts(a, axis, who):
    flat, n, kept, keep_shape = _to_last(a, axis)
    if n == 0:
        raise ShapeError(f"{who} of an empty axis", src=user_src_with_text(4))
    s = sort(flat, axis=-1)  # NaN last: the numbers of each row come first
    cnt = sum(logical_not(isnan(flat)), axis=-1, dtype=_dt.int64)
    return s, cnt, keep_shape


@_public
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median of each row's numbers (NaN where a row has none, as NumPy warns and gives)."""
    _no_extras("nanmedian", out)
    a = _as_array(a)
    if not _dt.is_float(_dtype(a)):
        return median(a, axis=axis, keepdims=keepdims)
    s, cnt, keep_shape = _nan_counts(a, axis, "np.nanmedian")
    lo = _take_last(s, maximum(floor_divide(subtract(cnt, 1), 2), 0))
    hi = _take_last(s, floor_divide(cnt, 2))
    res = where(equal(remainder(cnt, 2), 1), lo, (lo + hi) / 2)
    res = where(equal(cnt, 0), _np.nan, res)
    return reshape(res, keep_shape) if keepdims else res


def _nan_quantile(a, q, axis, method, keepdims, who, scale, numpy_fn):
    """NumPy's nanquantile: the quantile of each row's numbers, its positions computed from the
    row's count (traced), blended as ``_quantile`` does; NaN where a row has no numbers."""
    a = _as_array(a)
    if not _dt.is_float(_dtype(a)):
        return _quantile(a, q, axis, method, keepdims, who, scale, numpy_fn)
    if isinstance(q, Tracer):
        raise ArgumentError(f"{who}: q must be a constant; pass it as a number or a NumPy "
                            "array", src=user_src_with_text(4))
    if method not in _METHODS:
        _unsupported(f"{who}(..., method={method!r})", f"tracegrad has {', '.join(_METHODS)}")
    qa = _np.true_divide(q, scale) if scale != 1 else _np.asanyarray(q)
    if qa.ndim > 1 or not (_np.all(qa >= 0) and _np.all(qa <= 1)):
        raise ArgumentError(f"{who}: q must be a scalar or 1-d within range, got {q!r}",
                            src=user_src_with_text(4))
    s, cnt, keep_shape = _nan_counts(a, axis, who)
    out_dt = _dt.canonical(_np.asarray(numpy_fn(_np.zeros(2, _dtype(a)), q,
                                                method=method)).dtype)
    last = maximum(subtract(cnt, 1), 0)
    span = astype(subtract(cnt, 1), _dt.float64)
    results = []
    for j in _np.ndindex(qa.shape):
        qj = float(qa[j])
        v = span * qj
        if method in ("lower", "higher", "nearest"):
            pos = {"lower": floor, "higher": ceil, "nearest": rint}[method](v)
            r = astype(_take_last(s, minimum(astype(pos, _dt.int64), last)), out_dt)
        else:
            if method == "midpoint":
                v = (floor(v) + ceil(v)) * 0.5
            prev = clip(astype(floor(v), _dt.int64), 0, last)
            nxt = minimum(add(prev, 1), last)
            t = v - astype(prev, _dt.float64)
            if method == "midpoint":
                t = where(equal(remainder(v, 1.0), 0.0), 0.0, 0.5)
            lo, hi = _take_last(s, prev), _take_last(s, nxt)
            d = astype(subtract(hi, lo), out_dt)
            lo, hi = astype(lo, out_dt), astype(hi, out_dt)
            # NumPy's _lerp, with its switch at t = 0.5 (t is per row here); t and 1 - t are
            # computed in float64 and rounded to the result dtype, as NumPy's weak float does
            r = where(greater_equal(t, 0.5), subtract(hi, d * astype(1.0 - t, out_dt)),
                      add(lo, d * astype(t, out_dt)))
        results.append(astype(where(equal(cnt, 0), _np.nan, r), out_dt))
    res = stack(results, axis=0) if qa.ndim else results[0]
    if keepdims:
        res = reshape(res, qa.shape + keep_shape)
    return res


@_public
def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None, interpolation=None):
    _no_extras("nanquantile", out)
    if weights is not None or interpolation is not None:
        _unsupported("np.nanquantile(..., weights=/interpolation=)", "use method=")
    return _nan_quantile(a, q, axis, method, keepdims, "np.nanquantile", 1, _np.nanquantile)


@_public
def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=False, *, weights=None, interpolation=None):
    _no_extras("nanpercentile", out)
    if weights is not None or interpolation is not None:
        _unsupported("np.nanpercentile(..., weights=/interpolation=)", "use method=")
    return _nan_quantile(a, q, axis, method, keepdims, "np.nanpercentile", 100,
                         _np.nanpercentile)


# --- cumulative product, searchsorted, unique ------------------------------------------------
@_public
def cumprod(a, axis=None, dtype=None, out=None):
    """Hillis-Steele scan: log2(n) rounds of ``y[i] *= y[i - 2**r]``. Only products, so the
    derivative is exact where elements are zero (a division-based rule would give NaN)."""
    _no_extras("cumprod", out)
    a = _as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, len(_shape(a)))
    dt = _dt.canonical(dtype, what="dtype=") if dtype is not None else \
        _dt.canonical(_np.cumprod(_np.ones(1, _dtype(a))).dtype)
    y = astype(a, dt)
    n = _shape(a)[ax]
    shift = 1
    while shift < n:
        head = (slice(None),) * ax + (slice(0, n - shift),)
        widths = [(0, 0)] * len(_shape(a))
        widths[ax] = (shift, 0)
        y = multiply(y, pad(y[head], widths, constant_values=1))
        shift *= 2
    return y


@_public
def searchsorted(a, v, side="left", sorter=None):
    """Insertion points in the sorted 1-d ``a`` (NaN sorts last, as in NumPy): a binary search
    of n.bit_length() static halving steps, each one gather of ``a`` at the midpoints, so the
    work is O(size(v) log n) and no shape depends on the data."""
    a = _as_array(a)
    if len(_shape(a)) != 1:
        raise ShapeError(f"np.searchsorted: a must be 1-d, got shape {_shape(a)}",
                         src=user_src_with_text(3))
    if side not in ("left", "right"):
        raise ArgumentError(f"np.searchsorted: side must be 'left' or 'right', got {side!r}",
                            src=user_src_with_text(3))
    if sorter is not None:
        a = take(a, sorter)
    v = _as_operand(v)
    n = _shape(a)[0]
    lo = zeros(_shape(v), _dt.int64)
    hi = full(_shape(v), n, dtype=_dt.int64)
    if n == 0:
        return lo
    nan_aware = _dt.is_float(_dtype(a)) or _dt.is_float(_dtype(v))
    for _ in range(n.bit_length()):
        mid = floor_divide(add(lo, hi), 2)
        am = take(a, minimum(mid, n - 1))
        # "goes before v" in NumPy's order, where NaN is after every number
        if side == "left":
            before = less(am, v)
            if nan_aware:
                before = logical_or(before, logical_and(isnan(v), logical_not(isnan(am))))
        else:
            before = less_equal(am, v)
            if nan_aware:
                before = logical_or(before, isnan(v))
        active = less(lo, hi)
        lo = where(logical_and(active, before), add(mid, 1), lo)
        hi = where(logical_and(active, logical_not(before)), mid, hi)
    return lo


@_public
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, sorted=True, size=None, fill_value=None):
    """NumPy's unique on a traced array needs ``size=`` (tracegrad.numpy only): the number of
    distinct values is data-dependent, so the result holds the first ``size`` of them, then
    ``fill_value`` (default: the smallest value); counts past the distinct ones are 0."""
    if axis is not None:
        _unsupported("np.unique(..., axis=) on a traced array", "flatten it, or use axis=None")
    traced = isinstance(ar, Tracer)
    if size is None:
        if traced:
            raise ShapeError(
                "np.unique: the number of distinct values depends on the data, so a traced "
                "array needs a static size hint: tracegrad.numpy.unique(x, size=N, "
                "fill_value=...) keeps the first N (padding with fill_value)",
                src=user_src_with_text(3))
        return _np.unique(ar, return_index, return_inverse, return_counts,
                          equal_nan=equal_nan)
    size = _static_int(size, "size of np.unique")
    x = ravel(_as_array(ar))
    n = _shape(x)[0]
    if n == 0:
        raise ShapeError("np.unique(size=...) of an empty array has no values to fill from",
                         src=user_src_with_text(3))
    perm = argsort(x)
    s = take(x, perm)
    differs = not_equal(s[1:], s[:-1])
    if equal_nan and _dt.is_float(_dtype(x)):
        differs = logical_and(differs, logical_not(logical_and(isnan(s[1:]), isnan(s[:-1]))))
    first = concatenate([_np.ones(1, bool), differs])
    # positions of the first element of each run, in order; n marks "no more runs"
    keys = where(first, arange(n, dtype=_dt.int64), n)
    starts = sort(concatenate([keys, full(size + 1, n, dtype=_dt.int64)]))[:size + 1]
    pos = starts[:size]
    valid = less(pos, n)
    safe = minimum(pos, n - 1)
    fill = s[0] if fill_value is None else fill_value
    values = where(valid, take(s, safe), fill)
    out = [values]
    if return_index:
        out.append(where(valid, take(perm, safe), 0))
    if return_inverse:
        rank = subtract(cumsum(astype(first, _dt.int64)), 1)
        inv = take(rank, argsort(perm))
        out.append(reshape(inv, _shape(ar)) if len(_shape(ar)) > 1 else inv)
    if return_counts:
        out.append(subtract(starts[1:], pos))
    return out[0] if len(out) == 1 else tuple(out)


# The families call one another: siblings are imported after the definitions.
from .arithmetic import (add, ceil, equal, floor, floor_divide, greater_equal, less,  # noqa
                         less_equal, logical_and, logical_not, logical_or, maximum, minimum,
                         multiply, not_equal, remainder, rint, subtract)
from .predicates import clip, isnan, where  # noqa: E402
from .creation import arange, astype, full, zeros  # noqa: E402
from .manipulation import (concatenate, expand_dims, pad, ravel, reshape, stack,  # noqa: E402
                           transpose)
from .reductions import cumsum, mean, sum  # noqa: E402
from .gather import take, take_along_axis  # noqa: E402
