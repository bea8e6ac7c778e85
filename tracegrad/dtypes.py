"""The dtypes tracegrad supports and NumPy 2 (NEP 50) promotion between them.

Python scalars are *weak*: ``f32_array * 2.0`` stays float32, as in NumPy 2.
"""
from __future__ import annotations

import numpy as np

from .errors import DTypeError

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

SUPPORTED = (float32, float64, int32, int64, bool_)
SHORT_NAMES = {float32: "f32", float64: "f64", int32: "i32", int64: "i64", bool_: "bool"}
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
        "float32, float64, int32, int64 and bool (convert with .astype(np.float32) or similar)")


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def is_int(dtype: np.dtype) -> bool:
    return dtype.kind in "iu"


def is_bool(dtype: np.dtype) -> bool:
    return dtype.kind == "b"


def result_type(*operands) -> np.dtype:
    """NumPy 2 promotion over dtypes and weak Python scalars (``bool``, ``int``, ``float``)."""
    parts = []
    for op in operands:
        if isinstance(op, (bool, int, float)) and not isinstance(op, np.generic):
            parts.append(op)  # weak: NumPy 2 keeps the other operand's precision
        else:
            parts.append(np.dtype(op))
    dt = np.result_type(*parts)
    return canonical(dt, what="result")


def float_result(dtype: np.dtype) -> np.dtype:
    """The float dtype a transcendental produces from ``dtype`` (ints and bools go to float64)."""
    return dtype if is_float(dtype) else float64
