"""Matrix factorisations and solves: ``cholesky``, ``triangular_solve``, ``solve``, ``slogdet``,
``eigh``. Each works on the last two axes of its operands and batches over the leading ones
(equal batch shapes: the NumPy layer, tracegrad/numpy/linalg.py, broadcasts). Everything else
in ``np.linalg`` (inv, det, cho_solve, norm, matrix_power, ...) is composed from these and the
other primitives, so it needs no rule of its own.

Derivative rules are written with the primitives themselves (triangular solves, batched
products, masks from ``iota``), so they are IR again and differentiate a second time.
Matrices that are only read in one triangle (cholesky, eigh: the lower one, as NumPy's
defaults; triangular_solve: the stated one) have derivatives in that triangle only, so a
finite difference on any single element agrees with the gradient.

Evaluation: tracegrad/prims/linalg_np.py (NumPy), codegen/c/lapack.py (C, through LAPACK).
"""
from __future__ import annotations

from ..errors import ShapeError
from ..primitive import Primitive, Traits, defbatch, defjvp, defvjp
from . import linalg_np
from .common import aval, check_class, same_dtypes


def _square(name, a):
    check_class(name, a.dtype, "float")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{name}: needs square matrices in the last two axes, got shape "
                         f"{a.shape}")


def _solve_rule(name):
    def rule(a, b, **params):
        _square(name, a)
        same_dtypes(name, (a, b))
        if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
            raise ShapeError(f"{name}: right-hand side {b.shape} does not match {a.shape} "
                             "(batch axes equal, rows = the matrix's order)")
        return [b]
    return rule


def _square_rule(name):
    def rule(a, **params):
        _square(name, a)
        return [a]
    return rule


def _slogdet_rule(a):
    _square("slogdet", a)
    batch = aval(a.shape[:-2], a.dtype)
    return [batch, batch]


def _eigh_rule(a):
    _square("eigh", a)
    return [aval(a.shape[:-1], a.dtype), a]


# not finite at some finite inputs (a failed factorisation leaves NaN before the executable
# raises; log|det| = -inf): "singular" for ranges.
_TRAITS = Traits(range="singular", may_raise=True)  # LinAlgError (linalg_np.MESSAGES)
_SLOGDET_TRAITS = Traits(range="singular")  # total: (0, -inf) for a singular matrix

cholesky_p = Primitive(
    "cholesky", kind="linalg", abstract_eval=_square_rule("cholesky"),
    impl=linalg_np.cholesky, traits=_TRAITS,
    doc="lower Cholesky factor of each matrix (lower triangle read); LinAlgError if not "
        "positive definite")
triangular_solve_p = Primitive(
    "triangular_solve", kind="linalg", abstract_eval=_solve_rule("triangular_solve"),
    impl=linalg_np.triangular_solve, traits=_TRAITS,
    doc="x with op(a) x = b, op(a) = a or a^T (transpose_a); only a's lower (lower=True) or "
        "upper triangle is read")
solve_p = Primitive(
    "solve", kind="linalg", abstract_eval=_solve_rule("solve"), impl=linalg_np.solve,
    traits=_TRAITS, doc="x with op(a) x = b, op(a) = a or a^T (transpose_a); LU, partial pivoting")
slogdet_p = Primitive(
    "slogdet", kind="linalg", abstract_eval=_slogdet_rule, impl=linalg_np.slogdet,
    multiple_results=True, traits=_SLOGDET_TRAITS,  # log|det| = -inf for a singular matrix
    doc="(sign, log|det|) of each matrix; (0, -inf) when singular, as NumPy")
eigh_p = Primitive(
    "eigh", kind="linalg", abstract_eval=_eigh_rule, impl=linalg_np.eigh,
    multiple_results=True, traits=_TRAITS,
    doc="(ascending eigenvalues, eigenvectors as columns) of each symmetric matrix (lower "
        "triangle read)")


# --- helpers for the rules (strict operations: ops binds the primitives above) ----------------
from . import ops  # noqa: E402


def _mT(x):
    nd = len(ops.shape_of(x))
    return ops.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _mm(a, b):
    """Batched a @ b over equal leading batch axes."""
    nb = len(ops.shape_of(a)) - 2
    batch = tuple(range(nb))
    return ops.dot_general(a, b, (((nb + 1,), (nb,)), (batch, batch)))


def _index_grids(like):
    shape = ops.shape_of(like)
    nd = len(shape)
    return ops.iota(shape, nd - 2), ops.iota(shape, nd - 1)


def _mask(x, keep):
    """x where keep(row, col) holds, else 0."""
    r, c = _index_grids(x)
    return ops.mul(x, ops.convert(keep(r, c), ops.dtype_of(x)))


def _tri(x, lower):
    return _mask(x, ops.ge if lower else ops.le)


def _phi(x):
    """Murray (2016)'s Phi: the lower triangle with its diagonal halved."""
    r, c = _index_grids(x)
    dt = ops.dtype_of(x)
    w = ops.mul(ops.add(ops.convert(ops.ge(r, c), dt), ops.convert(ops.gt(r, c), dt)), 0.5)
    return ops.mul(x, w)


def _eye_like(x):
    r, c = _index_grids(x)
    return ops.convert(ops.eq(r, c), ops.dtype_of(x))


def _expand2(x, like):
    """A batch-shaped value broadcast over the matrix axes of ``like``."""
    shape = ops.shape_of(like)
    return ops.broadcast_in_dim(x, shape, tuple(range(len(shape) - 2)))


def _sym_lower(t):
    """The symmetric matrix whose lower triangle is t's: what a lower-reading function sees."""
    p = _phi(t)
    return ops.add(p, _mT(p))


def _trisolve(a, b, lower, transpose_a):
    return triangular_solve_p.bind(a, b, lower=bool(lower), transpose_a=bool(transpose_a))


def _solve(a, b, transpose_a):
    return solve_p.bind(a, b, transpose_a=bool(transpose_a))


# --- cholesky: Murray, "Differentiation of the Cholesky decomposition" (2016), eqs. 8 and 10;
#     Giles, "An extended collection of matrix derivative results" (2008) -----------------------
def _cholesky_jvp(primals, tangents, outs):
    (t,), (L,) = tangents, outs
    if t is None:
        return [None]
    # dL = L Phi(L^-1 dA L^-T), dA the symmetric change of the lower triangle
    y = _trisolve(L, _sym_lower(t), True, False)           # L^-1 dA
    x = _trisolve(L, _mT(y), True, False)                  # L^-1 dA L^-T (symmetric)
    return [_mm(L, _phi(x))]


def _cholesky_vjp(cts, primals, outs):
    (ct,), (L,) = cts, outs
    # S = L^-T Phi(L^T Lbar) L^-1; the lower triangle of S + S^T (diagonal once) is dA
    p = _phi(_mm(_mT(L), ct))
    z = _trisolve(L, p, True, True)                        # L^-T P
    s = _mT(_trisolve(L, _mT(z), True, True))              # L^-T P L^-1
    return [_phi(ops.add(s, _mT(s)))]


defjvp(cholesky_p, _cholesky_jvp)
defvjp(cholesky_p, _cholesky_vjp)


# --- solves: x = op(A)^-1 b, dx = op(A)^-1 (db - op(dA) x); bbar = op(A)^-T xbar,
#     Abar = -bbar x^T (op = identity) or -x bbar^T (op = transpose) (Giles 2008, sec. 2.2.3) --
def _solve_jvp_common(solve_fn, mask):
    def jvp(primals, tangents, outs, **params):
        a, b = primals
        ta, tb = tangents
        (x,) = outs
        if ta is None and tb is None:
            return [None]
        rhs = tb
        if ta is not None:
            ta = mask(ta, params)
            op_ta = _mT(ta) if params["transpose_a"] else ta
            prod = _mm(op_ta, x)
            rhs = ops.neg(prod) if rhs is None else ops.sub(rhs, prod)
        return [solve_fn(a, rhs, params)]
    return jvp


def _solve_vjp_common(solve_fn, mask):
    def vjp(cts, primals, outs, **params):
        (ct,), (a, b), (x,) = cts, primals, outs
        flipped = dict(params, transpose_a=not params["transpose_a"])
        bbar = solve_fn(a, ct, flipped)
        abar = None
        if ops.is_var(a):
            abar = _mm(x, _mT(bbar)) if params["transpose_a"] else _mm(bbar, _mT(x))
            abar = mask(ops.neg(abar), params)
        return [abar, bbar if ops.is_var(b) else None]
    return vjp


def _tri_call(a, b, params):
    return _trisolve(a, b, params["lower"], params["transpose_a"])


def _tri_mask(t, params):
    return _tri(t, params["lower"])


def _gen_call(a, b, params):
    return _solve(a, b, params["transpose_a"])


def _no_mask(t, params):
    return t


defjvp(triangular_solve_p, _solve_jvp_common(_tri_call, _tri_mask))
defvjp(triangular_solve_p, _solve_vjp_common(_tri_call, _tri_mask))
defjvp(solve_p, _solve_jvp_common(_gen_call, _no_mask))
defvjp(solve_p, _solve_vjp_common(_gen_call, _no_mask))


# --- slogdet: d log|det A| = tr(A^-1 dA) = <A^-T, dA> (Giles 2008, sec. 2.2.4); the sign is
#     piecewise constant (zero derivative) -------------------------------------------------------
def _inv_T(a):
    return _solve(a, _eye_like(a), True)


def _slogdet_jvp(primals, tangents, outs):
    (a,), (t,) = primals, tangents
    if t is None:
        return [None, None]
    nd = len(ops.shape_of(a))
    return [None, ops.reduce_sum(ops.mul(_inv_T(a), t), (nd - 2, nd - 1))]


def _slogdet_vjp(cts, primals, outs):
    (a,), ct = primals, cts[1]
    if ct is None:
        return [None]
    return [ops.mul(_expand2(ct, a), _inv_T(a))]


defjvp(slogdet_p, _slogdet_jvp)
defvjp(slogdet_p, _slogdet_vjp)


# --- eigh: dw = diag(V^T dA V), dV = V (F o (V^T dA V)), F_ij = 1 / (w_j - w_i) off the
#     diagonal, 0 on it (Giles 2008, sec. 3.1); distinct eigenvalues assumed, as there ---------
def _eigh_f(w, like):
    shape = ops.shape_of(like)
    nd = len(shape)
    wi = ops.broadcast_in_dim(w, shape, tuple(range(nd - 2)) + (nd - 2,))
    wj = ops.broadcast_in_dim(w, shape, tuple(range(nd - 2)) + (nd - 1,))
    diff = ops.sub(wj, wi)
    off = ops.sub(1.0, _eye_like(like))
    # 1 / (diff + eye): the diagonal's 0 never divides (then masked to 0)
    return ops.mul(ops.div(1.0, ops.add(diff, _eye_like(like))), off)


def _eigh_jvp(primals, tangents, outs):
    (t,), (w, v) = tangents, outs
    if t is None:
        return [None, None]
    m = _mm(_mT(v), _mm(_sym_lower(t), v))
    nd = len(ops.shape_of(m))
    dw = ops.reduce_sum(ops.mul(m, _eye_like(m)), (nd - 1,))
    dv = _mm(v, ops.mul(_eigh_f(w, m), m))
    return [dw, dv]


def _eigh_vjp(cts, primals, outs):
    (wbar, vbar), (w, v) = cts, outs
    inner = None
    if wbar is not None:
        nd = len(ops.shape_of(v))
        inner = ops.mul(ops.broadcast_in_dim(wbar, ops.shape_of(v),
                                             tuple(range(nd - 2)) + (nd - 1,)), _eye_like(v))
    if vbar is not None:
        term = ops.mul(_eigh_f(w, v), _mm(_mT(v), vbar))
        inner = term if inner is None else ops.add(inner, term)
    s = _mm(v, _mm(inner, _mT(v)))
    return [_phi(ops.add(s, _mT(s)))]


defjvp(eigh_p, _eigh_jvp)
defvjp(eigh_p, _eigh_vjp)


# --- batching (vmap): every primitive here already maps over leading axes, with equal batch
#     axes across operands, so the example axis is one more leading axis (shared operands are
#     broadcast along it): vectorised, no loop ----------------------------------------------------
def batch_leading(prim):
    def rule(args, batched, size, **params):
        from .batching import with_batch
        return prim.bind(*[with_batch(a, b, size) for a, b in zip(args, batched)], **params)
    rule.__name__ = f"batch_{prim.name}"
    return rule


for _p in (cholesky_p, triangular_solve_p, solve_p, slogdet_p, eigh_p):
    defbatch(_p, batch_leading(_p))
