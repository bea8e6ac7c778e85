"""NumPy lowering of the ``fft`` primitive (tracegrad/prims/fft.py): one np.fft (pocketfft)
call, the reference interpreter's ``fft_impl`` written out."""
from __future__ import annotations

from tracegrad.prims.fft import fft_p

from .numpy_lowerings import register_lowering


def _fft(ins, out_avals, *, kind, axes, lengths, norm):
    axes = tuple(int(a) for a in axes)
    if kind in ("fft", "ifft"):
        call = f"np.fft.{kind}n({ins[0]}, axes={axes!r}, norm={norm!r})"
    else:
        call = f"np.fft.{kind}({ins[0]}, n={int(lengths[0])}, axis={axes[0]}, norm={norm!r})"
    # NumPy 2 keeps single precision; the cast (no copy when it does) holds the IR's dtype
    return f"{call}.astype(np.{out_avals[0].dtype}, copy=False)"


register_lowering(fft_p, _fft)
