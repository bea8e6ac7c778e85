"""PyTorch's functional namespace on the tensor front: ``tg.sin(x)``, ``tg.sum(x, dim=1)``,
``tg.cat([a, b], dim=0)``, ``tg.where(c, a, b)`` ... Invariant: each function converts its array
arguments to tensors and records the same operation the ``Tensor`` method of that name records
(``TensorMethods`` is the one place an operation's semantics live), or one ``apply_op`` for the
functions that take several tensors (``cat``, ``stack``, ``where``, ``maximum``)."""
from __future__ import annotations

import numpy as np

from .. import numpy as tnp
from .core import Tensor, _to_array
from .lazy import apply_op


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor._leaf(_to_array(x, copy=False))


def _unary(name):
    def fn(input, *args, **kwargs):
        return getattr(_t(input), name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``tg.{name}(input, ...)`` is ``input.{name}(...)`` (PyTorch's signature)."
    return fn


# one-tensor functions: the Tensor method of the same name defines them
_METHOD_NAMES = (
    "sin", "cos", "exp", "log", "log1p", "sqrt", "rsqrt", "tanh", "sigmoid", "relu", "abs",
    "sign", "square", "neg", "sum", "mean", "prod", "var", "std", "argmax", "argmin", "cumsum",
    "norm", "clamp", "clip", "pow", "matmul", "mm", "dot", "reshape", "flatten", "squeeze",
    "unsqueeze", "permute", "transpose", "t", "softmax", "log_softmax", "numel", "tan", "floor",
    "ceil", "round", "exp2", "expm1", "log2", "log10", "sinh", "cosh", "asin", "acos", "atan",
)
for _n in _METHOD_NAMES:
    globals()[_n] = _unary(_n)
del _n


def _max_min(which):
    def fn(input, dim=None, keepdim=False, *, other=None):
        if isinstance(dim, Tensor) or isinstance(dim, np.ndarray):  # torch.max(a, b)
            return (maximum if which == "max" else minimum)(input, dim)
        return getattr(_t(input), which)(dim, keepdim)
    fn.__name__ = fn.__qualname__ = which
    fn.__doc__ = (f"``tg.{which}(x)``, ``tg.{which}(x, dim)`` -> (values, indices), or the "
                  f"elementwise ``tg.{which}(a, b)``.")
    return fn


max = _max_min("max")
min = _max_min("min")


def _cat(xs, dim):
    return tnp.concatenate(list(xs), axis=dim)


def _stack(xs, dim):
    return tnp.stack(list(xs), axis=dim)


def cat(tensors, dim=0) -> Tensor:
    """Join tensors along an existing dimension."""
    return apply_op(_cat, (tuple(_t(x) for x in tensors), dim), name="cat")


concat = concatenate = cat


def stack(tensors, dim=0) -> Tensor:
    """Join tensors along a new dimension."""
    return apply_op(_stack, (tuple(_t(x) for x in tensors), dim), name="stack")


def _operand(x):
    return _t(x) if isinstance(x, (Tensor, np.ndarray, list, tuple)) else x


def where(condition, input=None, other=None):
    """``where(c, a, b)`` picks ``a`` where ``c`` holds; ``where(c)`` gives index tensors."""
    if input is None and other is None:
        return tuple(Tensor._leaf(i.astype(np.int64)) for i in np.nonzero(np.asarray(condition)))
    return apply_op(tnp.where, (_operand(condition), _operand(input), _operand(other)))


def maximum(input, other) -> Tensor:
    return apply_op(tnp.maximum, (_operand(input), _operand(other)))


def minimum(input, other) -> Tensor:
    return apply_op(tnp.minimum, (_operand(input), _operand(other)))


def add(input, other, *, alpha=1) -> Tensor:
    return _t(input) + (other * alpha if alpha != 1 else other)


def sub(input, other, *, alpha=1) -> Tensor:
    return _t(input) - (other * alpha if alpha != 1 else other)


def mul(input, other) -> Tensor:
    return _t(input) * other


def div(input, other) -> Tensor:
    return _t(input) / other


subtract, multiply, divide = sub, mul, div


def outer(input, vec2) -> Tensor:
    return _t(input).reshape(-1, 1) * _t(vec2).reshape(1, -1)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return bool(np.allclose(np.asarray(input), np.asarray(other), rtol, atol, equal_nan))

