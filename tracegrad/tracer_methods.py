"""ndarray's methods on traced arrays (``x.sum(axis=0)``, ``x.reshape(2, 3)``, ...), each the
tracegrad.numpy function of the same name: a mixin of ``tracer.Tracer``, kept apart from the
tracer's own machinery (operators, conversions, protocols)."""
from __future__ import annotations

_np_layer = None  # tracegrad.numpy, bound on first use (it imports the tracer, which imports us)


def _tnp():
    global _np_layer
    if _np_layer is None:
        from . import numpy as mod
        _np_layer = mod
    return _np_layer


class NdarrayMethods:
    """The methods NumPy users call on arrays, forwarded to tracegrad.numpy."""

    __slots__ = ()

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return _tnp().astype(self, dtype)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _tnp().reshape(self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = () if axes[0] is None else tuple(axes[0])
        return _tnp().transpose(self, axes or None)

    def flatten(self, order="C"):
        return _tnp().copy(_tnp().reshape(self, (-1,), order=order))  # a copy, not a view

    def ravel(self, order="C"):
        return _tnp().reshape(self, (-1,), order=order)

    def squeeze(self, axis=None):
        return _tnp().squeeze(self, axis)

    def swapaxes(self, axis1, axis2):
        return _tnp().swapaxes(self, axis1, axis2)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        return _tnp().sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                          initial=initial, where=where)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        return _tnp().prod(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                           initial=initial, where=where)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, where=None):
        return _tnp().mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, where=where)

    def max(self, axis=None, out=None, keepdims=False, initial=None, where=None):
        return _tnp().max(self, axis=axis, out=out, keepdims=keepdims, initial=initial,
                          where=where)

    def min(self, axis=None, out=None, keepdims=False, initial=None, where=None):
        return _tnp().min(self, axis=axis, out=out, keepdims=keepdims, initial=initial,
                          where=where)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None):
        return _tnp().var(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                          where=where)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None):
        return _tnp().std(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                          where=where)

    def argmax(self, axis=None, out=None, keepdims=False):
        return _tnp().argmax(self, axis=axis, out=out, keepdims=keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        return _tnp().argmin(self, axis=axis, out=out, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        return _tnp().cumsum(self, axis=axis, dtype=dtype, out=out)

    def cumprod(self, axis=None, dtype=None, out=None):
        return _tnp().cumprod(self, axis=axis, dtype=dtype, out=out)

    def argsort(self, axis=-1, kind=None, order=None, *, stable=None):
        return _tnp().argsort(self, axis=axis, kind=kind, order=order, stable=stable)

    def searchsorted(self, v, side="left", sorter=None):
        return _tnp().searchsorted(self, v, side=side, sorter=sorter)

    def clip(self, min=None, max=None, out=None, **kwargs):
        return _tnp().clip(self, min, max, out=out, **kwargs)

    def dot(self, b, out=None):
        return _tnp().dot(self, b, out=out)

    def any(self, axis=None, out=None, keepdims=False, where=None):
        return _tnp().any(self, axis=axis, out=out, keepdims=keepdims, where=where)

    def all(self, axis=None, out=None, keepdims=False, where=None):
        return _tnp().all(self, axis=axis, out=out, keepdims=keepdims, where=where)

    def round(self, decimals=0, out=None):
        if out is not None:
            return _tnp().round(self, decimals, out=out)
        return _tnp().round(self, decimals)

    def __round__(self, ndigits=None):
        return _tnp().round(self, 0 if ndigits is None else ndigits)

    def take(self, indices, axis=None, out=None, mode="raise"):
        return _tnp().take(self, indices, axis=axis, out=out, mode=mode)

    def repeat(self, repeats, axis=None):
        return _tnp().repeat(self, repeats, axis=axis)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _tnp().diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        return _tnp().trace(self, offset, axis1, axis2, dtype=dtype, out=out)

    def conj(self):
        return _tnp().conj(self) if self.dtype.kind == "c" else self

    conjugate = conj
