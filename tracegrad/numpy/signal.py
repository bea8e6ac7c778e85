"""Convolution and correlation of signals: ``np.convolve``/``np.correlate`` (1-d) and SciPy's
``scipy.signal`` convolve/correlate/fftconvolve/convolve2d/correlate2d (N-d), each one ``conv``
primitive (a BLAS product in C) with NumPy's and SciPy's mode rules (full/same/valid, including
which input is swapped when the second is longer).

SciPy converts its inputs with ``np.asarray``, which a traced array refuses; so when SciPy's
signal module is imported, its functions are routed (tracegrad/scipy/routing.py's trampolines):
a call with a traced argument runs the version here, any other call runs SciPy's own function
unchanged (``install_scipy_signal``).
"""
from __future__ import annotations

import numpy as _np

from ..errors import ShapeError
from ..prims.conv import conv as _conv
from ..source_info import user_src_with_text
from .import_hooks import when_imported
from .registry import _public, _unsupported
from .promotion import _as_array, _dtype, _shape


def _compute_dtype(*xs):
    """(dtype the convolution runs in, dtype of the result): floats as NumPy promotes them;
    integers and bools run in float64 (exact below 2**53) and are converted back."""
    out = _np.result_type(*[_np.dtype(_dtype(x)) for x in xs])
    if out.kind not in "fiub":
        _unsupported(f"convolving {out} arrays", "the conv primitive takes real floats")
    return (out if out.kind == "f" else _np.dtype(_np.float64)), out


def _finish(y, out_dt):
    if out_dt.kind == "b":
        return not_equal(y, 0)
    if out_dt.kind in "iu":
        return astype(rint(y), out_dt)
    return y


def _correlate_nd(x, w, pads):
    """sum_l x[l + k - lo] w[l] over every axis: ``conv`` with one image, one channel."""
    y = _conv(reshape(x, (1, 1) + _shape(x)), reshape(w, (1, 1) + _shape(w)),
              (1,) * len(_shape(x)), pads)
    return reshape(y, _shape(y)[2:])


def _check_mode(mode, who):
    if mode not in ("full", "same", "valid"):
        raise ShapeError(f"{who}: mode must be 'full', 'same' or 'valid', got {mode!r}",
                         src=user_src_with_text(4))


# --- NumPy: 1-d ------------------------------------------------------------------------------
def _np_correlate(a, v, mode, who):
    """NumPy's multiarray.correlate: the longer input slides under the shorter (swapped and
    the result reversed when ``v`` is longer); 'same' pads n//2 left and n - n//2 - 1 right."""
    _check_mode(mode, who)
    a, v = ravel(_as_array(a)), ravel(_as_array(v))
    n1, n2 = _shape(a)[0], _shape(v)[0]
    if n1 == 0 or n2 == 0:
        raise ShapeError(f"{who}: inputs cannot be empty", src=user_src_with_text(4))
    comp, out_dt = _compute_dtype(a, v)
    a, v = astype(a, comp), astype(v, comp)
    inverted = n1 < n2
    if inverted:
        a, v, n1, n2 = v, a, n2, n1
    pads = {"valid": (0, 0), "same": (n2 // 2, n2 - n2 // 2 - 1), "full": (n2 - 1, n2 - 1)}
    y = _correlate_nd(a, v, (pads[mode],))
    return _finish(flip(y, 0) if inverted else y, out_dt)


@_public
def correlate(a, v, mode="valid"):
    return _np_correlate(a, v, mode, "np.correlate")


@_public
def convolve(a, v, mode="full"):
    a, v = ravel(_as_array(a)), ravel(_as_array(v))
    if _shape(v)[0] > _shape(a)[0]:
        a, v = v, a  # NumPy: convolution commutes, the longer one slides
    return _np_correlate(a, flip(v, 0), mode, "np.convolve")


# --- SciPy: N-d ------------------------------------------------------------------------------
def _swap_needed(mode, s1, s2):
    """SciPy's ``_inputs_swap_needed``: 'valid' needs one input at least as large as the
    other in every axis, and swaps them when that one is the second."""
    if mode != "valid":
        return False
    if all(i >= j for i, j in zip(s1, s2)):
        return False
    if all(j >= i for i, j in zip(s1, s2)):
        return True
    raise ShapeError("scipy.signal: for 'valid' mode, one input must be at least as large as "
                     f"the other in every dimension; got {s1} and {s2}",
                     src=user_src_with_text(5))


def _same_pads(s2):
    # SciPy centres 'same' in the full result: it starts at (s2 - 1) // 2
    return tuple((k - 1 - (k - 1) // 2, (k - 1) // 2) for k in s2)


def _scipy_correlate(in1, in2, mode, who, same_lo=lambda k: k - 1 - (k - 1) // 2):
    _check_mode(mode, who)
    in1, in2 = _as_array(in1), _as_array(in2)
    s1, s2 = _shape(in1), _shape(in2)
    if len(s1) != len(s2):
        raise ShapeError(f"{who}: in1 and in2 should have the same dimensionality",
                         src=user_src_with_text(4))
    if len(s1) == 0:
        return multiply(in1, in2)
    if 0 in s1 or 0 in s2:
        comp, out_dt = _compute_dtype(in1, in2)
        return zeros(tuple(0 for _ in s1), out_dt)
    comp, out_dt = _compute_dtype(in1, in2)
    in1, in2 = astype(in1, comp), astype(in2, comp)
    swapped = _swap_needed(mode, s1, s2)
    if swapped:
        in1, in2, s1, s2 = in2, in1, s2, s1
    pads = {"valid": tuple((0, 0) for _ in s1), "full": tuple((k - 1, k - 1) for k in s2),
            "same": tuple((same_lo(k), k - 1 - same_lo(k)) for k in s2)}[mode]
    y = _correlate_nd(in1, in2, pads)
    if swapped:
        y = flip(y, tuple(range(len(s1))))
    return _finish(y, out_dt)


def _scipy_convolve(in1, in2, mode, who):
    _check_mode(mode, who)
    in1, in2 = _as_array(in1), _as_array(in2)
    s1, s2 = _shape(in1), _shape(in2)
    if len(s1) != len(s2):
        raise ShapeError(f"{who}: in1 and in2 should have the same dimensionality",
                         src=user_src_with_text(4))
    if len(s1) == 0:
        return multiply(in1, in2)
    if _swap_needed(mode, s1, s2):
        in1, in2, s1, s2 = in2, in1, s2, s1
    if 0 in s1 or 0 in s2:
        return _scipy_correlate(in1, in2, mode, who)
    # convolution = correlation with the kernel reversed; 'same' centres like SciPy's
    k = flip(in2, tuple(range(len(s2))))
    comp, out_dt = _compute_dtype(in1, in2)
    pads = {"valid": tuple((0, 0) for _ in s1), "full": tuple((n - 1, n - 1) for n in s2),
            "same": _same_pads(s2)}[mode]
    y = _correlate_nd(astype(in1, comp), astype(k, comp), pads)
    return _finish(y, out_dt)


def signal_convolve(in1, in2, mode="full", method="auto"):
    """``scipy.signal.convolve`` (every ``method`` computes the same sums here)."""
    return _scipy_convolve(in1, in2, mode, "scipy.signal.convolve")


def signal_correlate(in1, in2, mode="full", method="auto"):
    """``scipy.signal.correlate``."""
    return _scipy_correlate(in1, in2, mode, "scipy.signal.correlate")


def signal_fftconvolve(in1, in2, mode="full", axes=None):
    if axes is not None:
        _unsupported("scipy.signal.fftconvolve(..., axes=) on a traced array",
                     "convolve over every axis")
    return _scipy_convolve(in1, in2, mode, "scipy.signal.fftconvolve")


def _two_d(boundary, fillvalue, who):
    if boundary not in ("fill",) or fillvalue != 0:
        _unsupported(f"{who}(..., boundary={boundary!r}, fillvalue={fillvalue!r}) on a traced "
                     "array", "tracegrad has boundary='fill' with fillvalue=0")


def signal_convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    _two_d(boundary, fillvalue, "scipy.signal.convolve2d")
    return _scipy_convolve(in1, in2, mode, "scipy.signal.convolve2d")


def signal_correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    _two_d(boundary, fillvalue, "scipy.signal.correlate2d")
    # SciPy's 2-d correlation centres 'same' the other way for even kernel sizes
    return _scipy_correlate(in1, in2, mode, "scipy.signal.correlate2d",
                            same_lo=lambda k: (k - 1) // 2)


SCIPY_SIGNAL = {"convolve": signal_convolve, "correlate": signal_correlate,
                "fftconvolve": signal_fftconvolve, "oaconvolve": signal_fftconvolve,
                "convolve2d": signal_convolve2d, "correlate2d": signal_correlate2d}


# --- routing SciPy's functions ---------------------------------------------------------------
def _patch(module) -> None:
    """Route each function through tracegrad/scipy/routing.py's trampolines: the function
    object itself gets the router as its code, so a name bound before tracegrad was imported
    (``from scipy.signal import convolve``) is routed too, and SciPy's internal calls."""
    import types

    from ..scipy.routing import route_function
    for name, impl in SCIPY_SIGNAL.items():
        fn = getattr(module, name, None)
        if isinstance(fn, types.FunctionType) and not fn.__closure__:
            route_function(fn, impl, f"scipy.signal.{name}")


def install_scipy_signal() -> None:
    """Route traced arguments of scipy.signal's convolutions here: now if SciPy's signal
    module is loaded, else when it is first imported."""
    when_imported("scipy.signal", _patch)


# The families call one another: siblings are imported after the definitions.
from .arithmetic import multiply, not_equal, rint  # noqa: E402
from .creation import astype, zeros  # noqa: E402
from .manipulation import flip, ravel, reshape  # noqa: E402
