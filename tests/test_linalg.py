"""np.linalg and scipy.linalg on traced arrays (tracegrad/numpy/linalg.py, scipy_linalg.py):
forward against NumPy/SciPy on both backends, batched; gradients against finite differences in
float64 (both modes, second order for the factorisations); the NaN convention for matrices that
are not positive definite or are singular; and the routing of scipy.linalg's functions.
The primitives themselves are rows of tests/cases.py (tests/cases_linalg.py)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg as sl

import tracegrad as tg
from tracegrad.testing import check_grads

from c_support import needs_c

BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]


def _spd(shape, seed=0, dtype=np.float64):
    a = np.random.default_rng(seed).standard_normal(shape)
    n = shape[-1]
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def _general(shape, seed=1):
    n = shape[-1]
    return np.random.default_rng(seed).standard_normal(shape) + (n + 1) * np.eye(n)


A = _spd((4, 4))
AB = _spd((3, 4, 4), seed=2)
G = _general((4, 4))
GB = _general((2, 3, 4, 4))
G_FLIP = np.ascontiguousarray(G[::-1])
b = np.random.default_rng(3).standard_normal(4)
BM = np.random.default_rng(4).standard_normal((4, 2))
M = np.random.default_rng(5).standard_normal((3, 5))
T = np.random.default_rng(6).standard_normal((4, 4, 4))

# name -> (function of one array, its argument): every function also runs eagerly as the reference
FORWARD = {
    "cholesky": (np.linalg.cholesky, A),
    "cholesky-batched": (np.linalg.cholesky, AB),
    "cholesky-upper": (lambda a: np.linalg.cholesky(a, upper=True), AB),
    "solve-vector": (lambda a: np.linalg.solve(a, b), G),
    "solve-matrix": (lambda a: np.linalg.solve(a, BM), G),
    "solve-batched-broadcast-rhs": (lambda a: np.linalg.solve(a, BM), GB),
    "solve-rhs-batched": (lambda a: np.linalg.solve(a[0, 0], np.stack([BM, 2 * BM])), GB),
    "inv": (np.linalg.inv, G),
    "inv-batched": (np.linalg.inv, GB),
    "det": (np.linalg.det, GB),
    "slogdet": (lambda a: tuple(np.linalg.slogdet(a)), GB - 3 * np.eye(4)),
    "eigvalsh": (np.linalg.eigvalsh, AB),
    "eigh-upper": (lambda a: np.linalg.eigh(np.triu(a), UPLO="U")[0], AB),
    "matrix_power-5": (lambda a: np.linalg.matrix_power(a, 5), G / 5),
    "matrix_power--3": (lambda a: np.linalg.matrix_power(a, -3), GB),
    "matrix_power-0": (lambda a: np.linalg.matrix_power(a, 0), GB),
    "multi_dot": (lambda a: np.linalg.multi_dot([a, a.T, a[:, :2]]), G),
    "trace": (np.linalg.trace, GB),
    "outer": (lambda a: np.linalg.outer(a[0], a[1]), G),
    "kron-2d": (lambda a: np.kron(a, a[:2, :3]), G),
    "kron-mixed-ndim": (lambda a: np.kron(a[0], a[:, :2]), GB[0]),
    "tensordot-int": (lambda a: np.linalg.tensordot(a, a, axes=1), T),
    "tensordot-0": (lambda a: np.tensordot(a, a[0], axes=0), T),
    "tensordot-pairs": (lambda a: np.tensordot(a, a, axes=([0, 2], [1, 0])), T),
    "tensordot-single": (lambda a: np.tensordot(a, a[0], axes=(1, 0)), T),
    "matrix_transpose": (np.linalg.matrix_transpose, GB),
}
for _ord in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
    FORWARD[f"norm-matrix-{_ord}"] = ((lambda o: lambda a: np.linalg.norm(a, ord=o))(_ord), M)
    FORWARD[f"norm-matrix-axes-{_ord}"] = (
        (lambda o: lambda a: np.linalg.norm(a, ord=o, axis=(2, 0), keepdims=True))(_ord), GB[0])
for _ord in (None, 0, 1, -1, 2, -2, 3, 0.5, np.inf, -np.inf):
    FORWARD[f"norm-vector-{_ord}"] = ((lambda o: lambda a: np.linalg.norm(a, ord=o, axis=-1))(_ord),
                                      M)
R = M.T @ np.random.default_rng(7).standard_normal((3, 4))  # 5 x 4 of rank 3


def _signs(u):
    return np.sign(u[..., :1, :])


FORWARD.update({
    "svd-reduced": (lambda a: tuple(np.linalg.svd(a, full_matrices=False)), M.T),
    "svd-full-wide": (lambda a: tuple(np.linalg.svd(a)), M),
    "svd-batched": (lambda a: tuple(np.linalg.svd(a)), GB),
    "svd-values": (lambda a: np.linalg.svd(a, compute_uv=False), M),
    "svdvals": (np.linalg.svdvals, GB),
    "qr": (lambda a: tuple(np.linalg.qr(a)), M.T),
    "qr-wide": (lambda a: tuple(np.linalg.qr(a)), M),
    "qr-r": (lambda a: np.linalg.qr(a, mode="r"), GB),
    "qr-complete-wide": (lambda a: tuple(np.linalg.qr(a, mode="complete")), M),
    "pinv": (np.linalg.pinv, M),
    "pinv-rank-deficient": (lambda a: np.linalg.pinv(R), M),
    "pinv-batched-rtol": (lambda a: np.linalg.pinv(a, rtol=1e-3), GB),
    "lstsq-tall": (lambda a: tuple(np.linalg.lstsq(a.T, b[:3] @ M)), M),
    "lstsq-matrix-rhs": (lambda a: tuple(np.linalg.lstsq(a.T, a.T @ BM[:3])), M),
    "lstsq-wide": (lambda a: tuple(np.linalg.lstsq(a, b[:3])), M),
    "matrix_rank": (lambda a: np.linalg.matrix_rank(R), M),
    "matrix_rank-batched": (np.linalg.matrix_rank, GB),
    "cond": (np.linalg.cond, M),
    "cond-fro-batched": (lambda a: np.linalg.cond(a, "fro"), GB),
    "tensorinv": (lambda a: np.linalg.tensorinv(a.reshape(4, 2, 2), ind=1), G),
    "tensorinv-2": (lambda a: np.linalg.tensorinv(np.kron(a, a[:1, :1] + 1).reshape(4, 1, 4)), G),
    "tensorsolve": (lambda a: np.linalg.tensorsolve(a.reshape(2, 2, 4), b.reshape(2, 2)), G),
    "tensorsolve-axes": (lambda a: np.linalg.tensorsolve(a.reshape(2, 2, 2, 2), b.reshape(2, 2),
                                                         axes=(0,)), G),
    "cross": (lambda a: np.linalg.cross(a[:, :3], a[::-1, 1:]), G),
})
FORWARD["matrix_norm-nuc"] = (lambda a: np.linalg.matrix_norm(a, ord="nuc"), GB)
FORWARD["vector_norm-axes"] = (lambda a: np.linalg.vector_norm(a, axis=(0, 2), ord=3), GB[0])


def _close(out, ref, rtol):
    outs = out if isinstance(out, tuple) else (out,)
    refs = ref if isinstance(ref, tuple) else (ref,)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        np.testing.assert_allclose(np.asarray(o), r, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(FORWARD))
def test_forward_matches_numpy(name, backend):
    fn, arg = FORWARD[name]
    _close(tg.jit(fn, backend=backend)(arg), fn(arg), 1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend):
    a = _spd((2, 3, 3), dtype=np.float32)
    out = tg.jit(lambda a: (np.linalg.cholesky(a), np.linalg.inv(a), np.linalg.det(a)),
                 backend=backend)(a)
    for o, r in zip(out, (np.linalg.cholesky(a), np.linalg.inv(a), np.linalg.det(a))):
        assert o.dtype == np.float32
        np.testing.assert_allclose(o, r, rtol=2e-5, atol=2e-5)


def test_integer_matrices_compute_in_float64():
    a = np.array([[4, 1], [1, 3]])
    out = tg.jit(lambda a: np.linalg.inv(a))(a)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, np.linalg.inv(a))


# --- gradients ----------------------------------------------------------------------------------
GRADS = {
    "cholesky": (lambda a: np.sum(np.linalg.cholesky(a) * np.arange(16.0).reshape(4, 4)), A),
    "cholesky-batched": (lambda a: np.sum(np.sin(np.linalg.cholesky(a))), AB),
    "solve": (lambda a: np.sum(np.linalg.solve(a, BM) ** 2), G),
    "inv": (lambda a: np.sum(np.linalg.inv(a) ** 3), GB),
    "det": (lambda a: np.sum(np.linalg.det(a)), GB),
    "slogdet": (lambda a: np.sum(np.linalg.slogdet(a)[1]), GB),
    "eigvalsh": (lambda a: np.linalg.eigvalsh(a) @ np.arange(4.0), A),
    "norm-2": (lambda a: np.linalg.norm(a, 2), M),
    "norm-nuc": (lambda a: np.linalg.norm(a, "nuc"), M),
    "norm-fro": (lambda a: np.linalg.norm(a), M),
    "matrix_power": (lambda a: np.sum(np.linalg.matrix_power(a, 3)), G / 4),
    "matrix_power-neg": (lambda a: np.sum(np.linalg.matrix_power(a, -2)), G),
    "kron": (lambda a: np.sum(np.kron(a, a[:2]) ** 2), G),
    "tensordot": (lambda a: np.sum(np.tensordot(a, a, axes=([0], [1])) ** 2), G),
    "trace": (lambda a: np.linalg.trace(a) ** 2, G),
    "cho_solve": (lambda a: np.sum(sl.cho_solve(sl.cho_factor(a), b) ** 2), A),
    "cho_solve-lower": (lambda a: np.sum(sl.cho_solve(sl.cho_factor(a, lower=True), b)), A),
    "solve_triangular": (lambda a: np.sum(sl.solve_triangular(a, BM, lower=True) ** 2), G),
    "solve_triangular-T": (lambda a: np.sum(sl.solve_triangular(a, b, trans=1) ** 2), G),
}
GRADS.update({
    "svd-values": (lambda a: np.sum(np.linalg.svd(a, compute_uv=False) * np.arange(3.0)), M),
    "svd-vectors": (lambda a: np.sum(np.sin(np.linalg.svd(a, full_matrices=False)[0]
                                            * _signs(np.linalg.svd(a, full_matrices=False)[0]))),
                    M.T),
    "qr": (lambda a: np.sum(np.sin(np.linalg.qr(a)[0])) + np.sum(np.linalg.qr(a)[1] ** 2), M.T),
    "pinv": (lambda a: np.sum(np.linalg.pinv(a) ** 2), M),
    "lstsq": (lambda a: np.sum(np.linalg.lstsq(a.T, b[:3] @ M)[0] ** 2), M + 0.5),
    "cond": (lambda a: np.linalg.cond(a), M),
    "norm-neg2": (lambda a: np.linalg.norm(a, -2), M),
    # (G's rows reversed: LU pivots, with no tie near)
    "lu_solve": (lambda a: np.sum(sl.lu_solve(sl.lu_factor(a), BM) ** 2), G_FLIP),
    "lu_solve-T": (lambda a: np.sum(np.sin(sl.lu_solve(sl.lu_factor(a), b, trans=1))), G_FLIP),
    "lu_factor": (lambda a: np.sum(np.sin(sl.lu_factor(a)[0])), G_FLIP),
    "lu": (lambda a: np.sum(sl.lu(a)[1] ** 2) + np.sum(np.cos(sl.lu(a)[2])), G_FLIP),
})
SECOND = ("cholesky", "solve", "slogdet", "inv", "cho_solve", "eigvalsh", "svd-values", "qr",
          "lu_solve", "lu_factor")


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradient_matches_finite_differences(name):
    fn, arg = GRADS[name]
    check_grads(fn, (arg,), order=1, modes=("rev", "fwd"), rtol=1e-6, atol=1e-8,
                max_elements=16)


@pytest.mark.parametrize("name", SECOND)
def test_second_order(name):
    fn, arg = GRADS[name]
    check_grads(fn, (arg,), order=2, modes=("rev", "fwd"), rtol=1e-5, atol=1e-7,
                max_elements=6)


@needs_c
@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradient_same_on_c(name):
    fn, arg = GRADS[name]
    g = tg.grad(fn)
    np.testing.assert_allclose(tg.jit(g, backend="c")(arg), tg.jit(g, backend="numpy")(arg),
                               rtol=1e-9, atol=1e-12)


# --- failures: LinAlgError as NumPy, naming the matrix, the user's line and the fix -----------
NOT_PD = np.array([[1.0, 2.0], [2.0, 1.0]])
SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


def _raises_like_numpy(fn, arg, backend, match):
    """NumPy raises LinAlgError; so does the compiled function, with the user's line."""
    with pytest.raises(np.linalg.LinAlgError):
        fn(arg)
    with pytest.raises(tg.LinAlgError, match=match) as info:
        tg.jit(fn, backend=backend)(arg)
    assert isinstance(info.value, np.linalg.LinAlgError)
    assert "test_linalg.py:" in str(info.value)  # the line that called np.linalg


@pytest.mark.parametrize("backend", BACKENDS)
def test_not_positive_definite_raises_naming_the_matrix(backend):
    _raises_like_numpy(lambda a: np.linalg.cholesky(a), np.stack([np.eye(2), NOT_PD]), backend,
                       r"not positive definite.*jitter.*matrix \(1,\) of the batch")
    _raises_like_numpy(lambda a: sl.cho_factor(a), NOT_PD, backend, "not positive definite")


@pytest.mark.parametrize("backend", BACKENDS)
def test_singular_solve_raises_and_slogdet_matches_numpy(backend):
    _raises_like_numpy(lambda a: np.linalg.solve(a, np.ones(2)), SINGULAR, backend,
                       "singular matrix.*lstsq")
    _raises_like_numpy(lambda a: np.linalg.inv(a), np.stack([SINGULAR] * 2), backend,
                       r"singular matrix.*matrix \(0,\)")
    _raises_like_numpy(lambda a: sl.solve_triangular(a, np.ones(2), lower=True),
                       np.array([[1.0, 0.0], [1.0, 0.0]]), backend, "solve_triangular: singular")
    f = tg.jit(lambda a: (*np.linalg.slogdet(a), np.linalg.det(a)), backend=backend)
    assert f(SINGULAR) == (0.0, -np.inf, 0.0)
    assert tuple(np.linalg.slogdet(SINGULAR)) == (0.0, -np.inf)


@needs_c
def test_a_failure_does_not_stick_to_the_next_call():
    f = tg.jit(np.linalg.cholesky, backend="c")
    with pytest.raises(tg.LinAlgError):
        f(NOT_PD)
    np.testing.assert_array_equal(f(np.eye(2)), np.eye(2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_matrices(backend):
    out = tg.jit(lambda a: (np.linalg.cholesky(a), *np.linalg.slogdet(a), np.linalg.inv(a)),
                 backend=backend)(np.zeros((0, 0)))
    assert out[0].shape == (0, 0) and (out[1], out[2]) == (1.0, 0.0) and out[3].shape == (0, 0)


# --- scipy.linalg routing -----------------------------------------------------------------------
SCIPY = {
    "cholesky": lambda a: sl.cholesky(a),
    "cholesky-lower": lambda a: sl.cholesky(a, lower=True),
    "cho_factor": lambda a: sl.cho_factor(a)[0] * np.triu(np.ones((4, 4))),
    "cho_solve": lambda a: sl.cho_solve(sl.cho_factor(a), BM),
    "solve_triangular-unit": lambda a: sl.solve_triangular(a, b, unit_diagonal=True),
    "solve_triangular-C": lambda a: sl.solve_triangular(a, b, trans="C", lower=True),
    "solve": lambda a: sl.solve(a, BM, assume_a="pos"),
    "solve-transposed": lambda a: sl.solve(a, b, transposed=True),
    "inv": lambda a: sl.inv(a),
    "det": lambda a: sl.det(a),
    "eigh-values": lambda a: sl.eigh(a, eigvals_only=True),
    "eigh-upper": lambda a: sl.eigh(a, lower=False)[0],
    "svd": lambda a: sl.svd(a[:, :3], full_matrices=False),
    "svd-values": lambda a: sl.svd(a, compute_uv=False),
    "qr-economic": lambda a: sl.qr(a[:, :3], mode="economic"),
    "qr-r-tall": lambda a: sl.qr(a[:, :3], mode="r"),
    "qr-full-wide": lambda a: sl.qr(a[:3]),
    "lu_factor": lambda a: sl.lu_factor(G_FLIP + a),
    "lu_solve": lambda a: sl.lu_solve(sl.lu_factor(G_FLIP + a), BM),
    "lu_solve-T-vector": lambda a: sl.lu_solve(sl.lu_factor(G_FLIP + a), b, trans=1),
    "lu_solve-concrete-factor": lambda a: sl.lu_solve(sl.lu_factor(G_FLIP), a),
    "lu": lambda a: sl.lu(G_FLIP + a),
    "lu-p_indices": lambda a: sl.lu(G_FLIP * a, p_indices=True),
    "lu-permute_l": lambda a: sl.lu(G_FLIP - a, permute_l=True),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SCIPY))
def test_scipy_linalg_on_traced_arrays(name, backend):
    fn = SCIPY[name]
    _close(tg.jit(fn, backend=backend)(A), fn(A), 1e-9)


def test_scipy_routing_leaves_concrete_calls_alone():
    """The wrapper is SciPy's own function for arrays: same result object type, name, docs."""
    for name in ("cholesky", "cho_factor", "cho_solve", "solve_triangular", "solve", "inv",
                 "det", "eigh", "svd", "qr"):
        fn = getattr(sl, name)
        original = fn.__tracegrad_routes__
        assert fn.__name__ == original.__name__ and fn.__doc__ == original.__doc__
    np.testing.assert_array_equal(sl.cholesky(A), sl.cholesky.__tracegrad_routes__(A))
    with pytest.raises(np.linalg.LinAlgError):
        sl.cholesky(NOT_PD)  # eager SciPy still raises


def test_scipy_linalg_imported_after_tracegrad_is_routed():
    """import tracegrad does not import SciPy; a later ``from scipy.linalg import ...`` gets the
    routed function (the import hook)."""
    code = ("import sys, numpy as np, tracegrad as tg\n"
            "assert 'scipy.linalg' not in sys.modules\n"
            "from scipy.linalg import cho_factor, cho_solve\n"
            "a = np.array([[4.0, 1.0], [1.0, 3.0]])\n"
            "f = tg.jit(lambda a: cho_solve(cho_factor(a), np.ones(2)), backend='numpy')\n"
            "assert np.allclose(f(a), np.linalg.solve(a, np.ones(2)))\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_unsupported_linalg_function_is_named():
    with pytest.raises(tg.UnsupportedOperationError, match="np.roots"):
        tg.jit(lambda a: np.roots(a[0]))(G)  # (np.linalg.eig is supported: tests below)


def test_non_unique_derivatives_raise_typed_errors():
    """Where a factor is not unique the derivative is refused by name, not silently wrong."""
    with pytest.raises(tg.TracegradError, match="full_matrices=False"):
        tg.grad(lambda a: np.sum(np.linalg.svd(a)[0]))(M)
    with pytest.raises(tg.TracegradError, match="m >= n"):
        tg.grad(lambda a: np.sum(np.linalg.qr(a)[1]))(M)
    with pytest.raises(tg.UnsupportedOperationError, match="mode='reduced'"):
        tg.jit(lambda a: np.linalg.qr(a, mode="complete"))(M.T)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gp_hessian_through_cho_solve_and_slogdet(backend):
    """A Gaussian-process negative log likelihood's Hessian in its hyperparameters (third
    derivatives of the kernel through cholesky, two triangular solves and slogdet) against
    finite differences of its gradient."""
    x = np.linspace(-1, 1, 6)
    y = np.sin(3 * x)

    def nll(p):
        k = np.exp(p[0]) * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / np.exp(2 * p[1]))
        k = k + np.exp(p[2]) * np.eye(6)
        alpha = sl.cho_solve(sl.cho_factor(k, lower=True), y)
        return 0.5 * y @ alpha + 0.5 * np.linalg.slogdet(k)[1]
    p = np.array([0.1, -0.5, -2.0])
    hess = tg.jit(tg.hessian(nll), backend=backend)(p)
    g = tg.grad(nll)
    eps = 1e-5
    fd = np.stack([(g(p + eps * e) - g(p - eps * e)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(hess, fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_lu_pivots_and_solves_match_scipy_on_random_batches(backend):
    """lu_factor's pivots are SciPy's, and lu_solve turns traced pivots into the permutation
    (a fori_loop of swaps) for either trans, batched and under vmap; 20 random 6 x 6 matrices,
    whose pivot sequences are not involutions."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((20, 6, 6))
    rhs = rng.standard_normal((20, 6, 3))
    lu, piv = tg.jit(sl.lu_factor, backend=backend)(a)
    for i in range(20):
        want = sl.lu_factor(a[i])
        np.testing.assert_array_equal(piv[i], want[1])
        np.testing.assert_allclose(lu[i], want[0], rtol=1e-12, atol=1e-12)
    for trans in (0, 1):
        x = tg.jit(lambda a, r: sl.lu_solve(sl.lu_factor(a), r, trans=trans), backend=backend)(
            a, rhs)
        np.testing.assert_allclose(x, np.linalg.solve(np.swapaxes(a, -1, -2) if trans else a,
                                                      rhs), rtol=1e-9, atol=1e-9)
    x = tg.vmap(lambda a, r: sl.lu_solve(sl.lu_factor(a), r))(a, rhs)
    np.testing.assert_allclose(x, np.linalg.solve(a, rhs), rtol=1e-9, atol=1e-9)


# --- np.linalg.eig / eigvals (complex results, NumPy backend; Giles 2008 derivatives) ------------
GE = np.random.default_rng(11).standard_normal((4, 4))  # complex pairs and real eigenvalues


def _phase_free(v):
    """|v|^2 and v v^H: invariant to the arbitrary phase of each eigenvector."""
    return np.abs(v) ** 2, np.real(v @ np.conj(np.swapaxes(v, -1, -2)))


def test_eig_matches_numpy_and_is_complex():
    w, v = tg.jit(np.linalg.eig)(GE)
    w0, v0 = np.linalg.eig(GE)
    assert w.dtype == np.complex128 and v.dtype == np.complex128
    assert np.any(np.imag(w0) != 0) and np.any(np.imag(w0) == 0)
    np.testing.assert_allclose(w, w0, rtol=1e-12)
    np.testing.assert_allclose(v, v0, rtol=1e-12, atol=1e-12)
    sym = GE + GE.T  # NumPy's real results when every eigenvalue is real: complex here
    np.testing.assert_allclose(tg.jit(np.linalg.eigvals)(sym), np.linalg.eigvals(sym),
                               rtol=1e-12)
    assert tg.jit(np.linalg.eigvals)(GE.astype(np.float32)).dtype == np.complex64


def test_eig_gradients_both_modes_and_second_order():
    check_grads(lambda a: np.real(np.linalg.eigvals(a)) + 2 * np.imag(np.linalg.eigvals(a)),
                (GE,), order=2, rtol=1e-5, atol=1e-7)
    check_grads(lambda a: _phase_free(np.linalg.eig(a)[1]), (GE,), order=1)
    check_grads(lambda a: np.abs(np.linalg.eig(a)[0]) * np.sum(np.abs(np.linalg.eig(a)[1]), 0),
                (GE,), order=1)


def test_eig_batched_and_vmapped():
    a = np.random.default_rng(12).standard_normal((3, 5, 5))
    np.testing.assert_allclose(tg.jit(np.linalg.eigvals)(a), np.linalg.eigvals(a), rtol=1e-12)
    np.testing.assert_allclose(tg.vmap(np.linalg.eigvals)(a), np.linalg.eigvals(a), rtol=1e-12)
    check_grads(lambda a: np.real(tg.vmap(np.linalg.eigvals)(a)), (a,), order=1)


@needs_c
def test_eig_on_c_is_a_typed_error_and_auto_runs_it():
    with pytest.raises(tg.UnsupportedOperationError, match='backend="numpy"'):
        tg.jit(np.linalg.eigvals, backend="c")(GE)
    np.testing.assert_allclose(tg.jit(np.linalg.eigvals, backend="auto")(GE),
                               np.linalg.eigvals(GE), rtol=1e-12)
