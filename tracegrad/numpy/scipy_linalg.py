"""``scipy.linalg`` on traced arrays: SciPy's functions call ``np.asarray`` on their inputs, which
a tracer refuses, so ``__array_function__`` never sees them. Instead each supported function in
``scipy.linalg`` (cholesky, cho_factor, cho_solve, solve_triangular, solve, inv, det, eigh,
svd, qr, lu_factor, lu_solve, lu) is wrapped once: with a traced argument the call goes to tracegrad's version
(below), with concrete arrays to SciPy's own function unchanged (same object underneath, same
name, docstring and signature through ``functools.wraps``).

The wrapping happens when ``tracegrad.numpy`` loads if SciPy's linalg is already imported, else
the moment it is first imported (an import hook), so ``import tracegrad`` never imports SciPy and
``from scipy.linalg import cho_solve`` written after ``import tracegrad`` gets the routed one.
"""
from __future__ import annotations

import functools

from .. import lax
from ..errors import TracegradError
from ..source_info import user_src_with_text
from ..tracer import Tracer
from . import linalg as _la
from .import_hooks import when_imported
from .promotion import _shape


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """SciPy reads the triangle it returns: the upper factor of a is the transpose of the lower
    factor of a^T (so a gradient stays in the triangle SciPy reads)."""
    if lower:
        return _la.cholesky(a)
    return _la.cholesky(_la.matrix_transpose(a), upper=True)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """(factor, lower): the factor's other triangle is zero (SciPy leaves arbitrary values)."""
    return cholesky(a, lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    if lower:  # A = L L^T: x = L^-T (L^-1 b)
        y = _la.solve_tri(c, b, lower=True, name="cho_solve")
        return _la.solve_tri(c, y, lower=True, transpose_a=True, name="cho_solve")
    y = _la.solve_tri(c, b, lower=False, transpose_a=True, name="cho_solve")  # A = U^T U
    return _la.solve_tri(c, y, lower=False, name="cho_solve")


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    transpose = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}.get(trans)
    if transpose is None:
        raise TracegradError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got "
                             f"{trans!r}", src=user_src_with_text(3))
    return _la.solve_tri(a, b, lower=lower, transpose_a=transpose, unit_diagonal=unit_diagonal)


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    # every assume_a ('gen', 'sym', 'pos', ...) is a property of a; LU solves them all
    return _la.solve_general(a, b, transpose_a=transposed)


def inv(a, overwrite_a=False, check_finite=True):
    return _la.inv(a)


def det(a, overwrite_a=False, check_finite=True):
    return _la.det(a)


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    if b is not None or subset_by_index is not None or subset_by_value is not None:
        raise TracegradError("scipy.linalg.eigh on a traced array: the generalized problem "
                             "(b=) and eigenvalue subsets are not supported; solve the "
                             "standard problem and slice", src=user_src_with_text(3))
    w, v = _la.eigh(a, "L" if lower else "U")
    return w if eigvals_only else (w, v)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    out = _la.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return out if not compute_uv else tuple(out)


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """SciPy's modes: 'full' and 'r' give R with M rows (zero rows below min(M, N)),
    'economic' the reduced factors; a tall matrix's 'full' Q is not unique (refused)."""
    if pivoting or mode not in ("full", "r", "economic"):
        raise TracegradError(f"scipy.linalg.qr(mode={mode!r}, pivoting={pivoting!r}) on a "
                             "traced array: use mode='economic', 'full' or 'r' without "
                             "pivoting", src=user_src_with_text(3))
    m, n = _shape(a)[-2:]
    if mode == "full" and m > n:
        raise TracegradError("scipy.linalg.qr(mode='full') of a tall traced matrix: the extra "
                             "columns of Q are not unique; use mode='economic'",
                             src=user_src_with_text(3))
    q, r = _la.qr(a)
    if mode == "economic":
        return q, r
    if m > n:  # R with M rows
        nd = len(_shape(r))
        r = lax.pad(r, 0.0, (0,) * nd, (0,) * (nd - 2) + (m - n, 0))
    return (r,) if mode == "r" else (q, r)


from .scipy_lu import lu, lu_factor, lu_solve  # noqa: E402  (the LU family: its own file)

SCIPY_LINALG = {"cholesky": cholesky, "cho_factor": cho_factor, "cho_solve": cho_solve,
                "solve_triangular": solve_triangular, "solve": solve, "inv": inv, "det": det,
                "eigh": eigh, "svd": svd, "qr": qr, "lu_factor": lu_factor,
                "lu_solve": lu_solve, "lu": lu}


def _traced(args, kwargs) -> bool:
    """A tracer among the arguments, or one level inside a tuple (cho_solve's (c, lower))."""
    for a in (*args, *kwargs.values()):
        if isinstance(a, Tracer) or (isinstance(a, tuple) and
                                     any(isinstance(x, Tracer) for x in a)):
            return True
    return False


def _route(original, traced_impl, name):
    """SciPy's function for concrete arguments, tracegrad's as soon as one is traced."""
    @functools.wraps(original)
    def routed(*args, **kwargs):
        if _traced(args, kwargs):
            try:
                return traced_impl(*args, **kwargs)
            except TracegradError as exc:
                if exc.src is None:
                    exc.with_src(user_src_with_text(2))
                raise
        return original(*args, **kwargs)
    routed.__tracegrad_routes__ = original
    return routed


def _patch(module) -> None:
    """Wrap the functions in the ``scipy.linalg`` namespace (what users import); SciPy's own
    modules keep the originals, which only ever see concrete arrays."""
    for name, impl in SCIPY_LINALG.items():
        fn = getattr(module, name, None)
        if fn is None or hasattr(fn, "__tracegrad_routes__"):
            continue
        setattr(module, name, _route(fn, impl, name))


def install_scipy_linalg() -> None:
    """Route traced arguments of scipy.linalg's functions here: now if SciPy's linalg is
    loaded, else when it is first imported."""
    when_imported("scipy.linalg", _patch)
