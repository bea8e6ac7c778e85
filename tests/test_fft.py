"""np.fft on traced arrays: every function against NumPy (n=/s=/axes=/norm=, dtypes), gradients
against finite differences in the real and the imaginary direction of complex inputs (both
modes; second order), the Hermitian weighting of the rfft/irfft transposes, vmap, errors, and
the C backend running FFT programs (numpy.fft through the C-API: test_c_fft.py).

Test ideas after HIPS autograd's test_fft.py (every transform, its size and norm arguments,
subsets of axes, shifts; no code copied).
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import DTypeError, ShapeError
from tracegrad.testing import check_grads

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 6))
Y = RNG.normal(size=(4, 6))
Z = X + 1j * Y
W = RNG.normal(size=64) + 1j * RNG.normal(size=64)  # a fixed complex weighting of outputs


def _jit(f):
    return tg.jit(f, backend="numpy")


FORWARD = [  # name, function of a complex (4, 6) array
    ("fft", lambda a: np.fft.fft(a)),
    ("fft-n-pad", lambda a: np.fft.fft(a, n=9, axis=0)),
    ("fft-n-trunc-ortho", lambda a: np.fft.fft(a, n=3, norm="ortho")),
    ("ifft-forward", lambda a: np.fft.ifft(a, axis=-2, norm="forward")),
    ("fft2", lambda a: np.fft.fft2(a)),
    ("fft2-s", lambda a: np.fft.fft2(a, s=(5, 4))),
    ("ifft2-ortho", lambda a: np.fft.ifft2(a, norm="ortho")),
    ("fftn-axes", lambda a: np.fft.fftn(a, axes=(1,))),
    ("fftn-s-axes", lambda a: np.fft.fftn(a, s=(2, -1), axes=(0, 1))),
    ("fftn-repeated-axis", lambda a: np.fft.fftn(a, axes=(1, 1))),
    ("ifftn", lambda a: np.fft.ifftn(a, norm="backward")),
    ("rfft", lambda a: np.fft.rfft(a.real)),
    ("rfft-odd-n", lambda a: np.fft.rfft(a.real, n=7, norm="ortho")),
    ("rfft-axis0", lambda a: np.fft.rfft(a.imag, axis=0, norm="forward")),
    ("irfft", lambda a: np.fft.irfft(a)),
    ("irfft-odd-n", lambda a: np.fft.irfft(a, n=9, norm="ortho")),
    ("irfft-short-n", lambda a: np.fft.irfft(a, n=4, axis=0, norm="forward")),
    ("rfft2", lambda a: np.fft.rfft2(a.real)),
    ("rfftn-s", lambda a: np.fft.rfftn(a.real, s=(3, 5), axes=(0, 1), norm="ortho")),
    ("irfft2", lambda a: np.fft.irfft2(a)),
    ("irfftn-s", lambda a: np.fft.irfftn(a, s=(4, 7), axes=(0, 1))),
    ("irfftn-axes", lambda a: np.fft.irfftn(a, axes=(0,), norm="forward")),
    ("fftshift", lambda a: np.fft.fftshift(a)),
    ("fftshift-axis", lambda a: np.fft.fftshift(a, axes=1)),
    ("ifftshift", lambda a: np.fft.ifftshift(a, axes=(0,))),
    ("roundtrip", lambda a: np.fft.ifft(np.fft.fft(a))),
    ("real-roundtrip", lambda a: np.fft.irfft(np.fft.rfft(a.real), n=6)),
]


@pytest.mark.parametrize("name, f", FORWARD, ids=[n for n, _ in FORWARD])
def test_forward_matches_numpy(name, f):
    got, want = _jit(f)(Z), f(Z)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.int32, np.bool_])
def test_dtypes_as_numpy(dtype):
    a = (X > 0) if dtype == np.bool_ else (Z if np.dtype(dtype).kind == "c" else X * 3)
    a = a.astype(dtype)
    for f in (np.fft.fft, np.fft.ifft2, np.fft.irfft) + \
            (() if np.dtype(dtype).kind == "c" else (np.fft.rfft, np.fft.rfftn)):
        got, want = _jit(f)(a), f(a)
        assert got.dtype == want.dtype, (f.__name__, got.dtype, want.dtype)
        tol = 1e-5 if want.dtype in (np.complex64, np.float32) else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# --- gradients -----------------------------------------------------------------------------
def _loss(out):
    """A real loss that sees every output's real and imaginary part (and is not linear)."""
    o = out.reshape(-1)
    w = W[:o.size]
    return np.real(np.sum(o * w)) + 0.1 * np.sum(np.abs(o) ** 2)


def _fd_grad(f, z, h=1e-6):
    g = np.zeros_like(z)
    for i in range(z.size):
        e = np.zeros_like(z)
        e.flat[i] = 1.0
        dx = (f(z + h * e) - f(z - h * e)) / (2 * h)
        dy = (f(z + 1j * h * e) - f(z - 1j * h * e)) / (2 * h)
        g.flat[i] = dx - 1j * dy
    return g


COMPLEX_IN = [(n, f) for n, f in FORWARD if not n.startswith(("rfft", "real-"))]


@pytest.mark.parametrize("name, f", COMPLEX_IN, ids=[n for n, _ in COMPLEX_IN])
def test_reverse_mode_against_fd_in_real_and_imaginary_directions(name, f):
    """The transposes, irfft's Hermitian weighting included: d/dx - i d/dy of a real loss."""
    loss = lambda a: _loss(f(a))  # noqa: E731
    np.testing.assert_allclose(tg.grad(loss)(Z), _fd_grad(loss, Z), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, f", FORWARD, ids=[n for n, _ in FORWARD])
def test_forward_mode_against_directional_differences(name, f):
    v = RNG.normal(size=Z.shape) + 1j * RNG.normal(size=Z.shape)
    loss = lambda a: _loss(f(a))  # noqa: E731
    _, t = tg.jvp(loss, (Z,), (v,))
    h = 1e-6
    np.testing.assert_allclose(t, (loss(Z + h * v) - loss(Z - h * v)) / (2 * h), rtol=1e-6)


@pytest.mark.parametrize("name, f", FORWARD, ids=[n for n, _ in FORWARD])
def test_second_order_both_modes(name, f):
    """Over the real and imaginary parts as real arguments: hessians through the transposes."""
    check_grads(lambda x, y: _loss(f(x + 1j * y)), (X, Y), order=2, rtol=1e-5, atol=1e-7)


def test_irfft_ignores_the_imaginary_part_of_zero_and_nyquist_frequencies():
    """pocketfft drops Im y_0 and (n even) Im y_{n/2}: their gradient is exactly 0, and the
    interior frequencies count twice (each stands for its conjugate twin too)."""
    y = np.array([1.0 + 2j, 0.5 - 1j, 0.3 + 0.7j, -0.2 + 0.4j])  # n = 6: Nyquist at index 3
    g = tg.grad(lambda y: np.sum(np.fft.irfft(y, n=6)))(y)
    np.testing.assert_allclose(g, [1.0, 0.0, 0.0, 0.0], atol=1e-15)  # sum(x) = y_0.real
    g = tg.grad(lambda y: np.fft.irfft(y, n=6)[1])(y)
    want = _fd_grad(lambda y: np.fft.irfft(y, n=6)[1], y)
    np.testing.assert_allclose(g, want, atol=1e-8)
    assert g[0].imag == 0 and g[3].imag == 0


def test_vjp_of_fft_is_fft_and_of_ifft_is_ifft():
    """The DFT matrix is symmetric: under the complex convention the pullback of fft is fft."""
    ct = RNG.normal(size=6) + 1j * RNG.normal(size=6)
    for f in (np.fft.fft, np.fft.ifft):
        _, pull = tg.vjp(f, Z[0])
        np.testing.assert_allclose(pull(ct)[0], f(ct), rtol=1e-12)


def test_rfft_of_a_real_signal_has_a_real_gradient():
    g = tg.grad(lambda x: np.sum(np.abs(np.fft.rfft(x)) ** 2))(X[0])
    assert g.dtype == np.float64
    # Parseval over the half spectrum: d/dx sum |X_k|^2 with the weights of the half spectrum
    np.testing.assert_allclose(g, _fd_grad(lambda x: np.sum(np.abs(np.fft.rfft(x.real)) ** 2),
                                           X[0].astype(complex)).real, rtol=1e-6)


# --- vmap, errors, backends ------------------------------------------------------------------
def test_vmap_of_fft_transforms_and_their_gradients():
    f = lambda a: _loss(np.fft.irfft(np.fft.fft2(a, s=(3, 4)), n=5))  # noqa: E731
    Zs = np.stack([Z, Z * 1j, np.conj(Z)])
    np.testing.assert_allclose(tg.vmap(f)(Zs), [f(z) for z in Zs], rtol=1e-12)
    np.testing.assert_allclose(tg.vmap(tg.grad(f))(Zs), [_fd_grad(f, z) for z in Zs],
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("f, err, match", [
    (lambda a: np.fft.fft(a, norm="unitary"), ShapeError, "Invalid norm"),
    (lambda a: np.fft.fft(a, n=0), ShapeError, "Invalid number"),
    (lambda a: np.fft.rfft(a), DTypeError, "real array"),
    (lambda a: np.fft.irfft(a[:, :1]), ShapeError, "Invalid number"),
    (lambda a: np.fft.fftn(a, s=(2,), axes=(0, 1)), ShapeError, "different lengths"),
    (lambda a: np.fft.fft(a, axis=2), ShapeError, "out of bounds")])
def test_errors_are_typed_and_name_the_line(f, err, match):
    with pytest.raises(err, match=match) as info:
        _jit(f)(Z)
    assert "test_fft.py" in str(info.value)


def test_c_backend_compiles_fft_programs_and_auto_runs_them_on_c(monkeypatch):
    """The C backend calls numpy.fft through the C-API (codegen/c/fft.py; more in
    test_c_fft.py): same results as NumPy, and ``auto`` no longer sends FFTs to NumPy."""
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")  # the suite's default is numpy
    f = lambda x: np.abs(np.fft.rfft(x))  # noqa: E731
    np.testing.assert_array_equal(tg.jit(f, backend="c")(X), _jit(f)(X))
    auto = tg.jit(f, backend="auto")
    np.testing.assert_allclose(auto(X), f(X), rtol=1e-12)
    assert auto.lower(X).stats["backend"] == "c"
