"""Index selection: take, take_along_axis, compress, extract and ``at(x)`` updates, written
on ``tracegrad.indexing``; masks are static, so output shapes never depend on data.
"""
from __future__ import annotations

import numpy as _np

from ..errors import ShapeError, TracegradError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .registry import _public
from .arguments import _no_extras, _norm_axis, _static_mask
from .promotion import _as_array, _as_operand, _shape


@_public
def compress(condition, a, axis=None, out=None):
    _no_extras("compress", out)
    mask = _static_mask(condition, "np.compress")
    a = _as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, len(_shape(a)))
    if mask.ndim != 1 or mask.size > _shape(a)[ax]:
        raise ShapeError(f"np.compress: condition of shape {mask.shape} for an axis of length "
                         f"{_shape(a)[ax]}", src=user_src_with_text(3))
    return take(a, _np.nonzero(mask)[0], axis=ax)


@_public
def extract(condition, arr):
    mask = _static_mask(condition, "np.extract")
    return take(ravel(_as_array(arr)), _np.nonzero(mask.ravel())[0])


def at(x):
    """``at(x)[idx].set(v)`` / ``.add(v)``: a functional update of ``x`` (traced or a NumPy
    array; traced arrays also have ``x.at``), since arrays in traced functions are immutable."""
    from ..indexing import AtIndexer
    return AtIndexer(_as_array(x))


def _getitem(x, idx):
    from ..indexing import getitem
    return getitem(x, idx)


@_public
def take(a, indices, axis=None, out=None, mode="raise"):
    _no_extras("take", out)
    a = _as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, len(_shape(a)))
    if mode not in ("raise", "wrap", "clip", None):
        raise TracegradError(f"np.take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}",
                             src=user_src_with_text(3))
    if mode in ("wrap", "clip"):
        n = _shape(a)[ax]
        if isinstance(indices, Tracer):
            indices = remainder(indices, n) if mode == "wrap" else clip(indices, 0, n - 1)
        else:
            idx = _np.asarray(indices)
            indices = idx % n if mode == "wrap" else _np.clip(idx, 0, n - 1)
    return _getitem(a, (slice(None),) * ax + (indices,))


@_public
def take_along_axis(arr, indices, axis):
    from ..indexing import take_along_axis as _tla
    return _tla(_as_operand(arr), _as_operand(indices), axis)


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import remainder  # noqa: E402
from .predicates import clip  # noqa: E402
from .manipulation import ravel  # noqa: E402
