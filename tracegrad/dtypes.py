"""The dtypes tracegrad supports and NumPy 2 (NEP 50) promotion between them.

Python scalars are *weak*: ``f32_array * 2.0`` stays float32 and ``f32_array * 1j`` is
complex64, as in NumPy 2.
"""
from __future__ import annotations

import numpy as np

from .errors import DTypeError

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")
complex64 = np.dtype("complex64")
complex128 = np.dtype("complex128")

SUPPORTED = (float32, float64, int32, int64, bool_, complex64, complex128)
SHORT_NAMES = {float32: "f32", float64: "f64", int32: "i32", int64: "i64", bool_: "bool",
               complex64: "c64", complex128: "c128"}
FROM_SHORT = {v: k for k, v in SHORT_NAMES.items()}


def short_name(dtype: np.dtype) -> str:
    return SHORT_NAMES[dtype]


def canonical(dtype, *, what: str = "value") -> np.dtype:
    """Return the supported ``np.dtype`` for ``dtype`` or raise a ``DTypeError`` naming the fix."""
    if isinstance(dtype, str) and dtype in FROM_SHORT:
        return FROM_SHORT[dtype]
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"{what}: {dtype!r} is not a dtype") from exc
    if dt in SHORT_NAMES:
        return dt
    raise DTypeError(
        f"{what} has dtype {dt}, which tracegrad does not support; supported dtypes are "
        "float32, float64, int32, int64, bool, complex64 and complex128 (convert with .astype(np.float32) or similar)")


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def is_complex(dtype: np.dtype) -> bool:
    return dtype.kind == "c"


def is_inexact(dtype: np.dtype) -> bool:
    """Float or complex: the dtypes that carry tangents and cotangents."""
    return dtype.kind in "fc"


def real_dtype(dtype: np.dtype) -> np.dtype:
    """The real dtype of a complex one's parts (complex64 -> float32); others unchanged."""
    return {complex64: float32, complex128: float64}.get(dtype, dtype)


def complex_dtype(dtype: np.dtype) -> np.dtype:
    """The complex dtype holding ``dtype`` (float32 -> complex64, ints/float64 -> complex128)."""
    if is_complex(dtype):
        return dtype
    return complex64 if dtype == float32 else complex128


def is_int(dtype: np.dtype) -> bool:
    return dtype.kind in "iu"


def is_bool(dtype: np.dtype) -> bool:
    return dtype.kind == "b"


def result_type(*operands) -> np.dtype:
    """NumPy 2 promotion over dtypes and weak Python scalars (``bool``, ``int``, ``float``,
    ``complex``)."""
    parts = []
    for op in operands:
        if isinstance(op, (bool, int, float, complex)) and not isinstance(op, np.generic):
            parts.append(op)  # weak: NumPy 2 keeps the other operand's precision
        else:
            parts.append(np.dtype(op))
    dt = np.result_type(*parts)
    return canonical(dt, what="result")


def float_result(dtype: np.dtype) -> np.dtype:
    """The dtype a transcendental produces from ``dtype`` (ints and bools go to float64;
    floats and complex stay)."""
    return dtype if is_inexact(dtype) else float64
