"""NumPy's arithmetic, comparison, logical, bitwise and rounding ufuncs on the primitives,
with NumPy's dtype rules (bool arithmetic, integer rounding, negative integer powers).
"""
from __future__ import annotations

import numpy as _np

from .. import dtypes as _dt
from .. import int_range as _int_range
from .. import lax
from ..errors import ArgumentError, DTypeError
from ..source_info import user_src_with_text
from .registry import _public, _unsupported
from .arguments import _no_extras, _static_int
from .promotion import (_as_array, _as_operand, _dtype, _elementwise, _float_elementwise,
                        _is_scalar, _prepare, _result_dtype, _shape)


def _arith(name, prim, bool_prim=None):
    def fn(x1, x2):
        xs = [_as_operand(x1), _as_operand(x2)]
        if bool_prim and _dt.is_bool(_result_dtype(xs)):
            return _elementwise(bool_prim, *xs)
        return _elementwise(prim, *xs)
    fn.__name__ = name
    return _public(fn)


add = _arith("add", "add", "or")


@_public
def subtract(x1, x2):
    xs = [_as_operand(x1), _as_operand(x2)]
    if _dt.is_bool(_result_dtype(xs)):
        raise DTypeError("np.subtract (-) of two bool arrays is not supported (NumPy refuses it "
                         "too); use a ^ b or np.logical_xor(a, b)", src=user_src_with_text(3))
    return _elementwise("sub", *xs)


@_public
def divmod(x1, x2):
    """``(x1 // x2, x1 % x2)``, as NumPy's ufunc with two outputs."""
    return floor_divide(x1, x2), remainder(x1, x2)


multiply = _arith("multiply", "mul", "and")


maximum = _arith("maximum", "max")


minimum = _arith("minimum", "min")


remainder = _arith("remainder", "rem")


mod = remainder


floor_divide = _arith("floor_divide", "floor_divide")


@_public
def fmax(x1, x2):
    """maximum that ignores NaN: the other operand wins unless both are NaN."""
    (a, b), _ = _prepare([x1, x2])
    m = maximum(a, b)
    return where(isnan(a), b, where(isnan(b), a, m)) if _dt.is_float(_dtype(m)) else m


@_public
def fmin(x1, x2):
    """minimum that ignores NaN: the other operand wins unless both are NaN."""
    (a, b), _ = _prepare([x1, x2])
    m = minimum(a, b)
    return where(isnan(a), b, where(isnan(b), a, m)) if _dt.is_float(_dtype(m)) else m


@_public
def true_divide(x1, x2):
    return _float_elementwise("div", x1, x2)


divide = true_divide


@_public
def power(x1, x2):
    xs = [_as_operand(x1), _as_operand(x2)]
    if _dt.is_int(_result_dtype(xs)):
        e = xs[1]
        if isinstance(e, _np.ndarray) or _is_scalar(e):  # a static exponent: check it now
            if (_np.asarray(e) < 0).any():
                raise ArgumentError("Integers to negative integer powers are not allowed (as in "
                                    "NumPy); make the base a float: x.astype(np.float64) ** e",
                                    src=user_src_with_text(3))
    return _elementwise("pow", *xs)


def _cmp(name, prim):
    def fn(x1, x2):
        # NumPy 2 compares integers with out-of-range Python ints exactly (int32 < 2**40)
        exact = _int_range.exact_comparison(prim, x1, x2, _elementwise, lax.full, _shape, _dtype)
        return _elementwise(prim, x1, x2) if exact is None else exact
    fn.__name__ = name
    return _public(fn)


less, less_equal = _cmp("less", "lt"), _cmp("less_equal", "le")


greater, greater_equal = _cmp("greater", "gt"), _cmp("greater_equal", "ge")


equal, not_equal = _cmp("equal", "eq"), _cmp("not_equal", "ne")


def _logical(name, prim):
    def fn(*xs):
        xs = [astype(_as_operand(x), _dt.bool_) for x in xs]
        return _elementwise(prim, *xs)
    fn.__name__ = name
    return _public(fn)


logical_and, logical_or = _logical("logical_and", "and"), _logical("logical_or", "or")


logical_xor, logical_not = _logical("logical_xor", "xor"), _logical("logical_not", "not")


def _bitwise(name, prim):
    def fn(*xs):
        xs = [_as_operand(x) for x in xs]
        if not _dt.is_bool(_result_dtype(xs)):
            _unsupported(f"np.{name} on integers", "only bool operands (masks) are supported")
        return _elementwise(prim, *xs)
    fn.__name__ = name
    return _public(fn)


bitwise_and, bitwise_or = _bitwise("bitwise_and", "and"), _bitwise("bitwise_or", "or")


bitwise_xor, invert = _bitwise("bitwise_xor", "xor"), _bitwise("invert", "not")


bitwise_not = invert


@_public
def negative(x):
    x = _as_operand(x)
    if _dt.is_bool(_dtype(x)):
        raise DTypeError("np.negative (unary -) of a bool array is not supported (NumPy refuses it "
                         "too); use ~x or np.logical_not(x)", src=user_src_with_text(3))
    return _elementwise("neg", x)


@_public
def positive(x):
    return _as_array(x)


@_public
def abs(x):
    x = _as_operand(x)
    return x if _dt.is_bool(_dtype(x)) else _elementwise("abs", x)  # complex: a real |z|


absolute = fabs = abs


@_public
def sign(x):
    return _elementwise("sign", x)


def _rounding(name, prim):
    def fn(x):
        x = _as_operand(x)
        if not _dt.is_inexact(_dtype(x)):
            return x  # integers are already whole (NumPy 2 keeps their dtype)
        return _elementwise(prim, x)
    fn.__name__ = name
    return _public(fn)


floor, ceil = _rounding("floor", "floor"), _rounding("ceil", "ceil")


@_public
def rint(x):
    x = _as_operand(x)
    if not _dt.is_inexact(_dtype(x)):
        return astype(x, _dt.float64)  # np.rint is a float ufunc: integers come back as float64
    return _elementwise("round", x)


@_public
def trunc(x):
    x = _as_operand(x)
    if not _dt.is_inexact(_dtype(x)):
        return x
    return where(less(x, 0), ceil(x), floor(x))


fix = trunc


@_public
def round(a, decimals=0, out=None):
    """NumPy's algorithm: scale by 10**|decimals|, rint, scale back (results match bit for bit)."""
    _no_extras("round", out)
    a = _as_operand(a)
    dt = _dtype(a)
    decimals = _static_int(decimals, "decimals of np.round")
    if not _dt.is_float(dt):
        if decimals >= 0:
            return a  # integers are already whole; NumPy keeps their dtype
        f = float(10 ** -decimals)
        return astype(multiply(rint(true_divide(a, f)), f), dt)
    if decimals == 0:
        return rint(a)
    if decimals > 0:
        f = float(10 ** decimals)
        return true_divide(rint(multiply(a, f)), f)
    f = float(10 ** -decimals)
    return multiply(rint(true_divide(a, f)), f)


around = round


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .predicates import isnan, where  # noqa: E402
from .creation import astype  # noqa: E402
