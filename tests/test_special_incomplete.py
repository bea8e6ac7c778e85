"""The regularised incomplete gamma and beta functions (scipy.special gammainc, gammaincc,
betainc) and the scipy.stats cdfs built on them (t, gamma, beta: cdf, sf, logcdf, logsf).

The C helpers (codegen/c/special_incomplete.py) are written here from their series and
continued fractions, so their accuracy over wide ranges against SciPy is the point; the
derivative in x is checked against the density (exact) and finite differences, in both modes
and to second order; a derivative in a shape parameter is a GradientError naming it, in both
modes, and only where it would be used (constants and stop_gradient'ed parameters are fine).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st
from c_support import needs_c

import tracegrad as tg
from tracegrad import lax
from tracegrad.errors import GradientError
from tracegrad.testing import check_grads

BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]


def _gamma_points(seed=0, n=20000):
    """a from 1e-3 to 1e4 (log-uniform), x around a (x/a in e^+-3) and log-uniform over
    1e-4 .. 1e4, plus the edges SciPy defines (0, inf, negative, NaN)."""
    rng = np.random.default_rng(seed)
    a = np.exp(rng.uniform(np.log(1e-3), np.log(1e4), n))
    x = np.where(rng.uniform(size=n) < 0.3, np.exp(rng.uniform(np.log(1e-4), np.log(1e4), n)),
                 a * np.exp(rng.uniform(-3, 3, n)))
    ea = np.array([0.0, 0.0, 1.0, 1.0, 2.0, -1.0, 2.0, np.nan, 2.0, np.inf, 0.5, 1.0])
    ex = np.array([0.0, 1.0, 0.0, np.inf, -1.0, 1.0, np.nan, 1.0, 1e-300, 3.0, 1e300, 1e-20])
    return np.concatenate([a, ea]), np.concatenate([x, ex])


def _beta_points(seed=1, n=20000):
    rng = np.random.default_rng(seed)
    a = np.exp(rng.uniform(np.log(1e-2), np.log(1e3), n))
    b = np.exp(rng.uniform(np.log(1e-2), np.log(1e3), n))
    x = np.where(rng.uniform(size=n) < 0.5, rng.uniform(size=n),
                 np.clip(a / (a + b) * np.exp(rng.uniform(-0.5, 0.5, n)), 0, 1))
    ea = np.array([0.0, 2.0, 0.0, 2.0, 2.0, 2.0, -1.0, 2.0, np.nan, 0.5, 3.0])
    eb = np.array([2.0, 0.0, 0.0, 3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 0.5, 0.5])
    ex = np.array([0.5, 0.5, 0.5, 0.0, 1.0, 1.5, 0.5, -0.1, 0.5, 1e-300, 1 - 1e-16])
    return np.concatenate([a, ea]), np.concatenate([b, eb]), np.concatenate([x, ex])


# (function, SciPy, points, rtol by magnitude of the largest shape parameter): the largest
# relative errors measured on C, x10: gamma 2e-13 (a <= 100), 2e-11 (a <= 1e4); beta 7e-12
# (a, b <= 100), 2e-11 (<= 1e3). Values below 1e-200 are left out: SciPy itself is off there
# (betainc(218.9, 39.7, 0.0332) = 5.73e-279 in SciPy, 5.399e-279 in mpmath and here)
CASES = {"gammainc": (lax.gammainc, sc.gammainc, _gamma_points, (2e-12, 2e-10)),
         "gammaincc": (lax.gammaincc, sc.gammaincc, _gamma_points, (2e-12, 2e-10)),
         "betainc": (lax.betainc, sc.betainc, _beta_points, (7e-11, 2e-10))}


def _check(got, want, big, rtols, what):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaNs")
    fin = ~np.isnan(want) & (np.abs(want) > 1e-200)
    rtol = np.where(big, rtols[1], rtols[0])
    with np.errstate(all="ignore"):
        err = np.abs(got - want) / np.abs(want)
    bad = fin & (err > rtol)
    assert not bad.any(), (what, int(bad.sum()), float(err[fin].max()))
    tiny = ~np.isnan(want) & ~fin
    np.testing.assert_allclose(got[tiny], want[tiny], rtol=0, atol=1e-200, err_msg=what)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_incomplete_matches_scipy_over_wide_ranges(name, backend):
    fn, ref, points, rtols = CASES[name]
    args = points()
    with np.errstate(all="ignore"):
        want = ref(*args)
        got = tg.jit(fn, backend=backend)(*args)
        big = np.nanmax(np.abs(np.stack(args[:-1])), axis=0) > 100
    _check(got, want, big, rtols, f"{name} on {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_incomplete_float32(name, backend):
    fn, ref, points, _ = CASES[name]
    args = [v[:2000].astype(np.float32) for v in points()]
    with np.errstate(all="ignore"):
        # the NumPy backend calls SciPy's float32 loop (betainc's loses ~1e-5 relative); C
        # computes in double and rounds, so it is judged against SciPy's float64 value
        want = (ref(*args) if backend == "numpy" else
                ref(*[v.astype(np.float64) for v in args]).astype(np.float32))
        got = tg.jit(fn, backend=backend)(*args)
    assert got.dtype == np.float32
    fin = np.isfinite(want) & (want > 1e-30)
    np.testing.assert_allclose(got[fin], want[fin], rtol=3e-5)


def test_betainc_agrees_with_mpmath_where_scipy_does_not():
    mpmath = pytest.importorskip("mpmath")
    a, b, x = 218.91249517815913, 39.69562887681574, 0.03315234676320966
    with mpmath.workdps(40):
        want = float(mpmath.betainc(a, b, 0, x, regularized=True))
    got = tg.jit(lax.betainc, backend="c")(np.array([a]), np.array([b]), np.array([x]))[0]
    assert abs(got - want) <= 1e-11 * want


# --- derivatives ----------------------------------------------------------------------------
A = np.array([0.5, 1.0, 2.5, 7.0, 30.0])
XG = np.array([0.3, 2.0, 1.7, 9.0, 25.0])
BB = np.array([0.7, 3.0, 1.0, 4.5, 20.0])
XB = np.array([0.2, 0.45, 0.9, 0.6, 0.55])


def _p(x):
    return sc.gammainc(A, x)


def _q(x):
    return sc.gammaincc(A, x)


def _i(x):
    return sc.betainc(A, BB, x)


DENSITY = {"gammainc": (_p, XG, lambda: st.gamma.pdf(XG, A)),
           "gammaincc": (_q, XG, lambda: -st.gamma.pdf(XG, A)),
           "betainc": (_i, XB, lambda: st.beta.pdf(XB, A, BB))}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(DENSITY))
def test_derivative_in_x_is_the_density_both_modes(name, backend):
    fn, x, want = DENSITY[name]
    rev = tg.jit(tg.grad(lambda x: fn(x).sum()), backend=backend)(x)
    fwd = tg.jit(lambda x: tg.jvp(fn, (x,), (np.ones_like(x),))[1], backend=backend)(x)
    np.testing.assert_allclose(rev, want(), rtol=1e-12)
    np.testing.assert_allclose(fwd, want(), rtol=1e-12)


def test_derivatives_in_x_against_finite_differences_second_order():
    check_grads(lambda x: sc.gammainc(A, x), (XG,), order=2)
    check_grads(lambda x: sc.gammaincc(A, x), (XG,), order=2)
    check_grads(lambda x: sc.betainc(A, BB, x), (XB,), order=2)


def test_derivative_in_x_at_the_ends_of_the_support():
    """x^(a-1) at x == 0 is its limit (1 for a == 1, inf below, 0 above), not 0 * log 0."""
    g = tg.grad(lambda x: sc.gammainc(np.array([0.5, 1.0, 2.0]), x).sum())(np.zeros(3))
    np.testing.assert_array_equal(g, [np.inf, 1.0, 0.0])
    g = tg.grad(lambda x: sc.betainc(np.array([1.0, 2.0, 2.0]), np.array([3.0, 1.0, 0.5]),
                                     x).sum())(np.array([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(g, [3.0, 2.0, np.inf])


PARAM_CALLS = {
    "gammainc-a": (lambda a, x: sc.gammainc(a, x), "'a'"),
    "gammaincc-a": (lambda a, x: sc.gammaincc(a, x), "'a'"),
    "betainc-a": (lambda a, x: sc.betainc(a, 2.0, x / 40), "'a'"),
    "betainc-b": (lambda b, x: sc.betainc(2.0, b, x / 40), "'b'"),
    "gamma.cdf-a": (lambda a, x: st.gamma.cdf(x, a), "'a'"),
    "t.cdf-df": (lambda df, x: st.t.cdf(x, df), "'a'"),  # df enters as betainc's a = df/2
}


@pytest.mark.parametrize("name", sorted(PARAM_CALLS))
def test_shape_parameter_derivative_is_a_typed_error_in_both_modes(name):
    fn, param = PARAM_CALLS[name]
    with pytest.raises(GradientError, match=f"shape parameter {param}.*not supported"):
        tg.grad(lambda a, x: fn(a, x).sum())(A, XG)
    with pytest.raises(GradientError, match=f"shape parameter {param}"):
        tg.jvp(lambda a: fn(a, XG), (A,), (np.ones_like(A),))
    with pytest.raises(GradientError, match=f"shape parameter {param}"):
        tg.jacfwd(lambda a: fn(a, XG))(A)


def test_shape_parameters_that_are_not_differentiated_are_fine():
    """A concrete array, a non-differentiated argument or a stop_gradient'ed value in the
    shape parameter: only the derivative in x is asked for, so nothing is refused."""
    want = st.gamma.pdf(XG, A)
    np.testing.assert_allclose(tg.grad(lambda x: sc.gammainc(A, x).sum())(XG), want)
    np.testing.assert_allclose(tg.grad(lambda x, a: sc.gammainc(a, x).sum())(XG, A), want)
    np.testing.assert_allclose(
        tg.grad(lambda x, a: sc.gammainc(tg.stop_gradient(a * x / x), x).sum())(XG, A),
        want, rtol=1e-12)


def test_rules_are_not_evaluated_on_constants_that_reach_no_input():
    """Regression: reverse mode pulled cotangents back through equations on constants too,
    evaluating partials on concrete values (gammaln's 'digamma(x)' on np.float64 raised
    AttributeError: math has no digamma): st.t.logpdf(x, 3.5) had no gradient in x."""
    x = np.array([-3.0, 0.0, 0.7, 30.0])
    g = tg.grad(lambda x: st.t.logpdf(x, 3.5).sum())(x)
    np.testing.assert_allclose(g, -(3.5 + 1) * x / (3.5 + x ** 2))


def test_vmap_of_incomplete_functions():
    a = np.stack([A, A + 1])
    got = tg.vmap(lambda a, x: sc.gammainc(a, x))(a, np.stack([XG, XG]))
    np.testing.assert_allclose(got, sc.gammainc(a, XG), rtol=1e-14)
    got = tg.vmap(lambda x: sc.betainc(A, BB, x))(np.stack([XB, XB / 2]))
    np.testing.assert_allclose(got, sc.betainc(A, BB, np.stack([XB, XB / 2])), rtol=1e-14)


# --- scipy.stats cdfs -------------------------------------------------------------------------
T = np.array([-40.0, -3.0, -0.5, 0.0, 0.7, 4.0, 30.0])
Z = np.array([-1.0, 0.0, 0.01, 0.7, 2.5, 9.0, 60.0])
U = np.array([-0.2, 0.0, 0.05, 0.3, 0.5, 0.97, 1.0])
STATS = {
    "t": (lambda m, x: getattr(st.t, m)(x, 3.5, loc=0.2, scale=1.3), T, 3e-12),
    "t-df1": (lambda m, x: getattr(st.t, m)(x, 1.0), T, 3e-12),
    "gamma": (lambda m, x: getattr(st.gamma, m)(x, 2.5, scale=2.0), Z, 1e-13),
    "gamma-small-a": (lambda m, x: getattr(st.gamma, m)(x, 0.3), Z, 1e-13),
    "beta": (lambda m, x: getattr(st.beta, m)(x, 2.0, 3.5), U, 1e-13),
    "beta-small": (lambda m, x: getattr(st.beta, m)(x, 0.5, 0.7, loc=-0.1, scale=1.2), U, 1e-13),
}
METHODS = ("cdf", "sf", "logcdf", "logsf")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dist", sorted(STATS))
def test_stats_cdfs_match_scipy(dist, backend):
    fn, x, rtol = STATS[dist]
    for m in METHODS:
        with np.errstate(all="ignore"):
            want = fn(m, x)
            got = tg.jit(lambda x: fn(m, x), backend=backend)(x)
        inf = np.isinf(want)
        np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{dist}.{m}")
        # a log near 0 is judged absolutely (its error is the cdf's relative error): SciPy
        # takes log(cdf) where tracegrad takes log1p(-sf) above 1/2
        np.testing.assert_allclose(got[~inf], want[~inf], rtol=rtol,
                                   atol=1e-15 if m.startswith("log") else 1e-300,
                                   err_msg=f"{dist}.{m} on {backend}")


@pytest.mark.parametrize("dist", sorted(STATS))
def test_stats_cdf_gradients_are_the_density(dist):
    fn, x, _ = STATS[dist]
    inside = np.isfinite(fn("logpdf", x)) & (fn("pdf", x) < 1e300)
    x = x[inside]
    pdf = fn("pdf", x)
    for m, sign in (("cdf", 1), ("sf", -1)):
        rev = tg.grad(lambda x: fn(m, x).sum())(x)
        np.testing.assert_allclose(rev, sign * pdf, rtol=1e-11, atol=1e-300, err_msg=m)
        _, fwd = tg.jvp(lambda x: fn(m, x), (x,), (np.ones_like(x),))
        np.testing.assert_allclose(fwd, sign * pdf, rtol=1e-11, atol=1e-300, err_msg=m)


def test_t_cdf_second_derivative_at_zero_is_finite():
    """At t == 0 the composition through betainc is 0 * inf; the cdf is written there as
    1/2 + pdf(0) t, so the gradient is pdf(0) and the second derivative pdf'(0) = 0."""
    h = tg.hessian(lambda x: st.t.cdf(x, 2.5).sum())(np.zeros(2))
    np.testing.assert_array_equal(h, np.zeros((2, 2)))
    check_grads(lambda x: st.t.cdf(x, 2.5), (np.array([-1.3, 0.4, 2.0]),), order=2)


def _table_names():
    from tracegrad.prims.derivatives_table import PARTIALS
    return sorted(PARTIALS)


@pytest.mark.parametrize("name", _table_names())
def test_no_rule_runs_on_constants_for_any_table_primitive(name):
    """The class of the regression above: an equation whose operands are constants (a
    concrete value made inside the trace) reaches no differentiated input, so reverse mode
    does not pull a cotangent back through it. Before, every table primitive's partial was
    evaluated on the constant's concrete value: logaddexp and logaddexp2 raised here (no
    math.nan_to_zero), arcsin and arccos too (math domain error at 1.7)."""
    import tracegrad.numpy as tnp
    from tracegrad.prims import ELEMENTWISE
    from tracegrad.prims.derivatives_table import PARTIALS
    prim, k = ELEMENTWISE[name], len(PARTIALS[name])

    def f(x):
        c = tnp.astype(tnp.asarray(1.7), np.float64)
        return tnp.sum(x * prim.bind(*([c] * k)))
    with np.errstate(all="ignore"):
        want = float(np.asarray(prim.impl(*([np.float64(1.7)] * k))))
        np.testing.assert_allclose(tg.grad(f)(np.ones(3)), np.full(3, want))
