"""Primitive-level operations: thin, strict wrappers over ``bind`` used by the NumPy layer,
the differentiation rules and the passes. Python scalars become literals of the other
operand's dtype; shapes must already agree (no implicit broadcasting here).
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .errors import TracegradError
from .ir import AVal, Lit, make_lit
from .prims import (ELEMENTWISE, argmax_p, argmin_p, broadcast_in_dim_p, concatenate_p,
                    convert_p, cumsum_p, dot_general_p, gather_p, iota_p, pad_p, reduce_max_p,
                    reduce_min_p, reduce_prod_p, reduce_sum_p, reshape_p, rev_p, scatter_add_p,
                    select_p, slice_p, stop_gradient_p, transpose_p)
from .tracer import Tracer, aval_of, bind, current_trace

_PY_SCALARS = (bool, int, float)


def is_python_scalar(x) -> bool:
    return isinstance(x, _PY_SCALARS) and not isinstance(x, np.generic)


def dtype_of(x) -> np.dtype:
    if isinstance(x, Tracer):
        return x.dtype
    if isinstance(x, Lit):
        return x.aval.dtype
    return aval_of(x).dtype


def shape_of(x) -> tuple[int, ...]:
    if isinstance(x, Tracer):
        return x.shape
    if isinstance(x, Lit):
        return ()
    return np.shape(x)


def _operands(xs):
    """Python scalars -> literals of the dtype of the first non-scalar operand."""
    ref = next((x for x in xs if not is_python_scalar(x)), None)
    if ref is None:
        return list(xs)
    dt = dtype_of(ref)
    return [make_lit(x, dt) if is_python_scalar(x) else x for x in xs]


def elementwise(name: str, *xs):
    return bind(ELEMENTWISE[name], *_operands(xs))


def _binary(name):
    def op(x, y):
        return elementwise(name, x, y)
    op.__name__ = name
    return op


def _unary(name):
    def op(x):
        return bind(ELEMENTWISE[name], x)
    op.__name__ = name
    return op


add, sub, mul, div, pow, max, min = (_binary(n) for n in ("add", "sub", "mul", "div", "pow",
                                                          "max", "min"))
rem, floor_divide, atan2 = _binary("rem"), _binary("floor_divide"), _binary("atan2")
logaddexp, logaddexp2, hypot = _binary("logaddexp"), _binary("logaddexp2"), _binary("hypot")
lt, le, gt, ge, eq, ne = (_binary(n) for n in ("lt", "le", "gt", "ge", "eq", "ne"))
logical_and, logical_or, logical_xor = _binary("and"), _binary("or"), _binary("xor")
(neg, abs, sign, floor, ceil, round, exp, exp2, log, log2, log1p, expm1, sqrt, sin, cos, tan,
 tanh, sinh, cosh, arcsin, arccos, arctan, arcsinh, arctanh, arccosh, sigmoid, erf,
 logical_not, softplus) = (_unary(n) for n in (
    "neg", "abs", "sign", "floor", "ceil", "round", "exp", "exp2", "log", "log2", "log1p",
    "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan",
    "arcsinh", "arctanh", "arccosh", "sigmoid", "erf", "not", "softplus"))


def select(pred, on_true, on_false):
    a, b = _operands((on_true, on_false))
    return bind(select_p, pred, a, b)


def convert(x, dtype):
    dtype = dtypes.canonical(dtype)
    if dtype_of(x) == dtype:
        return x
    if is_python_scalar(x):
        return make_lit(x, dtype)
    return bind(convert_p, x, new_dtype=str(dtype))


def stop_gradient(x):
    """Identity forward, zero gradient (``tg.stop_gradient``); on a pytree, leaf by leaf."""
    if isinstance(x, Tracer):
        return bind(stop_gradient_p, x)
    from .pytree import tree_flatten, tree_unflatten
    from .source_info import user_src_with_text
    from .staging import leaf_aval
    leaves, tree = tree_flatten(x)
    if tree.kind != "leaf":
        return tree_unflatten(tree, [stop_gradient(v) for v in leaves])
    try:
        leaf_aval(x, "the argument of tg.stop_gradient")
    except TracegradError as exc:
        raise exc.with_src(user_src_with_text(2)) from None
    return bind(stop_gradient_p, x)


def full(shape, value, dtype):
    """An array of ``shape`` filled with ``value``; inside a trace it is one broadcast equation."""
    dtype = dtypes.canonical(dtype)
    shape = tuple(int(d) for d in shape)
    lit = make_lit(value, dtype)
    ctx = current_trace()
    if ctx is None:
        return np.full(shape, lit.value, dtype=dtype)
    return bind(broadcast_in_dim_p, lit, shape=shape, broadcast_dimensions=(), _ctx=ctx)


def zeros_like(x):
    return full(shape_of(x), 0, dtype_of(x))


def broadcast_in_dim(x, shape, broadcast_dimensions):
    shape = tuple(shape)
    if shape_of(x) == shape and tuple(broadcast_dimensions) == tuple(range(len(shape))):
        return x
    if is_python_scalar(x):
        raise TypeError("broadcast_in_dim of a Python scalar needs a dtype; use full()")
    return bind(broadcast_in_dim_p, x, shape=shape, broadcast_dimensions=tuple(broadcast_dimensions))


def broadcast_to(x, shape):
    """NumPy-style broadcast of ``x`` (trailing alignment) to ``shape``."""
    shape = tuple(shape)
    xs = shape_of(x)
    if xs == shape:
        return x
    lead = len(shape) - len(xs)
    dims = tuple(range(lead, len(shape)))
    return broadcast_in_dim(x, shape, dims)


def reshape(x, new_sizes):
    new_sizes = tuple(int(d) for d in new_sizes)
    if shape_of(x) == new_sizes:
        return x
    return bind(reshape_p, x, new_sizes=new_sizes)


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return bind(transpose_p, x, permutation=permutation)


def slice(x, start_indices, limit_indices, strides=None):
    shape = shape_of(x)
    strides = tuple(strides) if strides is not None else (1,) * len(shape)
    if tuple(start_indices) == (0,) * len(shape) and tuple(limit_indices) == tuple(shape) \
            and strides == (1,) * len(shape):
        return x
    return bind(slice_p, x, start_indices=tuple(start_indices),
                limit_indices=tuple(limit_indices), strides=strides)


def pad(x, padding_value, low, high, interior=None):
    interior = tuple(interior) if interior is not None else (0,) * len(shape_of(x))
    if not any(low) and not any(high) and not any(interior):
        return x
    (pv,) = _operands_like(x, (padding_value,))
    return bind(pad_p, x, pv, low=tuple(low), high=tuple(high), interior=interior)


def _operands_like(ref, xs):
    dt = dtype_of(ref)
    return [make_lit(v, dt) if is_python_scalar(v) else v for v in xs]


def concatenate(xs, dimension):
    if len(xs) == 1:
        return xs[0]
    return bind(concatenate_p, *xs, dimension=int(dimension))


def rev(x, dimensions):
    if not dimensions:
        return x
    return bind(rev_p, x, dimensions=tuple(dimensions))


def gather(x, indices):
    return bind(gather_p, x, indices)


def scatter_add(x, indices, updates):
    return bind(scatter_add_p, x, indices, updates)


def iota(shape, dimension, dtype=dtypes.int64):
    return bind(iota_p, shape=tuple(int(d) for d in shape), dimension=int(dimension),
                dtype=str(dtypes.canonical(dtype)), _ctx=current_trace())


def reduce_sum(x, axes):
    axes = tuple(sorted(axes))
    if not axes:
        return x
    return bind(reduce_sum_p, x, axes=axes)


def reduce_max(x, axes):
    axes = tuple(sorted(axes))
    return bind(reduce_max_p, x, axes=axes) if axes else x


def reduce_min(x, axes):
    axes = tuple(sorted(axes))
    return bind(reduce_min_p, x, axes=axes) if axes else x


def reduce_prod(x, axes):
    axes = tuple(sorted(axes))
    return bind(reduce_prod_p, x, axes=axes) if axes else x


def argmax(x, axis, index_dtype=dtypes.int64):
    return bind(argmax_p, x, axis=int(axis), index_dtype=str(index_dtype))


def argmin(x, axis, index_dtype=dtypes.int64):
    return bind(argmin_p, x, axis=int(axis), index_dtype=str(index_dtype))


def cumsum(x, axis, reverse=False):
    return bind(cumsum_p, x, axis=int(axis), reverse=bool(reverse))


def dot_general(a, b, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return bind(dot_general_p, a, b, dimension_numbers=dn)


def aval(x) -> AVal:
    if isinstance(x, Lit):
        return x.aval
    return aval_of(x)
