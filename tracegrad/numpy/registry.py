"""Registration of traced NumPy functions: ``_public`` wraps each one and records it in
``_PUBLIC`` (the dispatch tables read it); every error it raises names the user's line.
"""
from __future__ import annotations

import builtins
import functools

import numpy as _np

from ..errors import TracegradError, UnsupportedOperationError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from .inplace import VIEW_FUNCTIONS, note_function_view, own_result


_PUBLIC: dict[str, object] = {}  # name -> implementation, for the dispatch tables


def _public(fn):
    """Register ``fn`` as a traced NumPy function; errors it raises name the user's line.

    Functions named after a NumPy ufunc also take the ufunc keywords (``dtype=``, and
    ``out=``/``where=`` only to refuse them clearly).
    """
    name = fn.__name__
    is_ufunc = isinstance(getattr(_np, name, None), _np.ufunc)
    is_view = name in VIEW_FUNCTIONS

    @functools.wraps(fn)
    def public(*args, **kwargs):
        try:
            if is_ufunc and kwargs:
                out = _call_with_ufunc_kwargs(name, fn, args, kwargs)
            else:
                out = fn(*args, **kwargs)
            # NumPy returns a new array object or a view: x[i] = v on it reaches the argument
            # only through a view (numpy/inplace.py)
            if not is_view:
                out = own_result(out, args)
            elif args and type(args[0]) is Tracer:
                if out is args[0]:
                    out = Tracer(out._ctx, out._var, out._weak)
                note_function_view(out, args, kwargs, name, public)
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


# The families call one another (np.isnan builds zeros_like, broadcast_to builds full, ...):
# siblings are imported after the definitions, so every cycle resolves at call time.
from .promotion import _is_scalar, _strong  # noqa: E402
from .creation import astype  # noqa: E402
