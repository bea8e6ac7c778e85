"""``tracegrad.numpy.fft``: NumPy's ``np.fft`` on traced arrays, with NumPy's arguments
(``n=``, ``s=``, ``axes=``, ``norm=``) and dtypes (float32 -> complex64, ints -> complex128).

Each transform is the ``fft`` primitive (tracegrad/prims/fft.py) after NumPy's resizing
(zero-padding or truncation along each transformed axis: pad/slice equations); ``rfftn`` is an
``rfft`` of the last axis followed by complex ``fft``s of the others and ``irfftn`` the reverse,
in the order pocketfft uses. ``np.fft.<name>`` reaches these through ``__array_function__``
(``TABLE``, read by dispatch.py).
"""
from __future__ import annotations


import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..errors import DTypeError, ShapeError
from ..prims.fft import NORMS, fft_p
from ..source_info import names_caller
from .promotion import _as_array, _dtype, _shape
from .registry import _unsupported

TABLE: dict = {}  # np.fft function -> traced implementation (dispatch.py)


def _fft_public(fn):
    """Record ``fn`` as ``np.fft.<name>``'s traced version; errors name the user's line."""
    public = names_caller(fn)
    TABLE[getattr(_np.fft, fn.__name__)] = public
    return public


def _norm(norm):
    if norm is None:
        return "backward"
    if norm not in NORMS:
        raise ShapeError(f'Invalid norm value {norm!r}; should be "backward", "ortho" or '
                         '"forward".')
    return norm


def _no_out(out):
    if out is not None:
        _unsupported("np.fft.*(..., out=) on a traced array", "return the result instead")


def _complex(a):
    """``a`` at the complex dtype NumPy computes it in (ints and bools in complex128)."""
    return astype(a, _dt.complex_dtype(_dt.float_result(_dtype(a))))


def _real(a, name):
    dt = _dtype(a)
    if _dt.is_complex(dt):
        raise DTypeError(f"np.fft.{name} takes a real array, got {dt} (its imaginary part would "
                         "be dropped): use np.fft.fft, or pass np.real(a)")
    return astype(a, _dt.float_result(dt))


def _axis(axis, ndim):
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim


def _resize(a, axis: int, n: int):
    """NumPy's n= along ``axis``: truncate, or pad with zeros at the end."""
    if n < 1:
        raise ShapeError(f"Invalid number of FFT data points ({n}) specified.")
    shape = _shape(a)
    have = shape[axis]
    if have > n:
        limit = list(shape)
        limit[axis] = n
        return lax.slice(a, (0,) * len(shape), tuple(limit))
    if have < n:
        high = [0] * len(shape)
        high[axis] = n - have
        return lax.pad(a, 0, (0,) * len(shape), tuple(high))
    return a


def _axes_and_sizes(a, s, axes, name):
    """NumPy's rules for ``s`` and ``axes`` (``s`` alone: the last len(s) axes; -1 in s: the
    input's size), as (axes normalised, sizes)."""
    shape = _shape(a)
    nd = len(shape)
    if axes is None:
        axes = tuple(range(nd)) if s is None else tuple(range(nd - len(s), nd))
    else:
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
    axes = tuple(_axis(int(ax), nd) for ax in axes)
    if s is None:
        s = tuple(shape[ax] for ax in axes)
    else:
        s = tuple(s)
        if len(s) != len(axes):
            raise ShapeError(f"np.fft.{name}: shape (s) and axes have different lengths "
                             f"({len(s)} and {len(axes)})")
        s = tuple(shape[ax] if int(n) == -1 else int(n) for n, ax in zip(s, axes))
    return axes, s


def _c2c(a, s, axes, norm, kind, name):
    a = _complex(_as_array(a))
    axes, s = _axes_and_sizes(a, s, axes, name)
    if not axes:
        return a
    for ax, n in zip(axes, s):
        a = _resize(a, ax, n)
    norm = _norm(norm)
    if len(set(axes)) == len(axes):
        return fft_p.bind(a, kind=kind, axes=axes, lengths=s, norm=norm)
    for ax, n in reversed(list(zip(axes, s))):  # a repeated axis is transformed again
        a = fft_p.bind(_resize(a, ax, n), kind=kind, axes=(ax,), lengths=(n,), norm=norm)
    return a


def _rfft1(a, n, axis, norm):
    n = _shape(a)[axis] if n is None else int(n)
    a = _resize(a, axis, n)
    return fft_p.bind(a, kind="rfft", axes=(axis,), lengths=(n,), norm=norm)


def _irfft1(a, n, axis, norm):
    m = _shape(a)[axis]
    n = 2 * (m - 1) if n is None else int(n)
    if n < 1:
        raise ShapeError(f"Invalid number of data points ({n}) specified.")
    a = _resize(a, axis, n // 2 + 1)
    return fft_p.bind(a, kind="irfft", axes=(axis,), lengths=(n,), norm=norm)


@_fft_public
def fft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    return _c2c(a, None if n is None else (n,), (axis,), norm, "fft", "fft")


@_fft_public
def ifft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    return _c2c(a, None if n is None else (n,), (axis,), norm, "ifft", "ifft")


@_fft_public
def fftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out)
    return _c2c(a, s, axes, norm, "fft", "fftn")


@_fft_public
def ifftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out)
    return _c2c(a, s, axes, norm, "ifft", "ifftn")


@_fft_public
def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    _no_out(out)
    return _c2c(a, s, axes, norm, "fft", "fft2")


@_fft_public
def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    _no_out(out)
    return _c2c(a, s, axes, norm, "ifft", "ifft2")


@_fft_public
def rfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    a = _real(_as_array(a), "rfft")
    return _rfft1(a, n, _axis(axis, len(_shape(a))), _norm(norm))


@_fft_public
def irfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out)
    a = _complex(_as_array(a))
    return _irfft1(a, n, _axis(axis, len(_shape(a))), _norm(norm))


@_fft_public
def rfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out)
    a = _real(_as_array(a), "rfftn")
    axes, s = _axes_and_sizes(a, s, axes, "rfftn")
    norm = _norm(norm)
    a = _rfft1(a, s[-1], axes[-1], norm)
    if len(axes) > 1:
        a = _c2c(a, s[:-1], axes[:-1], norm, "fft", "rfftn")
    return a


@_fft_public
def irfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out)
    a = _complex(_as_array(a))
    s_given = s is not None
    axes, s = _axes_and_sizes(a, s, axes, "irfftn")
    norm = _norm(norm)
    last = s[-1] if s_given else None  # None: 2 * (m - 1), as NumPy
    if len(axes) > 1:
        a = _c2c(a, s[:-1], axes[:-1], norm, "ifft", "irfftn")
    return _irfft1(a, last, axes[-1], norm)


@_fft_public
def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return rfftn(a, s, axes, norm, out)


@_fft_public
def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return irfftn(a, s, axes, norm, out)


def _shift(x, axes, sign):
    x = _as_array(x)
    nd = len(_shape(x))
    axes = tuple(range(nd)) if axes is None else (axes,) if isinstance(axes, int) else tuple(axes)
    axes = tuple(_axis(int(a), nd) for a in axes)
    shifts = tuple(sign * (_shape(x)[a] // 2) for a in axes)
    return roll(x, shifts, axes) if axes else x


@_fft_public
def fftshift(x, axes=None):
    """Zero frequency to the centre: a roll by n // 2 along each axis."""
    return _shift(x, axes, 1)


@_fft_public
def ifftshift(x, axes=None):
    """fftshift's inverse: a roll by -(n // 2)."""
    return _shift(x, axes, -1)


__all__ = ["fft", "ifft", "fftn", "ifftn", "fft2", "ifft2", "rfft", "irfft", "rfftn", "irfftn",
           "rfft2", "irfft2", "fftshift", "ifftshift"]

from .creation import astype  # noqa: E402
from .manipulation import roll  # noqa: E402
