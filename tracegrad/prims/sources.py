"""Primitives without inputs: ``constant`` (a closed-over array) and ``iota`` (counting indices)."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..primitive import Primitive
from . import np_helpers as rt
from .common import aval


def _constant_rule(*, value):
    return [aval(value.shape, dtypes.canonical(value.dtype))]


constant_p = Primitive(
    "constant", kind="source", abstract_eval=_constant_rule, impl=lambda *, value: value,
    # the emitter binds each constant to a name in the generated module's namespace
    numpy_src=lambda ins, out_avals, value: "<constant>", nondiff=True,
    doc="an array closed over by the traced function")


def _iota_rule(*, shape, dimension, dtype):
    return [aval(shape, dtypes.canonical(dtype))]


iota_p = Primitive(
    "iota", kind="source", abstract_eval=_iota_rule, impl=rt.iota,
    numpy_src=lambda ins, out_avals, shape, dimension, dtype:
        f"rt.iota({tuple(shape)!r}, {dimension!r}, np.{dtype})",
    nondiff=True, doc="iota[shape, dimension]: value = index along dimension")


def constant_value(eqn) -> np.ndarray:
    return eqn.params["value"]



