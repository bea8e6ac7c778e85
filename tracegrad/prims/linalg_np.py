"""NumPy evaluation of the linear-algebra primitives (``rt.linalg.<fn>`` in generated NumPy code,
and their reference ``impl``): ``np.linalg`` where it batches, SciPy's LAPACK wrappers where
NumPy has no equivalent (triangular solves), imported on first use.

Failures, as NumPy: a matrix that is not positive definite (``cholesky``), is exactly singular
(``solve``, ``triangular_solve``) or on which LAPACK does not converge (``eigh``, ``svd``) raises
``tracegrad.LinAlgError`` (also a ``numpy.linalg.LinAlgError``) naming the function, which
matrix of the batch, the user's line and the fix; the C backend raises the same error
(codegen/c/lapack.py) with the same ``MESSAGES``. ``slogdet`` of a singular matrix is
(0, -inf), as NumPy's.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import LinAlgError
from .np_source import generated_line_src

# primitive name -> what failed and the fix (shared with the C backend)
MESSAGES = {
    "cholesky": "cholesky: the matrix is not positive definite; symmetrise it and add a small "
                "multiple of the identity (jitter) to its diagonal",
    "triangular_solve": "solve_triangular: singular matrix (a zero on the triangle's "
                        "diagonal); a least-squares solution needs np.linalg.lstsq",
    "solve": "solve/inv: singular matrix; for a least-squares solution use np.linalg.lstsq or "
             "np.linalg.pinv",
    "eigh": "eigh: the eigenvalue algorithm did not converge (is the matrix finite?)",
    "svd": "svd: the SVD did not converge (is the matrix finite?)",
    "qr": "qr: the QR factorisation failed (is the matrix finite?)",
    "eig": "eig: the eigenvalue algorithm did not converge (is the matrix finite?)",
}


def failure(name: str, index, src: str | None = None) -> LinAlgError:
    """The error for primitive ``name`` failing on matrix ``index`` of its batch."""
    where = f" (matrix {tuple(index)} of the batch)" if index else ""
    return LinAlgError(MESSAGES[name] + where, src=src)




def _batched(name, fn, a, *rest):
    """``fn`` on each matrix of the leading batch axes; the first failure raises."""
    batch = a.shape[:-2]
    outs = None
    for idx in np.ndindex(*batch):
        try:
            res = fn(a[idx], *(r[idx] for r in rest))
        except np.linalg.LinAlgError:
            raise failure(name, idx if batch else (), generated_line_src(__file__)) from None
        res = res if isinstance(res, tuple) else (res,)
        if outs is None:
            outs = [np.empty(batch + np.shape(r), a.dtype) for r in res]
        for o, r in zip(outs, res):
            o[idx] = r
    return outs


def _all_at_once(name, fn, a, *rest):
    """``fn`` batched by NumPy; on failure, once more matrix by matrix to name the bad one."""
    try:
        return fn(a, *rest)
    except np.linalg.LinAlgError:
        _batched(name, fn, a, *rest)
        # (_batched raised for a single matrix)
        raise failure(name, (), generated_line_src(__file__)) from None


def cholesky(a):
    """Lower Cholesky factor of each matrix (reads the lower triangle, as np.linalg.cholesky)."""
    return _all_at_once("cholesky", np.linalg.cholesky, a)


def triangular_solve(a, b, lower, transpose_a):
    """x with op(a) @ x = b, op(a) = a or a.T; only ``a``'s ``lower``/upper triangle is read.

    NumPy's batched LU solve of the triangle, not SciPy's solve_triangular: SciPy's LAPACK sits
    in a second OpenBLAS whose thread pool fights NumPy's (codegen/c/blas_lib.py), which made a
    20 x 20 solve take 6 ms instead of 10 us on our 2-core machines (the gp benchmark's NumPy
    steady state went from 0.2 to 47 ms). An LU of a triangle costs O(n^3) against the
    substitution's O(n^2 k): the same order as the factorisation the solve follows."""
    if a.shape[-1] == 0 or b.shape[-1] == 0:
        return np.zeros(b.shape, b.dtype)
    diag = np.diagonal(a, axis1=-2, axis2=-1)
    bad = ~np.all(diag != 0, axis=-1)  # an exact zero on the diagonal: singular, as SciPy
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        raise failure("triangular_solve", first, generated_line_src(__file__))
    tri = np.tril(a) if lower else np.triu(a)
    if transpose_a:
        tri = np.swapaxes(tri, -1, -2)
    return np.linalg.solve(tri, b)


def solve(a, b, transpose_a):
    """x with op(a) @ x = b (LU with partial pivoting, LAPACK gesv)."""
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    return _all_at_once("solve", np.linalg.solve, a, b)


def slogdet(a):
    """(sign, log|det|) of each matrix; a singular one gives (0, -inf), as NumPy."""
    sign, logdet = np.linalg.slogdet(a)
    return [np.asarray(sign, a.dtype), np.asarray(logdet, a.dtype)]


def eigh(a):
    """Eigenvalues (ascending) and eigenvectors of each symmetric matrix (lower triangle)."""
    w, v = _all_at_once("eigh", lambda x: np.linalg.eigh(x, UPLO="L"), a)
    return [np.asarray(w, a.dtype), np.asarray(v, a.dtype)]


def svd(a, full_matrices):
    """(u, s, vt) of each matrix (LAPACK gesdd, as np.linalg.svd)."""
    u, s, vt = _all_at_once("svd", lambda x: np.linalg.svd(x, full_matrices=full_matrices), a)
    return [np.asarray(u, a.dtype), np.asarray(s, a.dtype), np.asarray(vt, a.dtype)]


def qr(a):
    """Reduced QR of each matrix (Householder, LAPACK geqrf/orgqr, as np.linalg.qr)."""
    q, r = _all_at_once("qr", lambda x: np.linalg.qr(x, mode="reduced"), a)
    return [np.asarray(q, a.dtype), np.asarray(r, a.dtype)]


# --- LU with partial pivoting (tracegrad/prims/linalg_lu.py) ---------------------------------
def pivots_to_perm(piv: np.ndarray) -> np.ndarray:
    """The row permutation that LAPACK's interchange sequence ``piv`` applies (last axis)."""
    perm = np.broadcast_to(np.arange(piv.shape[-1]), piv.shape).copy()
    if perm.size == 0:
        return perm
    flat_perm, flat_piv = perm.reshape(-1, piv.shape[-1]), piv.reshape(-1, piv.shape[-1])
    for p, q in zip(flat_perm, flat_piv):
        for i, j in enumerate(q):
            p[i], p[j] = p[j], p[i]
    return perm


def lu(a):
    """(packed L\\U, pivots, permutation) of each square matrix (tracegrad/prims/linalg_lu.py)."""
    from scipy.linalg import lu_factor
    n = a.shape[-1]
    flat = a.reshape((int(np.prod(a.shape[:-2])), n, n))
    lus = np.empty_like(flat)
    pivs = np.empty(flat.shape[:-1], np.int32)
    for i, m in enumerate(flat if n else ()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # singular: SciPy warns; the solve gives inf/NaN
            lus[i], pivs[i] = lu_factor(m, check_finite=False)
    piv = pivs.reshape(a.shape[:-1])
    return [lus.reshape(a.shape), piv, pivots_to_perm(piv).astype(np.int64)]


def eig(a):
    """np.linalg.eig, always complex (tracegrad/prims/linalg_eig.py): NumPy's real results
    when every eigenvalue is real are cast too, so the dtype does not depend on the values."""
    c = np.complex64 if a.dtype == np.float32 else np.complex128
    w, v = _all_at_once("eig", np.linalg.eig, a)
    return [np.asarray(w, c), np.asarray(v, c)]
