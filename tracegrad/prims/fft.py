"""The ``fft`` primitive: discrete Fourier transforms over given axes, NumPy's (pocketfft's)
conventions, with their transposes as the linear maps they are.

``fft[kind, axes, lengths, norm]``:
  ``fft`` / ``ifft``  complex -> complex over ``axes`` (sizes along them equal ``lengths``);
  ``rfft``            real -> complex along one axis of length n: n // 2 + 1 outputs;
  ``irfft``           complex (n // 2 + 1 along one axis) -> real of length n; the imaginary
                      parts of the zero (and, n even, the Nyquist) frequency are ignored.
Padding and truncation (NumPy's ``n=``/``s=``) are pad/slice equations of the NumPy layer, and
``rfftn``/``irfftn`` compose ``rfft``/``irfft`` with complex ``fft``s over the other axes, as
pocketfft computes them, so the kinds with a Hermitian half stay one-axis maps.

Transposes, under the pairing ``Re(ct * t)`` of the complex convention (docs/gradients.md):
the DFT matrix is symmetric, so ``fft``/``ifft`` are their own transposes (same norm);
``rfft``'s is ``real(fft(pad(ct, n)))``; ``irfft``'s is ``w * conj(rfft(ct))`` with rfft's
scale equal to irfft's (norm backward <-> forward) and the Hermitian weights ``w = 2``
(``w = 1`` at frequency 0 and, n even, at n / 2): each interior frequency stands for itself
and its conjugate twin.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..primitive import Primitive, Traits
from .common import aval

KINDS = ("fft", "ifft", "rfft", "irfft")
NORMS = ("backward", "ortho", "forward")


def _check(kind, x, axes, lengths, norm):
    if kind not in KINDS or norm not in NORMS:
        raise ValueError(f"fft: kind {kind!r} / norm {norm!r} (kinds {KINDS}, norms {NORMS})")
    axes, lengths = tuple(axes), tuple(lengths)
    if not axes or len(axes) != len(lengths) or len(set(axes)) != len(axes) or \
            any(not 0 <= a < len(x.shape) for a in axes):
        raise ShapeError(f"fft: axes {axes} with lengths {lengths} for shape {x.shape}")
    if any(n < 1 for n in lengths):
        raise ShapeError(f"fft: invalid number of FFT data points {lengths}")
    if kind in ("rfft", "irfft") and len(axes) != 1:
        raise ShapeError(f"{kind} transforms one axis (got {axes}); compose with fft for more")
    return axes, lengths


def _fft_rule(x, *, kind, axes, lengths, norm):
    axes, lengths = _check(kind, x, axes, lengths, norm)
    shape = list(x.shape)
    if kind == "rfft":
        if not dtypes.is_float(x.dtype):
            raise DTypeError(f"rfft needs a float operand, got {x.dtype}")
        if shape[axes[0]] != lengths[0]:
            raise ShapeError(f"rfft: axis {axes[0]} of {x.shape} is not {lengths[0]} long")
        shape[axes[0]] = lengths[0] // 2 + 1
        return [aval(shape, dtypes.complex_dtype(x.dtype))]
    if not dtypes.is_complex(x.dtype):
        raise DTypeError(f"{kind} needs a complex operand, got {x.dtype}")
    if kind == "irfft":
        if shape[axes[0]] != lengths[0] // 2 + 1:
            raise ShapeError(f"irfft of length {lengths[0]}: axis {axes[0]} of {x.shape} must "
                             f"be {lengths[0] // 2 + 1} long")
        shape[axes[0]] = lengths[0]
        return [aval(shape, dtypes.real_dtype(x.dtype))]
    if tuple(shape[a] for a in axes) != lengths:
        raise ShapeError(f"{kind}: axes {axes} of {x.shape} are not {lengths} long")
    return [x]


def fft_impl(x, *, kind, axes, lengths, norm):
    """pocketfft through np.fft (NumPy 2 keeps single precision)."""
    axes = tuple(axes)
    if kind == "fft":
        return np.fft.fftn(x, axes=axes, norm=norm)
    if kind == "ifft":
        return np.fft.ifftn(x, axes=axes, norm=norm)
    if kind == "rfft":
        return np.fft.rfft(x, n=lengths[0], axis=axes[0], norm=norm)
    return np.fft.irfft(x, n=lengths[0], axis=axes[0], norm=norm)


fft_p = Primitive(
    "fft", kind="fft", abstract_eval=_fft_rule, impl=fft_impl, linear_args=(0,),
    doc="fft[kind, axes, lengths, norm] x: np.fft's transforms (complex fft/ifft over axes, "
        "rfft/irfft along one)",
    traits=Traits())


# --- derivative rules: linear, so the tangent goes through the primitive and the vjp is the
# transpose (after the declaration: ops binds it; the rules call ops.* only when they run) -----
from ..primitive import defbatch, defjvp, deftranspose, defvjp  # noqa: E402
from . import ops  # noqa: E402
from .batching import shift_axes  # noqa: E402
from .linear import linear_jvp  # noqa: E402
from .sources import constant_p  # noqa: E402

_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def _hermitian_weights(n: int, axis: int, shape, dtype):
    """2 at the interior frequencies of a length-n real signal's half spectrum, 1 at 0 and
    (n even) at n / 2, broadcast along ``axis`` of ``shape``."""
    m = n // 2 + 1
    w = np.full(m, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    const = constant_p.bind(value=w.astype(dtype))
    return ops.broadcast_in_dim(const, tuple(shape), (axis,))


def _fft_transpose(cts, primals, outs, *, kind, axes, lengths, norm):
    (ct,) = cts
    if kind in ("fft", "ifft"):  # the DFT matrix is symmetric
        return [fft_p.bind(ct, kind=kind, axes=axes, lengths=lengths, norm=norm)]
    (axis,), (n,) = axes, lengths
    shape = ops.shape_of(ct)
    if kind == "rfft":  # x_ct = Re(sum_{k < m} w^{jk} ct_k): a full fft of the zero-padded ct
        low, high = [0] * len(shape), [0] * len(shape)
        high[axis] = n - shape[axis]
        padded = ops.pad(ct, 0.0, tuple(low), tuple(high)) if high[axis] else ct
        full = fft_p.bind(padded, kind="fft", axes=axes, lengths=lengths, norm=norm)
        return [ops.real(full)]
    # irfft: y_ct = w * conj(rfft(ct)) at irfft's own scale
    half = fft_p.bind(ct, kind="rfft", axes=axes, lengths=lengths, norm=_SWAP[norm])
    w = _hermitian_weights(n, axis, ops.shape_of(half), ops.dtype_of(half))
    return [ops.mul(ops.conj(half), w)]


defjvp(fft_p, linear_jvp(fft_p))
defvjp(fft_p, _fft_transpose)
deftranspose(fft_p, _fft_transpose)


def _batch_fft(args, batched, size, *, kind, axes, lengths, norm):
    return fft_p.bind(args[0], kind=kind, axes=shift_axes(axes), lengths=lengths, norm=norm)


defbatch(fft_p, _batch_fft)
