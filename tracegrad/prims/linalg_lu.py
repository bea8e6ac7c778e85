"""The LU factorisation with partial pivoting as a primitive: ``lu(a)`` -> (``lu``, ``piv``,
``perm``) of each square matrix over leading batch axes, where ``lu`` packs the unit lower
factor L (below the diagonal) and U (on and above it), ``piv`` is LAPACK's row-interchange
sequence (0-based int32, as scipy.linalg.lu_factor returns it) and ``perm`` the permutation it
makes: ``a[..., perm, :] = L @ U``. scipy.linalg.lu_factor, lu_solve and lu are built on it
(tracegrad/numpy/scipy_linalg.py).

Derivative (the pivots are piecewise constant, so no derivative): with Pa = a[perm] = L U and
X = L^-1 dPa U^-1, dL = L stril(X) and dU = triu(X) U (e.g. Murray's "Differentiation of the
Cholesky decomposition" (2016) derives the same way; de Hoog, Anderssen & Lukas (2011)). The
reverse rule is its adjoint: X_bar = stril(L^T L_bar) + triu(U_bar U^T), dPa_bar = L^-T X_bar
U^-T, and the rows go back through perm. Written with triangular solves and products, so it
differentiates again.

Evaluation: SciPy's lu_factor per matrix (NumPy backend), LAPACK getrf in C
(codegen/c/lapack_lu.py). A singular matrix factors (a zero on U's diagonal), as SciPy's does
with a warning; the solve that follows gives inf/NaN, as SciPy's lu_solve.
"""
from __future__ import annotations

from .. import dtypes
from ..errors import ShapeError
from ..primitive import Primitive, Traits, defbatch, defjvp, defvjp
from .common import aval, check_class
from .linalg_np import lu as lu_impl


def _lu_rule(a):
    check_class("lu", a.dtype, "float")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"lu: needs square matrices in the last two axes, got shape {a.shape}")
    batch = a.shape[:-1]
    return [a, aval(batch, dtypes.int32), aval(batch, dtypes.int64)]


lu_p = Primitive(
    "lu", kind="linalg", abstract_eval=_lu_rule, impl=lu_impl, multiple_results=True,
    traits=Traits(range="singular"),
    doc="(packed L\\U, LAPACK pivots int32, row permutation int64) of each square matrix: "
        "a[..., perm, :] = L @ U")


# --- derivative rules -----------------------------------------------------------------------
from . import ops  # noqa: E402
from .linalg import _eye_like, _mask, _mm, _mT, _trisolve  # noqa: E402


def _factors(lu):
    lower = ops.add(_mask(lu, ops.gt), _eye_like(lu))
    return lower, _mask(lu, ops.le)


def _perm_matrix(perm, like):
    """Q with Q[..., i, j] = (perm[i] == j): Q @ a = a[perm] (batched)."""
    shape = ops.shape_of(like)
    nd = len(shape)
    cols = ops.iota(shape, nd - 1, dtypes.int64)
    rows = ops.broadcast_in_dim(perm, shape, tuple(range(nd - 1)))
    return ops.convert(ops.eq(rows, cols), ops.dtype_of(like))


def _lu_jvp(primals, tangents, outs, **params):
    (a,), (t,) = primals, tangents
    lu, piv, perm = outs
    if t is None:
        return [None, None, None]
    lower, upper = _factors(lu)
    pa = _mm(_perm_matrix(perm, a), t)
    y = _trisolve(lower, pa, True, False)                # L^-1 dPa
    x = _mT(_trisolve(upper, _mT(y), False, True))       # (L^-1 dPa) U^-1
    dl = _mm(lower, _mask(x, ops.gt))
    du = _mm(_mask(x, ops.le), upper)
    return [ops.add(_mask(dl, ops.gt), du), None, None]


def _lu_vjp(cts, primals, outs, **params):
    ct = cts[0]
    if ct is None:
        return [None]
    lu, piv, perm = outs
    lower, upper = _factors(lu)
    xbar = ops.add(_mask(_mm(_mT(lower), _mask(ct, ops.gt)), ops.gt),
                   _mask(_mm(_mask(ct, ops.le), _mT(upper)), ops.le))
    y = _trisolve(lower, xbar, True, True)               # L^-T X_bar
    pabar = _mT(_trisolve(upper, _mT(y), False, False))  # (L^-T X_bar) U^-T
    return [_mm(_mT(_perm_matrix(perm, lu)), pabar)]


defjvp(lu_p, _lu_jvp)
defvjp(lu_p, _lu_vjp)


def _lu_batch(args, batched, size, **params):
    from .batching import with_batch
    return lu_p.bind(with_batch(args[0], batched[0], size))


defbatch(lu_p, _lu_batch)
