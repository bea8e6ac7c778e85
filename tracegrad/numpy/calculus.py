"""np.gradient (every spacing form, edge_order 1 and 2, axis) and np.cross (axisa/axisb/axisc/
axis, 2- and 3-vectors), written as NumPy writes them on slices, so they trace, differentiate
(also w.r.t. traced coordinates) and agree with NumPy to rounding.
"""
from __future__ import annotations

import numpy as _np

from .. import dtypes as _dt
from ..errors import ArgumentError, ShapeError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .registry import _public
from .arguments import _norm_axis, _static_int
from .promotion import _as_array, _as_operand, _dtype, _shape


def _take(f, axis, sl):
    """``f[..., sl, ...]`` with ``sl`` on ``axis``."""
    return f[(slice(None),) * axis + (sl,)]


def _spacing(d, n, axis):
    """One axis' spacing: ('uniform', h) or ('coords', diff(x)); NumPy's rules and errors."""
    if isinstance(d, Tracer) or _np.ndim(d) != 0:
        x = _as_operand(d)
        if len(_shape(x)) != 1:
            raise ShapeError("distances must be either scalars or 1d", src=user_src_with_text(4))
        if _shape(x)[0] != n:
            raise ShapeError("when 1d, distances must match the length of the corresponding "
                             f"dimension (axis {axis}: {n}, got {_shape(x)[0]})",
                             src=user_src_with_text(4))
        if isinstance(x, Tracer):
            x = x if _dt.is_float(x.dtype) else astype(x, _dt.float64)
            return "coords", subtract(x[1:], x[:-1])
        x = x.astype(_np.float64) if x.dtype.kind in "iub" else x
        dx = _np.diff(x)
        if n > 1 and (dx == dx[0]).all():  # NumPy's shortcut: an evenly spaced grid
            return "uniform", dx[0]
        return "coords", dx
    return "uniform", d


def _one_axis(f, axis, kind, h, edge_order):
    """The derivative of ``f`` along ``axis`` (NumPy's second-order central differences
    inside, first- or second-order one-sided differences at the two ends)."""
    def s(a, b=None):
        return _take(f, axis, slice(a, b))

    def bshape(v):  # a per-position coefficient (coordinates) lined up with ``axis``
        return reshape(v, (-1,) + (1,) * (len(_shape(f)) - axis - 1))
    if kind == "uniform":
        mid = true_divide(subtract(s(2, None), s(None, -2)), multiply(2.0, h))
    else:
        dx1, dx2 = h[:-1], h[1:]
        a = bshape(true_divide(negative(dx2), multiply(dx1, add(dx1, dx2))))
        b = bshape(true_divide(subtract(dx2, dx1), multiply(dx1, dx2)))
        c = bshape(true_divide(dx1, multiply(dx2, add(dx1, dx2))))
        mid = add(add(multiply(a, s(None, -2)), multiply(b, s(1, -1))), multiply(c, s(2, None)))
    if edge_order == 1:
        d0, dn = (h, h) if kind == "uniform" else (h[0], h[-1])
        first = true_divide(subtract(s(1, 2), s(0, 1)), d0)
        last = true_divide(subtract(s(-1, None), s(-2, -1)), dn)
    elif kind == "uniform":
        first = true_divide(add(add(multiply(-1.5, s(0, 1)), multiply(2.0, s(1, 2))),
                                multiply(-0.5, s(2, 3))), h)
        last = true_divide(add(add(multiply(0.5, s(-3, -2)), multiply(-2.0, s(-2, -1))),
                               multiply(1.5, s(-1, None))), h)
    else:
        p, q = h[0], h[1]
        a = negative(true_divide(add(multiply(2.0, p), q), multiply(p, add(p, q))))
        b = true_divide(add(p, q), multiply(p, q))
        c = negative(true_divide(p, multiply(q, add(p, q))))
        first = add(add(multiply(a, s(0, 1)), multiply(b, s(1, 2))), multiply(c, s(2, 3)))
        p, q = h[-2], h[-1]
        a = true_divide(q, multiply(p, add(p, q)))
        b = negative(true_divide(add(q, p), multiply(p, q)))
        c = true_divide(add(multiply(2.0, q), p), multiply(q, add(p, q)))
        last = add(add(multiply(a, s(-3, -2)), multiply(b, s(-2, -1))), multiply(c, s(-1, None)))
    return concatenate([first, mid, last], axis=axis)


@_public
def gradient(f, *varargs, axis=None, edge_order=1):
    """np.gradient: one array per axis (a tuple for several axes, as NumPy 2 returns)."""
    f = _as_array(f)
    shape = _shape(f)
    nd = len(shape)
    if axis is None:
        axes = list(range(nd))
    else:
        axes = [_norm_axis(a, nd) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]
        if len(set(axes)) != len(axes):
            raise ArgumentError("repeated axis in np.gradient", src=user_src_with_text(3))
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and _np.ndim(varargs[0]) == 0 and not isinstance(varargs[0], Tracer):
        spacing = [varargs[0]] * len(axes)
    elif len(varargs) == 1 and isinstance(varargs[0], Tracer) and varargs[0].ndim == 0:
        spacing = [varargs[0]] * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise ArgumentError("invalid number of arguments to np.gradient (give no spacing, one "
                            "scalar, or one scalar or coordinate array per axis)",
                            src=user_src_with_text(3))
    edge_order = _static_int(edge_order, "edge_order of np.gradient")
    if edge_order > 2 or edge_order < 1:
        raise ArgumentError("'edge_order' greater than 2 not supported", src=user_src_with_text(3))
    if _dt.is_int(_dtype(f)) or _dt.is_bool(_dtype(f)):
        f = astype(f, _dt.float64)  # NumPy differentiates integers in float64
    outs = []
    for ax, d in zip(axes, spacing):
        if shape[ax] < edge_order + 1:
            raise ShapeError("Shape of array too small to calculate a numerical gradient, at "
                             "least (edge_order + 1) elements are required.",
                             src=user_src_with_text(3))
        kind, h = _spacing(d, shape[ax], ax)
        g = _one_axis(f, ax, kind, h, edge_order)
        outs.append(astype(g, _dtype(f)) if _dtype(g) != _dtype(f) else g)
    return outs[0] if len(outs) == 1 else tuple(outs)


def _components(v, axis, name):
    v = _as_array(v)
    ax = _norm_axis(axis, len(_shape(v)), name)
    v = moveaxis(v, ax, -1)
    n = _shape(v)[-1]
    if n not in (2, 3):
        raise ShapeError("incompatible dimensions for cross product (dimension must be 2 or 3)",
                         src=user_src_with_text(4))
    return [v[..., i] for i in range(n)]


@_public
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """np.cross of 2- or 3-vectors along ``axisa``/``axisb``, the result's vectors on
    ``axisc`` (``axis`` sets all three); two 2-vectors give the z component only."""
    if axis is not None:
        axisa = axisb = axisc = axis
    ca, cb = _components(a, axisa, "axisa"), _components(b, axisb, "axisb")
    if len(ca) == 2 and len(cb) == 2:
        return subtract(multiply(ca[0], cb[1]), multiply(ca[1], cb[0]))
    a0, a1 = ca[0], ca[1]
    b0, b1 = cb[0], cb[1]
    # a missing third component is 0: the products with it vanish
    x = subtract(multiply(a1, cb[2]), multiply(ca[2], b1)) if len(ca) == 3 and len(cb) == 3 \
        else multiply(a1, cb[2]) if len(cb) == 3 else negative(multiply(ca[2], b1))
    y = subtract(multiply(ca[2], b0), multiply(a0, cb[2])) if len(ca) == 3 and len(cb) == 3 \
        else negative(multiply(a0, cb[2])) if len(cb) == 3 else multiply(ca[2], b0)
    z = subtract(multiply(a0, b1), multiply(a1, b0))
    x, y, z = broadcast_arrays(x, y, z)
    out = stack([x, y, z], axis=-1)
    return moveaxis(out, -1, _norm_axis(axisc, len(_shape(out)), "axisc"))


__all__ = ["cross", "gradient"]

# The families call one another: siblings are imported after the definitions.
from .arithmetic import add, multiply, negative, subtract, true_divide  # noqa: E402
from .creation import astype  # noqa: E402
from .manipulation import (broadcast_arrays, concatenate, moveaxis, reshape,  # noqa: E402
                           stack)
