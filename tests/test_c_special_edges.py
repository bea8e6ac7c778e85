"""Special functions at the edges of their domains, on both backends, against SciPy: the inputs
where the C helpers (codegen/c/special.py, special_incomplete.py) gave wrong numbers, found by
the edge-value table of tests/test_c_domain_errors.py.

- digamma of a tiny negative x: the reflection took pi cot(pi x) from x - floor(x) = 1 + x,
  which rounds to 1 (tan(pi) ~ -1.2e-16: 2.57e16 instead of -1/x).
- polygamma(n >= 1, inf): the Hurwitz zeta tail q * q^-s / (s - 1) is inf * 0.
- gammainc/gammaincc at huge a: the continued fraction needs ~sqrt(a) steps (NaN).
- betainc with a or b huge or infinite: lgamma(a + b) - lgamma(a) - lgamma(b) cancels (or is
  inf - inf), and the continued fraction needs ~sqrt(max(a, b)) steps.
Where SciPy's value is an overflow artifact and C's is the true one, the test pins C's value.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special as sc
from c_support import needs_c

import tracegrad as tg
from tracegrad import lax

pytestmark = needs_c

F32, F64 = np.finfo(np.float32), np.finfo(np.float64)


def _tol(dtype):  # the C tests' tolerances
    return {"rtol": 2e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def _run(fn, backend, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(tg.jit(fn, backend=backend)(*args))


def _check(fn, ref, dtype, backend, *cols):
    args = [np.array(c, dtype) for c in cols]
    with np.errstate(all="ignore"):
        want = np.asarray(ref(*args)).astype(dtype)
    got = _run(fn, backend, *args)
    np.testing.assert_allclose(got, want, equal_nan=True, err_msg=str(cols), **_tol(dtype))


BACKENDS = pytest.mark.parametrize("backend", ["numpy", "c"])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


@BACKENDS
@DTYPES
def test_digamma_of_tiny_negative_x_is_minus_one_over_x(dtype, backend):
    fi = np.finfo(dtype)
    # -tiny/4 (subnormal): -1/x overflows (SciPy inf); the others are finite and ~ -1/x
    xs = [-fi.tiny / 4, -fi.smallest_subnormal, -1e-30, -1e-10, -1e-7, -3e-4, -0.01, -0.3,
          -0.7, -0.999, -1 + 1e-3, -1.5, -2.25, -7.0001]
    _check(lax.digamma, sc.psi, dtype, backend, xs)
    _check(lambda x: lax.polygamma(0.0, x), lambda x: sc.polygamma(0, x), dtype, backend, xs)


def test_digamma_just_above_a_negative_integer_against_mpmath():
    # psi(x) ~ 1/(x - k) there: C takes it from the exact r = x - k (SciPy is off by 6e-10
    # relative at -1 + 1e-7, so mpmath is the reference here)
    mpmath = pytest.importorskip("mpmath")
    xs = np.array([-1 + 1e-7, -2 - 1e-9, -3 + 1e-12, -1e-300, -5 + 2e-6])
    with mpmath.workdps(40):
        want = [float(mpmath.digamma(mpmath.mpf(float(v)))) for v in xs]
    np.testing.assert_allclose(_run(lax.digamma, "c", xs), want, rtol=1e-14)


@BACKENDS
@DTYPES
@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_at_plus_and_minus_infinity(n, dtype, backend):
    _check(lambda x: lax.polygamma(float(n), x), lambda x: sc.polygamma(n, x), dtype, backend,
           [np.inf, -np.inf, 1e30, fi_max(dtype), 3.0])


def fi_max(dtype):
    return np.finfo(dtype).max


@BACKENDS
@DTYPES
@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_at_huge_a(name, dtype, backend):
    big = 1e20 if dtype == np.float32 else 1e30
    m = fi_max(dtype)
    # 9.9e11: the series/fraction hit their step cap there (6e-3 off); SciPy switches to
    # Temme's expansion within 4.5 standard deviations of a, so these points stay inside
    a = [big, big, big, big, big, m, m, 1e13, 1e13, 1e13, 1e16, 1e16, 1e15, 1e20, 9.9e11,
         9.9e11, 1e8]
    x = [big, big * (1 + 1e-10), big * (1 - 3e-10), big * 2, big / 2, m, m * 0.999, 1e13,
         1e13 + 3e6, 1e13 - 1e7, 1e16, 1e16 + 1e8, 1.1e15, 0.99e20, 9.9e11 - 2e6,
         9.9e11 + 3e6, 1e8 + 3e4]
    _check(getattr(lax, name), getattr(sc, name), dtype, backend, a, x)


def test_incomplete_gamma_tail_at_large_a_against_mpmath():
    # outside SciPy's Temme region its series stops at 2000 terms: P(1e8, 1e8 - 8e4) is
    # 6.1157e-16 (mpmath: x^a e^-x / Gamma(a + 1) 1F1(1; a + 1; x)), SciPy 4.94e-16
    got = _run(lax.gammainc, "c", np.array([1e8]), np.array([1e8 - 8e4]))
    np.testing.assert_allclose(got, [6.11569983219279e-16], rtol=1e-12)


@DTYPES
@pytest.mark.parametrize("name,want", [("gammainc", 0.0), ("gammaincc", 1.0)])
def test_incomplete_gamma_at_max_a_small_x_is_the_true_value_not_scipys_nan(name, want, dtype):
    # SciPy's igam_fac forms a log x - lgamma(a) = inf - inf at a = max finite (NaN); the
    # value is P = 0 (x^a e^-x / Gamma(a) underflows by ~a log a), Q = 1: C keeps it
    m = fi_max(np.float64)
    got = _run(getattr(lax, name), "c", np.array([m, m], np.float64), np.array([3.0, 1e30]))
    np.testing.assert_array_equal(got, [want, want])


@BACKENDS
@DTYPES
def test_betainc_with_an_infinite_or_huge_parameter(dtype, backend):
    m, t = fi_max(dtype), np.finfo(dtype).tiny
    big = 1e20 if dtype == np.float32 else 1e30
    rows = [(1.0, np.inf, 0.5), (0.5, np.inf, t), (3.0, np.inf, 0.5), (np.inf, 1.0, 0.5),
            (np.inf, 3.0, t), (np.inf, np.inf, 0.0), (np.inf, np.inf, 1.0), (np.inf, np.inf, .5),
            (1.0, m, t), (0.5, m, t), (3.0, m, t), (3.0, m, 0.5), (big, m, t), (big, m, 0.5),
            (m, 1.0, 0.5), (m, 3.0, t), (m, big, 0.5), (m, t, 0.5), (t, big, t), (t, m, 0.5),
            (big, big, 0.5), (big, big, 0.5 + 1e-7), (2.5, 1e25, 1e-24), (2.5, 1e18, 2e-18),
            (1e25, 2.5, 1 - 1e-7)]
    a, b, x = zip(*rows)
    _check(lax.betainc, sc.betainc, dtype, backend, a, b, x)


@DTYPES
def test_betainc_where_scipy_returns_an_artifact_c_returns_the_true_value(dtype):
    # I_x(e, e) -> 1/2 as e -> 0 (half the mass at each end; SciPy 0), I_1/2(a, a) = 1/2 by
    # symmetry (SciPy NaN at a = float32 max)
    t = np.finfo(dtype).tiny
    a = np.array([t, t, F32.max], dtype)
    x = np.array([0.5, t, 0.5], dtype)
    np.testing.assert_allclose(_run(lax.betainc, "c", a, a, x), 0.5, **_tol(dtype))
    # SciPy's float32 loop: NaN at (2.5, 1e25, 1e-25); the value is P(2.5, 1) (float64 SciPy)
    got = _run(lax.betainc, "c", *[np.array([v], dtype) for v in (2.5, 1e25, 1e-25)])
    np.testing.assert_allclose(got, sc.gammainc(2.5, 1.0), **_tol(dtype))


@pytest.mark.parametrize("lo,hi", [(1, 3), (3, 5), (5, 7)])
def test_betainc_with_large_parameters_keeps_its_digits(lo, hi):
    # the prefactor's lgamma(a + b) - lgamma(a) - lgamma(b) cancelled ~1e-16 r log r:
    # 3e-12 relative at a, b ~ 100, 7e-8 at 1e6 (and 1e-7 at (2.5, 1e8)); now through
    # Stirling's Gamma* (within ~4 standard deviations of the mean, where I is not tiny)
    rng = np.random.default_rng(lo)
    a, b = 10 ** rng.uniform(lo, hi, 2000), 10 ** rng.uniform(lo, hi, 2000)
    p = a / (a + b)
    x = np.clip(p + (rng.uniform(0, 1, 2000) - 0.5) * 8 * np.sqrt(p * (1 - p) / (a + b + 1)),
                1e-300, 1 - 1e-16)
    a, b, x = (np.append(v, w) for v, w in zip((a, b, x), (2.5, 1e8, 2e-8)))
    want = sc.betainc(a, b, x)
    np.testing.assert_allclose(_run(lax.betainc, "c", a, b, x), want, rtol=2e-11, atol=1e-15)


def test_gammaln_of_a_subnormal_negative_x_is_finite_minus_log_abs_x():
    # |Gamma(x)| ~ 1/|x| overflows double for |x| <= 2^-1024, but its log (<= 744.4) does not:
    # C (libm lgamma) keeps the finite value; SciPy returns inf (its Gamma overflowed first).
    # Kept on purpose; tests/test_c_domain_errors.py lists the difference
    xs = np.array([-F64.tiny / 4, -F64.smallest_subnormal, -1e-310])
    np.testing.assert_allclose(_run(lax.gammaln, "c", xs), -np.log(-xs), rtol=1e-15)
