"""``tracegrad.numpy``: NumPy's names, written on the primitives, with NumPy 2 broadcasting and
promotion. Plain ``np.*`` calls on traced arrays land here through ``__array_ufunc__`` and
``__array_function__``; on concrete arrays the same functions run eagerly.
"""
from __future__ import annotations

import builtins
import functools
import inspect
import math
import operator

import numpy as _np

from . import dtypes as _dt
from . import int_range as _int_range
from . import lax
from .errors import (ArgumentError, DTypeError, ShapeError, TracegradError, TracerBoolError,
                     UnsupportedOperationError)
from .source_info import user_src_with_text
from .tracer import _ACTIVE, Tracer

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
float32, float64, int32, int64, bool_ = _np.float32, _np.float64, _np.int32, _np.int64, _np.bool_
ndarray = _np.ndarray

_PUBLIC: dict[str, object] = {}  # name -> implementation, for the dispatch tables


def _public(fn):
    """Register ``fn`` as a traced NumPy function; errors it raises name the user's line.

    Functions named after a NumPy ufunc also take the ufunc keywords (``dtype=``, and
    ``out=``/``where=`` only to refuse them clearly).
    """
    name = fn.__name__
    is_ufunc = isinstance(getattr(_np, name, None), _np.ufunc)

    @functools.wraps(fn)
    def public(*args, **kwargs):
        try:
            if is_ufunc and kwargs:
                out = _call_with_ufunc_kwargs(name, fn, args, kwargs)
            else:
                out = fn(*args, **kwargs)
            # What a NumPy function returns is a NumPy value, never a Python scalar: np.sum(s)
            # of a Python int s is a strong np.int64. (Operators on weak values mark their
            # results weak again, as Python computes them; see Tracer._weak.)
            return _strong(out) if type(out) is Tracer and out._weak else out
        except TracegradError as exc:
            if exc.src is None:
                exc.with_src(user_src_with_text(2))
            raise
    _PUBLIC[name] = public
    return public


def _call_with_ufunc_kwargs(name, fn, inputs, kwargs):
    out = kwargs.pop("out", None)
    if out is not None and not (isinstance(out, tuple) and builtins.all(o is None for o in out)):
        _unsupported(f"np.{name}(..., out=) on a traced array", "return the result instead")
    where = kwargs.pop("where", True)
    if where is not True:
        _unsupported(f"np.{name}(..., where=)",
                     f"compute np.where(mask, np.{name}(...), other) instead")
    dtype = kwargs.pop("dtype", None)
    for k in ("casting", "order", "subok"):
        kwargs.pop(k, None)
    if kwargs:
        _unsupported(f"np.{name}(..., {', '.join(sorted(kwargs))}=)")
    if dtype is None:
        return fn(*inputs)
    # dtype= is the dtype of the computation: cast the array operands, then compute
    inputs = [x if _is_scalar(x) else astype(x, dtype) for x in inputs]
    res = fn(*inputs)
    return res if name in _PREDICATES or isinstance(res, tuple) else astype(res, dtype)


_PREDICATES = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
               "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf",
               "isfinite"}


def _unsupported(what: str, fix: str = ""):
    raise UnsupportedOperationError(
        f"{what} is not supported by tracegrad" + (f"; {fix}" if fix else ""),
        src=user_src_with_text(3))


# --- operands -------------------------------------------------------------------------------
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
    if isinstance(x, complex):  # a TypeError, as NumPy and autograd users catch
        raise DTypeError(f"the complex number {x!r} is not supported: tracegrad traces float32, "
                         "float64, int32, int64 and bool values; keep the real and imaginary "
                         "parts as two real arrays", src=user_src_with_text(3))
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


_WEAK_STANDIN = {"f": 0.0, "i": 0, "b": False}


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


# --- elementwise arithmetic ---------------------------------------------------------------
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


def _unary_same(name, prim):
    def fn(x):
        return _elementwise(prim, x)
    fn.__name__ = name
    return _public(fn)




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
    return x if _dt.is_bool(_dtype(x)) else _elementwise("abs", x)


absolute = fabs = abs


@_public
def sign(x):
    return _elementwise("sign", x)


def _rounding(name, prim):
    def fn(x):
        x = _as_operand(x)
        if not _dt.is_float(_dtype(x)):
            return x  # integers are already whole (NumPy 2 keeps their dtype)
        return _elementwise(prim, x)
    fn.__name__ = name
    return _public(fn)


floor, ceil = _rounding("floor", "floor"), _rounding("ceil", "ceil")


@_public
def rint(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        return astype(x, _dt.float64)  # np.rint is a float ufunc: integers come back as float64
    return _elementwise("round", x)


@_public
def trunc(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
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


def _static_int(v, what):
    """A static Python int argument (shapes, axes, counts); tracers raise a clear error."""
    if isinstance(v, Tracer):
        raise TracerBoolError(
            f"{what} must be a static Python int, but it is a traced array {v.aval}; pass it "
            "as a Python int, or mark the argument static with static_argnums=(...)",
            src=user_src_with_text(4))
    try:
        return operator.index(v)
    except TypeError:
        raise TracegradError(f"{what} must be an int, got {type(v).__name__} {v!r}",
                             src=user_src_with_text(4)) from None


around = round


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


def _float_operand(x):
    x = _as_operand(x)
    if _is_scalar(x) or _dt.is_float(_dtype(x)):
        return x
    out = astype(x, _dt.float64)
    if isinstance(x, Tracer) and x._weak:
        out._weak = True  # float(s) of a Python int is a Python float: still weak (hypot(f32, s))
    return out


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
def isnan(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        return zeros_like(x, dtype=_dt.bool_)
    return not_equal(x, x)


@_public
def isinf(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        return zeros_like(x, dtype=_dt.bool_)
    return equal(abs(x), math.inf)


@_public
def isfinite(x):
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        return ones_like(x, dtype=_dt.bool_)
    return logical_not(logical_or(isnan(x), isinf(x)))


@_public
def where(condition, x=None, y=None):
    if x is None or y is None:
        _unsupported("np.where with one argument (data-dependent output shape)",
                     "use the three-argument form np.where(cond, a, b)")
    cond = _as_operand(condition)
    cond = astype(_np.asarray(cond) if _is_scalar(cond) else cond, _dt.bool_)
    vals, dt = _prepare([x, y])
    shape = _broadcast_shapes(_shape(cond), *[_shape(v) for v in vals if not _is_scalar(v)])
    a, b = [v if _is_scalar(v) else lax.broadcast_to(v, shape) for v in vals]
    if _is_scalar(a) and _is_scalar(b):
        a = full(shape, a, dt)
    return lax.select(lax.broadcast_to(cond, shape), a, b)


@_public
def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):
    _no_extras("clip", out)
    if kwargs:
        _unsupported(f"np.clip(..., {', '.join(sorted(kwargs))}=)")
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    a = _as_operand(a)
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


@_public
def heaviside(x1, x2):
    (a, b), _ = _prepare([_float_operand(x1), _float_operand(x2)], scalars_as_arrays=True)
    # NaN is neither < 0, > 0 nor == 0: NumPy propagates it rather than returning x2
    return where(less(a, 0), 0.0, where(greater(a, 0), 1.0, where(equal(a, 0), b, a)))


# --- complex-number helpers (tracegrad's dtypes are all real) ----------------------------
@_public
def conjugate(x):
    return _as_array(x)


conj = conjugate


@_public
def real(val):
    return _as_array(val)


@_public
def imag(val):
    return zeros_like(_as_array(val))


@_public
def iscomplexobj(x):
    return False


@_public
def isrealobj(x):
    return True


# --- dtype and creation ---------------------------------------------------------------------
@_public
def astype(x, dtype, copy=True):
    x = _as_array(x)
    return lax.convert(x, _dt.canonical(dtype, what="astype target"))


@_public
def asarray(a, dtype=None, order=None, *, copy=None):
    """Inside a trace a NumPy array becomes a traced constant, so ``tnp.asarray(table)[i]``
    indexes it with a traced ``i`` (NumPy's own indexing cannot take traced indices)."""
    a = _as_array(a)
    if isinstance(a, _np.ndarray) and _ACTIVE:
        a = _constant(a)
    return a if dtype is None else astype(a, dtype)


def _constant(arr):
    """A traced constant of the innermost active trace holding ``arr``."""
    ctx = _ACTIVE[-1]
    if arr.ndim == 0:
        return lax.full((), arr.item(), _dt.canonical(arr.dtype, what="array"))
    return Tracer(ctx, ctx.atom(arr))


array = asarray


def _creation_dtype(dtype, fallback):
    return _dt.canonical(dtype, what="dtype=") if dtype is not None else fallback


def _static_shape(shape, what="shape"):
    """A shape as a tuple of non-negative Python ints; traced sizes raise TracerBoolError."""
    items = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if builtins.any(isinstance(d, Tracer) for d in items):
        raise TracerBoolError(
            f"{what} {tuple(items)} holds a traced value, but shapes are fixed when a function is "
            "traced; compute it from x.shape, or pass it with static_argnums=(...)",
            src=user_src_with_text(4))
    try:
        out = tuple(operator.index(d) for d in items)
    except TypeError:
        raise TracegradError(f"{what} must be ints, got {shape!r}", src=user_src_with_text(4)) \
            from None
    if builtins.any(d < 0 for d in out):
        raise ShapeError(f"negative dimensions are not allowed ({what} {out})",
                         src=user_src_with_text(4))
    return out


@_public
def full(shape, fill_value, dtype=None):
    shape = _static_shape(shape)
    if isinstance(fill_value, Tracer) or not _is_scalar(fill_value) and _np.ndim(fill_value):
        fill = _as_operand(fill_value)
        return broadcast_to(astype(fill, dtype) if dtype is not None else fill, shape)
    dt = _creation_dtype(dtype, _dt.result_type(fill_value) if _is_scalar(fill_value)
                         else _dt.canonical(_np.asarray(fill_value).dtype, what="fill value"))
    return lax.full(shape, fill_value, dt)


@_public
def zeros(shape, dtype=None):
    return full(shape, 0, _creation_dtype(dtype, _dt.float64))


@_public
def ones(shape, dtype=None):
    return full(shape, 1, _creation_dtype(dtype, _dt.float64))


@_public
def full_like(a, fill_value, dtype=None, shape=None):
    a = _as_operand(a)
    return full(_shape(a) if shape is None else shape, fill_value,
                _creation_dtype(dtype, _dtype(a)))


@_public
def zeros_like(a, dtype=None, shape=None):
    return full_like(a, 0, dtype, shape)


@_public
def ones_like(a, dtype=None, shape=None):
    return full_like(a, 1, dtype, shape)


@_public
def empty_like(a, dtype=None, shape=None):
    return full_like(a, 0, dtype, shape)


@_public
def copy(a):
    return _as_operand(a)


@_public
def shape(a):
    return _shape(_as_operand(a))


@_public
def ndim(a):
    return len(_shape(_as_operand(a)))


@_public
def size(a, axis=None):
    s = _shape(_as_operand(a))
    return int(_np.prod(s, dtype=_np.int64)) if axis is None else s[axis]


@_public
def result_type(*args):
    def part(a):
        if _is_scalar(a):
            return a
        if isinstance(a, (_np.dtype, type, str)):
            return _np.dtype(a)  # a dtype-like (np.float32, "f4", float)
        if isinstance(a, Tracer) and a._weak:
            return _WEAK_STANDIN[a.dtype.kind]
        return _dtype(_as_operand(a))
    return _dt.result_type(*[part(a) for a in args])


# --- shape manipulation ----------------------------------------------------------------------
def _norm_axis(axis, ndim, name="axis"):
    if isinstance(axis, Tracer):
        raise TracerBoolError(f"{name} must be a static int, but it is a traced array "
                              f"{axis.aval}; pass it with static_argnums=(...)",
                              src=user_src_with_text(4))
    try:
        axis = operator.index(axis)
    except TypeError:
        raise ArgumentError(f"{name} must be an integer, got {axis!r}",
                            src=user_src_with_text(4)) from None
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{name} {axis} is out of bounds for an array of dimension {ndim}",
                         src=user_src_with_text(4))
    return axis % ndim if ndim else 0


def _norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(sorted(_norm_axis(a, ndim) for a in axis))
    return (_norm_axis(axis, ndim),)


@_public
def reshape(a, shape=None, order="C", newshape=None):
    a = _as_array(a)
    if order != "C":
        _unsupported(f"reshape with order={order!r}", "only C order is traced")
    shape = newshape if shape is None else shape
    try:
        shape = (operator.index(shape),) if not isinstance(shape, (tuple, list)) else \
            tuple(operator.index(s) for s in shape)
    except TypeError:
        raise ArgumentError(f"reshape: the new shape must be ints (or a tuple of ints), got "
                            f"{shape!r}", src=user_src_with_text(3)) from None
    total = builtins.abs(int(_np.prod(_shape(a), dtype=_np.int64)))
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: at most one -1 in {shape}", src=user_src_with_text(3))
    if -1 in shape:
        known = int(_np.prod([s for s in shape if s != -1], dtype=_np.int64))
        if known == 0 or total % known:
            raise ShapeError(f"cannot reshape array of shape {_shape(a)} into shape {shape}",
                             src=user_src_with_text(3))
        shape = tuple(total // known if s == -1 else s for s in shape)
    if int(_np.prod(shape, dtype=_np.int64)) != total:
        raise ShapeError(f"cannot reshape array of shape {_shape(a)} (size {total}) into shape "
                         f"{shape}", src=user_src_with_text(3))
    return lax.reshape(a, shape)


@_public
def ravel(a, order="C"):
    return reshape(a, (-1,), order=order)


@_public
def transpose(a, axes=None):
    a = _as_array(a)
    nd = len(_shape(a))
    perm = tuple(reversed(range(nd))) if axes is None else tuple(_norm_axis(x, nd) for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ShapeError(f"axes {axes} don't match array of {nd} dimensions",
                         src=user_src_with_text(3))
    return lax.transpose(a, perm)


@_public
def permute_dims(a, axes=None):
    return transpose(a, axes)


@_public
def swapaxes(a, axis1, axis2):
    a = _as_array(a)
    nd = len(_shape(a))
    perm = list(range(nd))
    i, j = _norm_axis(axis1, nd), _norm_axis(axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, perm)


@_public
def moveaxis(a, source, destination):
    a = _as_array(a)
    nd = len(_shape(a))
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [_norm_axis(s, nd) for s in src]
    dst = [_norm_axis(d, nd) for d in dst]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, order)


@_public
def expand_dims(a, axis):
    a = _as_array(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = len(_shape(a)) + len(axes)
    axes = sorted(_norm_axis(x, nd) for x in axes)
    shape = list(_shape(a))
    for x in axes:
        shape.insert(x, 1)
    return lax.reshape(a, shape)


@_public
def squeeze(a, axis=None):
    a = _as_array(a)
    s = _shape(a)
    if axis is None:
        axes = [i for i, d in enumerate(s) if d == 1]
    else:
        axes = list(_norm_axes(axis, len(s)))
        for x in axes:
            if s[x] != 1:
                raise ShapeError(f"cannot select an axis to squeeze out which has size not equal "
                                 f"to one (axis {x} of {s})", src=user_src_with_text(3))
    return lax.reshape(a, [d for i, d in enumerate(s) if i not in axes])


@_public
def broadcast_to(array, shape):
    array = _as_array(array)
    shape = _static_shape(shape)
    try:
        target = _np.broadcast_shapes(_shape(array), shape)
    except ValueError:
        target = None
    if target != shape:
        raise ShapeError(f"cannot broadcast an array of shape {_shape(array)} to {shape}",
                         src=user_src_with_text(3))
    if _is_scalar(array):
        return full(shape, array)
    return lax.broadcast_to(array, shape)


@_public
def broadcast_arrays(*args):
    args = [_as_operand(a) for a in args]
    shape = _broadcast_shapes(*[_shape(a) for a in args])
    return [broadcast_to(a, shape) for a in args]


@_public
def atleast_1d(*arys):
    out = [reshape(a, (1,)) if len(_shape(_as_operand(a))) == 0 else _as_operand(a) for a in arys]
    return out[0] if len(out) == 1 else out


@_public
def atleast_2d(*arys):
    out = []
    for a in arys:
        a = _as_operand(a)
        s = _shape(a)
        out.append(reshape(a, (1, 1)) if len(s) == 0 else reshape(a, (1,) + s) if len(s) == 1
                   else a)
    return out[0] if len(out) == 1 else out


@_public
def atleast_3d(*arys):
    out = []
    for a in arys:
        a = _as_operand(a)
        s = _shape(a)
        new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s), s)
        out.append(reshape(a, new))
    return out[0] if len(out) == 1 else out


@_public
def concatenate(arrays, axis=0, dtype=None):
    arrays = [_as_operand(a) for a in arrays]
    if not arrays:
        raise ShapeError("need at least one array to concatenate", src=user_src_with_text(3))
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    dt = _creation_dtype(dtype, _result_dtype(arrays))
    nd = len(_shape(arrays[0]))
    if builtins.any(len(_shape(a)) != nd for a in arrays) or nd == 0:
        raise ShapeError(f"concatenate: all inputs need the same number (>= 1) of dimensions, "
                         f"got shapes {[_shape(a) for a in arrays]}", src=user_src_with_text(3))
    ax = _norm_axis(axis, nd)
    for a in arrays:
        if builtins.any(x != y for i, (x, y) in enumerate(zip(_shape(a), _shape(arrays[0])))
                        if i != ax):
            raise ShapeError(f"concatenate: shapes {[_shape(a) for a in arrays]} differ off axis "
                             f"{ax}", src=user_src_with_text(3))
    arrays = [lax.convert(a, dt) for a in arrays]
    nonempty = [a for a in arrays if _shape(a)[ax] != 0] or arrays[:1]
    return lax.concatenate(nonempty, ax)


concat = concatenate


@_public
def stack(arrays, axis=0):
    arrays = [_as_operand(a) for a in arrays]
    if not arrays:
        raise ShapeError("need at least one array to stack", src=user_src_with_text(3))
    shapes = {_shape(a) for a in arrays}
    if len(shapes) > 1:
        raise ShapeError(f"all input arrays must have the same shape, got {sorted(shapes)}",
                         src=user_src_with_text(3))
    nd = len(_shape(arrays[0])) + 1
    ax = _norm_axis(axis, nd)
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax)


@_public
def hstack(tup):
    arrs = atleast_1d(*tup) if len(tup) > 1 else [atleast_1d(*tup)]
    return concatenate(arrs, axis=0 if len(_shape(arrs[0])) == 1 else 1)


@_public
def vstack(tup):
    arrs = atleast_2d(*tup) if len(tup) > 1 else [atleast_2d(*tup)]
    return concatenate(arrs, axis=0)


@_public
def flip(m, axis=None):
    m = _as_array(m)
    return lax.rev(m, _norm_axes(axis, len(_shape(m))))


@_public
def fliplr(m):
    return flip(m, 1)


@_public
def flipud(m):
    return flip(m, 0)


@_public
def tile(A, reps):
    A = _as_array(A)
    reps = _static_shape(reps, "reps")
    s = _shape(A)
    nd = builtins.max(len(s), len(reps))
    s = (1,) * (nd - len(s)) + tuple(s)
    reps = (1,) * (nd - len(reps)) + reps
    a = reshape(A, s)
    inter = []
    for d, r in zip(s, reps):
        inter += [r, d]
    b = lax.broadcast_in_dim(a, tuple(inter), tuple(range(1, 2 * nd, 2)))
    return reshape(b, [d * r for d, r in zip(s, reps)])


@_public
def repeat(a, repeats, axis=None):
    a = _as_array(a)
    if isinstance(repeats, Tracer):
        _unsupported("np.repeat with traced repeat counts (the output shape would depend on data)",
                     "pass the counts as a Python int, list or NumPy array")
    if axis is None:
        a, axis = ravel(a), 0
    s = _shape(a)
    ax = _norm_axis(axis, len(s))
    counts = _np.asarray(repeats)
    if counts.dtype.kind not in "iu" or (counts.size and counts.min() < 0):
        raise TracegradError(f"np.repeat: repeats must be non-negative integers, got {repeats!r}",
                             src=user_src_with_text(3))
    if counts.ndim == 0 or counts.size == 1:
        r = int(counts.reshape(-1)[0]) if counts.size else 0
        b = lax.broadcast_in_dim(a, s[:ax + 1] + (r,) + s[ax + 1:],
                                 tuple(range(ax + 1)) + tuple(range(ax + 2, len(s) + 1)))
        return reshape(b, s[:ax] + (s[ax] * r,) + s[ax + 1:])
    if counts.shape != (s[ax],):
        raise ShapeError(f"np.repeat: {counts.size} repeat counts for an axis of length {s[ax]}",
                         src=user_src_with_text(3))
    # per-element counts are static, so the result is a gather with static indices
    return take(a, _np.repeat(_np.arange(s[ax]), counts), axis=ax)


# --- reductions ------------------------------------------------------------------------------
def _finish_reduction(out, a_shape, axes, keepdims):
    if keepdims:
        return lax.reshape(out, [1 if i in axes else d for i, d in enumerate(a_shape)])
    return out


def _no_extras(name, out=None, where=None, initial=None, **_):
    if out is not None:
        _unsupported(f"np.{name}(..., out=)", "return the result instead")
    if where is not None and where is not True:
        _unsupported(f"np.{name}(..., where=)", "use np.where on the input")
    if initial is not None:
        _unsupported(f"np.{name}(..., initial=)")


def _sum_dtype(a, dtype):
    if dtype is not None:
        return _dt.canonical(dtype, what="dtype=")
    d = _dtype(a)
    if _dt.is_bool(d) or (_dt.is_int(d) and d.itemsize < 8):
        return _dt.int64  # NumPy sums small integers and bools in the platform integer
    return d


@_public
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_extras("sum", out, where)
    a = _as_array(a)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    x = lax.convert(a, _sum_dtype(a, dtype))
    r = _with_initial(lax.reduce_sum(x, axes), initial, add)
    return _finish_reduction(r, s, axes, keepdims)


def _with_initial(r, initial, combine):
    """Fold a reduction's ``initial=`` value into its result (keeping the result's dtype)."""
    if initial is None:
        return r
    return lax.convert(combine(r, initial), _dtype(r))


@_public
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_extras("prod", out, where)
    a = _as_array(a)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    x = lax.convert(a, _sum_dtype(a, dtype))
    r = _with_initial(lax.reduce_prod(x, axes), initial, multiply)
    return _finish_reduction(r, s, axes, keepdims)


@_public
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _no_extras("mean", out, where)
    a = _as_array(a)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    dt = _dt.canonical(dtype, what="dtype=") if dtype is not None else _dt.float_result(_dtype(a))
    count = int(_np.prod([s[i] for i in axes], dtype=_np.int64))
    total = sum(a, axis=axes, keepdims=keepdims, dtype=dt)
    r = true_divide(total, float(count)) if count else multiply(total, math.nan)
    return r if _dtype(r) == dt else astype(r, dt)  # an integer dtype= truncates, as in NumPy


@_public
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    _no_extras("var", out, where)
    a = _as_array(a)
    if correction is not None:
        ddof = correction
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, _np.integer, _np.floating)):
        raise ArgumentError(f"ddof must be a number, got {ddof!r}", src=user_src_with_text(3))
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    dt = _dt.canonical(dtype, what="dtype=") if dtype is not None else _dt.float_result(_dtype(a))
    a = lax.convert(a, dt)
    n = int(_np.prod([s[i] for i in axes], dtype=_np.int64))
    d = subtract(a, globals()["mean"](a, axis=axes, keepdims=True))
    if n == 1:
        # one element per reduction: a - mean(a) is 0 (NaN for inf/NaN) whatever a is, so the
        # result does not depend on a; differentiated through, std's sqrt'(0) = inf met
        # d(a - mean a) = 0 and gave NaN (autograd and JAX give 0)
        d = lax.stop_gradient(d)
    count = n - ddof
    ss = sum(multiply(d, d), axis=axes, keepdims=keepdims)
    return true_divide(ss, float(count)) if count > 0 else multiply(ss, math.inf)


@_public
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    return sqrt(var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,  # noqa
                    where=where, correction=correction))


def _extremum(name, reducer):
    def fn(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        _no_extras(name, out, where)
        a = _as_array(a)
        s = _shape(a)
        axes = _norm_axes(axis, len(s))
        combine = maximum if name == "max" else minimum
        if builtins.any(s[i] == 0 for i in axes):
            if initial is None:
                raise ShapeError(f"zero-size array to reduction operation {name} which has no "
                                 f"identity (shape {s}); pass initial=", src=user_src_with_text(3))
            r = full([d for i, d in enumerate(s) if i not in axes], initial, _dtype(a))
        else:
            r = _with_initial(reducer(a, axes), initial, combine)
        return _finish_reduction(r, s, axes, keepdims)
    fn.__name__ = name
    return _public(fn)


max = _extremum("max", lax.reduce_max)
min = _extremum("min", lax.reduce_min)
amax, amin = max, min


@_public
def any(a, axis=None, out=None, keepdims=False, where=None):
    _no_extras("any", out, where)
    a = astype(_as_array(a), _dt.bool_)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    if any_zero(s, axes):  # an empty reduction gives the identity, False
        return _finish_reduction(full([d for i, d in enumerate(s) if i not in axes], False,
                                      _dt.bool_), s, axes, keepdims)
    return _finish_reduction(lax.reduce_max(a, axes), s, axes, keepdims)


@_public
def all(a, axis=None, out=None, keepdims=False, where=None):
    _no_extras("all", out, where)
    a = astype(_as_array(a), _dt.bool_)
    s = _shape(a)
    axes = _norm_axes(axis, len(s))
    if any_zero(s, axes):  # an empty reduction gives the identity, True
        return _finish_reduction(full([d for i, d in enumerate(s) if i not in axes], True,
                                      _dt.bool_), s, axes, keepdims)
    return _finish_reduction(lax.reduce_min(a, axes), s, axes, keepdims)


def any_zero(shape, axes):
    return builtins.any(shape[i] == 0 for i in axes)


def _arg_extremum(name, fn_lax):
    def fn(a, axis=None, out=None, keepdims=False):
        _no_extras(name, out)
        a = _as_array(a)
        s = _shape(a)
        if axis is None:
            r = fn_lax(ravel(a), 0)
            return reshape(r, (1,) * len(s)) if keepdims else r
        ax = _norm_axis(axis, len(s))
        return _finish_reduction(fn_lax(a, ax), s, (ax,), keepdims)
    fn.__name__ = name
    return _public(fn)


argmax = _arg_extremum("argmax", lax.argmax)
argmin = _arg_extremum("argmin", lax.argmin)


@_public
def cumsum(a, axis=None, dtype=None, out=None):
    _no_extras("cumsum", out)
    a = _as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, len(_shape(a)))
    return lax.cumsum(lax.convert(a, _sum_dtype(a, dtype)), ax)


# --- linear algebra --------------------------------------------------------------------------
def _bool_contraction(fn):
    """NumPy contracts two bool arrays with logical and/or: compute in int64, then test != 0."""
    @functools.wraps(fn)
    def wrapper(a, b, *args, **kwargs):
        a, b = _as_operand(a), _as_operand(b)
        if not _is_scalar(a) and not _is_scalar(b) and _dt.is_bool(_dtype(a)) \
                and _dt.is_bool(_dtype(b)):
            return not_equal(fn(astype(a, _dt.int64), astype(b, _dt.int64), *args, **kwargs), 0)
        return fn(a, b, *args, **kwargs)
    return wrapper


def _contract_prepare(a, b):
    (a, b), _ = _prepare_no_broadcast([a, b])
    if _dt.is_bool(_dtype(a)):
        a, b = astype(a, _dt.int64), astype(b, _dt.int64)
    return a, b


def _prepare_no_broadcast(xs):
    # contractions (dot, einsum, ...) convert operands with np.asarray: Python scalars, and the
    # weak tracers that stand for them, promote as strong int64/float64/bool arrays
    xs = [_as_operand(x) for x in xs]
    xs = [_np.asarray(x) if _is_scalar(x) else _strong(x) for x in xs]
    dt = _result_dtype(xs)
    return [lax.convert(x, dt) for x in xs], dt


@_public
@_bool_contraction
def matmul(x1, x2):
    a, b = _contract_prepare(x1, x2)
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError("matmul: input operand does not have enough dimensions (scalars are not "
                         "allowed; use *)", src=user_src_with_text(3))
    va, vb = len(sa) == 1, len(sb) == 1
    if va:
        a, sa = reshape(a, (1,) + sa), (1,) + sa
    if vb:
        b, sb = reshape(b, sb + (1,)), sb + (1,)
    if sa[-1] != sb[-2]:
        raise ShapeError(f"matmul: mismatch in core dimension: {_shape(x1)} @ {_shape(x2)} "
                         f"({sa[-1]} != {sb[-2]})", src=user_src_with_text(3))
    batch = _broadcast_shapes(sa[:-2], sb[:-2])
    nb = len(batch)
    if nb == 0:
        out = lax.dot_general(a, b, (((1,), (0,)), ((), ())))
    else:
        a = lax.broadcast_to(a, batch + sa[-2:])
        b = lax.broadcast_to(b, batch + sb[-2:])
        out = lax.dot_general(a, b, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    s = _shape(out)
    if va and vb:
        return reshape(out, s[:-2])
    if va:
        return reshape(out, s[:-2] + s[-1:])
    if vb:
        return reshape(out, s[:-1])
    return out


@_public
@_bool_contraction
def dot(a, b, out=None):
    _no_extras("dot", out)
    a, b = _contract_prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    cb = 0 if len(sb) == 1 else len(sb) - 2
    if sa[-1] != sb[cb]:
        raise ShapeError(f"shapes {sa} and {sb} not aligned: {sa[-1]} (dim {len(sa) - 1}) != "
                         f"{sb[cb]} (dim {cb})", src=user_src_with_text(3))
    return lax.dot_general(a, b, (((len(sa) - 1,), (cb,)), ((), ())))


@_public
@_bool_contraction
def vdot(a, b):
    return dot(ravel(a), ravel(b))


@_public
@_bool_contraction
def inner(a, b):
    a, b = _contract_prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 0 or len(sb) == 0:
        return multiply(a, b)
    if sa[-1] != sb[-1]:
        raise ShapeError(f"inner: shapes {sa} and {sb} differ in the last axis",
                         src=user_src_with_text(3))
    return lax.dot_general(a, b, (((len(sa) - 1,), (len(sb) - 1,)), ((), ())))


@_public
def outer(a, b, out=None):
    _no_extras("outer", out)
    a, b = ravel(a), ravel(b)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


@_public
@_bool_contraction
def tensordot(a, b, axes=2):
    a, b = _contract_prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, int):
        ax_a = tuple(range(len(sa) - axes, len(sa)))
        ax_b = tuple(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = (ax_a,) if isinstance(ax_a, int) else tuple(ax_a)
        ax_b = (ax_b,) if isinstance(ax_b, int) else tuple(ax_b)
    ax_a = tuple(_norm_axis(x, len(sa)) for x in ax_a)
    ax_b = tuple(_norm_axis(x, len(sb)) for x in ax_b)
    for i, j in zip(ax_a, ax_b):
        if sa[i] != sb[j]:
            raise ShapeError(f"tensordot: shape mismatch for sum ({sa} axis {i} vs {sb} axis {j})",
                             src=user_src_with_text(3))
    return lax.dot_general(a, b, ((ax_a, ax_b), ((), ())))


@_public
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = _as_array(a)
    s = _shape(a)
    i1, i2 = _norm_axis(axis1, len(s)), _norm_axis(axis2, len(s))
    rest = [k for k in range(len(s)) if k not in (i1, i2)]
    x = lax.transpose(a, (i1, i2, *rest))
    n1, n2 = s[i1], s[i2]
    rows = _np.arange(builtins.max(0, -offset), n1)
    rows = rows[rows + offset < n2]
    idx = _np.stack([rows, rows + offset], axis=-1).astype(_np.int64)
    g = lax.gather(x, idx)  # (ndiag, *rest)
    return lax.transpose(g, tuple(range(1, len(rest) + 1)) + (0,))


@_public
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_extras("trace", out)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


@_public
def diag(v, k=0):
    v = _as_array(v)
    s = _shape(v)
    if len(s) == 2:
        return diagonal(v, k)
    if len(s) != 1:
        raise ShapeError(f"diag: input must be 1-d or 2-d, got shape {s}",
                         src=user_src_with_text(3))
    n = s[0]
    if n == 0:
        return zeros((builtins.abs(k), builtins.abs(k)), _dtype(v))
    # v0 0...0 v1 0...0 v2 ...: n zeros between entries is the flattened diagonal matrix
    flat = lax.pad(v, 0, (0,), (0,), (n,))
    m = lax.reshape(flat, (n, n))
    if k > 0:
        m = lax.pad(m, 0, (0, k), (k, 0))
    elif k < 0:
        m = lax.pad(m, 0, (-k, 0), (0, -k))
    return m


@_public
def vecdot(x1, x2, axis=-1):
    """Sum of products over ``axis`` after broadcasting (NumPy 2's gufunc; real dtypes)."""
    a, b = _as_array(x1), _as_array(x2)
    if axis != -1:
        a, b = moveaxis(a, axis, -1), moveaxis(b, axis, -1)
    return einsum("...i,...i->...", a, b)


@_public
def matvec(x1, x2):
    return einsum("...ij,...j->...i", _as_array(x1), _as_array(x2))


@_public
def vecmat(x1, x2):
    return einsum("...i,...ij->...j", _as_array(x1), _as_array(x2))


@_public
def eye(N, M=None, k=0, dtype=float):
    return _np.eye(N, M, k, dtype=dtype)


@_public
def einsum(subscripts, *operands, optimize=False, out=None):
    _no_extras("einsum", out)
    from .einsum import einsum as _einsum
    if not isinstance(subscripts, str):  # the sublist form: einsum(a, [0, 1], b, [1, 2])
        return _einsum(subscripts, *operands)
    return _einsum(subscripts, *[_as_operand(o) for o in operands])


# --- more of NumPy: static constructors, comparisons, padding, splitting, NaN-aware ---------
def _static_scalar(v, what):
    if isinstance(v, Tracer):
        raise TracerBoolError(
            f"{what} must be a static number, but it is a traced array {v.aval}; the result's "
            "shape would depend on it. Compute it outside the function or pass it with "
            "static_argnums=(...)", src=user_src_with_text(4))
    return v


def _static_array(arr):
    """A NumPy constant converted to a supported dtype (float16 and friends widen)."""
    return _as_operand(_np.asarray(arr))


@_public
def arange(start, stop=None, step=None, dtype=None):
    args = [_static_scalar(v, "np.arange's start/stop/step") for v in (start, stop, step)]
    return _static_array(_np.arange(*[a for a in args if a is not None] if step is None
                                    else args, dtype=dtype))


@_public
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    if isinstance(start, Tracer) or isinstance(stop, Tracer):
        # start + (stop - start) * i / div, as NumPy computes it, with traced end points
        num = _static_int(num, "num of np.linspace")
        div = (num - 1) if endpoint else num
        a, b = _as_operand(start), _as_operand(stop)
        step = true_divide(subtract(b, a), div) if div > 0 else multiply(subtract(b, a), math.nan)
        i = _np.arange(num, dtype=_np.float64).reshape((-1,) + (1,) * len(_shape(a)))
        y = add(multiply(i, step) if div > 0 else multiply(i, subtract(b, a)), a)
        if endpoint and num > 1:
            y = concatenate([y[:-1], expand_dims(astype(b, _dtype(y)), 0)], axis=0)
        y = moveaxis(y, 0, axis) if axis != 0 else y
        y = astype(y, dtype) if dtype is not None else y
        return (y, step) if retstep else y
    out = _np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    return (_static_array(out[0]), out[1]) if retstep else _static_array(out)


@_public
def tri(N, M=None, k=0, dtype=float):
    return _static_array(_np.tri(N, M, k, dtype=dtype))


@_public
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """NumPy's formula: |a - b| <= atol + rtol * |b| where b is finite, or a == b exactly."""
    x, y = _as_operand(a), _as_operand(b)
    if not _is_scalar(y) and not _dt.is_float(_dtype(y)):
        y = astype(y, _dt.float64)
    elif isinstance(y, int):
        y = float(y)
    close = logical_and(less_equal(abs(subtract(x, y)), add(atol, multiply(rtol, abs(y)))),
                        isfinite(y))
    result = logical_or(close, equal(x, y))
    if equal_nan:
        result = logical_or(result, logical_and(isnan(x), isnan(y)))
    return result


@_public
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A 0-d bool array (traced, so it cannot drive Python control flow)."""
    return all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@_public
def float_power(x1, x2):
    (a, b), _ = _prepare([x1, x2])
    dt = _dt.float64 if _result_dtype([a, b]).itemsize <= 8 else _result_dtype([a, b])
    return power(astype(_np.asarray(a) if _is_scalar(a) else a, dt),
                 astype(_np.asarray(b) if _is_scalar(b) else b, dt))


@_public
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = _as_operand(x)
    dt = _dtype(x)
    if not _dt.is_float(dt):
        return x
    info = _np.finfo(dt)
    big = float(info.max) if posinf is None else posinf
    small = float(info.min) if neginf is None else neginf
    x = where(isnan(x), nan, x)
    x = where(equal(x, math.inf), big, x)
    return where(equal(x, -math.inf), small, x)


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


@_public
def ptp(a, axis=None, out=None, keepdims=False):
    _no_extras("ptp", out)
    return subtract(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))


@_public
def count_nonzero(a, axis=None, *, keepdims=False):
    a = _as_array(a)
    nz = a if _dt.is_bool(_dtype(a)) else not_equal(a, 0)
    return sum(nz, axis=axis, keepdims=keepdims, dtype=_dt.int64)


@_public
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = _as_array(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return avg
        n = size(a) if axis is None else int(_np.prod([_shape(a)[i]
                                                       for i in _norm_axes(axis, ndim(a))]))
        return avg, full_like(avg, n)
    w = _as_operand(weights)
    sa, sw = _shape(a), _shape(w)
    if sa != sw:
        if axis is None:
            raise ShapeError("np.average: axis must be given when the shapes of a and weights "
                             f"differ ({sa} vs {sw})", src=user_src_with_text(3))
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(_norm_axis(x, len(sa)) for x in axes)
        if tuple(sa[x] for x in axes) != tuple(sw):
            raise ShapeError(f"np.average: weights {sw} do not match a {sa} along axis {axis}",
                             src=user_src_with_text(3))
        w = lax.broadcast_in_dim(w, sa, axes) if isinstance(w, Tracer) else \
            _np.broadcast_to(_np.expand_dims(w, [i for i in range(len(sa)) if i not in axes]), sa)
    dt = result_type(a, w, 1.0)
    scl = sum(w, axis=axis, dtype=dt, keepdims=keepdims)
    avg = true_divide(sum(multiply(astype(a, dt), astype(w, dt)), axis=axis, keepdims=keepdims),
                      scl)
    return (avg, broadcast_to(scl, _shape(avg))) if returned else avg


def _nan_reduction(name, base, fill):
    def fn(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        a = _as_operand(a)
        if not _dt.is_float(_dtype(a)):
            kw = {"dtype": dtype} if dtype is not None else {}
            return base(a, axis=axis, out=out, keepdims=keepdims, **kw, **kwargs)
        kw = {"dtype": dtype} if dtype is not None else {}
        return base(where(isnan(a), fill, a), axis=axis, out=out, keepdims=keepdims, **kw,
                    **kwargs)
    fn.__name__ = name
    return _public(fn)


nansum = _nan_reduction("nansum", sum, 0.0)
nanprod = _nan_reduction("nanprod", prod, 1.0)


def _nan_extremum(name, base, fill):
    def fn(a, axis=None, out=None, keepdims=False, **kwargs):
        a = _as_operand(a)
        if not _dt.is_float(_dtype(a)):
            return base(a, axis=axis, out=out, keepdims=keepdims, **kwargs)
        nan_ = isnan(a)
        r = base(where(nan_, fill, a), axis=axis, out=out, keepdims=keepdims, **kwargs)
        # an all-NaN slice gives NaN (NumPy also warns)
        return where(all(nan_, axis=axis, keepdims=keepdims), math.nan, r)
    fn.__name__ = name
    return _public(fn)


nanmax = _nan_extremum("nanmax", max, -math.inf)
nanmin = _nan_extremum("nanmin", min, math.inf)


@_public
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    a = _as_array(a)
    if not _dt.is_float(_dtype(a)):
        return mean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
    ok = logical_not(isnan(a))
    dt = _dtype(a) if dtype is None else _dt.canonical(dtype, what="dtype=")
    total = sum(where(ok, a, 0.0), axis=axis, dtype=dt, out=out, keepdims=keepdims, **kwargs)
    count = sum(ok, axis=axis, dtype=_dt.int64, keepdims=keepdims)
    return true_divide(total, astype(count, dt))


@_public
def diff(a, n=1, axis=-1, prepend=None, append=None):
    a = _as_array(a)
    n = _static_int(n, "n of np.diff")
    nd = len(_shape(a))
    if nd == 0:
        raise ShapeError("diff requires input that is at least one dimensional",
                         src=user_src_with_text(3))
    ax = _norm_axis(axis, nd)
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        if extra is a:
            parts.append(a)
            continue
        e = _as_operand(extra)
        if len(_shape(e)) == 0:
            shape = list(_shape(a))
            shape[ax] = 1
            e = broadcast_to(e, tuple(shape))
        parts.append(e)
    if len(parts) > 1:
        a = concatenate(parts, axis=ax)
    lo = (slice(None),) * ax + (slice(1, None),)
    hi = (slice(None),) * ax + (slice(None, -1),)
    for _ in range(n):
        a = not_equal(a[lo], a[hi]) if _dt.is_bool(_dtype(a)) else subtract(a[lo], a[hi])
    return a


@_public
def pad(array, pad_width, mode="constant", **kwargs):
    a = _as_operand(array)
    nd = len(_shape(a))
    try:
        widths = _np.broadcast_to(_np.asarray(pad_width, dtype=_np.int64).reshape(
            (-1, 2) if _np.ndim(pad_width) == 2 else (-1,)), (nd, 2)) if nd else \
            _np.zeros((0, 2))
    except (TypeError, ValueError):
        raise ArgumentError(f"np.pad: pad_width must be an int, a (before, after) pair or one "
                            f"pair per axis of the {nd}-d array, got {pad_width!r}",
                            src=user_src_with_text(3)) from None
    if (widths < 0).any():
        raise ShapeError(f"np.pad: negative pad widths {pad_width!r}", src=user_src_with_text(3))
    low, high = [int(w) for w in widths[:, 0]], [int(w) for w in widths[:, 1]]
    if mode == "constant":
        extra = set(kwargs) - {"constant_values"}
        if extra:
            _unsupported(f"np.pad(..., {', '.join(sorted(extra))}=)")
        cv = kwargs.get("constant_values", 0)
        if _np.ndim(cv) != 0:
            _unsupported("np.pad with per-axis constant_values", "pad once per axis")
        if isinstance(cv, Tracer):
            return lax.pad(a, astype(cv, _dtype(a)), low, high)
        return lax.pad(a, _np.asarray(cv).astype(_dtype(a)).item(), low, high)
    if mode in ("edge", "wrap"):
        if kwargs:
            _unsupported(f"np.pad(..., mode={mode!r}, {', '.join(sorted(kwargs))}=)")
        for ax in range(nd):
            lo, hi = low[ax], high[ax]
            if not lo and not hi:
                continue
            n = _shape(a)[ax]
            if mode == "edge":
                idx = _np.concatenate([_np.zeros(lo, _np.int64), _np.arange(n),
                                       _np.full(hi, n - 1, _np.int64)])
            else:
                idx = _np.arange(-lo, n + hi) % n
            a = take(a, idx, axis=ax)
        return a
    _unsupported(f"np.pad with mode={mode!r}", "modes 'constant', 'edge' and 'wrap' are traced")


def _tri_mask(shape, k, upper):
    m = _np.tri(shape[-2], shape[-1], k=k - 1 if upper else k, dtype=bool)
    return ~m if upper else m


@_public
def triu(m, k=0):
    m = _as_operand(m)
    s = _shape(m)
    if len(s) < 2:
        _unsupported("np.triu of a 1-d array")
    return where(_tri_mask(s, k, True), m, zeros((), _dtype(m)))


@_public
def tril(m, k=0):
    m = _as_operand(m)
    s = _shape(m)
    if len(s) < 2:
        _unsupported("np.tril of a 1-d array")
    return where(_tri_mask(s, k, False), m, zeros((), _dtype(m)))


@_public
def roll(a, shift, axis=None):
    a = _as_array(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), _shape(a))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    shifts = (shift,) * len(axes) if _np.ndim(shift) == 0 else tuple(shift)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ShapeError("np.roll: 'shift' and 'axis' should be scalars or 1D sequences of the "
                         "same length", src=user_src_with_text(3))
    total = {}
    for sh, ax in zip(shifts, axes):
        ax = _norm_axis(ax, len(_shape(a)))
        total[ax] = total.get(ax, 0) + _static_int(sh, "shift of np.roll")
    for ax, sh in total.items():
        n = _shape(a)[ax]
        if n:
            a = take(a, (_np.arange(n) - sh) % n, axis=ax)
    return a


@_public
def array_split(ary, indices_or_sections, axis=0):
    a = _as_operand(ary)
    n = _shape(a)[_norm_axis(axis, len(_shape(a)))]
    if _np.ndim(indices_or_sections) == 0:
        sections = _static_int(indices_or_sections, "sections of np.array_split")
        if sections <= 0:
            raise ShapeError("number sections must be larger than 0.", src=user_src_with_text(3))
        each, extra = builtins.divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = _np.concatenate([[0], _np.cumsum(sizes)])
    else:
        bounds = _np.concatenate([[0], _np.asarray(indices_or_sections, dtype=_np.int64), [n]])
    ax = _norm_axis(axis, len(_shape(a)))
    return [a[(slice(None),) * ax + (slice(int(lo), int(hi)),)]
            for lo, hi in zip(bounds[:-1], bounds[1:])]


@_public
def split(ary, indices_or_sections, axis=0):
    a = _as_operand(ary)
    if _np.ndim(indices_or_sections) == 0:
        n = _shape(a)[_norm_axis(axis, len(_shape(a)))]
        sections = _static_int(indices_or_sections, "sections of np.split")
        if sections <= 0 or n % sections:
            raise ShapeError("array split does not result in an equal division",
                             src=user_src_with_text(3))
    return array_split(a, indices_or_sections, axis)


@_public
def column_stack(tup):
    arrs = []
    for v in tup:
        v = _as_operand(v)
        arrs.append(reshape(v, (-1, 1)) if len(_shape(v)) < 2 else v)
    return concatenate(arrs, axis=1)


@_public
def dstack(tup):
    return concatenate([atleast_3d(_as_operand(v)) for v in tup], axis=2)


@_public
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    xs = [ravel(_as_operand(x)) for x in xi]
    n = len(xs)
    out = []
    for i, x in enumerate(xs):
        shape = [1] * n
        shape[i] = -1
        out.append(reshape(x, shape))
    if indexing == "xy" and n > 1:
        out = [swapaxes(o, 0, 1) for o in out]
    if not sparse:
        out = broadcast_arrays(*out)
    return out


def _static_mask(condition, what):
    if isinstance(condition, Tracer):
        _unsupported(f"{what} with a traced condition (the output shape would depend on data)",
                     "use np.where(cond, x, 0) to keep the shape")
    return _np.asarray(condition, dtype=bool)


@_public
def compress(condition, a, axis=None, out=None):
    _no_extras("compress", out)
    mask = _static_mask(condition, "np.compress")
    a = _as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, len(_shape(a)))
    if mask.ndim != 1 or mask.size > _shape(a)[ax]:
        raise ShapeError(f"np.compress: condition of shape {mask.shape} for an axis of length "
                         f"{_shape(a)[ax]}", src=user_src_with_text(3))
    return take(a, _np.nonzero(mask)[0], axis=ax)


@_public
def extract(condition, arr):
    mask = _static_mask(condition, "np.extract")
    return take(ravel(_as_array(arr)), _np.nonzero(mask.ravel())[0])


@_public
def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ShapeError("list of cases must be same length as list of conditions",
                         src=user_src_with_text(3))
    if not condlist:
        raise TracegradError("select with an empty condition list is not possible",
                             src=user_src_with_text(3))
    choices = [_as_operand(c) for c in choicelist] + [_as_operand(default)]
    dt = _result_dtype(choices)
    conds = [_as_array(c) for c in condlist]
    shape = _broadcast_shapes(*[_shape(c) for c in conds + choices if not _is_scalar(c)])
    out = broadcast_to(astype(_as_array(choices[-1]), dt), shape)
    for cond, choice in zip(reversed(conds), reversed(choices[:-1])):
        if not _dt.is_bool(_dtype(cond)):
            raise DTypeError(f"invalid entry in condlist: should be boolean ndarray, got "
                             f"{_dtype(cond)}", src=user_src_with_text(3))
        out = where(cond, choice, out)  # the first true condition wins
    return astype(out, dt)


class _Linalg:
    """``tracegrad.numpy.linalg``: the parts of ``np.linalg`` expressible on the primitives."""

    @staticmethod
    def norm(x, ord=None, axis=None, keepdims=False):
        return _norm(x, ord, axis, keepdims)


def _norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm: vector norms, and the Frobenius/1/inf matrix norms (no SVD ones)."""
    x = _as_operand(x)
    if not _dt.is_float(_dtype(x)):
        x = astype(x, _dt.float64)
    nd = len(_shape(x))
    if axis is None and ord is None:
        flat = ravel(x)  # NumPy: sqrt(x.dot(x)) over the flattened array
        r = sqrt(dot(flat, flat))  # noqa: F821
        return reshape(r, (1,) * nd) if keepdims else r
    if axis is None:
        axis = tuple(range(nd))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(_norm_axis(a, nd) for a in axes)
    if len(axes) == 1:
        ax = axes[0]
        if ord is None or ord == 2:
            return sqrt(sum(multiply(x, x), axis=ax, keepdims=keepdims))  # noqa: F821
        if ord == math.inf:
            return max(abs(x), axis=ax, keepdims=keepdims)
        if ord == -math.inf:
            return min(abs(x), axis=ax, keepdims=keepdims)
        if ord == 0:
            return sum(astype(not_equal(x, 0), _dtype(x)), axis=ax, keepdims=keepdims)
        if ord == 1:
            return sum(abs(x), axis=ax, keepdims=keepdims)
        if isinstance(ord, str):
            raise TracegradError(f"Invalid norm order {ord!r} for vectors",
                                 src=user_src_with_text(3))
        p = float(ord)
        return power(sum(power(abs(x), p), axis=ax, keepdims=keepdims), 1.0 / p)
    if len(axes) == 2:
        r, c = axes
        if ord in (None, "fro", "f"):
            return sqrt(sum(multiply(x, x), axis=axes, keepdims=keepdims))  # noqa: F821
        if ord in (1, -1, math.inf, -math.inf):
            inner_ax, outer_ax = (r, c) if ord in (1, -1) else (c, r)
            s = sum(abs(x), axis=inner_ax, keepdims=True)
            red = max if ord in (1, math.inf) else min
            out = red(s, axis=outer_ax, keepdims=True)
            if not keepdims:
                out = reshape(out, [d for i, d in enumerate(_shape(out)) if i not in axes])
            return out
        _unsupported(f"np.linalg.norm with ord={ord!r} on matrices (it needs an SVD)")
    raise ShapeError("Improper number of dimensions to norm.", src=user_src_with_text(3))


linalg = _Linalg()


# --- indexing --------------------------------------------------------------------------------
def at(x):
    """``at(x)[idx].set(v)`` / ``.add(v)``: a functional update of ``x`` (traced or a NumPy
    array; traced arrays also have ``x.at``), since arrays in traced functions are immutable."""
    from .indexing import AtIndexer
    return AtIndexer(_as_array(x))


def _getitem(x, idx):
    from .indexing import getitem
    return getitem(x, idx)


@_public
def take(a, indices, axis=None, out=None, mode="raise"):
    _no_extras("take", out)
    a = _as_array(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _norm_axis(axis, len(_shape(a)))
    if mode not in ("raise", "wrap", "clip", None):
        raise TracegradError(f"np.take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}",
                             src=user_src_with_text(3))
    if mode in ("wrap", "clip"):
        n = _shape(a)[ax]
        if isinstance(indices, Tracer):
            indices = remainder(indices, n) if mode == "wrap" else clip(indices, 0, n - 1)
        else:
            idx = _np.asarray(indices)
            indices = idx % n if mode == "wrap" else _np.clip(idx, 0, n - 1)
    return _getitem(a, (slice(None),) * ax + (indices,))


@_public
def take_along_axis(arr, indices, axis):
    from .indexing import take_along_axis as _tla
    return _tla(_as_operand(arr), _as_operand(indices), axis)


# --- dispatch from NumPy's protocols ---------------------------------------------------------
_UFUNC_NAMES = {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "true_divide",
    "true_divide": "true_divide", "floor_divide": "floor_divide", "remainder": "remainder",
    "power": "power", "maximum": "maximum", "minimum": "minimum", "fmax": "fmax",
    "fmin": "fmin", "negative": "negative", "positive": "positive", "absolute": "abs",
    "fabs": "abs", "sign": "sign", "floor": "floor", "ceil": "ceil", "rint": "rint",
    "trunc": "trunc", "exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2",
    "log10": "log10", "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt", "square": "square",
    "cbrt": "cbrt", "reciprocal": "reciprocal", "sin": "sin", "cos": "cos", "tan": "tan",
    "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "arcsin": "arcsin", "arccos": "arccos",
    "arctan": "arctan", "arcsinh": "arcsinh", "arctanh": "arctanh", "arccosh": "arccosh",
    "arctan2": "arctan2", "hypot": "hypot", "deg2rad": "deg2rad", "rad2deg": "rad2deg",
    "degrees": "rad2deg", "radians": "deg2rad", "logaddexp": "logaddexp",
    "logaddexp2": "logaddexp2", "less": "less", "less_equal": "less_equal", "greater": "greater",
    "greater_equal": "greater_equal", "equal": "equal", "not_equal": "not_equal",
    "logical_and": "logical_and", "logical_or": "logical_or", "logical_xor": "logical_xor",
    "logical_not": "logical_not", "bitwise_and": "bitwise_and", "bitwise_or": "bitwise_or",
    "bitwise_xor": "bitwise_xor", "invert": "invert", "isnan": "isnan", "isinf": "isinf",
    "isfinite": "isfinite", "heaviside": "heaviside", "matmul": "matmul", "divmod": "divmod",
    "float_power": "float_power", "conjugate": "conjugate", "vecdot": "vecdot",
    "matvec": "matvec", "vecmat": "vecmat",
}
_REDUCE_METHODS = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
                   "logical_and": "all", "logical_or": "any"}


def _dispatch_ufunc(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    out = kwargs.pop("out", None)
    if out is not None and builtins.any(o is not None for o in out):
        _unsupported(f"np.{name}(..., out=) on a traced array", "return the result instead")
    dtype = kwargs.pop("dtype", None)
    if method == "__call__":
        impl = _UFUNC_NAMES.get(name)
        if impl is None:
            _unsupported(f"the NumPy ufunc np.{name}")
        if dtype is not None:
            kwargs["dtype"] = dtype
        if not kwargs:
            return globals()[impl](*inputs)
        return _call_with_ufunc_kwargs(name, globals()[impl], inputs, kwargs)
    if method == "reduce" and name in _REDUCE_METHODS:
        target = _REDUCE_METHODS[name]
        kwargs.setdefault("axis", 0)  # ufunc.reduce reduces the first axis by default
        if dtype is not None:
            if target in ("sum", "prod"):
                kwargs["dtype"] = dtype
            else:
                inputs = [astype(inputs[0], dtype)]
        return globals()[target](*inputs, **kwargs)
    if method == "accumulate" and name == "add":
        extra = set(kwargs) - {"axis"}
        if extra:
            _unsupported(f"np.add.accumulate(..., {', '.join(sorted(extra))}=)")
        return cumsum(inputs[0], axis=kwargs.get("axis", 0), dtype=dtype)
    if method == "outer" and name in _UFUNC_NAMES and not kwargs:
        a, b = (_as_operand(i) for i in inputs)
        sa = _shape(a)
        a = reshape(a, sa + (1,) * len(_shape(b)))
        res = globals()[_UFUNC_NAMES[name]](a, b)
        return res if dtype is None else astype(res, dtype)
    _unsupported(f"np.{name}.{method}")


_FUNCTIONS = None


def _numpy_name(func) -> str:
    """``np.linalg.inv`` for numpy.linalg.inv: the name as the user wrote it."""
    module = getattr(func, "__module__", None) or "numpy"
    parts = module.split(".")
    if parts[0] == "numpy":
        parts = ["np"] + [p for p in parts[1:] if not p.startswith("_")]
    return ".".join(parts + [getattr(func, "__name__", repr(func))])


def _function_table():
    global _FUNCTIONS
    if _FUNCTIONS is None:
        table = {}
        for name, impl in _PUBLIC.items():
            target = getattr(_np, name, None)
            if target is not None and callable(target):
                table[target] = impl
        for alias in ("absolute", "around", "amax", "amin", "concat", "divide", "mod", "fix",
                      "radians", "degrees", "asarray", "array", "bitwise_not",
                      "permute_dims", "empty_like"):
            target = getattr(_np, alias, None)
            if target is not None:
                table[target] = globals()[alias]
        table[_np.linalg.norm] = _norm
        _FUNCTIONS = table
    return _FUNCTIONS


def _dispatch_function(func, args, kwargs):
    impl = _function_table().get(func)
    if impl is None:
        _unsupported(f"the NumPy function {_numpy_name(func)}",
                     "tracegrad.numpy lists the functions it can trace; rewrite with those")
    try:
        return impl(*args, **kwargs)
    except TypeError as exc:
        try:
            inspect.signature(impl).bind(*args, **kwargs)
        except TypeError:  # an argument tracegrad's version does not take
            _unsupported(f"{_numpy_name(func)} called with these arguments ({exc})")
        raise

