"""Arrays built from traced values as NumPy builds them (issue 17 item 3): ``np.array`` of
nested lists/tuples holding tracers, and ``np.r_`` / ``np.c_``. Reached through the wrappers
of intercept.py; the rules are NumPy's (array coercion makes every Python scalar strong, while
``r_``'s result type keeps scalars weak), checked against NumPy eager in
tests/test_array_building.py.
"""
from __future__ import annotations

import numpy as _np

from .. import dtypes as _dt
from ..errors import ShapeError, UnsupportedOperationError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .promotion import _as_operand, _dtype, _shape, _strong


def holds_tracer(obj) -> bool:
    """Whether ``obj`` is a tracer or a (nested) list/tuple holding one (a flat loop: it runs
    on every np.array call of a tracing thread)."""
    if type(obj) is Tracer:
        return True
    todo = [obj] if type(obj) in (list, tuple) else []
    while todo:
        for t in todo.pop():
            kind = type(t)
            if kind is Tracer:
                return True
            if kind is list or kind is tuple:
                todo.append(t)
    return False


def _leaf(x):
    """One element of a nested list as NumPy's array coercion reads it: Python scalars are
    strong (``[f32_value, 1.0]`` is float64), tracers standing for Python scalars too."""
    if isinstance(x, Tracer):
        return _strong(x)
    if isinstance(x, (bool, int, float)) and not isinstance(x, _np.generic):
        return _as_operand(_np.asarray(x))
    return _as_operand(x)


def _nested(obj):
    if not isinstance(obj, (list, tuple)):
        return _leaf(obj)
    items = [_nested(o) for o in obj]
    if not items:
        raise ShapeError("np.array of an empty list holding traced values",
                         src=user_src_with_text(5))
    shapes = {_shape(i) for i in items}
    if len(shapes) > 1:  # NumPy 2 raises ValueError for a ragged nested sequence
        raise ShapeError(f"np.array: the nested sequence is ragged (its elements have shapes "
                         f"{sorted(shapes)}); NumPy raises for it too. Build it with "
                         "np.concatenate or pad the parts to one shape",
                         src=user_src_with_text(5))
    dt = _dt.result_type(*[_dtype(i) for i in items])
    return stack([astype(i, dt) if _dtype(i) != dt else i for i in items])


def build_array(obj, dtype=None, *, copy=True, ndmin=0):
    """``np.array(obj, dtype, copy=, ndmin=)`` for ``obj`` holding tracers. A tracer given
    alone is returned as is when no copy is asked (``np.asarray``), else as a new array
    object (the in-place updates of inplace.py act on array objects, as NumPy's do)."""
    if isinstance(obj, Tracer):
        out = obj
        if dtype is not None and _dt.canonical(dtype, what="dtype=") != obj.dtype:
            out = astype(obj, dtype)
        elif copy:
            out = _copy(obj)  # a new array object, writable although its var is obj's
        elif obj._weak:
            out = Tracer(obj._ctx, obj._var, False)
    else:
        out = _nested(obj)
        if dtype is not None:
            out = astype(out, dtype)
    nd = len(_shape(out))
    return reshape(out, (1,) * (ndmin - nd) + _shape(out)) if ndmin > nd else out


class AxisJoin:
    """What ``np.r_[...]`` (axis 0, ndmin 1) and ``np.c_[...]`` (axis -1, ndmin 2, 1-d items
    as columns) do with a key holding tracers: slices become ranges, a leading string sets
    ``axis,ndmin,trans1d``, scalars stay weak in the result type, then one concatenate."""

    def __init__(self, axis, ndmin, trans1d, name):
        self.axis, self.ndmin, self.trans1d, self.name = axis, ndmin, trans1d, name

    def __call__(self, key):
        if isinstance(key, str) or (isinstance(key, tuple) and key and
                                    isinstance(key[0], str) and key[0] in ("r", "c")):
            raise UnsupportedOperationError(
                f"np.{self.name} building an np.matrix from traced values is not supported; "
                "use arrays (np.matrix is discouraged by NumPy too)", src=user_src_with_text(3))
        key = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        parts, kinds = [], []
        for k, item in enumerate(key):
            if isinstance(item, str):
                if k:
                    raise ShapeError("special directives must be the first entry.",
                                     src=user_src_with_text(3))
                try:
                    vals = [int(v) for v in item.split(",")]
                except ValueError:
                    raise ShapeError(f"unknown special directive {item!r}",
                                     src=user_src_with_text(3)) from None
                axis = vals[0]
                if len(vals) > 1:
                    ndmin = vals[1]
                if len(vals) > 2:
                    trans1d = vals[2]
                continue
            if isinstance(item, slice):  # a static range (NumPy's own), swapped into place
                part, scalar = _np.r_[item], False
                if ndmin > 1:
                    part = part.reshape((1,) * (ndmin - 1) + part.shape)
                    part = part.swapaxes(-1, trans1d) if trans1d != -1 else part
            elif isinstance(item, (bool, int, float)) and not isinstance(item, _np.generic):
                part, scalar = item, True
            else:
                part = _as_operand(item)
                part = self._raise_ndim(part, len(_shape(part)), ndmin, trans1d)
                scalar = False
            parts.append(part)
            kinds.append(part if scalar else _dtype(part))
        if not parts:
            return _np.r_[()]
        dt = result_type(*kinds)
        arrays = [build_array(p, dt, copy=False, ndmin=ndmin) for p in parts]
        return concatenate(arrays, axis=axis)

    @staticmethod
    def _raise_ndim(part, nd, ndmin, trans1d):
        """``part`` with leading axes up to ``ndmin``; with ``trans1d`` its own axes move to
        that position (``c_`` makes a vector a column)."""
        if nd >= ndmin:
            return part
        part = reshape(part, (1,) * (ndmin - nd) + _shape(part))
        if trans1d == -1:
            return part
        k2 = ndmin - nd
        k1 = trans1d + k2 + 1 if trans1d < 0 else trans1d
        order = list(range(ndmin))
        return transpose(part, order[:k1] + order[k2:] + order[k1:k2])


R_ = AxisJoin(0, 1, -1, "r_")
C_ = AxisJoin(-1, 2, 0, "c_")

# The families call one another: siblings are imported after the definitions.
from .creation import astype, copy as _copy, result_type  # noqa: E402
from .manipulation import concatenate, reshape, stack, transpose  # noqa: E402
