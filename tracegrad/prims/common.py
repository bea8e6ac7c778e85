"""Shared shape/dtype checks for primitive declarations."""
from __future__ import annotations

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..ir import AVal


def same_shapes(name: str, avals) -> tuple[int, ...]:
    shapes = {a.shape for a in avals if a.shape != ()}
    if len(shapes) > 1:
        raise ShapeError(f"{name}: operand shapes {[a.shape for a in avals]} differ (primitives are "
                         "strict; the NumPy layer inserts broadcast_in_dim)")
    return shapes.pop() if shapes else ()


def same_dtypes(name: str, avals) -> "dtypes.np.dtype":
    kinds = {a.dtype for a in avals}
    if len(kinds) > 1:
        raise DTypeError(f"{name}: operand dtypes {[str(a.dtype) for a in avals]} differ")
    return avals[0].dtype


def check_class(name: str, dtype, allowed: str):
    # "inexact" and "cnumeric" also take complex (the functions NumPy defines on complex);
    # "any" is every real dtype, "anyc" every dtype
    ok = {"float": dtypes.is_float(dtype),
          "inexact": dtypes.is_inexact(dtype),
          "numeric": dtypes.is_float(dtype) or dtypes.is_int(dtype),
          "cnumeric": not dtypes.is_bool(dtype),
          "bool": dtypes.is_bool(dtype),
          "int": dtypes.is_int(dtype),
          "any": not dtypes.is_complex(dtype),
          "anyc": True}[allowed]
    if not ok and dtypes.is_complex(dtype):  # NumPy orders or rounds complex values, we do not
        raise DTypeError(f"{name} does not take complex operands (got {dtype}); apply it to "
                         "np.real(z), np.imag(z) or np.abs(z)")
    if not ok:
        raise DTypeError(f"{name} needs {allowed} operands, got {dtype}")


def aval(shape, dtype) -> AVal:
    return AVal(tuple(int(d) for d in shape), dtype)
