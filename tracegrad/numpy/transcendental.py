"""Floating-point ufuncs (exp, log, trig, logaddexp, hypot, sinc, ...): integer and bool
operands compute in float64, as NumPy's float ufuncs do; results match NumPy's values.
"""
from __future__ import annotations

import math

import numpy as _np

from .. import dtypes as _dt
from ..errors import DTypeError
from ..source_info import user_src_with_text
from .registry import _public
from .promotion import (_as_operand, _dtype, _float_elementwise, _float_operand, _is_scalar,
                        _prepare, _result_dtype)


def _transcendental(name, prim):
    def fn(x):
        return _float_elementwise(prim, x)
    fn.__name__ = name
    return _public(fn)


for _n, _p in [("exp", "exp"), ("exp2", "exp2"), ("log", "log"), ("log2", "log2"),
               ("log1p", "log1p"), ("expm1", "expm1"), ("sqrt", "sqrt"), ("sin", "sin"),
               ("cos", "cos"), ("tan", "tan"), ("tanh", "tanh"), ("sinh", "sinh"),
               ("cosh", "cosh"), ("arcsin", "arcsin"), ("arccos", "arccos"),
               ("arctan", "arctan"), ("arcsinh", "arcsinh"), ("arctanh", "arctanh"),
               ("arccosh", "arccosh"), ("erf", "erf"), ("sigmoid", "sigmoid")]:
    globals()[_n] = _transcendental(_n, _p)


asin, acos, atan, asinh, acosh, atanh = arcsin, arccos, arctan, arcsinh, arccosh, arctanh  # noqa


@_public
def arctan2(x1, x2):
    return _float_elementwise("atan2", x1, x2)


atan2 = arctan2


@_public
def log10(x):
    return multiply(log(x), 1.0 / math.log(10.0))  # noqa: F821  (defined by the loop above)


@_public
def square(x):
    x = _as_operand(x)
    _no_bool_arith("square", _dtype(x))
    return multiply(x, x)


@_public
def reciprocal(x):
    x = _as_operand(x)
    dt = _dtype(x)
    _no_bool_arith("reciprocal", dt)
    if _dt.is_int(dt):
        # NumPy's integer reciprocal truncates: 1 // x is 0 unless |x| == 1 (0 is undefined there)
        return where(equal(abs(x), 1), x, 0)
    return true_divide(1.0, x)


def _no_bool_arith(name, dt):
    if _dt.is_bool(dt):
        raise DTypeError(f"np.{name} of a bool array gives int8 in NumPy, a dtype tracegrad does "
                         "not support; convert first (x.astype(np.int32) or np.float32)",
                         src=user_src_with_text(4))


@_public
def cbrt(x):
    x = _float_operand(x)
    return multiply(sign(x), power(abs(x), 1.0 / 3.0))


@_public
def deg2rad(x):
    return multiply(_float_operand(x), math.pi / 180.0)


@_public
def rad2deg(x):
    return multiply(_float_operand(x), 180.0 / math.pi)


radians, degrees = deg2rad, rad2deg


# logaddexp, logaddexp2 and hypot are primitives (NumPy's own functions, NumPy's values): a
# lowering on maximum/abs/where has kinks at the ties x1 == x2 (|x1| == |x2|) where these
# functions are smooth, and second derivatives there came out 0 (docs/gradients.md).
@_public
def logaddexp(x1, x2):
    return _float_elementwise("logaddexp", x1, x2)


@_public
def logaddexp2(x1, x2):
    return _float_elementwise("logaddexp2", x1, x2)


@_public
def hypot(x1, x2):
    return _float_elementwise("hypot", x1, x2)


@_public
def float_power(x1, x2):
    (a, b), _ = _prepare([x1, x2])
    dt = _dt.float64 if _result_dtype([a, b]).itemsize <= 8 else _result_dtype([a, b])
    return power(astype(_np.asarray(a) if _is_scalar(a) else a, dt),
                 astype(_np.asarray(b) if _is_scalar(b) else b, dt))


@_public
def sinc(x):
    """sin(pi x) / (pi x), with NumPy's own trick for x == 0 (so values match bit for bit).

    At x == 0 the value comes from the Taylor polynomial 1 - t/6 + t**2/120 - ... in
    t = (pi x)**2, which is exactly 1 there (NumPy's value) and carries every derivative up to
    the 9th: through NumPy's trick alone the constant 1e-20 made them all 0 (sinc''(0) is
    -pi**2/3, not 0)."""
    x = _float_operand(x)
    zero = equal(x, 0)
    y = multiply(math.pi, where(zero, 1.0e-20, x))
    t = multiply(math.pi * math.pi, multiply(x, x))
    taylor = None  # Horner: 1 - t/(2*3) (1 - t/(4*5) (1 - t/(6*7) (1 - t/(8*9))))
    for k in (9, 7, 5, 3):
        c = 1.0 / (k * (k - 1))  # Python floats stay weak: float32 stays float32
        taylor = subtract(1.0, multiply(t, c if taylor is None else multiply(taylor, c)))
    return where(zero, taylor, true_divide(sin(y), y))  # noqa: F821  (the transcendental loop)


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .arithmetic import abs, equal, multiply, power, sign, subtract, true_divide  # noqa: E402
from .predicates import where  # noqa: E402
from .creation import astype  # noqa: E402
