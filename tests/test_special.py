"""scipy.special on traced arrays (issue 15 items 3 and 7): the special-function primitives
against SciPy over wide ranges on both backends (the C helpers of codegen/c/special.py are
written here from their formulas, so their accuracy is the point), the composites of
tracegrad/scipy/special.py against SciPy with gradients against finite differences, SciPy's
ufuncs dispatching by identity, and unsupported functions named as the user wrote them.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as _stats
from c_support import needs_c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

import tracegrad as tg
from tracegrad import lax
from tracegrad.errors import UnsupportedOperationError
from tracegrad.testing import check_grads

BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]
_rng = np.random.default_rng(0)


def _reals():
    """Wide float64 grid: tiny to huge positives, negatives off the integers, edge values."""
    neg = -np.logspace(-3, 2.2, 300)
    neg = neg[np.abs(neg - np.round(neg)) > 1e-6]
    return np.concatenate([np.logspace(-10, 10, 400), neg, _rng.uniform(-50, 50, 300),
                           [0.0, -0.0, -1.0, -2.0, 1.0, 2.0, np.inf, -np.inf, np.nan]])


def _erfinv_points():
    tail = np.logspace(-16, -1, 200)
    return np.concatenate([np.linspace(-1, 1, 4001), 1 - tail, tail - 1,
                           np.logspace(-300, -1, 200), [1.5, -2.0, np.nan, -0.0]])


# name -> (tracegrad function, SciPy reference, points, rtol); rtols hold with a margin of
# ~10x over the largest error measured on C (digamma's 1e-13 is the reflection near x = -0.001)
SPECIAL = {
    "gammaln": (lax.gammaln, sc.gammaln, _reals(), 1e-13),
    "digamma": (lax.digamma, sc.psi, _reals(), 1e-12),
    "gamma": (lax.gamma, sc.gamma, np.concatenate([np.linspace(-170.5, 171.6, 2001),
                                                   _reals()[np.abs(_reals()) < 171]]), 1e-13),
    "erfc": (lax.erfc, sc.erfc, np.concatenate([np.linspace(-10, 30, 2001), _reals()]), 1e-13),
    "erfinv": (lax.erfinv, sc.erfinv, _erfinv_points(), 1e-9),
    "i0": (lax.i0, sc.i0, np.concatenate([np.linspace(-720, 720, 4001), _reals()]), 1e-13),
    "i1": (lax.i1, sc.i1, np.concatenate([np.linspace(-720, 720, 4001), _reals()]), 1e-13),
    "erfcx": (lax.erfcx, sc.erfcx, np.concatenate([np.linspace(-26.6, 40, 5001), _reals(),
                                                   np.logspace(0, 300, 300)]), 1e-13),
}
for _n in (0, 1, 2, 3, 5, 10):
    SPECIAL[f"polygamma{_n}"] = (
        lambda x, n=_n: lax.polygamma(float(n), x), lambda x, n=_n: sc.polygamma(n, x),
        np.concatenate([np.logspace(-3, 4, 400), -np.linspace(0.05, 20.95, 200)]), 1e-12)


# where SciPy itself is inexact (digamma next to its negative roots, where SciPy's reflection
# cancels), the few points that miss rtol are judged against mpmath at 40 digits instead
EXACT = {"digamma": "digamma"}


def _agree(got, want, rtol, what, x=None, exact=None):
    """Same NaNs and infinities as SciPy, finite values to rtol (absolute 1e-300 where SciPy
    flushes a subnormal to 0); with ``exact`` (an mpmath function name), a point that misses
    must be within rtol of mpmath's value, or at least as close to it as SciPy's."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaNs")
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{what}: infinities")
    fin = ~np.isnan(want) & ~inf
    if exact is not None:
        miss = fin & (np.abs(got - want) > rtol * np.abs(want) + 1e-300)
        assert miss.sum() <= 5, f"{what}: {miss.sum()} points miss SciPy"
        import mpmath
        with mpmath.workdps(40):
            for i in np.flatnonzero(miss):
                ref = float(getattr(mpmath, exact)(mpmath.mpf(float(x[i]))))
                ours, theirs = abs(got[i] - ref), abs(want[i] - ref)
                assert ours <= max(rtol * abs(ref), theirs), (what, x[i], got[i], want[i], ref)
        fin &= ~miss
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=1e-300, err_msg=what)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_primitive_matches_scipy_over_wide_ranges(name, backend):
    fn, ref, x, rtol = SPECIAL[name]
    with np.errstate(all="ignore"):
        want = ref(x)
        got = tg.jit(fn, backend=backend)(x)
    _agree(got, want, rtol, f"{name} on {backend}", x, EXACT.get(name))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_primitive_float32(name, backend):
    """float32 in, float32 out, to float32 precision (C computes in double and rounds)."""
    fn, ref, x, _ = SPECIAL[name]
    x = x[np.abs(x) < 30].astype(np.float32)
    with np.errstate(all="ignore"):
        want = ref(x).astype(np.float32)
        got = tg.jit(fn, backend=backend)(x)
    _agree(got, want, 3e-6, f"{name} float32 on {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_erfinv_tails_against_mpmath(backend):
    """Near +-1 erfinv is steep; the C Halley steps on erfc(x) = 1 - |y| are as exact as
    mpmath's value at 50 digits (so is SciPy's)."""
    mpmath = pytest.importorskip("mpmath")
    y = 1 - np.array([1.1102230246251565e-16, 2.220446049250313e-16, 1e-12, 1e-6, 0.4])
    y = np.concatenate([y, -y])
    with mpmath.workdps(50):
        want = np.array([float(mpmath.erfinv(mpmath.mpf(float(v)))) for v in y])
    np.testing.assert_allclose(tg.jit(lax.erfinv, backend=backend)(y), want, rtol=1e-14)


# --- composites ------------------------------------------------------------------------
def _pos(*shape):
    return _rng.uniform(0.3, 3.0, shape)


COMPOSITES = [
    ("betaln", lambda a, b: sc.betaln(a, b), (_pos(4), _pos(4))),
    ("logit", lambda p: sc.logit(p), (_rng.uniform(0.05, 0.95, 5),)),
    ("expit", lambda x: sc.expit(x), (_rng.normal(size=5),)),
    ("xlogy", lambda x, y: sc.xlogy(x, y), (_rng.normal(size=5), _pos(5))),
    ("xlog1py", lambda x, y: sc.xlog1py(x, y), (_rng.normal(size=5), _pos(5))),
    ("erf", lambda x: sc.erf(x), (_rng.normal(size=5),)),
    ("polygamma-fn", lambda x: sc.polygamma(2, x), (_pos(5),)),
    ("digamma-alias", lambda x: sc.digamma(x), (_pos(5),)),
    ("logsumexp", lambda a: sc.logsumexp(a), (_rng.normal(size=(3, 4)),)),
    ("logsumexp-axis", lambda a: sc.logsumexp(a, axis=1), (_rng.normal(size=(3, 4)),)),
    ("logsumexp-axes-keepdims", lambda a: sc.logsumexp(a, axis=(0, 2), keepdims=True),
     (_rng.normal(size=(2, 3, 4)),)),
    ("logsumexp-b", lambda a, b: sc.logsumexp(a, axis=0, b=b), (_rng.normal(size=(3, 2)),
                                                                 _pos(3, 2))),
    ("logsumexp-sign", lambda a, b: sc.logsumexp(a, b=b, return_sign=True)[0] *
     sc.logsumexp(a, b=b, return_sign=True)[1], (_rng.normal(size=4),
                                                  np.array([1.0, -2.0, 0.5, -0.1]))),
    ("softmax", lambda x: sc.softmax(x, axis=-1), (_rng.normal(size=(2, 5)),)),
    ("softmax-all", lambda x: sc.softmax(x), (_rng.normal(size=(2, 3)),)),
    ("log_softmax", lambda x: sc.log_softmax(x, axis=0), (_rng.normal(size=(4, 2)),)),
    ("ndtr", lambda x: sc.ndtr(x), (np.array([-9.0, -1.5, 0.2, 3.0]),)),
    # log Phi in both tails: -804.6 at -40, where log(Phi) would be log(0) = -inf
    ("log_ndtr", lambda x: sc.log_ndtr(x), (np.array([-40.0, -5.0, -1.2, -0.8, 0.5, 6.0]),)),
    ("erfcx", lambda x: sc.erfcx(x), (np.array([-3.0, -0.5, 0.7, 11.0, 13.0, 80.0]),)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,fn,args", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_scipy_special_forward(name, fn, args, backend):
    """SciPy's own function, called on traced arrays, gives SciPy's values."""
    got = tg.jit(fn, backend=backend)(*args)
    np.testing.assert_allclose(got, fn(*args), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name,fn,args", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_scipy_special_gradients(name, fn, args):
    check_grads(fn, args, order=2, modes=("rev", "fwd"), rtol=1e-6, atol=1e-8)


def test_polygamma_of_float32_is_float64_as_scipy():
    """SciPy's polygamma is a Python function computing in float64: its dtype, not x's."""
    x = np.linspace(0.5, 3, 4, dtype=np.float32)
    got = tg.jit(lambda x: sc.polygamma(1, x))(x)
    assert got.dtype == sc.polygamma(1, x).dtype == np.float64
    np.testing.assert_allclose(got, sc.polygamma(1, x), rtol=1e-13)


def test_xlogy_at_zero_has_scipy_value_and_finite_gradient():
    x, y = np.array([0.0, 0.0, 2.0]), np.array([0.0, 3.0, 0.5])
    f = tg.jit(lambda x, y: sc.xlogy(x, y))
    np.testing.assert_array_equal(f(x, y), sc.xlogy(x, y))
    gx, gy = tg.grad(lambda x, y: np.sum(sc.xlogy(x, y)), argnums=(0, 1))(x, y)
    assert np.isfinite(gy).all() and gy[0] == 0 and gy[1] == 0
    np.testing.assert_allclose(gx[1:], np.log(y[1:]))


def test_logsumexp_of_minus_infinities_and_zero_weights():
    a = np.array([[-np.inf, -np.inf], [0.0, np.inf]])
    f = tg.jit(lambda a: sc.logsumexp(a, axis=1))
    np.testing.assert_array_equal(f(a), sc.logsumexp(a, axis=1))
    b = np.array([0.0, 1.0, 1.0])
    a2 = np.array([np.inf, 0.0, 1.0])  # the weight-0 term is dropped, inf and all
    assert tg.jit(lambda a, b: sc.logsumexp(a, b=b))(a2, b) == pytest.approx(
        sc.logsumexp(a2, b=b), rel=1e-14)


def test_logsumexp_gradient_is_softmax():
    a = _rng.normal(size=(3, 4))
    g = tg.grad(lambda a: np.sum(sc.logsumexp(a, axis=1)))(a)
    np.testing.assert_allclose(g, sc.softmax(a, axis=1), rtol=1e-14)


# --- dispatch and names ----------------------------------------------------------------
def test_scipy_ufuncs_dispatch_by_identity_not_name():
    """scipy.special.log1p and np.log1p share a __name__; each maps to its own function.
    SciPy ufuncs with no tracegrad version fail naming scipy.special.<name>, not np.<name>."""
    from tracegrad.scipy import routing
    assert routing.ufunc_impl(sc.gammaln) is routing.IMPLEMENTATIONS["scipy.special.gammaln"]
    assert routing.ufunc_impl(np.log1p) is None
    with pytest.raises(UnsupportedOperationError) as info:
        tg.jit(lambda x: sc.jv(1.0, x))(np.ones(3))
    msg = str(info.value)
    assert "scipy.special.jv" in msg and "np.jv" not in msg
    assert "docs/numpy-coverage.md" in msg and "test_special.py" in msg


def test_unsupported_numpy_function_points_at_the_coverage_page():
    with pytest.raises(UnsupportedOperationError, match="np.frexp.*docs/numpy-coverage.md"):
        tg.jit(lambda x: np.frexp(x))(np.ones(3))


def test_special_functions_on_concrete_arrays_are_scipy_itself():
    """Routing changes nothing for concrete inputs: SciPy's results, SciPy's errors."""
    tg.jit(lambda x: sc.logsumexp(x))(np.ones(2))  # a trace installs the routes
    a = _rng.normal(size=(3, 4))
    assert sc.logsumexp(a, axis=0, return_sign=True)[0].shape == (4,)
    np.testing.assert_allclose(sc.softmax(a, axis=1),
                               np.exp(a) / np.exp(a).sum(axis=1, keepdims=True), rtol=1e-15)
    with pytest.raises(ValueError):
        sc.polygamma(np.ones(2), np.ones(3))  # SciPy's own broadcasting error


# --- random compositions (the class: any program mixing them, not only each alone) --------
def _sq(x):
    return 0.5 + np.square(x)  # into (0.5, inf): gamma functions' smooth region


# name -> step of a chain, on values in [-2, 2] (each step's input is 2 tanh(previous))
STEPS = {
    "gammaln": lambda x: sc.gammaln(_sq(x)),
    "digamma": lambda x: sc.digamma(_sq(x)),
    "polygamma": lambda x: sc.polygamma(1, _sq(x)),
    "gamma": lambda x: sc.gamma(0.5 + np.square(x) / 4),
    "erfc": lambda x: sc.erfc(x),
    "erfinv": lambda x: sc.erfinv(0.45 * x),
    "i0": lambda x: sc.i0(x),
    "i1": lambda x: sc.i1(x),
    "expit": lambda x: sc.expit(x),
    "logit": lambda x: sc.logit(0.5 + 0.2 * x),
    "xlogy": lambda x: sc.xlogy(x, _sq(x)),
    "xlog1py": lambda x: sc.xlog1py(x, np.square(x)),
    "betaln": lambda x: sc.betaln(_sq(x), 1.5),
    "logsumexp": lambda x: x + sc.logsumexp(x, axis=-1, keepdims=True),
    "softmax": lambda x: sc.softmax(x, axis=-1),
    "log_softmax": lambda x: sc.log_softmax(x, axis=0),
    "norm.logcdf": lambda x: _stats.norm.logcdf(x, 0.3, 1.5),
    "gamma.logpdf": lambda x: _stats.gamma.logpdf(_sq(x), 2.5),
    "t.logpdf": lambda x: _stats.t.logpdf(x, 4.0),
}


def _chain(names):
    def f(x):
        for n in names:
            x = STEPS[n](2 * np.tanh(x))
        return x
    return f


@needs_c
@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(names=hst.lists(hst.sampled_from(sorted(STEPS)), min_size=1, max_size=3),
       shape=hst.sampled_from([(3,), (2, 3)]), seed=hst.integers(0, 2**16))
def test_random_special_chains_agree_on_both_backends_and_differentiate(names, shape, seed):
    x = np.random.default_rng(seed).uniform(-2, 2, shape)
    f = _chain(names)
    want = f(x)  # SciPy itself: concrete arrays never reach tracegrad
    for backend in ("numpy", "c"):
        np.testing.assert_allclose(tg.jit(f, backend=backend)(x), want, rtol=1e-10,
                                   atol=1e-12, err_msg=f"{names} on {backend}")
    check_grads(f, (x,), order=1, modes=("rev", "fwd"), rtol=1e-6, atol=1e-8)
