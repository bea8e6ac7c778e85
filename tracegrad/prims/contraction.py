"""``dot_general``: contraction over paired axes with optional batch axes (matmul, dot, einsum)."""
from __future__ import annotations

from ..errors import ShapeError
from ..primitive import Primitive, Traits
from . import np_helpers as rt
from .common import aval, check_class, same_dtypes


def _dot_rule(a, b, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dt = same_dtypes("dot_general", (a, b))
    check_class("dot_general", dt, "numeric")
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ShapeError("dot_general: contracting/batch dimension lists differ in length")
    # axes are non-negative: a negative one would pass the size check but not the free-axis
    # bookkeeping below
    if any(not 0 <= i < a.ndim for i in (*lc, *lb)) or any(not 0 <= j < b.ndim for j in (*rc, *rb)):
        raise ShapeError(f"dot_general: axes {dimension_numbers} out of range for {a.shape} and "
                         f"{b.shape}")
    for i, j in list(zip(lc, rc)) + list(zip(lb, rb)):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"dot_general: {a.shape} and {b.shape} do not match on axes {i} "
                             f"and {j} ({a.shape[i]} vs {b.shape[j]})")
    if len(set(lc) | set(lb)) != len(lc) + len(lb) or len(set(rc) | set(rb)) != len(rc) + len(rb):
        raise ShapeError("dot_general: an axis is both batch and contracting")
    batch = [a.shape[i] for i in lb]
    a_free = [d for i, d in enumerate(a.shape) if i not in lc and i not in lb]
    b_free = [d for i, d in enumerate(b.shape) if i not in rc and i not in rb]
    if list(lb) != list(range(len(lb))) or list(rb) != list(range(len(rb))):
        raise ShapeError("dot_general: batch axes must lead both operands")
    return [aval(batch + a_free + b_free, dt)]


def _is_matmul(a, b, lc, rc, lb) -> bool:
    """np.matmul(a, b) computes exactly this contraction: no batch axes, a's last axis against
    b's first, and b at most 2-D (np.matmul treats more leading axes of either as batch axes,
    so a 3-D ``a`` contracting its middle axis is *not* a matmul)."""
    return (not lb and a is not None and b is not None and 1 <= a.ndim and 1 <= b.ndim <= 2
            and tuple(lc) == (a.ndim - 1,) and tuple(rc) == (0,))


def _dot_src(ins, oa, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    # the emitter's operands carry their avals; without them, take the general route
    if _is_matmul(getattr(ins[0], "aval", None), getattr(ins[1], "aval", None), lc, rc, lb):
        return f"np.matmul({ins[0]}, {ins[1]})"
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return f"rt.dot_general({ins[0]}, {ins[1]}, {dn!r})"


dot_general_p = Primitive(
    "dot_general", kind="contraction", abstract_eval=_dot_rule, impl=rt.dot_general,
    numpy_src=_dot_src, linear_args=(0, 1),
    doc="out axes: batch, a's free axes, b's free axes; batch axes lead both operands",
    traits=Traits())
