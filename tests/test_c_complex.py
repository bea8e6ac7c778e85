"""Complex values on the C backend (codegen/c/complex_c.py): every elementwise primitive NumPy
defines on complex, bit for bit against NumPy eager on a grid of special values (signed zeros,
infinities and NaN in either part, branch cuts, overflow) and on random values; fusion with
real operations; sum/prod reductions and copies on complex buffers; products through
cgemm/zgemm (and the 64-bit loop); gradients on C against the NumPy backend; and the typed
refusal of what stays on NumPy (FFT).

The primitive table's complex rows run on C in tests/test_c_backend.py::test_primitive_rows.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c.complex_c import SCALAR
from tracegrad.codegen.c.unsupported import C_COMPLEX, first_complex
from tracegrad.errors import UnsupportedOperationError

from c_support import needs_c

pytestmark = [needs_c, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

_SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, np.inf, -np.inf, np.nan, 1e300, -1e-300, 710.0]
GRID = np.array([complex(a, b) for a in _SPECIAL for b in _SPECIAL])
CDTYPES = ["complex128", "complex64"]
UNARY = ["negative", "exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
         "log1p", "expm1", "exp2", "log2", "abs", "conj", "real", "imag"]
BINARY = ["add", "subtract", "multiply", "divide", "power", "equal", "not_equal"]


def same_bits(got, want):
    """Elementwise: equal with equal sign bits, or both NaN (per part for complex)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    if got.dtype.kind == "c":
        return same_bits(got.real, want.real) & same_bits(got.imag, want.imag)
    if got.dtype.kind == "f":
        return (np.isnan(got) & np.isnan(want)) | \
            ((got == want) & (np.signbit(got) == np.signbit(want)))
    return got == want


def _check(got, want, args):
    bad = ~same_bits(got, want)
    assert not bad.any(), [(tuple(a[i] for a in args), got[i], want[i])
                           for i in np.nonzero(bad)[0][:4]]


def _on_c(f):
    return tg.jit(f, backend="c")


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values_match_numpy_bit_for_bit(name, dtype):
    fn = getattr(np, name)
    z = GRID.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = fn(z)
    _check(_on_c(lambda x: fn(x))(z), want, [z])


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("name", BINARY)
def test_binary_special_values_match_numpy_bit_for_bit(name, dtype):
    fn = getattr(np, name)
    z = GRID.astype(dtype)
    a, b = np.repeat(z, z.size), np.tile(z, z.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = fn(a, b)
    _check(_on_c(lambda x, y: fn(x, y))(a, b), want, [a, b])


@pytest.mark.parametrize("dtype", CDTYPES)
def test_random_values_match_numpy_bit_for_bit(dtype):
    """Finite values over many magnitudes: NumPy's product (no Annex G recovery), Smith's
    quotient and its SIMD absolute value are reproduced, not just approximated."""
    rng = np.random.default_rng(3)
    n = 20_000
    a = (rng.standard_normal(n) * np.exp(rng.standard_normal(n) * 5)
         + 1j * rng.standard_normal(n)).astype(dtype)
    b = (rng.standard_normal(n)
         + 1j * rng.standard_normal(n) * np.exp(rng.standard_normal(n) * 5)).astype(dtype)
    for name in ("abs", "exp", "log", "sqrt", "tanh", "sin", "log1p", "expm1"):
        fn = getattr(np, name)
        _check(_on_c(lambda x: fn(x))(a), fn(a), [a])
    for name in ("multiply", "divide"):
        fn = getattr(np, name)
        _check(_on_c(lambda x, y: fn(x, y))(a, b), fn(a, b), [a, b])


@pytest.mark.parametrize("dtype", CDTYPES)
def test_power_with_literal_exponents_matches_the_numpy_backend_bit_for_bit(dtype):
    """npy_cpow's paths: integral exponents below 100 by squaring (n = 1, 2, 3 unrolled, a
    negative one inverted), the C library's cpow otherwise. Both backends compute np.power;
    NumPy's ``z ** 0.5`` / ``z ** -1`` operator shortcuts (csqrt, reciprocal) are not power's."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(4000) + 1j * rng.standard_normal(4000)).astype(dtype)
    x[:GRID.size] = GRID
    for e in (2, 3, -1, -3, 7, 99, 100, 0.5, 2.5, 1j, 0.5 - 2j, 0):
        f = lambda v: np.power(v, e)  # noqa: E731
        _check(_on_c(f)(x), tg.jit(f, backend="numpy")(x), [x])
        if e != 2:  # simplify turns z ** 2 into z * z on both backends: NumPy's product
            _check(_on_c(f)(x), f(x), [x])  # loop, not npy_cpow's (ulps, zero signs apart)


def test_literals_keep_signed_zeros_and_non_finite_parts():
    z = GRID.astype(np.complex128)
    for lit in (complex(-0.0, -0.0), complex(np.inf, -0.0), complex(0.0, np.nan), 1j, -2.5 + 0j):
        _check(_on_c(lambda x: x * lit + lit)(z), z * lit + lit, [z])
        _check(_on_c(lambda x: np.where(np.real(x) > 0, x, lit))(z),
               np.where(z.real > 0, z, lit), [z])


def test_conversions_between_real_and_complex():
    x = np.array([-0.0, 1.5, -np.inf, np.nan])
    z = GRID.astype(np.complex128)
    _check(_on_c(lambda v: v.astype(np.complex64))(x), x.astype(np.complex64), [x])
    _check(_on_c(lambda v: v.astype(np.complex64))(z), z.astype(np.complex64), [z])
    _check(_on_c(lambda v: v.astype(np.complex128) * 1j)(np.arange(4)),
           np.arange(4).astype(np.complex128) * 1j, [x])
    _check(_on_c(lambda v: v != 0)(z), z != 0, [z])


def test_complex_and_real_operations_fuse_into_one_kernel():
    f = lambda x, y: np.abs(np.exp(1j * x) * y + x) ** 2 - np.real(np.conj(y) * y)  # noqa: E731
    x, y = np.linspace(-3, 3, 1001), np.linspace(1, 2, 1001) + 0.5j
    got = _on_c(f)(x, y)
    np.testing.assert_allclose(got, f(x, y), rtol=1e-12, atol=1e-12)
    assert _on_c(f).lower(x, y).source.count("TG_KERNEL void") == 1


@pytest.mark.parametrize("dtype", CDTYPES)
def test_sum_and_prod_reductions_on_complex(dtype):
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((3, 4, 5)) + 1j * rng.standard_normal((3, 4, 5))).astype(dtype)
    tol = dict(rtol=1e-12) if dtype == "complex128" else dict(rtol=2e-6, atol=1e-6)
    for f in (lambda v: v.sum(), lambda v: v.sum(axis=2), lambda v: v.sum(axis=(0, 2)),
              lambda v: (v * 0.5).prod(axis=1), lambda v: np.exp(v).sum(axis=0),
              lambda v: np.abs(v.sum(axis=1))):
        got, want = _on_c(f)(z), f(z)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, **tol)


def test_cumsum_and_loops_over_complex_values():
    z = np.array([0.5 + 1j, -2 + 0.25j, 1 - 1j, 0.1 - 3j])

    def scan(v):
        def body(c, x):
            c = c * x + np.exp(1j * np.real(c)) * 0.5
            return c, np.abs(c)
        return tg.lax.scan(body, v[0] * 0.1, v)

    def while_(v):
        return tg.lax.while_loop(lambda c: np.abs(c[0]) < 10,
                                 lambda c: (c[0] * (1 + 1j) + v[1], c[1] + 1), (v[0], 0))

    def cond(v):
        return tg.lax.cond(np.real(v[0]) > 0, lambda u: u * 1j, lambda u: np.conj(u), v)

    for f in (np.cumsum, lambda v: np.cumsum(v[::-1] * 1j)[::-1], scan, while_, cond,
              lambda v: cond(-v)):
        got, want = _on_c(f)(z), tg.jit(f, backend="numpy")(z)
        for g, w in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                        np.atleast_1d(want) if not isinstance(want, tuple) else want):
            np.testing.assert_allclose(g, w, rtol=1e-12)
    x = np.linspace(0.2, 1.0, 4)
    loss = lambda x: np.sum(scan(x + 1j * x[::-1])[1] ** 2)  # noqa: E731
    vg = tg.value_and_grad(loss)
    np.testing.assert_allclose(_on_c(vg)(x)[1], tg.jit(vg, backend="numpy")(x)[1], rtol=1e-11)


def test_copies_gather_and_scatter_on_complex_buffers():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 6)) + 1j * rng.standard_normal((4, 6))
    idx = np.array([3, 0, 0, 2])
    for f in (lambda v: v.T * 1j, lambda v: v[1:3, ::2], lambda v: v[::-1],
              lambda v: np.concatenate([v, np.conj(v)], axis=1),
              lambda v: np.pad(v, 1) + 1, lambda v: v[idx]):
        _check(_on_c(f)(z), tg.jit(f, backend="numpy")(z), [z.ravel()])


_PRODUCTS = [lambda a, b: a @ b, lambda a, b: a.T.conj() @ a, lambda a, b: a @ b[:, 0],
             lambda a, b: b[:, 0] @ b[:, 1], lambda a, b: np.einsum("bij,jk->bik",
                                                                  np.stack([a, 2 * a]), b),
             lambda a, b: np.einsum("ij,ik->jk", a, a[:, :3]) * 1j]


@pytest.mark.parametrize("dtype", CDTYPES)
@pytest.mark.parametrize("loop", [False, True], ids=["gemm", "loop"])
def test_complex_products_through_zgemm_and_the_64_bit_loop(dtype, loop, monkeypatch):
    from tracegrad.codegen.c import blas
    if loop:  # sizes above the BLAS' int range take the plain loop (lowered here to 2)
        monkeypatch.setattr(blas, "BLAS_INT_MAX", 2)
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((5, 4)) + 1j * rng.standard_normal((5, 4))).astype(dtype)
    b = (rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))).astype(dtype)
    tol = dict(rtol=1e-12, atol=1e-13) if dtype == "complex128" else dict(rtol=2e-6, atol=1e-5)
    for f in _PRODUCTS:
        c = _on_c(f)
        got, want = c(a, b), f(a, b)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, **tol)
        assert ("tg_zgemm(" in c.lower(a, b).source or "tg_cgemm(" in c.lower(a, b).source) \
            != loop


@pytest.mark.parametrize("fn", [
    lambda x: np.sum(np.abs(np.exp(1j * x) + x) ** 2),
    # a product of complex matrices and its transpose in the gradient
    lambda x: np.sum(np.abs(np.exp(1j * x.reshape(3, 3)) @ (x[:3] + 1j)) ** 2),
    lambda x: np.real(np.sum(np.log(x + 2j) * np.conj(np.sqrt(x + 1j)))),
    lambda x: np.sum(np.imag(np.tanh(x * (1 + 1j)) / (x + 1j))),
    # the gather's gradient scatters complex cotangents (scatter_add on a complex buffer)
    lambda x: np.sum(np.abs(np.exp(1j * x)[np.array([3, 0, 0, 2])] * (x[1] + 2j)) ** 2),
    lambda x: np.sum(np.abs((x + 1j) ** (x * 0.5 + 0.25j) + (x - 2j) ** 3) ** 2),
], ids=["abs2-exp", "matvec", "log-sqrt", "tanh-div", "gather-scatter", "pow"])
def test_gradients_through_complex_values_on_c_match_the_numpy_backend(fn):
    x = np.linspace(-1.5, 2.0, 9)
    vg = tg.value_and_grad(fn)
    got, want = _on_c(vg)(x), tg.jit(vg, backend="numpy")(x)
    assert _on_c(vg).lower(x).stats["backend"] == "c"
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("fn", [
    lambda z: np.fft.fft(z),                       # FFT: NumPy's pocketfft via the C-API
    lambda z: np.abs(np.fft.ifft(z * 2)).sum(),    # inside a larger program
    lambda z: tg.lax.scan(lambda c, x: (c + np.fft.fft(x * c * np.ones(2))[1], c), z[0],
                          z)[1],                   # in a loop's body
], ids=["fft", "fft-inside", "fft-in-scan"])
def test_fft_programs_run_on_c_and_auto_picks_c(fn, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")  # the suite's default is numpy
    z = np.array([0.5 + 1j, -2 + 0.25j])
    np.testing.assert_array_equal(_on_c(fn)(z), tg.jit(fn, backend="numpy")(z))
    f = tg.jit(fn, backend="auto")
    np.testing.assert_allclose(f(z), fn(z), rtol=1e-12)
    assert f.lower(z).stats["backend"] == "c"


_A = np.array([[1.0, 2.0], [-3.0, 4.0]])  # complex eigenvalues: eig's outputs are complex


@pytest.mark.parametrize("fn", [
    lambda m: np.linalg.eig(m)[0],                          # eig: complex outputs
    lambda m: np.abs(np.linalg.eig(m * 2)[0]).sum(),        # inside a larger program
    lambda m: tg.lax.scan(lambda c, x: (c + np.abs(np.linalg.eig(x * c)[0]).sum(), c), 1.0,
                          np.stack([m, m.T]))[1],           # in a loop's body
], ids=["eig", "eig-inside", "eig-in-scan"])
def test_complex_operations_without_c_forms_are_typed_and_auto_runs_them_on_numpy(fn,
                                                                                  monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")  # the suite's default is numpy
    with pytest.raises(UnsupportedOperationError, match="'eig'.*backend=\"numpy\"") as info:
        _on_c(fn)(_A)
    assert "test_c_complex.py" in str(info.value)  # the user's line
    f = tg.jit(fn, backend="auto")
    np.testing.assert_allclose(f(_A), fn(_A), rtol=1e-12)
    assert f.lower(_A).stats["backend"] == "numpy"


def test_the_refusal_names_the_primitive_without_a_complex_c_form():
    a = np.array([[1.0, 2.0], [-3.0, 4.0]])  # complex eigenvalues: eig's outputs are complex
    with pytest.raises(UnsupportedOperationError, match="'eig'"):
        _on_c(lambda m: np.abs(np.linalg.eig(m)[0]))(a)


def test_auto_runs_supported_complex_programs_on_c(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")  # the suite's default is numpy
    f = tg.jit(lambda x: np.abs(np.exp(1j * x) + 1.0), backend="auto")
    x = np.linspace(0, 1, 5)
    np.testing.assert_allclose(f(x), np.abs(np.exp(1j * x) + 1.0), rtol=1e-12)
    assert f.lower(x).stats["backend"] == "c"


def test_every_complex_scalar_form_is_admitted_and_nothing_else_elementwise():
    """The refusal and the emitter agree: an elementwise primitive is admitted for complex
    operands exactly when complex_c has its scalar form (a primitive admitted without one
    would reach the emitter's internal assertion instead of the typed refusal)."""
    from tracegrad.codegen.c.lowerings import LOWERINGS, lowering
    from tracegrad.prims.complex_parts import real_p
    lowering(real_p)  # a lowering outside lowerings.py: loads every lowering module
    scalar_prims = {p for p, low in LOWERINGS.items() if low.scalar is not None}
    assert set(SCALAR) <= scalar_prims
    assert C_COMPLEX & scalar_prims == set(SCALAR)
    assert first_complex(tg.jit(lambda m: np.linalg.eig(m)[0], backend="numpy").lower(
        np.array([[1.0, 2.0], [-3.0, 4.0]])).ir) is not None
    assert first_complex(tg.jit(lambda z: np.fft.fft(z), backend="numpy").lower(
        np.array([1j])).ir) is None  # numpy.fft through the C-API (fft.py)


@pytest.mark.parametrize("seed", range(24))  # 80 seeds ran clean before committing 24
def test_random_complex_programs_on_c_match_the_numpy_backend(seed):
    """test_complex's derandomized complex programs (elementwise, parts, abs/angle, FFT, sums,
    where, dot) on C at O0 and O2 against the NumPy backend, and their gradients: a lowering,
    fusion or refusal that mishandles a complex value fails here (FFTs included: numpy.fft
    through the C-API, fft.py)."""
    from test_complex import Z, _random_program
    f = _random_program(seed)
    z, w = Z, Z[::-1] * (0.5 - 1j)
    loss = lambda z: np.sum(np.abs(f(z, w)) ** 2) * 0.01  # noqa: E731
    with np.errstate(all="ignore"):
        want = tg.jit(f, backend="numpy")(z, w)
        ir = tg.jit(f, backend="numpy").lower(z, w).ir
        assert first_complex(ir) is None  # C compiles every primitive these programs use
        for level in ("O0", "O2"):
            got = tg.jit(f, backend="c", opt_level=level)(z, w)
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, err_msg=level)
        np.testing.assert_allclose(_on_c(tg.grad(loss))(z),
                                   tg.jit(tg.grad(loss), backend="numpy")(z),
                                   rtol=1e-11, atol=1e-13)
