"""NumPy evaluation of the linear-algebra primitives (``rt.linalg.<fn>`` in generated NumPy code,
and their reference ``impl``): ``np.linalg`` where it batches, SciPy's LAPACK wrappers where
NumPy has no equivalent (triangular solves), imported on first use.

Failure convention, shared with the C backend (codegen/c/lapack.py): a matrix that is not
positive definite (``cholesky``) or is exactly singular (``solve``, ``triangular_solve``) gives
NaN in its own result, as JAX does; the other matrices of a batch are unaffected. Eager NumPy
raises ``LinAlgError`` instead; a compiled program has no way to raise from inside a LAPACK call
(docs/linalg.md).
"""
from __future__ import annotations

import numpy as np


def _batched(fn, a, *rest, out_shape):
    """Apply ``fn`` to each matrix of the leading batch axes; NaN where it raises LinAlgError."""
    batch = a.shape[:-2]
    out = np.empty(batch + out_shape, dtype=a.dtype)
    for idx in np.ndindex(*batch):
        try:
            out[idx] = fn(a[idx], *(r[idx] for r in rest))
        except np.linalg.LinAlgError:
            out[idx] = np.nan
    return out


def cholesky(a):
    """Lower Cholesky factor of each matrix (reads the lower triangle, as np.linalg.cholesky)."""
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:  # some matrix of the batch is not positive definite
        return _batched(np.linalg.cholesky, a, out_shape=a.shape[-2:])


def triangular_solve(a, b, lower, transpose_a):
    """x with op(a) @ x = b, op(a) = a or a.T; only ``a``'s ``lower``/upper triangle is read."""
    from scipy.linalg import solve_triangular

    def one(m, rhs):
        if not np.all(np.diagonal(m)):  # exactly singular: NaN, as the C backend
            return np.full(rhs.shape, np.nan, rhs.dtype)
        return solve_triangular(m, rhs, lower=lower, trans=1 if transpose_a else 0,
                                check_finite=False)
    return _batched(one, a, b, out_shape=b.shape[-2:])


def solve(a, b, transpose_a):
    """x with op(a) @ x = b (LU with partial pivoting, LAPACK gesv)."""
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return _batched(np.linalg.solve, a, b, out_shape=b.shape[-2:])


def slogdet(a):
    """(sign, log|det|) of each matrix; a singular one gives (0, -inf), as NumPy."""
    sign, logdet = np.linalg.slogdet(a)
    return [np.asarray(sign, a.dtype), np.asarray(logdet, a.dtype)]


def eigh(a):
    """Eigenvalues (ascending) and eigenvectors of each symmetric matrix (lower triangle)."""
    w, v = np.linalg.eigh(a, UPLO="L")
    return [np.asarray(w, a.dtype), np.asarray(v, a.dtype)]


def svd(a, full_matrices):
    """(u, s, vt) of each matrix; NaN where LAPACK's gesdd does not converge."""
    m, n = a.shape[-2:]
    k = min(m, n)
    try:
        u, s, vt = np.linalg.svd(a, full_matrices=full_matrices)
    except np.linalg.LinAlgError:
        batch = a.shape[:-2]
        um, vn = (m, n) if full_matrices else (k, k)
        u = np.full(batch + (m, um), np.nan, a.dtype)
        s = np.full(batch + (k,), np.nan, a.dtype)
        vt = np.full(batch + (vn, n), np.nan, a.dtype)
        for idx in np.ndindex(*batch):
            try:
                u[idx], s[idx], vt[idx] = np.linalg.svd(a[idx], full_matrices=full_matrices)
            except np.linalg.LinAlgError:
                pass
    return [np.asarray(u, a.dtype), np.asarray(s, a.dtype), np.asarray(vt, a.dtype)]


def qr(a):
    """Reduced QR of each matrix (Householder, LAPACK geqrf/orgqr, as np.linalg.qr)."""
    q, r = np.linalg.qr(a, mode="reduced")
    return [np.asarray(q, a.dtype), np.asarray(r, a.dtype)]
