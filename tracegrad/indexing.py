"""NumPy indexing on traced arrays: basic (ints, slices, None, Ellipsis) with lax.slice/rev/reshape,
advanced (integer arrays) with one ``gather``. Indices are normalised here (negative values wrap),
so the gather primitive only sees in-range indices; static out-of-range indices raise IndexError.
"""
from __future__ import annotations

import numpy as np

from . import dtypes, lax
from .errors import ShapeError, UnsupportedOperationError
from .source_info import user_src_with_text
from .tracer import Tracer


class TracedIndexError(ShapeError, IndexError):
    """An index out of range for a static shape."""


def _is_array_index(i) -> bool:
    if isinstance(i, Tracer):
        return True
    if isinstance(i, (list, np.ndarray)):
        return True
    return False


def _normalise_array_index(i, dim: int, axis: int):
    """Integer index array in [0, dim): static arrays are checked, traced ones wrap with where."""
    if isinstance(i, Tracer):
        if dtypes.is_bool(i.dtype):
            raise UnsupportedOperationError(
                "boolean mask indexing of a traced array has a data-dependent shape; use "
                "np.where(mask, x, 0) or multiply by the mask instead", src=user_src_with_text(4))
        if not dtypes.is_int(i.dtype):
            raise TracedIndexError(f"arrays used as indices must be of integer type, got {i.dtype}",
                                   src=user_src_with_text(4))
        i = lax.convert(i, dtypes.int64)
        return lax.select(lax.lt(i, lax.full(i.shape, 0, dtypes.int64)),
                          lax.add(i, lax.full(i.shape, dim, dtypes.int64)), i)
    arr = np.asarray(i)
    if arr.dtype == bool:
        if arr.shape != () and arr.ndim == 1:
            if arr.shape[0] != dim:
                raise TracedIndexError(f"boolean index of length {arr.shape[0]} does not match "
                                       f"axis {axis} of length {dim}", src=user_src_with_text(4))
            arr = np.nonzero(arr)[0]
        else:
            raise UnsupportedOperationError("multi-dimensional boolean index",
                                            src=user_src_with_text(4))
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TracedIndexError(f"arrays used as indices must be of integer type, got {arr.dtype}",
                               src=user_src_with_text(4))
    if arr.size and (arr.min() < -dim or arr.max() >= dim):
        bad = arr[(arr < -dim) | (arr >= dim)].flat[0]
        raise TracedIndexError(f"index {bad} is out of bounds for axis {axis} with size {dim}",
                               src=user_src_with_text(4))
    return np.where(arr < 0, arr + dim, arr).astype(np.int64)


def _expand(idx, ndim):
    """Tuple of index items with Ellipsis expanded to full slices."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    n_ell = sum(1 for i in idx if i is Ellipsis)
    if n_ell > 1:
        raise TracedIndexError("an index can only have a single ellipsis ('...')",
                               src=user_src_with_text(4))
    used = sum(1 for i in idx if i is not None and i is not Ellipsis)
    if used > ndim:
        raise TracedIndexError(f"too many indices for array: array is {ndim}-dimensional, but "
                               f"{used} were indexed", src=user_src_with_text(4))
    out = []
    for i in idx:
        if i is Ellipsis:
            out.extend([slice(None)] * (ndim - used))
        else:
            out.append(i)
    if n_ell == 0:
        out.extend([slice(None)] * (ndim - used))
    return out


def getitem(x, idx):
    shape = x.shape
    items = _expand(idx, len(shape))
    for i in items:
        if isinstance(i, (float, np.floating)) or (isinstance(i, Tracer) and i.ndim == 0
                                                     and not dtypes.is_int(i.dtype)):
            raise TracedIndexError("only integers, slices (`:`), ellipsis (`...`), "
                                   "numpy.newaxis (`None`) and integer or boolean arrays are "
                                   "valid indices", src=user_src_with_text(3))
    if any(_is_array_index(i) for i in items):
        return _advanced(x, items)
    return _basic(x, items)


def _basic(x, items):
    shape = x.shape
    starts, limits, strides, flips = [], [], [], []
    out_shape = []
    axis = 0
    for i in items:
        if i is None:
            out_shape.append(1)
            continue
        d = shape[axis]
        if isinstance(i, slice):
            start, stop, step = i.indices(d)
            if step > 0:
                n = len(range(start, stop, step))
                starts.append(start)
                limits.append(start + (n - 1) * step + 1 if n else start)
                strides.append(step)
                flips.append(False)
            else:
                n = len(range(start, stop, step))
                # a negative step: slice the mirrored range, then reverse the axis
                lo = start + (n - 1) * step if n else 0
                starts.append(lo)
                limits.append(lo + (n - 1) * (-step) + 1 if n else lo)
                strides.append(-step)
                flips.append(True)
            out_shape.append(n)
        else:
            k = int(i)
            if not -d <= k < d:
                raise TracedIndexError(f"index {k} is out of bounds for axis {axis} with size {d}",
                                       src=user_src_with_text(4))
            k %= d
            starts.append(k)
            limits.append(k + 1)
            strides.append(1)
            flips.append(False)
        axis += 1
    y = lax.slice(x, starts, limits, strides)
    flip_axes = tuple(a for a, f in enumerate(flips) if f)
    y = lax.rev(y, flip_axes)
    return lax.reshape(y, out_shape)


def _advanced(x, items):
    if any(i is None for i in items):
        raise UnsupportedOperationError(
            "combining None (np.newaxis) with integer-array indices; index first, then use "
            "np.expand_dims", src=user_src_with_text(4))
    shape = x.shape
    # Slices first (they keep their axes), so the advanced axes index the sliced array.
    sl_items = [i if isinstance(i, slice) else slice(None) for i in items]
    y = _basic(x, sl_items)
    adv_axes = [a for a, i in enumerate(items) if not isinstance(i, slice)]
    idx_arrays = []
    for a in adv_axes:
        i = items[a]
        if not _is_array_index(i):
            i = np.asarray(int(i))  # ints join the advanced group (NumPy's rule)
        idx_arrays.append(_normalise_array_index(i, shape[a], a))
    try:
        bshape = tuple(np.broadcast_shapes(*[lax.shape_of(i) for i in idx_arrays]))
    except ValueError:
        raise TracedIndexError("shape mismatch: indexing arrays could not be broadcast together "
                               f"with shapes {[lax.shape_of(i) for i in idx_arrays]}",
                               src=user_src_with_text(3)) from None
    idx_arrays = [np.broadcast_to(i, bshape) if isinstance(i, np.ndarray)
                  else lax.broadcast_to(i, bshape) for i in idx_arrays]
    if all(isinstance(i, np.ndarray) for i in idx_arrays):
        stacked = np.stack(idx_arrays, axis=-1).astype(np.int64)
    else:
        from . import numpy as tnp
        stacked = tnp.stack(idx_arrays, axis=-1)
    rest = [a for a in range(len(shape)) if a not in adv_axes]
    yt = lax.transpose(y, adv_axes + rest)
    g = lax.gather(yt, stacked)  # shape: bshape + rest dims
    contiguous = adv_axes == list(range(adv_axes[0], adv_axes[-1] + 1))
    if not contiguous or adv_axes[0] == 0:
        return g
    # NumPy puts the broadcast index dims where the (adjacent) advanced axes were.
    nb, first = len(bshape), adv_axes[0]
    n_rest = len(rest)
    perm = list(range(nb, nb + first)) + list(range(nb)) + list(range(nb + first, nb + n_rest))
    return lax.transpose(g, perm)


def take_along_axis(arr, indices, axis):
    from . import numpy as tnp
    shape = lax.shape_of(arr)
    ishape = lax.shape_of(indices)
    if axis is None:
        return take_along_axis(tnp.ravel(arr), indices, 0)
    if len(ishape) != len(shape):
        raise ShapeError(f"take_along_axis: indices {ishape} and arr {shape} must have the same "
                         "number of dimensions", src=user_src_with_text(3))
    ax = axis % len(shape)
    out_shape = tuple(np.broadcast_shapes(
        tuple(s for i, s in enumerate(shape) if i != ax),
        tuple(s for i, s in enumerate(ishape) if i != ax)))
    out_shape = out_shape[:ax] + (ishape[ax],) + out_shape[ax:]
    idx = _normalise_array_index(indices, shape[ax], ax)
    idx = lax.broadcast_to(idx, out_shape) if isinstance(idx, Tracer) else \
        np.broadcast_to(idx, out_shape)
    arr = tnp.broadcast_to(arr, out_shape[:ax] + (shape[ax],) + out_shape[ax + 1:])
    traced = isinstance(idx, Tracer) or isinstance(arr, Tracer)
    comps = []
    for d in range(len(shape)):
        if d == ax:
            comps.append(idx)
        elif traced:
            comps.append(lax.iota(out_shape, d, dtypes.int64))
        else:
            comps.append(lax.iota_p.impl(shape=out_shape, dimension=d, dtype="int64"))
    stacked = tnp.stack(comps, axis=-1) if traced else np.stack(comps, axis=-1)
    return lax.gather(arr, stacked)
