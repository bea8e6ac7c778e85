"""``dot_general``: contraction over paired axes with optional batch axes (matmul, dot, einsum)."""
from __future__ import annotations

from ..errors import ShapeError
from ..primitive import Primitive
from . import np_helpers as rt
from .common import aval, check_class, same_dtypes


def _dot_rule(a, b, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dt = same_dtypes("dot_general", (a, b))
    check_class("dot_general", dt, "numeric")
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ShapeError("dot_general: contracting/batch dimension lists differ in length")
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


def _dot_src(ins, oa, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if not lb and tuple(lc) == (1,) and tuple(rc) == (0,):
        return f"np.matmul({ins[0]}, {ins[1]})"  # plain matrix product (2-D @ 1-D/2-D)
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return f"rt.dot_general({ins[0]}, {ins[1]}, {dn!r})"


dot_general_p = Primitive(
    "dot_general", kind="contraction", abstract_eval=_dot_rule, impl=rt.dot_general,
    numpy_src=_dot_src, linear_args=(0, 1),
    doc="out axes: batch, a's free axes, b's free axes; batch axes lead both operands")
