"""Rows of tests/cases.py for the linear-algebra primitives (tracegrad/prims/linalg.py).

Each row's ``post`` turns the drawn matrices into ones the primitive is smooth at: symmetric
positive definite for ``cholesky``, diagonally dominant (well conditioned) for the solves and
``slogdet``, symmetric with well separated eigenvalues for ``eigh`` (its eigenvectors are
signed so that their first component is positive, on both sides, so that the sign LAPACK picks
cannot differ between the reference and the program).
"""
from __future__ import annotations

import numpy as np

from tracegrad import lax
from tracegrad.prims.linalg import (cholesky_p, eigh_p, slogdet_p, solve_p,
                                    triangular_solve_p)
from tracegrad.prims.linalg_eig import eig_p
from tracegrad.prims.linalg_lu import lu_p
from tracegrad.prims.linalg_svd import qr_p, svd_p

FLOAT = ("float32", "float64")


def _spd(a):
    n = a.shape[-1]
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(a.dtype)


def _dominant(a, *rest):
    n = a.shape[-1]
    return ((a + (n + 2) * np.eye(n)).astype(a.dtype), *rest)


def _separated(a):
    n = a.shape[-1]
    sym = (a + np.swapaxes(a, -1, -2)) / 4
    return (sym + np.diag(2.0 * np.arange(n))).astype(a.dtype)


def _eigh_vectors(a):
    w, v = eigh_p.bind(a)
    shape = lax.shape_of(v)
    nd = len(shape)
    if shape[-1] == 0:
        return v
    first = lax.slice(v, (0,) * nd, shape[:-2] + (1, shape[-1]))
    s = lax.broadcast_in_dim(lax.reshape(lax.sign(first), shape[:-2] + (shape[-1],)), shape,
                             tuple(range(nd - 2)) + (nd - 1,))
    return lax.mul(v, s)


def _eigh_vectors_ref(a):
    w, v = np.linalg.eigh(a)
    return v * np.sign(v[..., :1, :])


def _tri_ref(lower, trans):
    def ref(a, b):
        t = np.tril(a) if lower else np.triu(a)
        if trans:
            t = np.swapaxes(t, -1, -2)
        return np.linalg.solve(t, b) if t.shape[-1] else np.zeros_like(b)
    return ref


def _solve_ref(trans):
    def ref(a, b):
        m = np.swapaxes(a, -1, -2) if trans else a
        return np.linalg.solve(m, b) if m.shape[-1] else np.zeros_like(b)
    return ref


def _signed_svd(a):
    """svd's factors with each singular pair signed by u's first row (as _eigh_vectors), summed
    into one output so the gradient rows see all three."""
    u, s, vt = svd_p.bind(a, full_matrices=False)
    shape = lax.shape_of(u)
    nd = len(shape)
    k = shape[-1]
    if k == 0 or shape[-2] == 0:
        return s
    first = lax.reshape(lax.sign(lax.slice(u, (0,) * nd, shape[:-2] + (1, k))),
                        shape[:-2] + (k,))
    su = lax.mul(u, lax.broadcast_in_dim(first, shape, tuple(range(nd - 2)) + (nd - 1,)))
    vshape = lax.shape_of(vt)
    svt = lax.mul(vt, lax.broadcast_in_dim(first, vshape, tuple(range(nd - 2)) + (nd - 2,)))
    w = lax.reduce_sum(lax.mul(su, su), (nd - 2,))          # column norms: 1, but differentiated
    t = lax.reduce_sum(lax.mul(svt, lax.sin(svt)), (nd - 1,))
    row = lax.reduce_sum(lax.mul(su, lax.cos(su)), (nd - 2,))
    return lax.add(lax.add(s, lax.mul(w, t)), row)


def _signed_svd_ref(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    if 0 in u.shape[-2:]:
        return s
    sg = np.sign(u[..., :1, :])
    su, svt = u * sg, vt * np.swapaxes(sg, -1, -2)
    return (s + np.sum(su * su, -2) * np.sum(svt * np.sin(svt), -1)
            + np.sum(su * np.cos(su), -2))


def _qr_sum(a):
    q, r = qr_p.bind(a)
    nd = len(lax.shape_of(a))
    mat = (nd - 2, nd - 1)
    return lax.add(lax.reduce_sum(lax.sin(q), mat), lax.reduce_sum(lax.mul(r, r), mat))


def _qr_sum_ref(a):
    q, r = np.linalg.qr(a)
    return np.sum(np.sin(q), (-2, -1)) + np.sum(r * r, (-2, -1))


def _spread(a):
    """Singular values separated and away from 0: diag(1, 2, ...) plus a small random part."""
    m, n = a.shape[-2:]
    k = min(m, n)
    d = np.zeros((m, n))
    d[np.arange(k), np.arange(k)] = np.arange(1, k + 1)
    return ((0.2 * a + d).astype(a.dtype),)


_RECT = [((3, 2),), ((2, 2),), ((4, 3),), ((2, 3, 2),), ((1, 1),), ((0, 2),), ((3, 0),)]
_WIDE = [((2, 3),), ((2, 2, 3),), ((1, 2),)]

_SQUARE = [((2, 2),), ((3, 3),), ((2, 4, 4),), ((1, 1),), ((0, 0),), ((0, 3, 3),)]
_SYSTEMS = [((2, 2), (2, 1)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)), ((1, 1), (1, 1)),
            ((0, 0), (0, 2)), ((3, 3), (3, 0))]


def _pivoting(a):
    """Rows of a dominant matrix in reverse order: LU must pivot (a permutation that is not
    the identity), and no pivot choice is near a tie, so finite differences keep it."""
    n = a.shape[-1]
    return (np.flip(0.3 * a + (n + 2) * np.eye(n), axis=-2).astype(a.dtype),)


def _lu_ref(k):
    def ref(a):
        import scipy.linalg as sl
        n = a.shape[-1]
        if n == 0:
            return [a.copy(), np.zeros(a.shape[:-1], np.int32),
                    np.zeros(a.shape[:-1], np.int64)][k]
        flat = a.reshape(-1, n, n)
        outs = [sl.lu_factor(m) for m in flat]
        if k == 0:
            return np.array([o[0] for o in outs], a.dtype).reshape(a.shape)
        piv = np.array([o[1] for o in outs], np.int32).reshape(a.shape[:-1])
        if k == 1:
            return piv
        perm = np.broadcast_to(np.arange(n), piv.shape).copy()
        for p, q in zip(perm.reshape(-1, n), piv.reshape(-1, n)):
            for i, j in enumerate(q):
                p[i], p[j] = p[j], p[i]
        return perm
    return ref


def _distinct(a):
    n = a.shape[-1]
    return ((0.3 * a + np.diag(3.0 * np.arange(n))).astype(a.dtype),)


def _eig_ref(a, k):
    w, v = np.linalg.eig(a)
    if k == 0:
        return (np.real(w) + 2 * np.imag(w)).astype(a.dtype)
    return np.abs(v).astype(a.dtype)


def linalg_rows(Case) -> list:
    rows = [
        Case("cholesky", lambda a: cholesky_p.bind(a), np.linalg.cholesky, _SQUARE, FLOAT,
             ("real",), post=lambda a: (_spd(a),)),
        Case("slogdet", lambda a: slogdet_p.bind(a)[1], lambda a: np.linalg.slogdet(a)[1],
             _SQUARE, FLOAT, ("real",), post=_dominant, name="logabsdet"),
        Case("slogdet", lambda a: slogdet_p.bind(a)[0], lambda a: np.linalg.slogdet(a)[0],
             _SQUARE, FLOAT, ("real",), differentiable=False,
             post=lambda a: (a - 3 * np.eye(a.shape[-1], dtype=a.dtype),), name="sign"),
        Case("eigh", lambda a: eigh_p.bind(a)[0], lambda a: np.linalg.eigh(a)[0], _SQUARE,
             FLOAT, ("real",), post=lambda a: (_separated(a),), name="values"),
        Case("eigh", _eigh_vectors, _eigh_vectors_ref, _SQUARE, FLOAT, ("real",),
             post=lambda a: (_separated(a),), name="vectors"),
    ]
    # eig: a real function of the complex results (same LAPACK geev order on both sides);
    # eigenvalues distinct (a spread diagonal); |v|^2 does not depend on the phases
    rows += [Case("eig", lambda a: lax.real(eig_p.bind(a)[0]) + 2 * lax.imag(eig_p.bind(a)[0]),
                  lambda a: _eig_ref(a, 0), _SQUARE, FLOAT, ("real",), post=_distinct,
                  name="values"),
             Case("eig", lambda a: lax.abs(eig_p.bind(a)[1]), lambda a: _eig_ref(a, 1),
                  _SQUARE, FLOAT, ("real",), post=_distinct, name="vectors")]
    rows += [Case("lu", (lambda k: lambda a: lu_p.bind(a)[k])(k), _lu_ref(k), _SQUARE, FLOAT,
                  ("real",), differentiable=k == 0, post=_pivoting,
                  name=("packed", "piv", "perm")[k]) for k in range(3)]
    rows += [
        Case("svd", _signed_svd, _signed_svd_ref, _RECT + _WIDE, FLOAT, ("real",), post=_spread),
        Case("qr", _qr_sum, _qr_sum_ref, _RECT, FLOAT, ("real",), post=_spread),
    ]
    for lower in (True, False):
        for trans in (False, True):
            rows.append(Case(
                "triangular_solve",
                (lambda lo, tr: lambda a, b: triangular_solve_p.bind(
                    a, b, lower=lo, transpose_a=tr))(lower, trans),
                _tri_ref(lower, trans), _SYSTEMS, FLOAT, ("real", "real"), linear_args=(1,),
                post=_dominant, name=f"{'lower' if lower else 'upper'}{'-T' if trans else ''}"))
    for trans in (False, True):
        rows.append(Case(
            "solve", (lambda tr: lambda a, b: solve_p.bind(a, b, transpose_a=tr))(trans),
            _solve_ref(trans), _SYSTEMS, FLOAT, ("real", "real"), linear_args=(1,),
            post=_dominant, name="T" if trans else "N"))
    return rows
