"""Primitives without inputs: ``constant`` (a closed-over array) and ``iota`` (counting indices)."""
from __future__ import annotations

from .. import dtypes
from ..errors import ShapeError
from ..primitive import Primitive, Traits
from . import np_helpers as rt
from .common import aval, check_class


def _constant_rule(*, value):
    return [aval(value.shape, dtypes.canonical(value.dtype))]


constant_p = Primitive(
    "constant", kind="source", abstract_eval=_constant_rule, impl=lambda *, value: value,
    nondiff=True,
    doc="an array closed over by the traced function",
    traits=Traits(flops=False, foldable=False))


def _iota_rule(*, shape, dimension, dtype):
    if any(d < 0 for d in shape) or not 0 <= dimension < len(shape):
        raise ShapeError(f"iota: dimension {dimension} of shape {tuple(shape)} is out of range")
    dt = dtypes.canonical(dtype)
    check_class("iota", dt, "numeric")  # a bool count is meaningless past 1
    return [aval(shape, dt)]


iota_p = Primitive(
    "iota", kind="source", abstract_eval=_iota_rule,
    impl=lambda *, shape, dimension, dtype: rt.iota(shape, dimension, dtypes.canonical(dtype)),
    nondiff=True, doc="iota[shape, dimension]: value = index along dimension",
    traits=Traits(flops=False, foldable=False, range="index"))
