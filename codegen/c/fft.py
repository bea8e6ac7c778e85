"""The ``fft`` primitive on the C backend: refused. Every FFT program holds complex values,
which ``unsupported.refuse_complex`` stops before emission (typed error naming
``backend="numpy"``; ``backend="auto"`` runs the program on NumPy's pocketfft). No FFT
library is linked: FFTW is not installed here (``ldconfig -p | grep fftw`` is empty) and a
hand-written C FFT would be slower than pocketfft, which already does the work on NumPy."""
from __future__ import annotations

from tracegrad.errors import UnsupportedOperationError
from tracegrad.prims.fft import fft_p

from .lowerings import register_lowering


def emit_fft(em, e):
    raise UnsupportedOperationError(
        "the C backend has no FFT (and no complex values): use backend=\"numpy\" or "
        "backend=\"auto\", which runs FFT programs on NumPy's pocketfft", src=e.src)


register_lowering(fft_p, emit=emit_fft)
