"""NumPy indexing on traced arrays: basic (ints, slices, None, Ellipsis) with lax.slice/rev/reshape,
advanced (integer arrays) with one ``gather``. Indices are normalised here (negative values wrap);
static out-of-range indices raise IndexError now, traced ones when the program runs (the gather
checks its indices on both backends: prims/np_bounds.py, codegen/c/bounds.py).
"""
from __future__ import annotations

import operator

import numpy as np

from . import dtypes, lax
from .errors import (ArgumentError, ShapeError, TracedIndexError,  # noqa: F401  (re-exported)
                     TracerBoolError, UnsupportedOperationError)
from .source_info import user_frame, user_src_with_text
from .tracer import Tracer


def _is_array_index(i) -> bool:
    return isinstance(i, (Tracer, np.ndarray))


def _is_bool_scalar(i) -> bool:
    return isinstance(i, (bool, np.bool_))


def _static_index_array(i) -> np.ndarray:
    """A list (or nested list) index as NumPy reads it; lists holding tracers are stacked."""
    flat = list(_flat(i))
    if any(isinstance(t, Tracer) for t in flat):
        from . import numpy as tnp
        return tnp.asarray(i)
    arr = np.asarray(i)
    if arr.size == 0:
        arr = arr.astype(np.int64)  # [] indexes nothing (NumPy reads it as an empty int array)
    return arr


def _flat(xs):
    for t in xs:
        if isinstance(t, (list, tuple)):
            yield from _flat(t)
        else:
            yield t


def _normalise_array_index(i, dim: int, axis: int):
    """Integer index array in [0, dim): static arrays are checked, traced ones wrap with where."""
    if isinstance(i, Tracer):
        if dtypes.is_bool(i.dtype):
            raise UnsupportedOperationError(
                "boolean mask indexing with a traced mask (x[mask]) has a data-dependent output "
                "shape; use np.where(mask, x, 0) or multiply by the mask instead",
                src=user_src_with_text(4))
        if not dtypes.is_int(i.dtype):
            raise TracedIndexError(f"arrays used as indices must be of integer type, got {i.dtype}",
                                   src=user_src_with_text(4))
        i = lax.convert(i, dtypes.int64)
        # indices in [-dim, 0) count from the end, as in NumPy; anything else out of range is
        # left out of range, so the gather raises IndexError when it runs instead of quietly
        # wrapping a second time (x[-5] on 3 elements must not read x[1])
        wrap = lax.logical_and(lax.lt(i, 0), lax.ge(i, -dim))
        return lax.select(wrap, lax.add(i, dim), i)
    arr = np.asarray(i)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TracedIndexError(f"arrays used as indices must be of integer (or boolean) type, got "
                               f"{arr.dtype}", src=user_src_with_text(4))
    if arr.size and (arr.min() < -dim or arr.max() >= dim):
        bad = arr[(arr < -dim) | (arr >= dim)].flat[0]
        raise TracedIndexError(f"index {bad} is out of bounds for axis {axis} with size {dim}",
                               src=user_src_with_text(4))
    return np.where(arr < 0, arr + dim, arr).astype(np.int64)


def _canonical_items(idx, shape):
    """Index items with lists read as arrays, static bool masks turned into integer arrays
    (one per masked axis, via nonzero), bool scalars turned into new axes, Ellipsis expanded.

    Every returned item is one of: int, slice, None, an integer ndarray or an integer Tracer;
    each item except None consumes exactly one axis of ``shape``.
    """
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    for i in idx:
        if isinstance(i, list):
            i = _static_index_array(i)
        if isinstance(i, Tracer) and dtypes.is_bool(i.dtype):
            raise UnsupportedOperationError(
                "boolean mask indexing with a traced mask (x[mask]) has a data-dependent output "
                "shape; use np.where(mask, x, 0) or multiply by the mask instead",
                src=user_src_with_text(4))
        items.append(i)
    n_ell = sum(1 for i in items if i is Ellipsis)
    if n_ell > 1:
        raise TracedIndexError("an index can only have a single ellipsis ('...')",
                               src=user_src_with_text(4))

    def consumed(i):
        if i is None or i is Ellipsis or _is_bool_scalar(i):
            return 0
        if isinstance(i, np.ndarray) and i.dtype == bool:
            return max(i.ndim, 1)
        return 1
    used = sum(consumed(i) for i in items)
    if used > len(shape):
        raise TracedIndexError(f"too many indices for array: array is {len(shape)}-dimensional, "
                               f"but {used} were indexed", src=user_src_with_text(4))
    out, axis = [], 0
    has_array = any(_is_array_index(i) for i in items)
    for i in items:
        if i is Ellipsis:
            out.extend([slice(None)] * (len(shape) - used))
            axis += len(shape) - used
        elif _is_bool_scalar(i):
            if not i or has_array:
                raise UnsupportedOperationError(
                    "indexing with the bool scalar False, or with a bool scalar next to array "
                    "indices; index with None (np.newaxis) instead", src=user_src_with_text(4))
            out.append(None)  # x[True] adds an axis of length 1, like x[None]
        elif isinstance(i, np.ndarray) and i.dtype == bool:
            k = max(i.ndim, 1)
            if i.ndim == 0:
                raise UnsupportedOperationError("indexing with a 0-d boolean array",
                                                src=user_src_with_text(4))
            if tuple(i.shape) != tuple(shape[axis:axis + k]):
                raise TracedIndexError(
                    f"boolean index of shape {i.shape} does not match the indexed dimensions "
                    f"{tuple(shape[axis:axis + k])} (axes {axis}..{axis + k - 1})",
                    src=user_src_with_text(4))
            out.extend(np.nonzero(i))  # a static mask selects static positions
            axis += k
        else:
            if isinstance(i, (float, np.floating)) or (
                    isinstance(i, Tracer) and not dtypes.is_int(i.dtype)) or not (
                    i is None or isinstance(i, (slice, Tracer, np.ndarray, int, np.integer))):
                raise TracedIndexError(
                    "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
                    f"integer or boolean arrays are valid indices (got {type(i).__name__})",
                    src=user_src_with_text(4))
            if isinstance(i, slice):
                i = _static_slice(i)
            out.append(i)
            axis += i is not None
    if n_ell == 0:
        out.extend([slice(None)] * (len(shape) - used))
    return out


def _static_slice(sl: slice) -> slice:
    """``sl`` with int bounds (NumPy ints made Python ints); a traced or non-integer bound, or a
    zero step, raises the error NumPy would, naming the line."""
    parts = []
    for name, v in (("start", sl.start), ("stop", sl.stop), ("step", sl.step)):
        if v is None:
            parts.append(None)
            continue
        if isinstance(v, Tracer):
            raise TracerBoolError(
                f"the slice {name} is a traced value, but slices are static (the result's shape "
                "depends on them); compute it from x.shape, pass it with static_argnums=(...), "
                "or use np.take / np.where with traced indices", src=user_src_with_text(5))
        try:
            parts.append(operator.index(v))
        except TypeError:
            raise ArgumentError(f"slice indices must be integers or None, got {name}={v!r}",
                                src=user_src_with_text(5)) from None
    if parts[2] == 0:
        raise ArgumentError("slice step cannot be zero", src=user_src_with_text(5))
    return slice(*parts)


def getitem(x, idx):
    items = _canonical_items(idx, x.shape)
    if any(_is_array_index(i) for i in items):
        return _advanced(x, items)
    return _basic(x, items)


def _basic(x, items):
    """Static ints, slices and None: one slice, one rev (negative steps), one reshape."""
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
            n = len(range(start, stop, step))
            if step > 0:
                starts.append(start if n else 0)
                limits.append(start + (n - 1) * step + 1 if n else 0)
                strides.append(step)
                flips.append(False)
            else:
                # a negative step: slice the mirrored range, then reverse the axis
                lo = start + (n - 1) * step if n else 0
                starts.append(lo)
                limits.append(lo + (n - 1) * (-step) + 1 if n else 0)
                strides.append(-step)
                flips.append(n > 1)
            out_shape.append(n)
        else:
            k = operator.index(i)
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
    y = lax.rev(y, tuple(a for a, f in enumerate(flips) if f))
    return lax.reshape(y, out_shape)


def _advanced(x, items):
    """Integer-array indexing (with ints, slices and None around it) as one ``gather``.

    Slices and None are applied first, so each item owns one axis of the intermediate ``y``;
    the advanced axes move to the front and are gathered. NumPy's placement rule: when the
    advanced items are adjacent in the index, their broadcast dimensions replace them in place;
    otherwise (separated by a slice, None or Ellipsis) they lead the result.
    """
    y = _basic(x, [i if i is None or isinstance(i, slice) else slice(None) for i in items])
    adv_axes = [a for a, i in enumerate(items) if not (i is None or isinstance(i, slice))]
    idx_arrays = []
    for a in adv_axes:
        i = items[a]
        if not _is_array_index(i):
            i = np.asarray(operator.index(i))  # ints join the advanced group (NumPy's rule)
        idx_arrays.append(_normalise_array_index(i, y.shape[a], a))
    try:
        bshape = tuple(np.broadcast_shapes(*[lax.shape_of(i) for i in idx_arrays]))
    except ValueError:
        raise TracedIndexError("shape mismatch: indexing arrays could not be broadcast together "
                               f"with shapes {[lax.shape_of(i) for i in idx_arrays]}",
                               src=user_src_with_text(3)) from None
    if all(isinstance(i, np.ndarray) for i in idx_arrays):
        stacked = np.stack([np.broadcast_to(i, bshape) for i in idx_arrays], axis=-1)
        stacked = stacked.astype(np.int64)
    else:
        from . import numpy as tnp
        stacked = tnp.stack([tnp.broadcast_to(i, bshape) for i in idx_arrays], axis=-1)
    rest = [a for a in range(len(items)) if a not in adv_axes]
    g = lax.gather(lax.transpose(y, adv_axes + rest), stacked)  # bshape + rest dims
    contiguous = adv_axes == list(range(adv_axes[0], adv_axes[-1] + 1))
    if not contiguous or adv_axes[0] == 0:
        return g
    # adjacent advanced items: the broadcast dimensions go where those items were
    nb, first = len(bshape), adv_axes[0]
    perm = list(range(nb, nb + first)) + list(range(nb)) + list(range(nb + first, nb + len(rest)))
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


# --- functional updates: x.at[idx].set(v) / .add(v) -------------------------------------------
class AtIndexer:
    """``x.at``: ``x.at[idx].set(v)`` and ``x.at[idx].add(v)`` return updated copies of a traced
    array (traced arrays are immutable, so ``x[idx] = v`` cannot work), as in JAX."""

    __slots__ = ("_x",)

    def __init__(self, x):
        self._x = x

    def __getitem__(self, idx):
        return _AtRef(self._x, idx)


class _AtRef:
    __slots__ = ("_x", "_idx")

    def __init__(self, x, idx):
        self._x, self._idx = x, idx

    def _positions(self):
        """Flat positions of x the index selects, shaped as ``x[idx]`` (static when the index
        is: the indexing of an ``arange`` follows every NumPy rule ``x[idx]`` follows)."""
        x = self._x
        return getitem(np.arange(x.size, dtype=np.int64).reshape(x.shape), self._idx)

    def _values(self, v, shape):
        from . import numpy as tnp
        v = tnp.astype(tnp.asarray(v), self._x.dtype)
        return tnp.reshape(tnp.broadcast_to(v, shape), (-1,))

    def add(self, v):
        """``x`` with ``v`` added at ``idx``; repeated indices accumulate (``np.add.at``)."""
        from . import numpy as tnp
        x = self._x
        pos = self._positions()
        upd = self._values(v, lax.shape_of(pos))
        flat = lax.scatter_add(tnp.reshape(x, (-1,)), tnp.reshape(pos, (-1, 1)), upd)
        return tnp.reshape(flat, x.shape)

    def set(self, v):
        """``x`` with ``v`` written at ``idx``; with repeated indices the last write wins, as
        in NumPy. The index must be static (a traced one: use ``.add`` or ``np.where``)."""
        from . import numpy as tnp
        x = self._x
        pos = self._positions()
        if isinstance(pos, Tracer):
            raise UnsupportedOperationError(
                "x.at[idx].set(v) with a traced index is not supported (which write wins at a "
                "repeated index would depend on data); use x.at[idx].add(v - x[idx]) when the "
                "indices are distinct, or np.where(mask, v, x)", src=user_src_with_text(2))
        sel = pos.reshape(-1)
        mask = np.zeros(x.size, bool)
        mask[sel] = True
        src = np.zeros(x.size, np.int64)
        src[sel] = np.arange(sel.size)  # assignment order: the last write to a position wins
        full = tnp.take(self._values(v, pos.shape), src)
        return tnp.where(mask.reshape(x.shape), tnp.reshape(full, x.shape), x)


def assignment_into_array_error(tracer):
    """The error for ``y[i] = tracer`` with ``y`` a NumPy array (NumPy's ``__setitem__`` asked the
    tracer for a float or an array), or None when the user's line is not a subscript store."""
    import dis
    frame = user_frame(2)  # past tracegrad's frames (Tracer.__float__ ...); NumPy's are C
    if frame is None or frame.f_lasti < 0:
        return None
    # the instruction the user's frame is executing: a subscript store means NumPy's
    # __setitem__ is converting the tracer (float(x), np.asarray(x) would be a call)
    op = frame.f_code.co_code[frame.f_lasti]
    if dis.opname[op] not in ("STORE_SUBSCR", "STORE_SLICE"):
        return None
    from .errors import TracerAssignmentError
    return TracerAssignmentError(
        f"a traced value {tracer.aval} was assigned into a NumPy array (y[...] = traced): a "
        "NumPy array holds numbers, and this value is only known when the compiled function "
        "runs. Build the array from traced values instead: y = tracegrad.numpy.zeros(shape), "
        "then y = y.at[i].set(value); or np.stack([...]), np.concatenate, np.where",
        src=user_src_with_text(3))
