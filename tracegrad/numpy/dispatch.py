"""NumPy's ``__array_ufunc__``/``__array_function__`` protocols: map each NumPy ufunc or
function to its traced implementation, or raise UnsupportedOperationError naming it.
"""
from __future__ import annotations

import builtins
import inspect
import sys

import numpy as _np

from .registry import _call_with_ufunc_kwargs, _PUBLIC, _unsupported
from .promotion import _as_operand, _shape


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

_COVERAGE = "docs/numpy-coverage.md lists the NumPy and SciPy functions tracegrad can trace"


def _scipy_routing():
    from ..scipy import routing  # SciPy ufuncs: identity table, real names in errors
    return routing


def _namespace() -> dict:
    """The ``tracegrad.numpy`` namespace, where every family's functions are found by name."""
    return vars(sys.modules[__package__])


def _dispatch_ufunc(ufunc, method, inputs, kwargs):
    name = ufunc.__name__
    if getattr(_np, name, None) is not ufunc:  # SciPy's ufuncs: by identity, never by name
        return _scipy_routing().dispatch_ufunc(ufunc, method, inputs, kwargs)
    out = kwargs.pop("out", None)
    if out is not None and builtins.any(o is not None for o in out):
        _unsupported(f"np.{name}(..., out=) on a traced array", "return the result instead")
    dtype = kwargs.pop("dtype", None)
    if method == "__call__":
        impl = _UFUNC_NAMES.get(name)
        if impl is None:
            _unsupported(f"the NumPy ufunc np.{name}", _COVERAGE)
        if dtype is not None:
            kwargs["dtype"] = dtype
        if not kwargs:
            return _namespace()[impl](*inputs)
        return _call_with_ufunc_kwargs(name, _namespace()[impl], inputs, kwargs)
    if method == "reduce" and name in _REDUCE_METHODS:
        target = _REDUCE_METHODS[name]
        kwargs.setdefault("axis", 0)  # ufunc.reduce reduces the first axis by default
        if dtype is not None:
            if target in ("sum", "prod"):
                kwargs["dtype"] = dtype
            else:
                inputs = [astype(inputs[0], dtype)]
        return _namespace()[target](*inputs, **kwargs)
    if method == "accumulate" and name == "add":
        extra = set(kwargs) - {"axis"}
        if extra:
            _unsupported(f"np.add.accumulate(..., {', '.join(sorted(extra))}=)")
        return cumsum(inputs[0], axis=kwargs.get("axis", 0), dtype=dtype)
    if method == "outer" and name in _UFUNC_NAMES and not kwargs:
        a, b = (_as_operand(i) for i in inputs)
        sa = _shape(a)
        a = reshape(a, sa + (1,) * len(_shape(b)))
        res = _namespace()[_UFUNC_NAMES[name]](a, b)
        return res if dtype is None else astype(res, dtype)
    _unsupported(f"np.{name}.{method}", _COVERAGE)


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
                table[target] = _namespace()[alias]
        table.update(_LINALG)  # np.linalg.* (linalg.py)
        table.update(_FFT)  # np.fft.* (fft.py)
        _FUNCTIONS = table
    return _FUNCTIONS


def _dispatch_function(func, args, kwargs):
    impl = _function_table().get(func)
    if impl is None:
        _unsupported(f"the NumPy function {_numpy_name(func)}", _COVERAGE)
    try:
        return impl(*args, **kwargs)
    except TypeError as exc:
        try:
            inspect.signature(impl).bind(*args, **kwargs)
        except TypeError:  # an argument tracegrad's version does not take
            _unsupported(f"{_numpy_name(func)} called with these arguments ({exc})")
        raise


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .creation import astype  # noqa: E402
from .manipulation import reshape  # noqa: E402
from .reductions import cumsum  # noqa: E402
from .linalg import TABLE as _LINALG  # noqa: E402
from .fft import TABLE as _FFT  # noqa: E402
