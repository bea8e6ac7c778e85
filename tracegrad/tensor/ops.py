"""Small operation bodies of the tensor front, written on ``tracegrad.numpy``. Invariant: each
is a module-level function, so it is a stable key of the operation cache (one trace per
signature, never one per call)."""
from __future__ import annotations

import numpy as np

from .. import numpy as tnp


def _call_ufunc(ufunc, method, inputs, **kwargs):
    return tnp._dispatch_ufunc(ufunc, method, inputs, kwargs)


def _call_function(func, args, **kwargs):
    return tnp._dispatch_function(func, args, kwargs)


def _getitem(x, idx):
    return tnp._getitem(x, idx)


def _stop_gradient(x):
    from ..lax import stop_gradient
    return stop_gradient(x)


def _identity_copy(x):
    return tnp.copy(x)  # a program output never aliases an input, so this is a fresh array


def _as_dtype(x, dtype):
    return tnp.astype(x, dtype)


def _assign_like(target, value):
    return tnp.astype(tnp.broadcast_to(value, target.shape), target.dtype)


def _full_like(x, value):
    return tnp.full_like(x, value)


def _set_item(x, idx, value):
    """``x[idx] = value`` as a functional update (static index): gather the new values into
    place and select them where the index writes."""
    size = x.size
    pos = np.arange(size).reshape(x.shape)[idx]
    sel = np.asarray(pos).reshape(-1)
    mask = np.zeros(size, bool)
    mask[sel] = True
    src = np.zeros(size, np.int64)
    src[sel] = np.arange(sel.size)
    v = tnp.reshape(tnp.broadcast_to(tnp.astype(tnp.asarray(value), x.dtype), np.shape(pos)),
                    (-1,))
    full = tnp.reshape(tnp.take(v, src), x.shape)
    return tnp.where(mask.reshape(x.shape), full, x)


def _relu(x):
    # where(x > 0, x, 0): the gradient at exactly 0 is 0 (PyTorch's convention)
    return tnp.where(x > 0, x, 0)


def _norm(x, p, dim, keepdim):
    if p == 2:
        return tnp.sqrt(tnp.sum(x * x, axis=dim, keepdims=keepdim))
    if p == 1:
        return tnp.sum(tnp.abs(x), axis=dim, keepdims=keepdim)
    return tnp.power(tnp.sum(tnp.power(tnp.abs(x), p), axis=dim, keepdims=keepdim), 1.0 / p)


def tnp_add(a, b):
    return a + b


def tnp_sub(a, b):
    return a - b


def tnp_mul(a, b):
    return a * b


def tnp_div(a, b):
    return a / b

def _shape_of(a):
    return tuple(a.shape)
