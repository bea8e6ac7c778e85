"""The ``eig`` primitive on the C backend: refused. Its results are complex, and the C
backend refuses complex programs before emission (``unsupported.refuse_complex``: a typed
error naming ``backend="numpy"``; ``backend="auto"`` runs them on NumPy, whose LAPACK geev
does the work). This emitter is reached only if that check is bypassed."""
from __future__ import annotations

from tracegrad.errors import UnsupportedOperationError
from tracegrad.prims.linalg_eig import eig_p

from .lowerings import register_lowering


def emit_eig(em, e):
    raise UnsupportedOperationError(
        "np.linalg.eig has complex results, which the C backend does not hold: use "
        "backend=\"numpy\" or backend=\"auto\"", src=e.src)


register_lowering(eig_p, emit=emit_eig)
