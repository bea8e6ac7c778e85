"""``svd`` and ``qr``: the factorisations with rectangular factors (tracegrad/prims/linalg.py
has the square ones). Batched over leading axes; evaluated by np.linalg on the NumPy backend and
LAPACK's gesdd / geqrf+orgqr in C (codegen/c/lapack.py).

Derivatives, for real matrices:
- svd (reduced, or square with full_matrices): Townsend, "Differentiating the singular value
  decomposition" (2016), forward mode as in JAX's svd rule and reverse mode his eq. for
  Abar; distinct, nonzero singular values assumed (the rules divide by s_j^2 - s_i^2 and s).
- qr (reduced, m >= n): Walter & Lehmann, "Algorithmic differentiation of linear algebra
  functions with application in optimum experimental design" (2018); Seeger et al., "Auto-
  differentiating linear algebra" (2017): Abar = (Qbar + Q copyltu(M)) R^-T with
  M = R Rbar^T - Qbar^T Q.
"""
from __future__ import annotations

from ..errors import TracegradError
from ..primitive import Primitive, Traits, defbatch, defjvp, defvjp
from . import linalg_np, ops
from .common import aval, check_class
from .linalg import _eye_like, _mm, _mT, _trisolve, batch_leading


def _matrix(name, a):
    check_class(name, a.dtype, "float")
    if a.ndim < 2:
        from ..errors import ShapeError
        raise ShapeError(f"{name}: needs matrices in the last two axes, got shape {a.shape}")
    return a.shape[:-2], a.shape[-2], a.shape[-1]


def _svd_rule(a, *, full_matrices):
    batch, m, n = _matrix("svd", a)
    k = min(m, n)
    um, vn = (m, n) if full_matrices else (k, k)
    return [aval(batch + (m, um), a.dtype), aval(batch + (k,), a.dtype),
            aval(batch + (vn, n), a.dtype)]


def _qr_rule(a):
    batch, m, n = _matrix("qr", a)
    k = min(m, n)
    return [aval(batch + (m, k), a.dtype), aval(batch + (k, n), a.dtype)]


svd_p = Primitive(
    "svd", kind="linalg", abstract_eval=_svd_rule, impl=linalg_np.svd, multiple_results=True,
    traits=Traits(range="singular", may_raise=True),  # LinAlgError if it does not converge
    doc="(u, s, vt) of each matrix, s descending; full_matrices as np.linalg.svd")
qr_p = Primitive(
    "qr", kind="linalg", abstract_eval=_qr_rule, impl=linalg_np.qr, multiple_results=True,
    traits=Traits(range="singular", may_raise=True),  # NaN where LAPACK fails, LinAlgError
    doc="reduced (q, r) of each matrix, as np.linalg.qr(mode='reduced')")


def _row(s, like):
    """s (batch, k) broadcast along the rows of a (batch, k, k) matrix: entry [i, j] = s_j."""
    nd = len(ops.shape_of(like))
    return ops.broadcast_in_dim(s, ops.shape_of(like), tuple(range(nd - 2)) + (nd - 1,))


def _col(s, like):
    nd = len(ops.shape_of(like))
    return ops.broadcast_in_dim(s, ops.shape_of(like), tuple(range(nd - 2)) + (nd - 2,))


def _svd_f(s, like):
    """F_ij = 1 / (s_j^2 - s_i^2) off the diagonal, 0 on it."""
    eye = _eye_like(like)
    sj, si = _row(s, like), _col(s, like)
    diff = ops.mul(ops.add(sj, si), ops.sub(sj, si))
    return ops.mul(ops.div(1.0, ops.add(diff, eye)), ops.sub(1.0, eye))


def _check_svd_derivative(u, vt, full_matrices):
    m, n = ops.shape_of(u)[-2], ops.shape_of(vt)[-1]
    if full_matrices and m != n:
        raise TracegradError("the derivative of np.linalg.svd with full_matrices=True is not "
                             "defined for non-square matrices (the extra singular vectors are "
                             "not unique); pass full_matrices=False")


def _svd_jvp(primals, tangents, outs, *, full_matrices):
    (t,), (u, s, vt) = tangents, outs
    if t is None:
        return [None, None, None]
    _check_svd_derivative(u, vt, full_matrices)
    v = _mT(vt)
    ds_mat = _mm(_mT(u), _mm(t, v))                       # U^T dA V (k x k)
    nd = len(ops.shape_of(ds_mat))
    ds = ops.reduce_sum(ops.mul(ds_mat, _eye_like(ds_mat)), (nd - 1,))
    f = _svd_f(s, ds_mat)
    dss = ops.mul(ds_mat, _row(s, ds_mat))                # dS diag(s)
    sds = ops.mul(_col(s, ds_mat), ds_mat)                # diag(s) dS
    du = _mm(u, ops.mul(f, ops.add(dss, _mT(dss))))
    dv = _mm(v, ops.mul(f, ops.add(sds, _mT(sds))))
    m, n = ops.shape_of(u)[-2], ops.shape_of(vt)[-1]
    if m > n:  # the part of dA outside U's span moves U
        dav = _mm(t, v)
        du = ops.add(du, ops.div(ops.sub(dav, _mm(u, _mm(_mT(u), dav))), _row(s, dav)))
    if n > m:
        dau = _mm(_mT(t), u)
        dv = ops.add(dv, ops.div(ops.sub(dau, _mm(v, _mm(vt, dau))), _row(s, dau)))
    return [du, ds, _mT(dv)]


def _svd_vjp(cts, primals, outs, *, full_matrices):
    (ubar, sbar, vtbar), (u, s, vt) = cts, outs
    _check_svd_derivative(u, vt, full_matrices)
    v = _mT(vt)
    k = ops.shape_of(s)[-1]
    shape_k = ops.shape_of(s)[:-1] + (k, k)
    like = ops.full(shape_k, 0, ops.dtype_of(s))
    f = _svd_f(s, like)
    inner = None
    if sbar is not None:
        inner = ops.mul(_row(sbar, like), _eye_like(like))
    if ubar is not None:
        utu = _mm(_mT(u), ubar)
        j = ops.mul(f, ops.sub(utu, _mT(utu)))
        term = ops.mul(j, _row(s, like))                  # J S
        inner = term if inner is None else ops.add(inner, term)
    if vtbar is not None:
        vbar = _mT(vtbar)
        vtv = _mm(vt, vbar)
        kk = ops.mul(f, ops.sub(vtv, _mT(vtv)))
        term = ops.mul(_col(s, like), kk)                 # S K
        inner = term if inner is None else ops.add(inner, term)
    abar = _mm(u, _mm(inner, vt)) if inner is not None else None
    m, n = ops.shape_of(u)[-2], ops.shape_of(vt)[-1]
    if ubar is not None and m > n:  # (I - U U^T) Ubar S^-1 V^T
        proj = ops.sub(ubar, _mm(u, _mm(_mT(u), ubar)))
        term = _mm(ops.div(proj, _row(s, proj)), vt)
        abar = term if abar is None else ops.add(abar, term)
    if vtbar is not None and n > m:  # U S^-1 Vbar^T (I - V V^T)
        vbar = _mT(vtbar)
        proj = ops.sub(vbar, _mm(v, _mm(vt, vbar)))       # (I - V V^T) Vbar
        term = _mm(u, _mT(ops.div(proj, _row(s, proj))))
        abar = term if abar is None else ops.add(abar, term)
    if abar is None:
        abar = ops.zeros_like(primals[0])
    return [abar]


defjvp(svd_p, _svd_jvp)
defvjp(svd_p, _svd_vjp)


def _check_qr_derivative(q, r):
    if ops.shape_of(q)[-2] < ops.shape_of(r)[-1]:
        raise TracegradError("the derivative of np.linalg.qr is implemented for matrices with "
                             "at least as many rows as columns (m >= n); for a wide matrix, "
                             "factor its first m columns and solve for the rest")


def _right_solve_r(x, r):
    """x R^-1 for upper-triangular R: (R^-T x^T)^T."""
    return _mT(_trisolve(r, _mT(x), False, True))


def _qr_jvp(primals, tangents, outs):
    (t,), (q, r) = tangents, outs
    if t is None:
        return [None, None]
    _check_qr_derivative(q, r)
    dx_rinv = _right_solve_r(t, r)
    qt = _mm(_mT(q), dx_rinv)
    low = ops.mul(qt, ops.convert(ops.gt(*_grids(qt)), ops.dtype_of(qt)))
    do = ops.sub(low, _mT(low))                           # skew-symmetric
    dq = ops.add(_mm(q, ops.sub(do, qt)), dx_rinv)
    dr = _mm(ops.sub(qt, do), r)
    return [dq, dr]


def _grids(x):
    shape = ops.shape_of(x)
    nd = len(shape)
    return ops.iota(shape, nd - 2), ops.iota(shape, nd - 1)


def _qr_vjp(cts, primals, outs):
    (qbar, rbar), (q, r) = cts, outs
    _check_qr_derivative(q, r)
    qbar = ops.instantiate(qbar, q)
    rbar = ops.instantiate(rbar, r)
    m_ = ops.sub(_mm(r, _mT(rbar)), _mm(_mT(qbar), q))
    rows, cols = _grids(m_)
    dt = ops.dtype_of(m_)
    low = ops.mul(m_, ops.convert(ops.gt(rows, cols), dt))
    diag = ops.mul(m_, ops.convert(ops.eq(rows, cols), dt))
    copyltu = ops.add(ops.add(low, _mT(low)), diag)
    x = ops.add(qbar, _mm(q, copyltu))
    return [_mT(_trisolve(r, _mT(x), False, False))]  # X R^-T = (R^-1 X^T)^T


defjvp(qr_p, _qr_jvp)
defvjp(qr_p, _qr_vjp)
defbatch(svd_p, batch_leading(svd_p))  # leading axes batch, as linalg.py's primitives
defbatch(qr_p, batch_leading(qr_p))
