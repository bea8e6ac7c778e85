"""Strict primitive applications: thin wrappers over ``Primitive.bind`` (``tracegrad.lax``
re-exports them for the NumPy layer and the passes; the derivative rules call them here).

Python scalars become literals of the other operand's dtype; shapes must already agree (no
implicit broadcasting); identity applications return their operand. Built only on
``Primitive.bind`` and the IR, so ``prims/`` imports nothing from the tracing layer. The
elementwise wrappers are generated from the registry (one per declared elementwise primitive).

Declaring modules import this after their declarations (it binds the primitive objects), and
their rules call ``ops.<name>`` only when a rule runs.
"""
from __future__ import annotations

import inspect

import numpy as np

from .. import dtypes
from ..ir import Lit, make_lit
from ..primitive import aval_of, current_trace
from .contraction import dot_general_p
from .elementwise import ELEMENTWISE, convert_p, select_p, stop_gradient_p
from .reductions import (argmax_p, argmin_p, cumsum_p, reduce_max_p, reduce_min_p,
                         reduce_prod_p, reduce_sum_p)
from .sources import iota_p
from .structural import (broadcast_in_dim_p, concatenate_p, gather_p, pad_p, reshape_p, rev_p,
                         scatter_add_p, slice_p, transpose_p)

_PY_SCALARS = (bool, int, float, complex)


def is_python_scalar(x) -> bool:
    return isinstance(x, _PY_SCALARS) and not isinstance(x, np.generic)


def is_var(x) -> bool:
    """Whether x can carry a gradient (not a literal)."""
    return not isinstance(x, Lit)


def dtype_of(x) -> np.dtype:
    return aval_of(x).dtype


def shape_of(x) -> tuple[int, ...]:
    if isinstance(x, Lit):
        return ()
    shape = getattr(x, "shape", None)  # traced values and arrays know theirs
    return tuple(shape) if shape is not None else np.shape(x)


def is_float(x) -> bool:
    return dtypes.is_float(dtype_of(x))


def is_complex(x) -> bool:
    return dtypes.is_complex(dtype_of(x))


def is_inexact(x) -> bool:
    """Float or complex: a value that carries tangents and cotangents."""
    return dtypes.is_inexact(dtype_of(x))


def _operands(xs):
    """Python scalars -> literals of the dtype of the first non-scalar operand."""
    ref = next((x for x in xs if not is_python_scalar(x)), None)
    if ref is None:
        return list(xs)
    dt = dtype_of(ref)
    return [make_lit(x, dt) if is_python_scalar(x) else x for x in xs]


def elementwise(name: str, *xs):
    return ELEMENTWISE[name].bind(*_operands(xs))


def _arity(prim) -> int:
    """Operands of an elementwise primitive: its reference implementation's (a ufunc's nin)."""
    fn = prim.impl
    if isinstance(fn, np.ufunc):
        return fn.nin
    return sum(1 for p in inspect.signature(fn).parameters.values()
               if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD)


def _elementwise_op(prim, name: str):
    # a fixed signature (x) or (x, y), so a wrong operand count fails at the call
    if _arity(prim) == 1:
        def op(x):
            return prim.bind(*_operands((x,)))
    else:
        def op(x, y):
            return prim.bind(*_operands((x, y)))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``{prim.name}`` of the operands (Python scalars become literals)."
    return op


# Python names of the logical primitives (their own names are keywords)
_PY_NAME = {"and": "logical_and", "or": "logical_or", "xor": "logical_xor", "not": "logical_not"}
ELEMENTWISE_OPS: dict[str, object] = {}  # Python name -> wrapper, for every table primitive
for _prim in list(ELEMENTWISE.values()):
    if _prim in (select_p, convert_p, stop_gradient_p):
        continue  # their own wrappers below (and stop_gradient's in lax, over pytrees)
    _py = _PY_NAME.get(_prim.name, _prim.name)
    ELEMENTWISE_OPS[_py] = globals()[_py] = _elementwise_op(_prim, _py)


from .complex_parts import conj_p, imag_p, real_p  # noqa: E402


def real(x):
    """Real part (float32 from complex64)."""
    return real_p.bind(x)


def imag(x):
    """Imaginary part (float32 from complex64)."""
    return imag_p.bind(x)


def conj(x):
    """Complex conjugate."""
    return conj_p.bind(x)


def select(pred, on_true, on_false):
    a, b = _operands((on_true, on_false))
    return select_p.bind(pred, a, b)


def convert(x, dtype):
    dtype = dtypes.canonical(dtype)
    if dtype_of(x) == dtype:
        return x
    if is_python_scalar(x):
        return make_lit(x.real if isinstance(x, complex) and not dtypes.is_complex(dtype) else x,
                        dtype)
    if dtypes.is_complex(dtype_of(x)) and not dtypes.is_complex(dtype):
        from .complex_parts import real_p  # NumPy's astype keeps the real part
        x = real_p.bind(x)
        if dtype_of(x) == dtype:
            return x
    return convert_p.bind(x, new_dtype=str(dtype))


def full(shape, value, dtype):
    """An array of ``shape`` filled with ``value``; inside a trace it is one broadcast equation."""
    dtype = dtypes.canonical(dtype)
    shape = tuple(int(d) for d in shape)
    lit = make_lit(value, dtype)
    ctx = current_trace()
    if ctx is None:
        return np.full(shape, lit.value, dtype=dtype)
    return broadcast_in_dim_p.bind(lit, shape=shape, broadcast_dimensions=(), _ctx=ctx)


def zeros_like(x):
    return full(shape_of(x), 0, dtype_of(x))


def instantiate(t, like):
    """A materialised zero for a symbolic-zero (None) tangent/cotangent."""
    return zeros_like(like) if t is None else t


def broadcast_in_dim(x, shape, broadcast_dimensions):
    shape = tuple(shape)
    if shape_of(x) == shape and tuple(broadcast_dimensions) == tuple(range(len(shape))):
        return x
    if is_python_scalar(x):
        raise TypeError("broadcast_in_dim of a Python scalar needs a dtype; use full()")
    return broadcast_in_dim_p.bind(x, shape=shape,
                                   broadcast_dimensions=tuple(broadcast_dimensions))


def reshape(x, new_sizes):
    new_sizes = tuple(int(d) for d in new_sizes)
    if shape_of(x) == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes)


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind(x, permutation=permutation)


def slice(x, start_indices, limit_indices, strides=None):
    shape = shape_of(x)
    strides = tuple(strides) if strides is not None else (1,) * len(shape)
    if tuple(start_indices) == (0,) * len(shape) and tuple(limit_indices) == tuple(shape) \
            and strides == (1,) * len(shape):
        return x
    return slice_p.bind(x, start_indices=tuple(start_indices),
                        limit_indices=tuple(limit_indices), strides=strides)


def pad(x, padding_value, low, high, interior=None):
    interior = tuple(interior) if interior is not None else (0,) * len(shape_of(x))
    if not any(low) and not any(high) and not any(interior):
        return x
    pv = make_lit(padding_value, dtype_of(x)) if is_python_scalar(padding_value) \
        else padding_value
    return pad_p.bind(x, pv, low=tuple(low), high=tuple(high), interior=interior)


def broadcast_to(x, shape):
    """NumPy-style broadcast of ``x`` (trailing alignment) to ``shape``."""
    shape = tuple(shape)
    xs = shape_of(x)
    if xs == shape:
        return x
    lead = len(shape) - len(xs)
    dims = tuple(range(lead, len(shape)))
    return broadcast_in_dim(x, shape, dims)


def concatenate(xs, dimension):
    if len(xs) == 1:
        return xs[0]
    return concatenate_p.bind(*xs, dimension=int(dimension))


def iota(shape, dimension, dtype=dtypes.int64):
    return iota_p.bind(shape=tuple(int(d) for d in shape), dimension=int(dimension),
                       dtype=str(dtypes.canonical(dtype)), _ctx=current_trace())


def rev(x, dimensions):
    if not dimensions:
        return x
    return rev_p.bind(x, dimensions=tuple(dimensions))


def gather(x, indices):
    return gather_p.bind(x, indices)


def scatter_add(x, indices, updates):
    return scatter_add_p.bind(x, indices, updates)


def reduce_sum(x, axes):
    axes = tuple(sorted(axes))
    if not axes:
        return x
    return reduce_sum_p.bind(x, axes=axes)


def reduce_max(x, axes):
    axes = tuple(sorted(axes))
    return reduce_max_p.bind(x, axes=axes) if axes else x


def reduce_min(x, axes):
    axes = tuple(sorted(axes))
    return reduce_min_p.bind(x, axes=axes) if axes else x


def reduce_prod(x, axes):
    axes = tuple(sorted(axes))
    return reduce_prod_p.bind(x, axes=axes) if axes else x


def argmax(x, axis, index_dtype=dtypes.int64):
    return argmax_p.bind(x, axis=int(axis), index_dtype=str(index_dtype))


def argmin(x, axis, index_dtype=dtypes.int64):
    return argmin_p.bind(x, axis=int(axis), index_dtype=str(index_dtype))


def cumsum(x, axis, reverse=False):
    return cumsum_p.bind(x, axis=int(axis), reverse=bool(reverse))


def dot_general(a, b, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return dot_general_p.bind(a, b, dimension_numbers=dn)

