"""Diagonals, triangles, and the vector and elementwise matrix norms that
``tracegrad.numpy.linalg.norm`` (linalg.py) builds on.
"""
from __future__ import annotations

import builtins
import math

import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..errors import ShapeError, TracegradError
from ..source_info import user_src_with_text
from .registry import _public, _unsupported
from .arguments import _no_extras, _norm_axis
from .promotion import _as_array, _as_operand, _dtype, _shape


@_public
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = _as_array(a)
    s = _shape(a)
    i1, i2 = _norm_axis(axis1, len(s)), _norm_axis(axis2, len(s))
    rest = [k for k in range(len(s)) if k not in (i1, i2)]
    x = lax.transpose(a, (i1, i2, *rest))
    n1, n2 = s[i1], s[i2]
    rows = _np.arange(builtins.max(0, -offset), n1)
    rows = rows[rows + offset < n2]
    idx = _np.stack([rows, rows + offset], axis=-1).astype(_np.int64)
    g = lax.gather(x, idx)  # (ndiag, *rest)
    return lax.transpose(g, tuple(range(1, len(rest) + 1)) + (0,))


@_public
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_extras("trace", out)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


@_public
def diag(v, k=0):
    v = _as_array(v)
    s = _shape(v)
    if len(s) == 2:
        return diagonal(v, k)
    if len(s) != 1:
        raise ShapeError(f"diag: input must be 1-d or 2-d, got shape {s}",
                         src=user_src_with_text(3))
    n = s[0]
    if n == 0:
        return zeros((builtins.abs(k), builtins.abs(k)), _dtype(v))
    # v0 0...0 v1 0...0 v2 ...: n zeros between entries is the flattened diagonal matrix
    flat = lax.pad(v, 0, (0,), (0,), (n,))
    m = lax.reshape(flat, (n, n))
    if k > 0:
        m = lax.pad(m, 0, (0, k), (k, 0))
    elif k < 0:
        m = lax.pad(m, 0, (-k, 0), (0, -k))
    return m


def _tri_mask(shape, k, upper):
    m = _np.tri(shape[-2], shape[-1], k=k - 1 if upper else k, dtype=bool)
    return ~m if upper else m


@_public
def triu(m, k=0):
    m = _as_operand(m)
    s = _shape(m)
    if len(s) < 2:
        _unsupported("np.triu of a 1-d array")
    return where(_tri_mask(s, k, True), m, zeros((), _dtype(m)))


@_public
def tril(m, k=0):
    m = _as_operand(m)
    s = _shape(m)
    if len(s) < 2:
        _unsupported("np.tril of a 1-d array")
    return where(_tri_mask(s, k, False), m, zeros((), _dtype(m)))


def _norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm's vector norms and Frobenius/1/inf matrix norms (linalg.norm adds the
    singular-value ones)."""
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        x = astype(x, _dt.float64)
    nd = len(_shape(x))
    if axis is None and ord is None:
        flat = ravel(x)  # NumPy: sqrt(x.dot(x)) over the flattened array
        r = sqrt(dot(flat, flat))  # noqa: F821
        return reshape(r, (1,) * nd) if keepdims else r
    if axis is None:
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(_norm_axis(a, nd) for a in axes)
    if len(axes) == 1:
        ax = axes[0]
        if ord is None or ord == 2:
            return sqrt(sum(multiply(x, x), axis=ax, keepdims=keepdims))  # noqa: F821
        if ord == math.inf:
            return max(abs(x), axis=ax, keepdims=keepdims)
        if ord == -math.inf:
            return min(abs(x), axis=ax, keepdims=keepdims)
        if ord == 0:
            return sum(astype(not_equal(x, 0), _dtype(x)), axis=ax, keepdims=keepdims)
        if ord == 1:
            return sum(abs(x), axis=ax, keepdims=keepdims)
        if isinstance(ord, str):
            raise TracegradError(f"Invalid norm order {ord!r} for vectors",
                                 src=user_src_with_text(3))
        p = float(ord)
        return power(sum(power(abs(x), p), axis=ax, keepdims=keepdims), 1.0 / p)
    if len(axes) == 2:
        r, c = axes
        if ord in (None, "fro", "f"):
            return sqrt(sum(multiply(x, x), axis=axes, keepdims=keepdims))  # noqa: F821
        if ord in (1, -1, math.inf, -math.inf):
            inner_ax, outer_ax = (r, c) if ord in (1, -1) else (c, r)
            s = sum(abs(x), axis=inner_ax, keepdims=True)
            red = max if ord in (1, math.inf) else min
            out = red(s, axis=outer_ax, keepdims=True)
            if not keepdims:
                out = reshape(out, [d for i, d in enumerate(_shape(out)) if i not in axes])
            return out
        _unsupported(f"np.linalg.norm with ord={ord!r} on matrices (it needs an SVD)")
    raise ShapeError("Improper number of dimensions to norm.", src=user_src_with_text(3))


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import abs, multiply, not_equal, power  # noqa: E402
from .transcendental import sqrt  # noqa: E402
from .predicates import where  # noqa: E402
from .creation import astype, zeros  # noqa: E402
from .manipulation import ravel, reshape  # noqa: E402
from .reductions import max, min, sum  # noqa: E402
from .contraction import dot  # noqa: E402
