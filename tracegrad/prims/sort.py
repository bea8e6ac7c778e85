"""``argsort``: the stable ascending order of an array along one axis, NaN last, as NumPy
sorts. Sorted values are a ``gather`` of the operand at these indices, so the gradient through
a sort is the gather's (a permutation: the cotangent scattered back to where each value came
from) and needs no rule here; the order itself is piecewise constant: zero gradient, stated.
"""
from __future__ import annotations

from .. import dtypes
from ..errors import ShapeError
from ..primitive import Primitive, Traits
from .common import aval, check_class
from .np_signal import argsort_stable


def _argsort_rule(x, *, axis):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"argsort: axis {axis} out of range for {x.shape}")
    check_class("argsort", x.dtype, "any")
    return [aval(x.shape, dtypes.int64)]


argsort_p = Primitive(
    "argsort", kind="structural", abstract_eval=_argsort_rule, impl=argsort_stable,
    nondiff=True, doc="stable ascending order along axis (int64 positions), NaN last as NumPy",
    traits=Traits(range="index"))


def argsort(x, axis):
    return argsort_p.bind(x, axis=int(axis))


# --- batching (vmap): the examples are one more leading axis, the sorted axis shifts past it --
from ..primitive import defbatch  # noqa: E402

defbatch(argsort_p, lambda args, batched, size, *, axis: argsort_p.bind(args[0], axis=axis + 1))
