"""``tracegrad.numpy.linalg``: NumPy's ``np.linalg`` on traced arrays (and ``np.kron``).

Factorisations and solves bind the primitives of tracegrad/prims/linalg.py; everything else is
composed: ``inv`` is a solve against the identity, ``det`` is ``sign * exp(logabsdet)``, the
spectral norms, ``pinv``, ``lstsq``, ``cond`` and ``matrix_rank`` use singular values,
``matrix_power`` repeated squaring. Inputs follow NumPy: integer and bool matrices compute in
float64, leading axes are batch axes and broadcast between the operands of ``solve``. A matrix
that is not positive definite (``cholesky``) or is singular (``solve``, ``inv``) raises
``tracegrad.LinAlgError``, a ``numpy.linalg.LinAlgError`` (docs/linalg.md).

``np.linalg.<name>`` reaches these through ``__array_function__`` (``TABLE``, read by
dispatch.py); ``scipy.linalg``'s functions through tracegrad/numpy/scipy_linalg.py.
"""
from __future__ import annotations

import builtins
from collections import namedtuple

import numpy as _np

from .. import dtypes as _dt
from .. import lax
from ..errors import ShapeError, TracegradError
from ..prims.linalg import cholesky_p, eigh_p, slogdet_p, solve_p, triangular_solve_p
from ..prims.linalg_svd import qr_p, svd_p
from ..source_info import names_caller, user_src_with_text
from .promotion import _as_array, _broadcast_shapes, _dtype, _shape
from .registry import _public, _unsupported

TABLE: dict = {}  # np.linalg function -> traced implementation (dispatch.py)

SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])
LstsqResult = namedtuple("LstsqResult", ["x", "residuals", "rank", "s"])


def _linalg_public(fn, np_name=None):
    """Record ``fn`` as ``np.linalg.<name>``'s traced version; errors name the user's line."""
    public = names_caller(fn)
    target = getattr(_np.linalg, np_name or fn.__name__, None)
    if target is not None:
        TABLE[target] = public
    return public


def _float_matrix(a, name, ndim=2):
    """``a`` as a float operand of at least ``ndim`` axes (NumPy computes ints in float64)."""
    a = _as_array(a)
    if not _dt.is_float(_dtype(a)):
        a = astype(a, _dt.float64)
    if len(_shape(a)) < ndim:
        raise ShapeError(f"{ndim}-dimensional array given. Array must be at least two-"
                         f"dimensional ({name})", src=user_src_with_text(4))
    return a


def _square(a, name):
    a = _float_matrix(a, name)
    s = _shape(a)
    if s[-1] != s[-2]:
        raise ShapeError(f"np.linalg.{name}: last 2 dimensions of the array must be square, "
                         f"got shape {s}", src=user_src_with_text(4))
    return a


def _mT(x):
    nd = len(_shape(x))
    return lax.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _eye(n, batch, dtype):
    return lax.broadcast_to(_np.eye(n, dtype=dtype), tuple(batch) + (n, n))


def _common(a, b):
    """Promote two float operands to one dtype."""
    dt = _dt.result_type(_dtype(a), _dtype(b))
    return astype(a, dt), astype(b, dt)


def _batch_rhs(a, b, name):
    """``b`` as (batch, n, k) matching ``a``'s broadcast batch; whether it was a vector. NumPy 2:
    ``b`` is a vector exactly when it is 1-d."""
    sa, sb = _shape(a), _shape(b)
    vector = len(sb) == 1
    if vector:
        b = lax.reshape(b, sb + (1,))
        sb = _shape(b)
    if sb[-2] != sa[-1]:
        raise ShapeError(f"{name}: {sa} and {_shape(b) if not vector else sb[:-1]} do not match "
                         f"({sa[-1]} rows expected)", src=user_src_with_text(4))
    batch = _broadcast_shapes(sa[:-2], sb[:-2])
    return (lax.broadcast_to(a, batch + sa[-2:]), lax.broadcast_to(b, batch + sb[-2:]), vector)


# --- factorisations and solves ----------------------------------------------------------------
@_linalg_public
def cholesky(a, /, *, upper=False):
    L = cholesky_p.bind(_square(a, "cholesky"))
    return _mT(L) if upper else L


def solve_general(a, b, *, transpose_a=False, name="solve"):
    a, b = _common(_square(a, name), _float_matrix(b, name, 1))
    a, b, vector = _batch_rhs(a, b, name)
    x = solve_p.bind(a, b, transpose_a=bool(transpose_a))
    return lax.reshape(x, _shape(x)[:-1]) if vector else x


def solve_tri(a, b, *, lower, transpose_a=False, unit_diagonal=False, name="solve_triangular"):
    a, b = _common(_square(a, name), _float_matrix(b, name, 1))
    if unit_diagonal:  # the diagonal is not read: replace it by ones
        n = _shape(a)[-1]
        eye = _np.eye(n, dtype=bool)
        a = where(eye, _np.ones((), _dtype(a)), a)
    a, b, vector = _batch_rhs(a, b, name)
    x = triangular_solve_p.bind(a, b, lower=bool(lower), transpose_a=bool(transpose_a))
    return lax.reshape(x, _shape(x)[:-1]) if vector else x


@_linalg_public
def solve(a, b):
    return solve_general(a, b)


@_linalg_public
def inv(a):
    a = _square(a, "inv")
    s = _shape(a)
    return solve_p.bind(a, _eye(s[-1], s[:-2], _dtype(a)), transpose_a=False)


@_linalg_public
def slogdet(a):
    sign, logdet = slogdet_p.bind(_square(a, "slogdet"))
    return SlogdetResult(sign, logdet)


@_linalg_public
def det(a):
    sign, logdet = slogdet_p.bind(_square(a, "det"))
    return multiply(sign, exp(logdet))


@_linalg_public
def eigh(a, UPLO="L"):
    a = _square(a, "eigh")
    if UPLO not in ("L", "U"):
        raise TracegradError(f"UPLO argument must be 'L' or 'U', got {UPLO!r}",
                             src=user_src_with_text(3))
    w, v = eigh_p.bind(a if UPLO == "L" else _mT(a))  # the upper triangle is a^T's lower
    return EighResult(w, v)


@_linalg_public
def eigvalsh(a, UPLO="L"):
    return eigh(a, UPLO).eigenvalues


@_linalg_public
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = _float_matrix(a, "svd")
    if not compute_uv:
        return svd_p.bind(a, full_matrices=False)[1]
    u, s, vt = svd_p.bind(a, full_matrices=bool(full_matrices))
    return SVDResult(u, s, vt)


@_linalg_public
def svdvals(x, /):
    return svd(x, compute_uv=False)


@_linalg_public
def qr(a, mode="reduced"):
    a = _float_matrix(a, "qr")
    m, n = _shape(a)[-2:]
    if mode not in ("reduced", "complete", "r"):
        _unsupported(f"np.linalg.qr(mode={mode!r}) on a traced array",
                     "use mode='reduced', 'complete' or 'r'")
    if mode == "complete" and m > n:
        _unsupported("np.linalg.qr(mode='complete') of a tall traced matrix (the extra columns "
                     "of Q are not unique)", "use mode='reduced'")
    q, r = qr_p.bind(a)
    return r if mode == "r" else QRResult(q, r)


def _cutoff_rank(s, rtol):
    """Which singular values (descending) count: above rtol times the largest."""
    big = lax.broadcast_to(s[..., :1], _shape(s))
    return greater(s, multiply(big, rtol))


@_linalg_public
def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """V diag(1/s) U^T over the singular values above ``rcond`` (NumPy 2: ``rtol``) times the
    largest; default max(M, N) * eps, as NumPy."""
    a = _float_matrix(a, "pinv")
    m, n = _shape(a)[-2:]
    cut = rcond if rcond is not None else rtol
    if cut is None:
        cut = builtins.max(m, n) * _np.finfo(_dtype(a)).eps
    u, s, vt = svd_p.bind(a, full_matrices=False)
    keep = _cutoff_rank(s, cut)
    zero = _np.zeros((), _dtype(s))
    sinv = where(keep, divide(1.0, where(keep, s, _np.ones((), _dtype(s)))), zero)
    scaled = multiply(_mT(vt), reshape(sinv, _shape(sinv)[:-1] + (1, _shape(sinv)[-1])))
    return matmul(scaled, _mT(u))


@_linalg_public
def lstsq(a, b, rcond=None):
    """(x, residuals, rank, s) as NumPy, through the pseudo-inverse. ``residuals`` has NumPy's
    full-rank shape ((K,) when M > N, else empty): its shape cannot depend on the traced rank,
    so for a rank-deficient tall matrix it holds the residual where NumPy returns an empty
    array (docs/linalg.md)."""
    a = _float_matrix(a, "lstsq")
    b = _as_array(b)
    a, b = _common(a, _float_matrix(b, "lstsq", 1))
    m, n = _shape(a)
    cut = rcond if rcond is not None else _np.finfo(_dtype(a)).eps * builtins.max(m, n)
    x = matmul(pinv(a, rcond=cut), b)
    s = svd_p.bind(a, full_matrices=False)[1]
    rank = sum(astype(_cutoff_rank(s, cut), _dt.int64))
    if m > n:
        res = sum(square(subtract(matmul(a, x), b)), axis=0)
        if len(_shape(b)) == 1:
            res = reshape(res, (1,))
    else:
        res = _np.zeros((0,), _dtype(a))
    return LstsqResult(x, res, rank, s)


@_linalg_public
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    a = _as_array(A)
    if len(_shape(a)) < 2:
        return astype(any(not_equal(a, 0)), _dt.int64)
    a = _float_matrix(a, "matrix_rank")
    s = svd_p.bind(a, full_matrices=False)[1]
    if tol is None:
        m, n = _shape(a)[-2:]
        r = rtol if rtol is not None else builtins.max(m, n) * _np.finfo(_dtype(a)).eps
        return sum(astype(_cutoff_rank(s, r), _dt.int64), axis=-1)
    return sum(astype(greater(s, tol), _dt.int64), axis=-1)


@_linalg_public
def cond(x, p=None):
    a = _float_matrix(x, "cond")
    if p is None or p in (2, -2):
        s = svd_p.bind(a, full_matrices=False)[1]
        hi, lo = s[..., 0], s[..., -1]
        return divide(lo, hi) if p == -2 else divide(hi, lo)
    return multiply(norm(a, p, axis=(-2, -1)), norm(inv(a), p, axis=(-2, -1)))


# --- composed ---------------------------------------------------------------------------------
@_linalg_public
def matrix_power(a, n):
    a = _as_array(a)
    if isinstance(n, bool) or not isinstance(n, (int, _np.integer)):
        raise TracegradError(f"exponent must be an integer, got {n!r}", src=user_src_with_text(3))
    s = _shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ShapeError(f"matrix_power: needs square matrices, got shape {s}",
                         src=user_src_with_text(3))
    n = int(n)
    if n == 0:
        return lax.broadcast_to(_np.eye(s[-1], dtype=_dtype(a)), s)
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while n:  # repeated squaring: about 2 log2(n) products, as NumPy
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


@_linalg_public
def multi_dot(arrays, *, out=None):
    if out is not None:
        _unsupported("np.linalg.multi_dot(..., out=) on a traced array", "return the result")
    arrays = list(arrays)
    if len(arrays) < 2:
        raise TracegradError("Expecting at least two arrays.", src=user_src_with_text(3))
    result = arrays[0]
    for x in arrays[1:]:
        result = dot(result, x)
    return result


def _svals(x, axes, keepdims, pick):
    """Singular values along ``axes`` (descending) combined by ``pick``."""
    r, c = axes
    nd = len(_shape(x))
    rest = [i for i in range(nd) if i not in (r, c)]
    m = lax.transpose(x, tuple(rest) + (r, c))
    out = pick(svd_p.bind(m, full_matrices=False)[1])
    if keepdims:
        shape = list(_shape(x))
        shape[r] = shape[c] = 1
        out = lax.reshape(out, tuple(shape))
    return out


@_linalg_public
def norm(x, ord=None, axis=None, keepdims=False):
    """Every ``ord`` of np.linalg.norm: vector norms, and the Frobenius, nuclear, 1, -1, 2, -2,
    inf and -inf matrix norms (2, -2 and nuclear from singular values)."""
    a = _as_array(x)
    nd = len(_shape(a))
    matrix = (axis is None and ord is not None and nd == 2) or \
        (axis is not None and not isinstance(axis, int) and len(tuple(axis)) == 2)
    if matrix and ord in (2, -2, "nuc"):
        if not _dt.is_float(_dtype(a)):
            a = astype(a, _dt.float64)
        axes = tuple(_norm_axis(i, nd) for i in (axis if axis is not None else (0, 1)))
        if axes[0] == axes[1]:
            raise TracegradError("Duplicate axes given.", src=user_src_with_text(3))
        if ord == "nuc":
            return _svals(a, axes, keepdims, lambda s: sum(s, axis=-1))
        pick = (lambda s: s[..., 0]) if ord == 2 else (lambda s: s[..., -1])  # descending
        return _svals(a, axes, keepdims, pick)
    return _norm(a, ord, axis, keepdims)


@_linalg_public
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


@_linalg_public
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    a = _as_array(x)
    if axis is None:
        out = norm(ravel(a), ord=ord)
        return lax.reshape(out, (1,) * len(_shape(a))) if keepdims else out
    if isinstance(axis, tuple) and len(axis) > 1:  # several axes: one flattened vector
        nd = len(_shape(a))
        axes = tuple(_norm_axis(i, nd) for i in axis)
        rest = [i for i in range(nd) if i not in axes]
        moved = lax.transpose(a, tuple(rest) + axes)
        flat = reshape(moved, tuple(_shape(a)[i] for i in rest) + (-1,))
        out = norm(flat, ord=ord, axis=-1)
        if keepdims:
            shape = [1 if i in axes else d for i, d in enumerate(_shape(a))]
            out = reshape(out, tuple(shape))
        return out
    return norm(a, ord=ord, axis=axis, keepdims=keepdims)


@_linalg_public
def trace(x, /, *, offset=0, dtype=None):
    return _trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)


@_linalg_public
def outer(x1, x2, /):
    if len(_shape(_as_array(x1))) != 1 or len(_shape(_as_array(x2))) != 1:
        raise ShapeError("np.linalg.outer: input arrays must be one-dimensional",
                         src=user_src_with_text(3))
    return _outer(x1, x2)


@_linalg_public
def tensordot(x1, x2, /, *, axes=2):
    return _tensordot(x1, x2, axes)


@_linalg_public
def matrix_transpose(x, /):
    return _mT(_as_array(x))


@_linalg_public
def diagonal(x, /, *, offset=0):
    return _diagonal(x, offset, -2, -1)


@_linalg_public
def matmul(x1, x2, /):
    return _matmul(x1, x2)


@_linalg_public
def vecdot(x1, x2, /, *, axis=-1):
    return _vecdot(x1, x2, axis=axis)


@_linalg_public
def tensorinv(a, ind=2):
    """The inverse of ``a`` seen as a matrix: its first ``ind`` axes against the rest."""
    a = _as_array(a)
    s = _shape(a)
    if ind <= 0:
        raise TracegradError(f"Invalid ind argument {ind!r}", src=user_src_with_text(3))
    rows = int(_np.prod(s[:ind]))
    inv_m = inv(reshape(a, (rows, -1)))
    return reshape(inv_m, tuple(s[ind:]) + tuple(s[:ind]))


@_linalg_public
def tensorsolve(a, b, axes=None):
    """x with tensordot(a, x, x.ndim) = b (NumPy's semantics, ``axes`` moved to the end)."""
    a, b = _as_array(a), _as_array(b)
    nd = len(_shape(a))
    if axes is not None:
        rest = [k for k in range(nd) if k not in [_norm_axis(x, nd) for x in axes]]
        a = lax.transpose(a, tuple(rest) + tuple(_norm_axis(x, nd) for x in axes))
    s = _shape(a)
    sol_shape = tuple(s[-(nd - len(_shape(b))):])
    n = int(_np.prod(sol_shape))
    x = solve_general(reshape(a, (-1, n)), ravel(b), name="tensorsolve")
    return reshape(x, sol_shape)


@_linalg_public
def cross(x1, x2, /, *, axis=-1):
    """np.linalg.cross: 3-element vectors only (np.cross also takes 2-element ones)."""
    if _shape(_as_array(x1))[axis] != 3 or _shape(_as_array(x2))[axis] != 3:
        raise ShapeError("np.linalg.cross: both inputs must have 3 elements along the axis",
                         src=user_src_with_text(3))
    return _cross(x1, x2, axis=axis)


@_public
def kron(a, b):
    """np.kron: every product a[i] * b[j] at position i * b.shape + j (axes aligned on the
    right, the shorter operand padded with leading ones)."""
    a, b = _as_array(a), _as_array(b)
    sa, sb = _shape(a), _shape(b)
    nd = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + tuple(sa), (1,) * (nd - len(sb)) + tuple(sb)
    # interleave: a as (a0, 1, a1, 1, ...), b as (1, b0, 1, b1, ...)
    ai = reshape(a, tuple(d for x in sa for d in (x, 1)))
    bi = reshape(b, tuple(d for x in sb for d in (1, x)))
    return reshape(multiply(ai, bi), tuple(x * y for x, y in zip(sa, sb)))


__all__ = ["cholesky", "solve", "inv", "slogdet", "det", "eigh", "eigvalsh", "matrix_power",
           "multi_dot", "norm", "matrix_norm", "vector_norm", "trace", "outer", "tensordot",
           "matrix_transpose", "diagonal", "matmul", "vecdot", "kron", "svd", "svdvals", "qr",
           "pinv", "lstsq", "matrix_rank", "cond", "tensorinv", "tensorsolve", "cross", "LinAlgError", "SlogdetResult", "EighResult",
           "SVDResult", "QRResult", "LstsqResult"]

LinAlgError = _np.linalg.LinAlgError

# The families call one another: siblings are imported after the definitions.
from .arithmetic import divide, greater, multiply, not_equal, subtract  # noqa: E402
from .transcendental import exp, square  # noqa: E402
from .predicates import where  # noqa: E402
from .creation import astype  # noqa: E402
from .manipulation import ravel, reshape  # noqa: E402
from .reductions import any, sum  # noqa: E402
from .contraction import dot, tensordot as _tensordot, outer as _outer  # noqa: E402
from .contraction import matmul as _matmul, vecdot as _vecdot  # noqa: E402
from .calculus import cross as _cross  # noqa: E402
from .matrix import _norm, diagonal as _diagonal, trace as _trace  # noqa: E402
from .arguments import _norm_axis  # noqa: E402
from . import linalg_eig as _linalg_eig  # noqa: E402,F401  (eig, eigvals: own file)
