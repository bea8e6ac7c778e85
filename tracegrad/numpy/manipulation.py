"""Shape manipulation: reshape, transpose, stacking, splitting, tiling, padding, rolling and
repeating; indices are static, so every output shape is known when the function is traced.
"""
from __future__ import annotations

import builtins
import operator

import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..errors import ArgumentError, DTypeError, ShapeError, TracegradError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .registry import _public, _unsupported
from .arguments import _creation_dtype, _norm_axes, _norm_axis, _static_int, _static_shape
from .promotion import (_as_array, _as_operand, _broadcast_shapes, _dtype, _is_scalar,
                        _result_dtype, _shape)


@_public
def reshape(a, shape=None, order="C", newshape=None):
    a = _as_array(a)
    if order != "C":
        _unsupported(f"reshape with order={order!r}", "only C order is traced")
    shape = newshape if shape is None else shape
    try:
        shape = (operator.index(shape),) if not isinstance(shape, (tuple, list)) else \
            tuple(operator.index(s) for s in shape)
    except TypeError:
        raise ArgumentError(f"reshape: the new shape must be ints (or a tuple of ints), got "
                            f"{shape!r}", src=user_src_with_text(3)) from None
    total = builtins.abs(int(_np.prod(_shape(a), dtype=_np.int64)))
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: at most one -1 in {shape}", src=user_src_with_text(3))
    if -1 in shape:
        known = int(_np.prod([s for s in shape if s != -1], dtype=_np.int64))
        if known == 0 or total % known:
            raise ShapeError(f"cannot reshape array of shape {_shape(a)} into shape {shape}",
                             src=user_src_with_text(3))
        shape = tuple(total // known if s == -1 else s for s in shape)
    if int(_np.prod(shape, dtype=_np.int64)) != total:
        raise ShapeError(f"cannot reshape array of shape {_shape(a)} (size {total}) into shape "
                         f"{shape}", src=user_src_with_text(3))
    return lax.reshape(a, shape)


@_public
def ravel(a, order="C"):
    return reshape(a, (-1,), order=order)


@_public
def transpose(a, axes=None):
    a = _as_array(a)
    nd = len(_shape(a))
    perm = tuple(reversed(range(nd))) if axes is None else tuple(_norm_axis(x, nd) for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ShapeError(f"axes {axes} don't match array of {nd} dimensions",
                         src=user_src_with_text(3))
    return lax.transpose(a, perm)


@_public
def permute_dims(a, axes=None):
    return transpose(a, axes)


@_public
def swapaxes(a, axis1, axis2):
    a = _as_array(a)
    nd = len(_shape(a))
    perm = list(range(nd))
    i, j = _norm_axis(axis1, nd), _norm_axis(axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, perm)


@_public
def moveaxis(a, source, destination):
    a = _as_array(a)
    nd = len(_shape(a))
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [_norm_axis(s, nd) for s in src]
    dst = [_norm_axis(d, nd) for d in dst]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, order)


@_public
def expand_dims(a, axis):
    a = _as_array(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = len(_shape(a)) + len(axes)
    axes = sorted(_norm_axis(x, nd) for x in axes)
    shape = list(_shape(a))
    for x in axes:
        shape.insert(x, 1)
    return lax.reshape(a, shape)


@_public
def squeeze(a, axis=None):
    a = _as_array(a)
    s = _shape(a)
    if axis is None:
        axes = [i for i, d in enumerate(s) if d == 1]
    else:
        axes = list(_norm_axes(axis, len(s)))
        for x in axes:
            if s[x] != 1:
                raise ShapeError(f"cannot select an axis to squeeze out which has size not equal "
                                 f"to one (axis {x} of {s})", src=user_src_with_text(3))
    return lax.reshape(a, [d for i, d in enumerate(s) if i not in axes])


@_public
def broadcast_to(array, shape):
    array = _as_array(array)
    shape = _static_shape(shape)
    try:
        target = _np.broadcast_shapes(_shape(array), shape)
    except ValueError:
        target = None
    if target != shape:
        raise ShapeError(f"cannot broadcast an array of shape {_shape(array)} to {shape}",
                         src=user_src_with_text(3))
    if _is_scalar(array):
        return full(shape, array)
    return lax.broadcast_to(array, shape)


@_public
def broadcast_arrays(*args):
    args = [_as_operand(a) for a in args]
    shape = _broadcast_shapes(*[_shape(a) for a in args])
    return [broadcast_to(a, shape) for a in args]


@_public
def atleast_1d(*arys):
    out = [reshape(a, (1,)) if len(_shape(_as_operand(a))) == 0 else _as_operand(a) for a in arys]
    return out[0] if len(out) == 1 else out


@_public
def atleast_2d(*arys):
    out = []
    for a in arys:
        a = _as_operand(a)
        s = _shape(a)
        out.append(reshape(a, (1, 1)) if len(s) == 0 else reshape(a, (1,) + s) if len(s) == 1
                   else a)
    return out[0] if len(out) == 1 else out


@_public
def atleast_3d(*arys):
    out = []
    for a in arys:
        a = _as_operand(a)
        s = _shape(a)
        new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s), s)
        out.append(reshape(a, new))
    return out[0] if len(out) == 1 else out


@_public
def concatenate(arrays, axis=0, dtype=None):
    arrays = [_as_operand(a) for a in arrays]
    if not arrays:
        raise ShapeError("need at least one array to concatenate", src=user_src_with_text(3))
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    dt = _creation_dtype(dtype, _result_dtype(arrays))
    nd = len(_shape(arrays[0]))
    if builtins.any(len(_shape(a)) != nd for a in arrays) or nd == 0:
        raise ShapeError(f"concatenate: all inputs need the same number (>= 1) of dimensions, "
                         f"got shapes {[_shape(a) for a in arrays]}", src=user_src_with_text(3))
    ax = _norm_axis(axis, nd)
    for a in arrays:
        if builtins.any(x != y for i, (x, y) in enumerate(zip(_shape(a), _shape(arrays[0])))
                        if i != ax):
            raise ShapeError(f"concatenate: shapes {[_shape(a) for a in arrays]} differ off axis "
                             f"{ax}", src=user_src_with_text(3))
    arrays = [lax.convert(a, dt) for a in arrays]
    nonempty = [a for a in arrays if _shape(a)[ax] != 0] or arrays[:1]
    return lax.concatenate(nonempty, ax)


concat = concatenate


@_public
def stack(arrays, axis=0):
    arrays = [_as_operand(a) for a in arrays]
    if not arrays:
        raise ShapeError("need at least one array to stack", src=user_src_with_text(3))
    shapes = {_shape(a) for a in arrays}
    if len(shapes) > 1:
        raise ShapeError(f"all input arrays must have the same shape, got {sorted(shapes)}",
                         src=user_src_with_text(3))
    nd = len(_shape(arrays[0])) + 1
    ax = _norm_axis(axis, nd)
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax)


@_public
def hstack(tup):
    arrs = atleast_1d(*tup) if len(tup) > 1 else [atleast_1d(*tup)]
    return concatenate(arrs, axis=0 if len(_shape(arrs[0])) == 1 else 1)


@_public
def vstack(tup, *, dtype=None, casting="same_kind"):
    arrs = atleast_2d(*tup) if len(tup) > 1 else [atleast_2d(*tup)]
    if dtype is not None:  # NumPy's casting rule, checked on the static dtypes
        _check_cast(arrs, dtype, casting, "vstack")
    return concatenate(arrs, axis=0, dtype=dtype)


def _check_cast(arrs, dtype, casting, name):
    target = _creation_dtype(dtype, None)
    for a in arrs:
        if not _np.can_cast(_dtype(a), target, casting=casting):
            raise DTypeError(f"np.{name}: cannot cast array data from {_dtype(a)} to {target} "
                             f"according to the rule {casting!r}", src=user_src_with_text(4))


@_public
def flip(m, axis=None):
    m = _as_array(m)
    return lax.rev(m, _norm_axes(axis, len(_shape(m))))


@_public
def fliplr(m):
    return flip(m, 1)


@_public
def flipud(m):
    return flip(m, 0)


@_public
def tile(A, reps):
    A = _as_array(A)
    reps = _static_shape(reps, "reps")
    s = _shape(A)
    nd = builtins.max(len(s), len(reps))
    s = (1,) * (nd - len(s)) + tuple(s)
    reps = (1,) * (nd - len(reps)) + reps
    a = reshape(A, s)
    inter = []
    for d, r in zip(s, reps):
        inter += [r, d]
    b = lax.broadcast_in_dim(a, tuple(inter), tuple(range(1, 2 * nd, 2)))
    return reshape(b, [d * r for d, r in zip(s, reps)])


@_public
def repeat(a, repeats, axis=None):
    a = _as_array(a)
    if isinstance(repeats, Tracer):
        _unsupported("np.repeat with traced repeat counts (the output shape would depend on data)",
                     "pass the counts as a Python int, list or NumPy array")
    if axis is None:
        a, axis = ravel(a), 0
    s = _shape(a)
    ax = _norm_axis(axis, len(s))
    counts = _np.asarray(repeats)
    if counts.dtype.kind not in "iu" or (counts.size and counts.min() < 0):
        raise TracegradError(f"np.repeat: repeats must be non-negative integers, got {repeats!r}",
                             src=user_src_with_text(3))
    if counts.ndim == 0 or counts.size == 1:
        r = int(counts.reshape(-1)[0]) if counts.size else 0
        b = lax.broadcast_in_dim(a, s[:ax + 1] + (r,) + s[ax + 1:],
                                 tuple(range(ax + 1)) + tuple(range(ax + 2, len(s) + 1)))
        return reshape(b, s[:ax] + (s[ax] * r,) + s[ax + 1:])
    if counts.shape != (s[ax],):
        raise ShapeError(f"np.repeat: {counts.size} repeat counts for an axis of length {s[ax]}",
                         src=user_src_with_text(3))
    # per-element counts are static, so the result is a gather with static indices
    return take(a, _np.repeat(_np.arange(s[ax]), counts), axis=ax)


@_public
def diff(a, n=1, axis=-1, prepend=None, append=None):
    a = _as_array(a)
    n = _static_int(n, "n of np.diff")
    nd = len(_shape(a))
    if nd == 0:
        raise ShapeError("diff requires input that is at least one dimensional",
                         src=user_src_with_text(3))
    ax = _norm_axis(axis, nd)
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        if extra is a:
            parts.append(a)
            continue
        e = _as_operand(extra)
        if len(_shape(e)) == 0:
            shape = list(_shape(a))
            shape[ax] = 1
            e = broadcast_to(e, tuple(shape))
        parts.append(e)
    if len(parts) > 1:
        a = concatenate(parts, axis=ax)
    lo = (slice(None),) * ax + (slice(1, None),)
    hi = (slice(None),) * ax + (slice(None, -1),)
    for _ in range(n):
        a = not_equal(a[lo], a[hi]) if _dt.is_bool(_dtype(a)) else subtract(a[lo], a[hi])
    return a


@_public
def pad(array, pad_width, mode="constant", **kwargs):
    a = _as_operand(array)
    nd = len(_shape(a))
    try:
        widths = _np.broadcast_to(_np.asarray(pad_width, dtype=_np.int64).reshape(
            (-1, 2) if _np.ndim(pad_width) == 2 else (-1,)), (nd, 2)) if nd else \
            _np.zeros((0, 2))
    except (TypeError, ValueError):
        raise ArgumentError(f"np.pad: pad_width must be an int, a (before, after) pair or one "
                            f"pair per axis of the {nd}-d array, got {pad_width!r}",
                            src=user_src_with_text(3)) from None
    if (widths < 0).any():
        raise ShapeError(f"np.pad: negative pad widths {pad_width!r}", src=user_src_with_text(3))
    low, high = [int(w) for w in widths[:, 0]], [int(w) for w in widths[:, 1]]
    if mode == "constant":
        extra = set(kwargs) - {"constant_values"}
        if extra:
            _unsupported(f"np.pad(..., {', '.join(sorted(extra))}=)")
        cv = kwargs.get("constant_values", 0)
        if _np.ndim(cv) != 0:
            _unsupported("np.pad with per-axis constant_values", "pad once per axis")
        if isinstance(cv, Tracer):
            return lax.pad(a, astype(cv, _dtype(a)), low, high)
        return lax.pad(a, _np.asarray(cv).astype(_dtype(a)).item(), low, high)
    if mode in ("edge", "wrap"):
        if kwargs:
            _unsupported(f"np.pad(..., mode={mode!r}, {', '.join(sorted(kwargs))}=)")
        for ax in range(nd):
            lo, hi = low[ax], high[ax]
            if not lo and not hi:
                continue
            n = _shape(a)[ax]
            if mode == "edge":
                idx = _np.concatenate([_np.zeros(lo, _np.int64), _np.arange(n),
                                       _np.full(hi, n - 1, _np.int64)])
            else:
                idx = _np.arange(-lo, n + hi) % n
            a = take(a, idx, axis=ax)
        return a
    _unsupported(f"np.pad with mode={mode!r}", "modes 'constant', 'edge' and 'wrap' are traced")


@_public
def roll(a, shift, axis=None):
    a = _as_array(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), _shape(a))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    shifts = (shift,) * len(axes) if _np.ndim(shift) == 0 else tuple(shift)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ShapeError("np.roll: 'shift' and 'axis' should be scalars or 1D sequences of the "
                         "same length", src=user_src_with_text(3))
    total = {}
    for sh, ax in zip(shifts, axes):
        ax = _norm_axis(ax, len(_shape(a)))
        total[ax] = total.get(ax, 0) + _static_int(sh, "shift of np.roll")
    for ax, sh in total.items():
        n = _shape(a)[ax]
        if n:
            a = take(a, (_np.arange(n) - sh) % n, axis=ax)
    return a


@_public
def array_split(ary, indices_or_sections, axis=0):
    a = _as_operand(ary)
    n = _shape(a)[_norm_axis(axis, len(_shape(a)))]
    if _np.ndim(indices_or_sections) == 0:
        sections = _static_int(indices_or_sections, "sections of np.array_split")
        if sections <= 0:
            raise ShapeError("number sections must be larger than 0.", src=user_src_with_text(3))
        each, extra = builtins.divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = _np.concatenate([[0], _np.cumsum(sizes)])
    else:
        bounds = _np.concatenate([[0], _np.asarray(indices_or_sections, dtype=_np.int64), [n]])
    ax = _norm_axis(axis, len(_shape(a)))
    return [a[(slice(None),) * ax + (slice(int(lo), int(hi)),)]
            for lo, hi in zip(bounds[:-1], bounds[1:])]


@_public
def split(ary, indices_or_sections, axis=0):
    a = _as_operand(ary)
    if _np.ndim(indices_or_sections) == 0:
        n = _shape(a)[_norm_axis(axis, len(_shape(a)))]
        sections = _static_int(indices_or_sections, "sections of np.split")
        if sections <= 0 or n % sections:
            raise ShapeError("array split does not result in an equal division",
                             src=user_src_with_text(3))
    return array_split(a, indices_or_sections, axis)


@_public
def column_stack(tup):
    arrs = []
    for v in tup:
        v = _as_operand(v)
        arrs.append(reshape(v, (-1, 1)) if len(_shape(v)) < 2 else v)
    return concatenate(arrs, axis=1)


@_public
def dstack(tup):
    return concatenate([atleast_3d(_as_operand(v)) for v in tup], axis=2)


@_public
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    xs = [ravel(_as_operand(x)) for x in xi]
    n = len(xs)
    out = []
    for i, x in enumerate(xs):
        shape = [1] * n
        shape[i] = -1
        out.append(reshape(x, shape))
    if indexing == "xy" and n > 1:
        out = [swapaxes(o, 0, 1) for o in out]
    if not sparse:
        out = broadcast_arrays(*out)
    return out


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import not_equal, subtract  # noqa: E402
from .creation import astype, full  # noqa: E402
from .gather import take  # noqa: E402
