"""``scipy.linalg.lu_factor``, ``lu_solve`` and ``lu`` on traced arrays (square matrices, over
leading batch axes), on the ``lu`` primitive (tracegrad/prims/linalg_lu.py); routed from SciPy's
names by tracegrad/numpy/scipy_linalg.py.

``lu_solve`` takes SciPy's pivots (``piv``: row i was interchanged with row piv[i], in order).
Pivots from a traced ``lu_factor`` are traced integers: the permutation they make is built by a
``fori_loop`` of n swaps (pivots are not differentiable; they only reorder rows), concrete
pivots are turned into it eagerly.
"""
from __future__ import annotations

import numpy as _np

from .. import lax
from ..errors import TracegradError
from ..prims.linalg_lu import lu_p
from ..prims.linalg_np import pivots_to_perm
from ..source_info import user_src_with_text
from ..tracer import Tracer
from . import linalg as _la
from .promotion import _shape


def _factor(a, name):
    a = _la._square(a, name)
    return lu_p.bind(a)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """(lu, piv): L (unit diagonal, not stored) below the diagonal of lu, U on and above it."""
    lu, piv, _ = _factor(a, "lu_factor")
    return lu, piv


def _perm_of(piv):
    """The row permutation p with a[p] = L U, from SciPy's interchange sequence."""
    if not isinstance(piv, Tracer):
        return _np.asarray(pivots_to_perm(_np.asarray(piv, dtype=_np.int64)))
    from .. import numpy as tnp
    from ..control_flow import fori_loop
    shape = _shape(piv)
    n = shape[-1]
    piv = tnp.astype(piv, _np.int64)
    idx = tnp.arange(n, dtype=_np.int64)

    def swap(i, perm):
        j = tnp.take(piv, i, axis=-1)[..., None]
        pi = tnp.take(perm, i, axis=-1)[..., None]
        pj = tnp.take_along_axis(perm, j, axis=-1)
        return tnp.where(tnp.equal(idx, i), pj, tnp.where(tnp.equal(idx, j), pi, perm))
    return fori_loop(0, n, swap, tnp.broadcast_to(idx, shape))


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """x with a x = b (trans 0) or a^T x = b (1, 2: real matrices), a = P L U."""
    from .. import numpy as tnp
    lu, piv = lu_and_piv
    transpose = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}.get(trans)
    if transpose is None:
        raise TracegradError(f"lu_solve: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}",
                             src=user_src_with_text(3))
    perm = _perm_of(piv)
    vector = len(_shape(b)) == len(_shape(lu)) - 1
    bm = tnp.expand_dims(b, -1) if vector else b
    if not transpose:  # L U x = b[perm]
        pb = tnp.take_along_axis(bm, tnp.expand_dims(perm, -1), axis=-2) if len(_shape(perm)) > 1 \
            else tnp.take(bm, perm, axis=-2)
        y = _la.solve_tri(lu, pb, lower=True, unit_diagonal=True, name="lu_solve")
        x = _la.solve_tri(lu, y, lower=False, name="lu_solve")
    else:  # U^T L^T (P^T x) = b: w = L^-T U^-T b, then x[perm] = w
        z = _la.solve_tri(lu, bm, lower=False, transpose_a=True, name="lu_solve")
        w = _la.solve_tri(lu, z, lower=True, transpose_a=True, unit_diagonal=True,
                          name="lu_solve")
        inv = tnp.argsort(perm, axis=-1)
        x = tnp.take_along_axis(w, tnp.expand_dims(inv, -1), axis=-2) if len(_shape(inv)) > 1 \
            else tnp.take(w, inv, axis=-2)
    return x[..., 0] if vector else x


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """SciPy's (p, l, u) with a = p @ l @ u; (p @ l, u) with permute_l; p as row indices
    (a = l[p] @ u) with p_indices. Square matrices."""
    from .. import numpy as tnp
    packed, _, perm = _factor(a, "lu")
    n = _shape(packed)[-1]
    eye = _np.eye(n, dtype=bool)
    lower = tnp.where(_np.tril(_np.ones((n, n), bool), -1), packed, 0.0)
    lower = tnp.where(eye, 1.0, lower)
    upper = tnp.where(_np.triu(_np.ones((n, n), bool)), packed, 0.0)
    lower, upper = tnp.astype(lower, packed.dtype), tnp.astype(upper, packed.dtype)
    # p[r, c] = (perm[c] == r): a = p @ (l @ u) puts row c of l @ u at row perm[c]
    p = tnp.astype(tnp.equal(tnp.expand_dims(perm, -2),
                             tnp.arange(n, dtype=_np.int64)[:, None]), packed.dtype)
    if permute_l:
        return tnp.matmul(p, lower), upper
    if p_indices:
        return tnp.argsort(perm, axis=-1), lower, upper
    return p, lower, upper
