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
        linear_args=(0,) if linear else (), traits=traits)


reduce_sum_p = _reduction("reduce_sum", "sum", "cnumeric",
                          Traits(reduction=True, epilogue=True), linear=True)
reduce_max_p = _reduction("reduce_max", "max", "any",
                          Traits(reduction=True, epilogue=True, range="hull"))
reduce_min_p = _reduction("reduce_min", "min", "any",
                          Traits(reduction=True, epilogue=True, range="hull"))
# a product of finite values can overflow anywhere: its partials are treated as singular
reduce_prod_p = _reduction("reduce_prod", "prod", "cnumeric",
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
    nondiff=True, doc="index of the first maximum (NaN counts as maximal, as in NumPy)",
    traits=Traits(range="index"))
argmin_p = Primitive(
    "argmin", kind="reduction", abstract_eval=_arg_rule_for("argmin"),
    impl=lambda x, *, axis, index_dtype:
        np.argmin(x, axis=axis).astype(dtypes.canonical(index_dtype)),
    nondiff=True, doc="index of the first minimum", traits=Traits(range="index"))


def _cumsum_rule(x, *, axis, reverse):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"cumsum: axis {axis} out of range for {x.shape}")
    check_class("cumsum", x.dtype, "cnumeric")
    return [x]


cumsum_p = Primitive(
    "cumsum", kind="reduction", abstract_eval=_cumsum_rule, impl=rt.cumsum,
    linear_args=(0,), doc="inclusive running sum along axis (from the end when reverse)",
    traits=Traits())


# --- derivative rules (after the declarations: ops binds them) ---------------------------------
from ..primitive import defjvp, deftranspose, defvjp  # noqa: E402
from . import ops  # noqa: E402
from .linear import linear_jvp  # noqa: E402


def _reduce_sum_vjp(cts, primals, outs, *, axes):
    xs = ops.shape_of(primals[0])
    kept = [d for d in range(len(xs)) if d not in axes]
    return [ops.broadcast_in_dim(cts[0], xs, kept)]


def _cumsum_vjp(cts, primals, outs, *, axis, reverse):
    return [ops.cumsum(cts[0], axis, not reverse)]


for _p, _rule in ((reduce_sum_p, _reduce_sum_vjp), (cumsum_p, _cumsum_vjp)):  # linear
    defjvp(_p, linear_jvp(_p))
    defvjp(_p, _rule)
    deftranspose(_p, _rule)


# reductions with selection: ties split evenly (docs/gradients.md)
def _extremum_weights(x, out, axes):
    xs = ops.shape_of(x)
    kept = [d for d in range(len(xs)) if d not in axes]
    hit = ops.convert(ops.eq(x, ops.broadcast_in_dim(out, xs, kept)), ops.dtype_of(x))
    count = ops.reduce_sum(hit, axes)
    return ops.div(hit, ops.broadcast_in_dim(count, xs, kept)), kept


def _extremum_jvp(primals, tangents, outs, *, axes):
    (t,) = tangents
    if t is None or not ops.is_float(primals[0]):
        return [None]
    w, _ = _extremum_weights(primals[0], outs[0], axes)
    return [ops.reduce_sum(ops.mul(w, t), axes)]


def _extremum_vjp(cts, primals, outs, *, axes):
    if not ops.is_float(primals[0]):
        return [None]
    w, kept = _extremum_weights(primals[0], outs[0], axes)
    xs = ops.shape_of(primals[0])
    return [ops.mul(w, ops.broadcast_in_dim(cts[0], xs, kept))]


for _p in (reduce_max_p, reduce_min_p):
    defjvp(_p, _extremum_jvp)
    defvjp(_p, _extremum_vjp)


def _prod_partials(x, out, axes):
    """d prod / d x_i = product of the other elements, exact when some x are zero."""
    xs = ops.shape_of(x)
    kept = [d for d in range(len(xs)) if d not in axes]
    dt = ops.dtype_of(x)
    is_zero = ops.eq(x, 0)
    zeros_count = ops.reduce_sum(ops.convert(is_zero, dt), axes)
    ones = ops.full(xs, 1, dt)
    prod_nonzero = ops.reduce_prod(ops.select(is_zero, ones, x), axes)

    def b(v):
        return ops.broadcast_in_dim(v, xs, kept)
    zc, pn = b(zeros_count), b(prod_nonzero)
    zero = ops.full(xs, 0, dt)
    safe_x = ops.select(is_zero, ones, x)
    at_zero = ops.select(ops.eq(zc, 1), pn, zero)           # the only zero: product of the rest
    elsewhere = ops.select(ops.eq(zc, 0), ops.div(b(out), safe_x), zero)
    return ops.select(is_zero, at_zero, elsewhere), kept


def _prod_jvp(primals, tangents, outs, *, axes):
    (t,) = tangents
    if t is None:
        return [None]
    p, _ = _prod_partials(primals[0], outs[0], axes)
    return [ops.reduce_sum(ops.mul(p, t), axes)]


def _prod_vjp(cts, primals, outs, *, axes):
    p, kept = _prod_partials(primals[0], outs[0], axes)
    return [ops.mul(p, ops.broadcast_in_dim(cts[0], ops.shape_of(primals[0]), kept))]


defjvp(reduce_prod_p, _prod_jvp)
defvjp(reduce_prod_p, _prod_vjp)


# --- batching rules (vmap): the batch is a new leading axis, reductions shift theirs past it ----
from ..primitive import defbatch  # noqa: E402
from .batching import shift_axes  # noqa: E402


def _batch_reduce(prim):
    def rule(args, batched, size, *, axes):
        return prim.bind(args[0], axes=shift_axes(axes))
    return rule


def _batch_arg(prim):
    def rule(args, batched, size, *, axis, index_dtype):
        return prim.bind(args[0], axis=axis + 1, index_dtype=index_dtype)
    return rule


def _batch_cumsum(args, batched, size, *, axis, reverse):
    return cumsum_p.bind(args[0], axis=axis + 1, reverse=reverse)


for _p in (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p):
    defbatch(_p, _batch_reduce(_p))
defbatch(argmax_p, _batch_arg(argmax_p))
defbatch(argmin_p, _batch_arg(argmin_p))
defbatch(cumsum_p, _batch_cumsum)
