"""tg.odeint: SciPy's signature, adaptive Dormand-Prince on tracegrad's loops, gradients by the
adjoint method, against scipy.integrate.odeint and finite differences of SciPy's solution."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from c_support import needs_c

scipy_integrate = pytest.importorskip("scipy.integrate")


def oscillator(y, t, k, w):
    return np.stack([y[1], -k * y[0] - 0.1 * y[1] + np.sin(w * t)])


Y0, T = np.array([1.0, 0.0]), np.linspace(0.0, 5.0, 6)


def ref_solve(y0, t, *args, tol=1e-12):
    return scipy_integrate.odeint(oscillator, y0, t, args=args, rtol=tol, atol=tol)


def test_forward_matches_scipy_eager_and_jitted():
    want = ref_solve(Y0, T, 2.0, 1.3)
    np.testing.assert_allclose(tg.odeint(oscillator, Y0, T, 2.0, 1.3), want, atol=1e-7)
    got = tg.jit(lambda y0, t, k, w: tg.odeint(oscillator, y0, t, k, w))(
        Y0, T, np.array(2.0), np.array(1.3))
    np.testing.assert_allclose(got, want, atol=1e-7)
    tight = tg.odeint(oscillator, Y0, T, 2.0, 1.3, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(tight, want, atol=1e-9)


def test_adjoint_gradients_match_finite_differences():
    def loss(y0, t, k, w):
        return np.sum(tg.odeint(oscillator, y0, t, k, w, rtol=1e-10, atol=1e-10) ** 2)

    def loss_ref(y0, t, k, w):
        return np.sum(ref_solve(y0, t, k, w) ** 2)
    k, w = np.array(2.0), np.array(1.3)
    g = tg.grad(loss, argnums=(0, 1, 2, 3))(Y0, T, k, w)
    eps = 1e-6
    for i, arg in enumerate((Y0, T, k, w)):
        for idx in np.ndindex(np.shape(arg)):
            d = np.zeros(np.shape(arg))
            d[idx] = eps
            args_p = [Y0, T, k, w]
            args_m = [Y0, T, k, w]
            args_p[i], args_m[i] = arg + d, arg - d
            fd = (loss_ref(*args_p) - loss_ref(*args_m)) / (2 * eps)
            np.testing.assert_allclose(g[i][idx], fd, rtol=2e-6, atol=2e-7)


def test_closed_over_parameters_get_gradients():
    def loss(k):
        def f(y, t):  # k is read from the enclosing function, not passed as an arg
            return -k * y
        return np.sum(tg.odeint(f, np.array([1.0, 2.0]), np.array([0.0, 0.5, 1.0])))
    k = np.array(0.7)
    want = -np.exp(-k) * 3.0 * 1.0 - np.exp(-k * 0.5) * 3.0 * 0.5   # d/dk of 3 e^{-kt}
    np.testing.assert_allclose(tg.grad(loss)(k), want, rtol=1e-6)


def test_single_output_time_and_errors():
    out = tg.odeint(lambda y, t: -y, np.array([1.0]), np.array([0.0]))
    np.testing.assert_allclose(out, [[1.0]])
    with pytest.raises(tg.ArgumentError, match="shape"):
        tg.odeint(lambda y, t: np.zeros(3), np.array([1.0, 2.0]), T)


@needs_c
def test_c_backend_matches():
    f = tg.jit(lambda k: tg.odeint(oscillator, Y0, T, k, 1.3), backend="c")
    np.testing.assert_allclose(f(np.array(2.0)), ref_solve(Y0, T, 2.0, 1.3), atol=1e-7)
    g = tg.jit(tg.grad(lambda k: np.sum(tg.odeint(oscillator, Y0, T, k, 1.3))), backend="c")
    g_np = tg.jit(tg.grad(lambda k: np.sum(tg.odeint(oscillator, Y0, T, k, 1.3))),
                  backend="numpy")
    np.testing.assert_allclose(g(np.array(2.0)), g_np(np.array(2.0)), rtol=1e-9)
