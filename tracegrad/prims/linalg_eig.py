"""The non-symmetric eigendecomposition ``eig(a)`` -> (w, v) of real square matrices over
leading batch axes: complex eigenvalues w and unit-norm eigenvectors v (columns), always
complex (NumPy returns real arrays when every eigenvalue happens to be real: a dtype that
depends on the values cannot be traced, so, as JAX, the result is complex64/complex128).

Derivative (Giles 2008, "An extended collection of matrix derivative results", sec. 3.1, for
distinct eigenvalues): with K = V^-1 dA V, dw = diag(K) and dV = V (F o K), F_ij = 1/(w_j - w_i)
off the diagonal and 0 on it, then the part of each column along itself removed in real part
(dV -= V Re(diag(V^H dV))) so that the columns keep unit norm, as NumPy normalises them. The
reverse rule is its adjoint under the pairing Re(ct * t) (docs/gradients.md): with
G = V_bar - conj(V) Re(diag(V^T V_bar)), A_bar = Re(V^-T (diag(w_bar) + F o (V^T G)) V^T).
An eigenvector's phase is arbitrary (LAPACK picks it), so only losses invariant to it have a
meaningful gradient in V (|v|, v v^H, ...), as in every implementation.

Complex solves are done as real ones of twice the size ([[Re, -Im], [Im, Re]]), so the rules
use the real ``solve`` primitive and differentiate again. NumPy backend only: the C backend
refuses complex programs before emission (codegen/c/linalg_eig.py).
"""
from __future__ import annotations

from .. import dtypes
from ..errors import ShapeError
from ..primitive import Primitive, Traits, defbatch, defjvp, defvjp
from .common import aval, check_class
from .linalg_np import eig as eig_impl


def _eig_rule(a):
    check_class("eig", a.dtype, "float")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"eig: needs square matrices in the last two axes, got shape {a.shape}")
    c = dtypes.complex_dtype(a.dtype)
    return [aval(a.shape[:-1], c), aval(a.shape, c)]


eig_p = Primitive(
    "eig", kind="linalg", abstract_eval=_eig_rule, impl=eig_impl, multiple_results=True,
    traits=Traits(range="singular", may_raise=True),  # LinAlgError if it does not converge
    doc="(eigenvalues, unit-norm eigenvectors as columns) of each real square matrix, complex")


# --- derivative rules -----------------------------------------------------------------------
from . import ops  # noqa: E402
from .linalg import _eye_like, _mm, _mT, solve_p  # noqa: E402


def _complex(re, im):
    c = dtypes.complex_dtype(ops.dtype_of(re))
    return ops.add(ops.convert(re, c), ops.mul(ops.convert(im, c), ops.full(ops.shape_of(im), 1j, c)))


def _csolve(m, b):
    """m^-1 b for complex m, b: the real system [[Re m, -Im m], [Im m, Re m]] [x_r; x_i] =
    [Re b; Im b] of twice the order."""
    nd = len(ops.shape_of(m))
    mr, mi = ops.real(m), ops.imag(m)
    top = ops.concatenate([mr, ops.neg(mi)], nd - 1)
    bottom = ops.concatenate([mi, mr], nd - 1)
    big = ops.concatenate([top, bottom], nd - 2)
    rhs = ops.concatenate([ops.real(b), ops.imag(b)], nd - 2)
    x = solve_p.bind(big, rhs, transpose_a=False)
    n = ops.shape_of(m)[-1]
    shape = ops.shape_of(x)
    lo = (0,) * len(shape)
    xr = ops.slice(x, lo, shape[:-2] + (n, shape[-1]))
    xi = ops.slice(x, lo[:-2] + (n, 0), shape)
    return _complex(xr, xi)


def _f_matrix(w):
    """F_ij = 1/(w_j - w_i) off the diagonal, 0 on it."""
    shape = ops.shape_of(w)
    nd = len(shape)
    full = shape + (shape[-1],)
    wj = ops.broadcast_in_dim(w, full, tuple(range(nd - 1)) + (nd,))
    wi = ops.broadcast_in_dim(w, full, tuple(range(nd)))
    eye = ops.convert(_eye_like(ops.real(wj)), dtypes.bool_)
    diff = ops.select(eye, ops.full(full, 1.0, ops.dtype_of(w)), ops.sub(wj, wi))
    return ops.select(eye, ops.full(full, 0.0, ops.dtype_of(w)), ops.div(1.0, diff))


def _diag_embed(d, like):
    shape = ops.shape_of(like)
    nd = len(shape)
    return ops.mul(ops.broadcast_in_dim(d, shape, tuple(range(nd - 1))),
                   ops.convert(_eye_like(ops.real(like)), ops.dtype_of(like)))


def _diag(x):
    """The diagonal of each matrix (sum of x * I over the rows)."""
    eye = ops.convert(_eye_like(ops.real(x)), ops.dtype_of(x))
    return ops.reduce_sum(ops.mul(x, eye), (len(ops.shape_of(x)) - 2,))


def _colsum(x):
    return ops.reduce_sum(x, (len(ops.shape_of(x)) - 2,))


def _eig_jvp(primals, tangents, outs, **params):
    (t,) = tangents  # the rule reads the outputs, not the primal
    w, v = outs
    if t is None:
        return [None, None]
    k = _csolve(v, _mm(ops.convert(t, ops.dtype_of(v)), v))
    dw = _diag(k)
    dv = _mm(v, ops.mul(_f_matrix(w), k))
    norm = ops.real(_colsum(ops.mul(ops.conj(v), dv)))       # Re(diag(V^H dV))
    shape = ops.shape_of(v)
    nd = len(shape)
    dv = ops.sub(dv, ops.mul(v, ops.convert(ops.broadcast_in_dim(
        norm, shape, tuple(range(nd - 2)) + (nd - 1,)), ops.dtype_of(v))))
    return [dw, dv]


def _eig_vjp(cts, primals, outs, **params):
    wbar, vbar = cts
    w, v = outs
    if wbar is None and vbar is None:
        return [None]
    c = ops.dtype_of(v)
    h = ops.zeros_like(v)
    if vbar is not None:
        vbar = ops.convert(vbar, c)
        shape = ops.shape_of(v)
        nd = len(shape)
        cn = ops.real(_colsum(ops.mul(vbar, v)))
        g = ops.sub(vbar, ops.mul(ops.conj(v), ops.convert(ops.broadcast_in_dim(
            cn, shape, tuple(range(nd - 2)) + (nd - 1,)), c)))
        h = ops.mul(_f_matrix(w), _mm(_mT(v), g))
    if wbar is not None:
        h = ops.add(h, _diag_embed(ops.convert(wbar, c), v))
    y = _csolve(_mT(v), h)                                    # V^-T H
    return [ops.real(_mm(y, _mT(v)))]


defjvp(eig_p, _eig_jvp)
defvjp(eig_p, _eig_vjp)


def _eig_batch(args, batched, size, **params):
    from .batching import with_batch
    return eig_p.bind(with_batch(args[0], batched[0], size))


defbatch(eig_p, _eig_batch)
