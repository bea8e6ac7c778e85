"""complex64/complex128 end to end: NumPy 2 promotion (weak Python complex included), the
functions NumPy defines on complex against NumPy, gradients against finite differences in the
real and the imaginary direction (the conjugate-Wirtinger convention of JAX and autograd:
docs/gradients.md), second order through complex intermediates, vmap, printing, and the C
backend's typed refusal of what it lacks (``backend="auto"`` runs those programs on NumPy).

Test ideas after HIPS autograd's test_complex.py / test_numpy.py complex cases (no code copied).
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import DTypeError, GradientDTypeError, UnsupportedOperationError
from tracegrad.testing import check_grads

RNG = np.random.default_rng(7)
Z = np.array([0.7 + 0.4j, -1.2 + 0.9j, 0.3 - 1.1j, 1.5 + 0.2j])  # off branch cuts and the origin


def _jit(f):
    return tg.jit(f, backend="numpy")


def fd_grad(f, z, h=1e-6):
    """dL/dx - i dL/dy per element (central differences), the gradient's convention."""
    z = np.asarray(z, dtype=np.complex128)
    g = np.zeros_like(z)
    for i in range(z.size):
        e = np.zeros_like(z)
        e.flat[i] = 1.0
        dx = (f(z + h * e) - f(z - h * e)) / (2 * h)
        dy = (f(z + 1j * h * e) - f(z - 1j * h * e)) / (2 * h)
        g.flat[i] = dx - 1j * dy
    return g


# --- promotion (NumPy 2, NEP 50) --------------------------------------------------------------
@pytest.mark.parametrize("dtype, scalar, want", [
    (np.float32, 1j, np.complex64), (np.float64, 1j, np.complex128),
    (np.int32, 1j, np.complex128), (np.complex64, 2.0, np.complex64),
    (np.complex64, 2, np.complex64), (np.complex128, 1j, np.complex128)])
def test_weak_python_complex_promotes_as_numpy2(dtype, scalar, want):
    x = np.arange(3).astype(dtype)
    got = _jit(lambda x: x * scalar)(x)
    assert got.dtype == np.result_type(x, scalar) == want
    np.testing.assert_allclose(got, x * scalar)


@pytest.mark.parametrize("a, b", [(np.complex64, np.float64), (np.complex64, np.complex128),
                                  (np.complex64, np.int64), (np.float32, np.complex64)])
def test_array_promotion_with_complex(a, b):
    x, y = np.ones(2, a) * (1 + 1j if np.dtype(a).kind == "c" else 1), np.ones(2, b)
    got = _jit(lambda x, y: x + y)(x, y)
    assert got.dtype == (x + y).dtype


def test_python_complex_argument_is_a_weak_complex128():
    f = _jit(lambda x, s: x * s)
    got = f(np.ones(2, np.float32), 2 - 1j)
    assert got.dtype == np.complex64  # weak: float32 * complex -> complex64, as NumPy 2
    np.testing.assert_allclose(got, [2 - 1j, 2 - 1j])


# --- forward against NumPy --------------------------------------------------------------------
UNARY = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "negative": np.negative, "conj": np.conj, "real": np.real,
    "imag": np.imag, "abs": np.abs, "angle": np.angle, "square": np.square,
    "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "log1p": np.log1p, "expm1": np.expm1,
}


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_matches_numpy(name, dtype):
    fn = UNARY[name]
    z = Z.astype(dtype)
    got, want = _jit(fn)(z), fn(z)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    tol = 1e-6 if dtype == np.complex64 else 1e-13
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("fn", [np.add, np.subtract, np.multiply, np.divide, np.power,
                                np.equal, np.not_equal])
def test_binary_forward_matches_numpy(fn):
    a, b = Z, Z[::-1] * 0.5
    got, want = _jit(fn)(a, b), fn(a, b)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_reductions_contractions_and_structure_match_numpy():
    A = RNG.normal(size=(3, 4)) + 1j * RNG.normal(size=(3, 4))
    B = RNG.normal(size=(4, 2)) + 1j * RNG.normal(size=(4, 2))
    cases = [
        (lambda a, b: a.sum(0), np.sum), (lambda a, b: np.prod(a, axis=1), None),
        (lambda a, b: a.mean(), None), (lambda a, b: a @ b, None),
        (lambda a, b: np.einsum("ij,jk->ik", a, b), None),
        (lambda a, b: np.dot(a[0], b[:, 1]), None),
        (lambda a, b: a.T.reshape(2, 6)[:, ::2], None), (lambda a, b: a[[0, 2], 1:3], None),
        (lambda a, b: np.where(np.abs(a) > 1, a, 0), None),
        (lambda a, b: np.concatenate([a, b.T], axis=0), None),
        (lambda a, b: np.cumsum(a, axis=1), None), (lambda a, b: a.astype(np.complex64), None),
        (lambda a, b: np.real(a).astype(np.float32) + 1j, None),
    ]
    for f, _ in cases:
        got, want = _jit(f)(A, B), f(A, B)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6 if got.dtype == np.complex64 else 1e-12)


def test_predicates_on_complex():
    z = np.array([1 + 0j, 2 + 1e-30j, 3j])
    for fn in (np.iscomplex, np.isreal):
        np.testing.assert_array_equal(_jit(fn)(z), fn(z))
    seen = []
    _jit(lambda z: seen.append((np.iscomplexobj(z), np.isrealobj(np.real(z)))) or z)(z)
    assert seen == [(True, True)]
    with pytest.raises(UnsupportedOperationError, match="np.real"):
        _jit(np.real_if_close)(z)


def test_complex_to_real_cast_keeps_the_real_part_without_warning():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _jit(lambda z: z.astype(np.float32))(Z)
    np.testing.assert_allclose(got, Z.real.astype(np.float32))


# --- gradients: conjugate Wirtinger, against FD in both directions -----------------------------
REAL_LOSSES = {
    "abs2": lambda z: np.sum(np.abs(z) ** 2),
    "abs": lambda z: np.sum(np.abs(z)),
    "angle": lambda z: np.sum(np.angle(z)),
    "real_exp": lambda z: np.real(np.sum(np.exp(z))),
    "imag_log": lambda z: np.imag(np.sum(np.log(z))),
    "sqrt": lambda z: np.sum(np.real(np.sqrt(z)) * np.imag(np.sqrt(z))),
    "sin_cos": lambda z: np.sum(np.abs(np.sin(z) * np.cos(z))),
    "tanh": lambda z: np.real(np.sum(np.tanh(z) ** 2)),
    "div_conj": lambda z: np.real(np.sum(z / (np.conj(z) + 2.0))),
    "pow": lambda z: np.sum(np.abs(z ** 2.5 + z ** (1 + 0.5j))),
    "neg_sub_mul": lambda z: np.real(np.sum((-z - 1j) * (z * (2 - 1j)))),
    "prod_mean": lambda z: np.abs(np.prod(z)) + np.imag(np.mean(z * z)),
    "matmul": lambda z: np.abs(z.reshape(2, 2) @ z.reshape(2, 2).T).sum(),
    "einsum": lambda z: np.real(np.einsum("i,i->", z, np.conj(z[::-1]))),
    "structural": lambda z: np.abs(z.reshape(2, 2).T[:, ::-1][1]).sum(),
    "where": lambda z: np.real(np.sum(np.where(np.real(z) > 0, z * z, np.conj(z)))),
    "eq_ne": lambda z: np.sum(np.abs(z) * (z != 1j) * (z == z)),
}


@pytest.mark.parametrize("name", sorted(REAL_LOSSES))
def test_grad_is_conjugate_wirtinger_against_finite_differences(name):
    f = REAL_LOSSES[name]
    g = tg.grad(f)(Z)
    assert g.dtype == np.complex128
    np.testing.assert_allclose(g, fd_grad(f, Z), rtol=1e-6, atol=1e-7)


def test_the_convention_on_abs_squared():
    """d|z|^2 = dL/dx - i dL/dy = 2 conj(z) (JAX and autograd agree): gradient descent moves
    z against conj(grad)."""
    np.testing.assert_allclose(tg.grad(lambda z: np.abs(z) ** 2)(3.0 + 4.0j), 6.0 - 8.0j)
    np.testing.assert_allclose(tg.grad(lambda z: np.real(z))(1.0 + 1j), 1.0)
    np.testing.assert_allclose(tg.grad(lambda z: np.imag(z))(1.0 + 1j), -1j)


@pytest.mark.parametrize("name", sorted(REAL_LOSSES))
def test_forward_mode_matches_finite_differences(name):
    """jvp in a complex direction v equals the directional difference (f(z + h v) - ...)."""
    f = REAL_LOSSES[name]
    v = np.array([0.3 - 0.2j, -0.5 + 0.1j, 0.2 + 0.4j, -0.1 - 0.3j])
    _, t = tg.jvp(f, (Z,), (v,))
    h = 1e-6
    want = (f(Z + h * v) - f(Z - h * v)) / (2 * h)
    np.testing.assert_allclose(t, want, rtol=1e-6, atol=1e-8)
    # and the pairing Re(grad * v) gives the same number (the convention's definition)
    np.testing.assert_allclose(np.real(np.sum(tg.grad(f)(Z) * v)), want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["abs2", "real_exp", "imag_log", "tanh", "div_conj", "matmul",
                                  "pow", "prod_mean"])
def test_second_order_through_complex_intermediates(name):
    """f(x + i y) over real x, y: every mode and the second order, with complex inside."""
    f = REAL_LOSSES[name]
    x, y = np.real(Z).copy(), np.imag(Z).copy()
    check_grads(lambda x, y: f(x + 1j * y), (x, y), order=2, rtol=1e-5, atol=1e-7)


def test_abs_of_complex_at_the_origin_has_gradient_zero_in_both_modes():
    z = np.array([0j, 3 + 4j])
    g = tg.grad(lambda z: np.sum(np.abs(z)))(z)
    assert g[0] == 0
    np.testing.assert_allclose(g, [0, 0.6 - 0.8j], atol=1e-15)
    _, t = tg.jvp(lambda z: np.abs(z), (z,), (np.array([1 + 1j, 1j]),))
    np.testing.assert_allclose(t, [0.0, 0.8])
    assert _jit(np.abs)(z.astype(np.complex64)).dtype == np.float32


def test_vjp_of_a_holomorphic_map_is_multiplication_by_the_derivative():
    """JAX's convention: the pullback of z -> f(z) holomorphic is ct -> ct * f'(z)."""
    f = lambda z: np.exp(z) * z  # noqa: E731
    ct = np.array([1.0 + 0j, 1j, 0.5 - 2j, -1.0 + 0j])
    _, pull = tg.vjp(f, Z)
    np.testing.assert_allclose(pull(ct)[0], ct * np.exp(Z) * (1 + Z), rtol=1e-12)


def test_gradient_of_a_real_input_through_complex_values_is_real():
    g = tg.grad(lambda x: np.abs(np.exp(1j * x) * (2 + x)).sum())(np.array([0.5, -1.0]))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [1.0, 1.0])  # |e^{ix}| = 1, d|2 + x| / dx = 1


def test_grad_of_a_complex_output_names_vjp():
    with pytest.raises(GradientDTypeError, match=r"tg\.vjp"):
        tg.grad(lambda z: np.sum(z * z))(Z)


def test_unsupported_complex_operations_are_typed():
    for fn in (lambda z: np.maximum(z, 0), np.floor, np.rint, lambda z: z < 1, np.arcsin):
        with pytest.raises(DTypeError, match="complex operands"):
            _jit(fn)(Z)


# --- vmap, printing, backends -----------------------------------------------------------------
def test_vmap_over_complex_values_and_its_gradient():
    Zs = np.stack([Z, Z * 0.5j, np.conj(Z)])
    f = REAL_LOSSES["sin_cos"]
    np.testing.assert_allclose(tg.vmap(f)(Zs), [f(z) for z in Zs], rtol=1e-12)
    np.testing.assert_allclose(tg.vmap(tg.grad(f))(Zs), [fd_grad(f, z) for z in Zs], rtol=1e-6)


def test_complex_literals_print_and_parse_back():
    lowered = _jit(lambda z: z * (1.5 - 0.0j) + complex(-0.0, float("inf"))).lower(Z)
    text = str(lowered.ir)
    assert "c128" in text and "complex(" in text
    assert str(tg.parse_graph(text)) == text


A2 = np.array([[1.0, 2.0], [-3.0, 4.0]])  # complex eigenvalues: eig's outputs are complex


def test_c_backend_refuses_complex_operations_it_lacks_with_a_typed_error():
    # eig's complex outputs stay on NumPy (elementwise complex, FFTs and complex products run
    # on C: tests/test_c_complex.py, tests/test_c_fft.py)
    with pytest.raises(UnsupportedOperationError, match='backend="numpy"'):
        tg.jit(lambda m: np.linalg.eig(m)[0].sum(), backend="c")(A2)
    with pytest.raises(UnsupportedOperationError, match='backend="numpy"'):  # complex inside only
        tg.jit(lambda m: np.abs(np.linalg.eig(m)[0]), backend="c")(A2)


def test_auto_backend_runs_complex_programs_c_lacks_on_numpy(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")  # the suite's default is numpy
    f = tg.jit(lambda m: np.abs(np.linalg.eig(m * 1.5)[0]), backend="auto")
    np.testing.assert_allclose(f(A2), np.abs(np.linalg.eig(A2 * 1.5)[0]), rtol=1e-12)
    assert f.lower(A2).stats["backend"] == "numpy"


def test_check_grads_sees_complex_outputs_and_arguments():
    """check_grads once gave complex outputs no cotangent (u = None), so any complex rule passed
    unchecked; a wrong rule (the conjugate of the right cotangent) must now fail, in either
    the output or the argument."""
    from tracegrad.testing import GradientCheckError

    @tg.custom_vjp
    def double(z):
        return z * 2.0

    double.defvjp(lambda z: (z * 2.0, None), lambda res, g: (np.conj(g) * 2.0,))  # wrong
    x = np.array([0.5, -1.0])
    with pytest.raises(GradientCheckError):
        check_grads(lambda x: double(x * (1 + 2j)), (x,), modes=("rev",))
    with pytest.raises(GradientCheckError):
        check_grads(lambda z: np.imag(double(z)), (Z,), modes=("rev",))
    check_grads(lambda x: np.fft.fft(x * (1 + 2j)) * 2.0, (x,), order=2)  # the right rules pass
    check_grads(lambda z: np.exp(z) * np.abs(z), (Z,), order=2)


SIGNED = np.array([1 + 2j, complex(-0.0, 0.0), complex(0.0, -0.0), complex(-0.0, -0.0), 3j,
                   complex(np.inf, -0.0), complex(np.nan, 1.0)])
IDENTITIES = {
    "add-0j": lambda z: z + 0j, "add-neg-zero": lambda z: z + complex(-0.0, -0.0),
    "mul-1": lambda z: z * 1, "mul-1+0j": lambda z: z * (1 + 0j), "mul-minus-1": lambda z: z * -1,
    "zero-minus": lambda z: 0j - z, "neg-zero-minus": lambda z: complex(-0.0, -0.0) - z,
    "sub-0j": lambda z: z - 0j, "div-1": lambda z: z / 1.0, "pow-1": lambda z: z ** 1,
    "real-of-sum": lambda z: np.real(z + 0), "inf-literal": lambda z: z * complex(np.inf, -0.0),
}


@pytest.mark.parametrize("level", ["O0", "O1", "O2"])
@pytest.mark.parametrize("name", sorted(IDENTITIES))
def test_complex_literals_and_identities_keep_signed_zeros(name, level):
    """simplify's x + 0 -> x, x * 1 -> x, x / 1 -> x, x ** 1 -> x, 0 - x -> neg x fired on
    complex values, where only x + (-0-0j) is exact (z * (1+0j) computes re*0 + im), and the
    NumPy emitter wrote complex(-0.0, -0.0) as (-0-0j), which Python reads as 0-0j."""
    f = IDENTITIES[name]
    with np.errstate(all="ignore"):
        got, want = tg.jit(f, backend="numpy", opt_level=level)(SIGNED), f(SIGNED)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    for part in (np.real, np.imag):  # the sign of a NaN means nothing
        num = ~np.isnan(part(want))
        np.testing.assert_array_equal(np.signbit(part(got))[num], np.signbit(part(want))[num])


STABILIZED = {
    "softplus": lambda z: np.log(1 + np.exp(z)), "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "log-sigmoid": lambda z: np.log(1 / (1 + np.exp(-z))), "log1p": lambda z: np.log(1 + z),
    "expm1": lambda z: np.exp(z) - 1,
}


@pytest.mark.parametrize("name", sorted(STABILIZED))
def test_rewrites_into_real_only_primitives_skip_complex_values(name):
    """stabilize rewrote log(1 + exp(z)) to softplus(z) and 1/(1 + exp(-z)) to sigmoid(z) for
    complex z too, and those primitives take real operands only: a DTypeError at O2 for a
    program NumPy runs. A rewrite whose target refuses the dtype now does not apply."""
    f = STABILIZED[name]
    got = tg.jit(f, backend="numpy", opt_level="O2")(Z)
    np.testing.assert_allclose(got, f(Z), rtol=1e-12)
    loss = lambda z: np.sum(np.abs(f(z)))  # noqa: E731
    np.testing.assert_allclose(tg.grad(loss)(Z), fd_grad(loss, Z), rtol=1e-6, atol=1e-7)


# --- random complex programs: every pass level against NumPy, gradients against FD -----------
_UN = [lambda a: np.exp(a * 0.3), np.sin, np.cos, np.tanh, lambda a: np.sqrt(a + 3.0),
       lambda a: np.log(a * a + 2.0), np.conj, lambda a: np.real(a) - 2j * np.imag(a),
       lambda a: np.abs(a) + 0.5j * a, lambda a: -a, lambda a: a * a * 0.5,
       lambda a: np.angle(a + 0.1) * a, lambda a: np.fft.fft(a) * 0.3,
       lambda a: np.fft.irfft(a, n=7)[:4] + 0j, lambda a: a[::-1],
       lambda a: a + np.sum(a) * 0.1, lambda a: np.where(np.real(a) > 0, a, a * 1j)]
_BIN = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b * 0.5,
        lambda a, b: a / (b * b + 2.0), lambda a, b: a * np.dot(a, b) * 0.1]


def _random_program(seed):
    rng = np.random.default_rng(seed)
    steps = [(int(rng.integers(len(_UN))), None) if rng.random() < 0.6 else
             (int(rng.integers(len(_BIN))), int(rng.integers(10)))
             for _ in range(int(rng.integers(3, 8)))]

    def f(z, w):
        vals = [z, w]
        for op, other in steps:
            vals.append(_UN[op](vals[-1]) if other is None else
                        _BIN[op](vals[-1], vals[other % len(vals)]))
        return vals[-1]
    return f


@pytest.mark.parametrize("seed", range(24))
def test_random_complex_programs_at_every_level_and_their_gradients(seed):
    f = _random_program(seed)
    z, w = Z, Z[::-1] * (0.5 - 1j)
    with np.errstate(all="ignore"):
        want = f(z, w)
        for level in ("O0", "O1", "O2"):
            got = tg.jit(f, backend="numpy", opt_level=level)(z, w)
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=level)
        loss = lambda z: np.sum(np.abs(f(z, w)) ** 2) * 0.01  # noqa: E731
        np.testing.assert_allclose(tg.grad(loss)(z), fd_grad(loss, z), rtol=1e-5, atol=1e-6)


def test_jacobians_of_complex_inputs_are_typed_errors_and_complex_outputs_go_forward():
    """jacfwd of a complex input took the real direction only while jacrev gave the conjugate
    gradient: two answers to one question. Now (as JAX) a complex input, or a complex output
    in reverse mode, is a GradientDTypeError; forward mode takes complex outputs."""
    absz = lambda z: np.abs(z)  # noqa: E731
    for jac in (tg.jacobian, tg.jacfwd, tg.jacrev):
        with pytest.raises(GradientDTypeError, match="complex input"):
            jac(absz)(Z)
    with pytest.raises(GradientDTypeError, match="complex input"):
        tg.hessian(lambda z: np.sum(np.abs(z) ** 2))(Z)
    with pytest.raises(GradientDTypeError, match="mode='fwd'"):
        tg.jacrev(lambda x: x * (1 + 1j))(np.ones(2))
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: np.exp(1j * x) * x  # noqa: E731
    want = np.diag(np.exp(1j * x) * (1 + 1j * x))
    np.testing.assert_allclose(tg.jacobian(f)(x), want, rtol=1e-12)  # auto: forward
    np.testing.assert_allclose(tg.jacfwd(f)(x), want, rtol=1e-12)
    # real inputs through complex values: the Hessian of |exp(ix) x|^2 = x^2 is 2 I
    np.testing.assert_allclose(tg.hessian(lambda x: np.sum(np.abs(f(x)) ** 2))(x),
                               2 * np.eye(3), atol=1e-12)
    # hvp of a complex argument is the directional derivative of its gradient 2 conj(z)
    np.testing.assert_allclose(tg.hvp(lambda z: np.sum(np.abs(z) ** 2), (Z,), (Z,)),
                               2 * np.conj(Z), rtol=1e-12)


def test_complex_square_keeps_numpy_power_signed_zeros():
    """simplify's x ** 2 -> x * x is real-only: NumPy's complex power gives (-0+0j)**2 = +0j
    where its multiply gives -0j (the sign of a zero is a result: see tests/rule_cases.py)."""
    import tracegrad as tg
    z = np.array([-0.0 + 0.0j, -0.0 - 0.0j, 1 + 2j])
    for level in ("O0", "O2"):
        got = tg.jit(lambda z: z ** 2, opt_level=level, backend="numpy")(z)
        want = np.power(z, 2)
        assert np.array_equal(np.signbit(got.real), np.signbit(want.real))
        assert np.array_equal(np.signbit(got.imag), np.signbit(want.imag))
