"""Operands, NumPy 2 promotion and broadcasting: Python scalars stay weak (NEP 50) until an
operation meets an array, and every elementwise operand is converted and broadcast here.
"""
from __future__ import annotations

import builtins

import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..errors import DTypeError, ShapeError, TracegradError, UnsupportedOperationError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .registry import _unsupported


def _is_scalar(x) -> bool:
    return lax.is_python_scalar(x)


def _as_operand(x):
    """Tracers and ndarrays pass through; lists become arrays; Python scalars stay weak."""
    if isinstance(x, Tracer) or _is_scalar(x):
        return x
    if isinstance(x, _np.ndarray):
        if x.dtype not in _dt.SHORT_NAMES:
            x = x.astype(_dt.canonical(_np.result_type(x.dtype, _np.float32)
                                        if x.dtype.kind == "f" else x.dtype, what="array"))
        return x
    if isinstance(x, _np.generic):
        return _np.asarray(x, dtype=_dt.canonical(x.dtype, what="scalar"))
    if isinstance(x, (list, tuple)):
        if builtins.any(isinstance(t, Tracer) for t in _flat(x)):
            return stack([_as_operand(t) for t in x])
        try:
            arr = _np.asarray(x)
        except ValueError as e:  # a ragged nested list
            raise ShapeError(f"{_short_list(x)} cannot be an array operand ({e}); nested lists "
                             "must be rectangular", src=user_src_with_text(3)) from None
        return arr.astype(_dt.canonical(arr.dtype, what="array")) if arr.dtype.kind != "U" else \
            _unsupported(f"an array of strings ({x!r})")
    if x is None:
        raise TracegradError("None is not an array operand", src=user_src_with_text(3))
    if getattr(type(x), "_tg_tensor", False):  # a tg.Tensor in a traced function
        raise UnsupportedOperationError(
            f"a tg.Tensor of shape {tuple(x.shape)} met a traced array (inside tg.jit/tg.grad, "
            "or in a tg.scan/while_loop/cond body started on NumPy arrays). To loop over "
            "tensors, pass the loop's init/xs as tensors (tg.as_tensor(x)): the body then sees "
            "tensors and gradients reach the parameters it uses. In tg.jit/tg.grad functions "
            "pass arrays (t.detach().numpy()) as arguments instead", src=user_src_with_text(3))
    raise TracegradError(f"{type(x).__name__} {x!r} is not an array operand; pass NumPy arrays or "
                         "Python numbers", src=user_src_with_text(3))


def _strong(x):
    """``x`` as a NumPy value: a weak tracer (standing for a Python scalar argument) becomes a
    strong one of the same dtype, as ``np.asarray`` makes a Python int a 0-d int64 array."""
    if isinstance(x, Tracer) and x._weak:
        return Tracer(x._ctx, x._var, False)
    return x


def _short_list(x) -> str:
    r = repr(x)
    return r if len(r) < 40 else r[:37] + "..."


def _as_array(x):
    """Like ``_as_operand``, but a Python scalar becomes a 0-d array of NumPy's default dtype
    (for functions that are not elementwise, where a weak scalar has nothing to adapt to)."""
    return _np.asarray(x) if _is_scalar(x) else _as_operand(x)


def _flat(xs):
    for t in xs:
        if isinstance(t, (list, tuple)):
            yield from _flat(t)
        else:
            yield t


def _dtype(x):
    return lax.dtype_of(x)


def _shape(x):
    return lax.shape_of(x)


_WEAK_STANDIN = {"f": 0.0, "i": 0, "b": False, "c": 0j}


def _result_dtype(xs):
    parts = [x if _is_scalar(x) else
             _WEAK_STANDIN[_dtype(x).kind] if isinstance(x, Tracer) and x._weak else _dtype(x)
             for x in xs]
    return _dt.result_type(*parts)


def _broadcast_shapes(*shapes):
    try:
        return tuple(_np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"operands could not be broadcast together with shapes "
                         f"{' '.join(str(tuple(s)) for s in shapes)}",
                         src=user_src_with_text(4)) from None
    except RuntimeError:  # np.broadcast takes at most 32 dimensions (arrays may have 64)
        raise ShapeError(f"operands with {builtins.max(map(len, shapes))} dimensions: tracegrad "
                         "traces arrays of up to 32 (NumPy's broadcasting limit); reshape to "
                         "fewer dimensions", src=user_src_with_text(4)) from None


def _prepare(xs, dtype=None, scalars_as_arrays=False):
    """Promote to one dtype and broadcast to one shape; Python scalars stay literals unless
    ``scalars_as_arrays`` (composites of several primitives want every operand at the common
    dtype: an intermediate of a weak scalar alone would be a strong float64)."""
    xs = [_as_operand(x) for x in xs]
    dt = _result_dtype(xs) if dtype is None else _dt.canonical(dtype)
    arrays = [x for x in xs if not _is_scalar(x)]
    shape = _broadcast_shapes(*[_shape(x) for x in arrays]) if arrays else ()
    out = []
    for x in xs:
        if _is_scalar(x):
            out.append(_np.asarray(x, dt) if not arrays else
                       lax.full(shape, x, dt) if scalars_as_arrays else x)
        else:
            out.append(lax.broadcast_to(lax.convert(x, dt), shape))
    return out, dt


def _elementwise(name, *xs, dtype=None):
    ys, dt = _prepare(xs, dtype)
    return lax.elementwise(name, *ys)


def _float_elementwise(name, *xs):
    """Transcendentals: integers and bools compute in float64 (NumPy's rule)."""
    xs = [_as_operand(x) for x in xs]
    dt = _dt.float_result(_result_dtype(xs))
    return _elementwise(name, *xs, dtype=dt)


def _float_operand(x):
    x = _as_operand(x)
    if _is_scalar(x) or _dt.is_inexact(_dtype(x)):
        return x
    out = astype(x, _dt.float64)
    if isinstance(x, Tracer) and x._weak:
        out._weak = True  # float(s) of a Python int is a Python float: still weak (hypot(f32, s))
    return out


def _prepare_no_broadcast(xs):
    # contractions (dot, einsum, ...) convert operands with np.asarray: Python scalars, and the
    # weak tracers that stand for them, promote as strong int64/float64/bool arrays
    xs = [_as_operand(x) for x in xs]
    xs = [_np.asarray(x) if _is_scalar(x) else _strong(x) for x in xs]
    dt = _result_dtype(xs)
    return [lax.convert(x, dt) for x in xs], dt


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .creation import astype  # noqa: E402
from .manipulation import stack  # noqa: E402
