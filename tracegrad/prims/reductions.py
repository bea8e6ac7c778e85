"""Reductions over axes (sum, max, min, prod), arg-reductions and the cumulative sum."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ShapeError
from ..primitive import Primitive, Traits
from . import np_helpers as rt
from .common import aval, check_class


def _reduce_rule_for(name, klass):
    def rule(x, *, axes):
        if sorted(set(axes)) != list(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise ShapeError(f"{name}: axes {tuple(axes)} must be sorted and within {x.ndim} dims")
        check_class(name, x.dtype, klass)
        if name in ("reduce_max", "reduce_min") and any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{name}: zero-size reduction over axis of {x.shape} has no identity")
        return [aval([d for i, d in enumerate(x.shape) if i not in axes], x.dtype)]
    return rule


def _reduction(name, np_name, klass, traits, linear=False):
    fn = getattr(np, np_name)
    return Primitive(
        name, kind="reduction", abstract_eval=_reduce_rule_for(name, klass),
        impl=lambda x, *, axes: fn(x, axis=tuple(axes), dtype=x.dtype) if np_name in ("sum", "prod")
        else fn(x, axis=tuple(axes)),
        numpy_src=(lambda ins, oa, axes: f"np.{np_name}({ins[0]}, axis={tuple(axes)!r}, "
                   f"dtype=np.{oa[0].dtype})") if np_name in ("sum", "prod")
        else (lambda ins, oa, axes: f"np.{np_name}({ins[0]}, axis={tuple(axes)!r})"),
        linear_args=(0,) if linear else (), traits=traits)


reduce_sum_p = _reduction("reduce_sum", "sum", "numeric",
                          Traits(reduction=True, epilogue=True), linear=True)
reduce_max_p = _reduction("reduce_max", "max", "any",
                          Traits(reduction=True, epilogue=True, range="hull"))
reduce_min_p = _reduction("reduce_min", "min", "any",
                          Traits(reduction=True, epilogue=True, range="hull"))
# a product of finite values can overflow anywhere: its partials are treated as singular
reduce_prod_p = _reduction("reduce_prod", "prod", "numeric",
                           Traits(reduction=True, range="singular"))


def _arg_rule_for(name):
    def rule(x, *, axis, index_dtype):
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{name}: axis {axis} out of range for {x.shape}")
        if x.shape[axis] == 0:
            raise ShapeError(f"{name}: empty axis {axis} of {x.shape}")
        idt = dtypes.canonical(index_dtype)
        check_class(name, idt, "int")
        return [aval([d for i, d in enumerate(x.shape) if i != axis], idt)]
    return rule


argmax_p = Primitive(
    "argmax", kind="reduction", abstract_eval=_arg_rule_for("argmax"),
    impl=lambda x, *, axis, index_dtype:
        np.argmax(x, axis=axis).astype(dtypes.canonical(index_dtype)),
    numpy_src=lambda ins, oa, axis, index_dtype:
        f"np.argmax({ins[0]}, axis={axis}).astype(np.{oa[0].dtype})",
    nondiff=True, doc="index of the first maximum (NaN counts as maximal, as in NumPy)",
    traits=Traits(range="unit"))
argmin_p = Primitive(
    "argmin", kind="reduction", abstract_eval=_arg_rule_for("argmin"),
    impl=lambda x, *, axis, index_dtype:
        np.argmin(x, axis=axis).astype(dtypes.canonical(index_dtype)),
    numpy_src=lambda ins, oa, axis, index_dtype:
        f"np.argmin({ins[0]}, axis={axis}).astype(np.{oa[0].dtype})",
    nondiff=True, doc="index of the first minimum", traits=Traits(range="unit"))


def _cumsum_rule(x, *, axis, reverse):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"cumsum: axis {axis} out of range for {x.shape}")
    check_class("cumsum", x.dtype, "numeric")
    return [x]


cumsum_p = Primitive(
    "cumsum", kind="reduction", abstract_eval=_cumsum_rule, impl=rt.cumsum,
    numpy_src=lambda ins, oa, axis, reverse: f"rt.cumsum({ins[0]}, {axis}, {reverse})",
    linear_args=(0,), doc="inclusive running sum along axis (from the end when reverse)",
    traits=Traits())
