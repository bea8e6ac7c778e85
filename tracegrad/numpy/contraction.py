"""Contractions (matmul, dot, inner, tensordot, vecdot, einsum) lowered to dot_general:
operands promote as strong arrays, and bool operands contract in int64, then test != 0.
"""
from __future__ import annotations

import functools

from .. import dtypes as _dt
from .. import lax
from ..errors import ShapeError
from ..source_info import user_src_with_text
from .registry import _public
from .arguments import _no_extras, _norm_axis
from .promotion import (_as_array, _as_operand, _broadcast_shapes, _dtype, _is_scalar,
                        _prepare_no_broadcast, _shape)


def _bool_contraction(fn):
    """NumPy contracts two bool arrays with logical and/or: compute in int64, then test != 0."""
    @functools.wraps(fn)
    def wrapper(a, b, *args, **kwargs):
        a, b = _as_operand(a), _as_operand(b)
        if not _is_scalar(a) and not _is_scalar(b) and _dt.is_bool(_dtype(a)) \
                and _dt.is_bool(_dtype(b)):
            return not_equal(fn(astype(a, _dt.int64), astype(b, _dt.int64), *args, **kwargs), 0)
        return fn(a, b, *args, **kwargs)
    return wrapper


def _contract_prepare(a, b):
    (a, b), _ = _prepare_no_broadcast([a, b])
    if _dt.is_bool(_dtype(a)):
        a, b = astype(a, _dt.int64), astype(b, _dt.int64)
    return a, b


@_public
@_bool_contraction
def matmul(x1, x2):
    a, b = _contract_prepare(x1, x2)
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError("matmul: input operand does not have enough dimensions (scalars are not "
                         "allowed; use *)", src=user_src_with_text(3))
    va, vb = len(sa) == 1, len(sb) == 1
    if va:
        a, sa = reshape(a, (1,) + sa), (1,) + sa
    if vb:
        b, sb = reshape(b, sb + (1,)), sb + (1,)
    if sa[-1] != sb[-2]:
        raise ShapeError(f"matmul: mismatch in core dimension: {_shape(x1)} @ {_shape(x2)} "
                         f"({sa[-1]} != {sb[-2]})", src=user_src_with_text(3))
    batch = _broadcast_shapes(sa[:-2], sb[:-2])
    nb = len(batch)
    if nb == 0:
        out = lax.dot_general(a, b, (((1,), (0,)), ((), ())))
    else:
        a = lax.broadcast_to(a, batch + sa[-2:])
        b = lax.broadcast_to(b, batch + sb[-2:])
        out = lax.dot_general(a, b, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    s = _shape(out)
    if va and vb:
        return reshape(out, s[:-2])
    if va:
        return reshape(out, s[:-2] + s[-1:])
    if vb:
        return reshape(out, s[:-1])
    return out


@_public
@_bool_contraction
def dot(a, b, out=None):
    _no_extras("dot", out)
    a, b = _contract_prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    cb = 0 if len(sb) == 1 else len(sb) - 2
    if sa[-1] != sb[cb]:
        raise ShapeError(f"shapes {sa} and {sb} not aligned: {sa[-1]} (dim {len(sa) - 1}) != "
                         f"{sb[cb]} (dim {cb})", src=user_src_with_text(3))
    return lax.dot_general(a, b, (((len(sa) - 1,), (cb,)), ((), ())))


@_public
@_bool_contraction
def vdot(a, b):
    return dot(ravel(a), ravel(b))


@_public
@_bool_contraction
def inner(a, b):
    a, b = _contract_prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    if sa[-1] != sb[-1]:
        raise ShapeError(f"inner: shapes {sa} and {sb} differ in the last axis",
                         src=user_src_with_text(3))
    return lax.dot_general(a, b, (((len(sa) - 1,), (len(sb) - 1,)), ((), ())))


@_public
def outer(a, b, out=None):
    _no_extras("outer", out)
    a, b = ravel(a), ravel(b)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


@_public
@_bool_contraction
def tensordot(a, b, axes=2):
    a, b = _contract_prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, int):
        ax_a = tuple(range(len(sa) - axes, len(sa)))
        ax_b = tuple(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = (ax_a,) if isinstance(ax_a, int) else tuple(ax_a)
        ax_b = (ax_b,) if isinstance(ax_b, int) else tuple(ax_b)
    ax_a = tuple(_norm_axis(x, len(sa)) for x in ax_a)
    ax_b = tuple(_norm_axis(x, len(sb)) for x in ax_b)
    for i, j in zip(ax_a, ax_b):
        if sa[i] != sb[j]:
            raise ShapeError(f"tensordot: shape mismatch for sum ({sa} axis {i} vs {sb} axis {j})",
                             src=user_src_with_text(3))
    return lax.dot_general(a, b, ((ax_a, ax_b), ((), ())))


@_public
def vecdot(x1, x2, axis=-1):
    """Sum of products over ``axis`` after broadcasting (NumPy 2's gufunc; real dtypes)."""
    a, b = _as_array(x1), _as_array(x2)
    if axis != -1:
        a, b = moveaxis(a, axis, -1), moveaxis(b, axis, -1)
    return einsum("...i,...i->...", a, b)


@_public
def matvec(x1, x2):
    return einsum("...ij,...j->...i", _as_array(x1), _as_array(x2))


@_public
def vecmat(x1, x2):
    return einsum("...i,...ij->...j", _as_array(x1), _as_array(x2))


@_public
def einsum(subscripts, *operands, optimize=False, out=None):
    _no_extras("einsum", out)
    from ..einsum import einsum as _einsum
    if not isinstance(subscripts, str):  # the sublist form: einsum(a, [0, 1], b, [1, 2])
        return _einsum(subscripts, *operands)
    return _einsum(subscripts, *[_as_operand(o) for o in operands])


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import multiply, not_equal  # noqa: E402
from .creation import astype  # noqa: E402
from .manipulation import moveaxis, ravel, reshape  # noqa: E402
