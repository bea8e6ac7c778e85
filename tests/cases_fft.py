"""Rows of tests/cases.py for the ``fft`` primitive (tracegrad/prims/fft.py), one per kind and
norm: real float inputs (converted to complex for fft/ifft/irfft) and real outputs (a complex
result is returned as its real parts stacked on its imaginary parts), so the generic forward,
linearity, gradient, second-order and vmap tests of the table run them. Complex inputs and
finite differences in the imaginary direction: tests/test_fft.py."""
from __future__ import annotations

import numpy as np

from tracegrad import dtypes, lax
from tracegrad.prims.fft import fft_p

FLOAT = ("float32", "float64")


def _parts(z):
    return lax.concatenate([lax.real(z), lax.imag(z)], 0)


def _np_parts(z):
    return np.concatenate([np.real(z), np.imag(z)], 0)


def _c2c(kind, axes, norm):
    def fn(x):
        z = lax.convert(x, dtypes.complex_dtype(x.dtype))
        lengths = tuple(x.shape[a] for a in axes)
        return _parts(fft_p.bind(z, kind=kind, axes=axes, lengths=lengths, norm=norm))

    def ref(x):
        z = x.astype(dtypes.complex_dtype(x.dtype))
        f = np.fft.fftn if kind == "fft" else np.fft.ifftn
        return _np_parts(f(z, axes=axes, norm=norm).astype(z.dtype))
    return fn, ref


def _rfft(norm):
    def fn(x):
        n = x.shape[-1]
        return _parts(fft_p.bind(x, kind="rfft", axes=(x.ndim - 1,), lengths=(n,), norm=norm))

    def ref(x):
        return _np_parts(np.fft.rfft(x, norm=norm).astype(dtypes.complex_dtype(x.dtype)))
    return fn, ref


def _irfft(odd, norm):
    def fn(x):
        n = 2 * (x.shape[-1] - 1) + odd
        z = lax.convert(x, dtypes.complex_dtype(x.dtype))
        return fft_p.bind(z, kind="irfft", axes=(x.ndim - 1,), lengths=(n,), norm=norm)

    def ref(x):
        n = 2 * (x.shape[-1] - 1) + odd
        return np.fft.irfft(x, n=n, norm=norm).astype(x.dtype)
    return fn, ref


def fft_rows(Case) -> list:
    rows = []
    for name, kind, axes, norm, shapes in [
            ("fft-axis1", "fft", (1,), "backward", [((2, 5),), ((0, 4),), ((1, 1),)]),
            ("ifft-2d-ortho", "ifft", (0, 1), "ortho", [((3, 4),), ((1, 2),), ((2, 3, 0),)]),
            ("fft-axis0-forward", "fft", (0,), "forward", [((4,),), ((3, 2),)])]:
        fn, ref = _c2c(kind, axes, norm)
        rows.append(Case("fft", fn, ref, shapes, FLOAT, ("real",), linear_args=(0,), name=name))
    for norm in ("backward", "ortho", "forward"):
        fn, ref = _rfft(norm)
        rows.append(Case("fft", fn, ref, [((6,),), ((2, 5),), ((0, 3),), ((1, 1),)], FLOAT,
                         ("real",), linear_args=(0,), name=f"rfft-{norm}"))
    for odd, norm in ((0, "backward"), (1, "ortho"), (0, "forward")):
        fn, ref = _irfft(odd, norm)
        shapes = [((3,),), ((1, 1),), ((2, 3),)] if odd else [((4,),), ((2, 4),), ((0, 3),)]
        rows.append(Case("fft", fn, ref, shapes, FLOAT, ("real",), linear_args=(0,),
                         name=f"irfft-{'odd' if odd else 'even'}-{norm}"))
    return rows
