"""scipy.stats on traced arrays (issue 15 items 3 and 7), called as a user calls it
(``scipy.stats.norm.logpdf(x, loc, scale)``): values against SciPy on both backends, gradients
against finite differences, and the routing that gets SciPy's methods and functions there
(tracegrad/scipy/routing.py): names bound before tracegrad loaded, concrete calls unchanged
and cheap, installation once under concurrent traces, and uninstall restoring SciPy.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st
from c_support import needs_c

import tracegrad as tg
from tracegrad.errors import UnsupportedOperationError
from tracegrad.scipy import routing
from tracegrad.testing import check_grads

BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]
rng = np.random.default_rng(3)
X = rng.uniform(0.1, 0.9, 5)
K = np.array([0.0, 1.0, 2.0, 5.0, 3.0])
B = np.array([0.0, 1.0, 1.0, 0.0, 1.0])

# id -> (call on arrays, its arguments, differentiable positions' smoothness: order to check)
CALLS = {
    "norm.logpdf": (lambda x, m, s: st.norm.logpdf(x, m, s), (X, np.full(5, 0.3), np.full(5, 1.5))),
    "norm.logpdf-kw": (lambda x, s: st.norm.logpdf(x, scale=s, loc=0.2), (X, np.full(5, 0.7))),
    "norm.pdf": (lambda x, m: st.norm.pdf(x, m), (X, np.full(5, 0.1))),
    "norm.cdf": (lambda x, m, s: st.norm.cdf(x, m, s), (X * 4 - 2, np.full(5, 0.3), np.full(5, 1.5))),
    "norm.logcdf": (lambda x: st.norm.logcdf(x), (X * 6 - 3,)),
    "norm.sf": (lambda x: st.norm.sf(x, 0.5), (X * 6 - 3,)),
    # both tails of log Phi stay finite, with finite gradients (log(Phi) underflowed to -inf)
    "norm.logcdf-tails": (lambda x: st.norm.logcdf(x, 0.5, 2.0),
                          (np.array([-90.0, -10.0, 0.0, 10.0, 90.0]),)),
    "norm.logsf-tails": (lambda x: st.norm.logsf(x), (np.array([-45.0, -3.0, 0.2, 7.0, 45.0]),)),
    "t.logpdf": (lambda x, df, s: st.t.logpdf(x, df, 0.1, s), (X * 4 - 2, np.full(5, 3.5), np.full(5, 1.2))),
    "gamma.logpdf": (lambda x, a, s: st.gamma.logpdf(x, a, scale=s), (X * 3, np.full(5, 2.5), np.full(5, 0.8))),
    "beta.logpdf": (lambda x, a, b: st.beta.logpdf(x, a, b), (X, np.full(5, 2.5), np.full(5, 1.7))),
    "poisson.logpmf": (lambda mu: st.poisson.logpmf(K, mu), (np.full(5, 2.5),)),
    "poisson.pmf": (lambda mu: st.poisson.pmf(K, mu), (np.full(5, 1.5),)),
    "poisson.cdf": (lambda mu: st.poisson.cdf(K, mu), (rng.uniform(0.5, 4, 5),)),
    "bernoulli.logpmf": (lambda p: st.bernoulli.logpmf(B, p), (rng.uniform(0.1, 0.9, 5),)),
    "bernoulli.cdf": (lambda p: st.bernoulli.cdf(np.array([-1, 0, 0.5, 1, 2.0]), p),
                      (rng.uniform(0.1, 0.9, 5),)),
    # x on the simplex is data (finite differences would leave the simplex): alpha varies
    "dirichlet.logpdf": (lambda a: st.dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), a),
                         (np.array([1.5, 2.0, 3.0]),)),
    "dirichlet.logpdf-short-x": (lambda a: st.dirichlet.logpdf(np.array([0.2, 0.3]), a),
                                 (np.array([1.5, 2.0, 3.0]),)),
    "dirichlet.logpdf-batch": (lambda a: st.dirichlet.logpdf(np.array([[0.2, 0.6], [0.3, 0.1],
                                                                       [0.5, 0.3]]), a),
                               (np.array([1.5, 2.0, 3.0]),)),
    "dirichlet-frozen-traced-alpha": (lambda a: st.dirichlet(a).logpdf(np.array([0.2, 0.3, 0.5])),
                                      (np.array([1.5, 2.0, 3.0]),)),
    "dirichlet-frozen-pdf": (lambda a: st.dirichlet(a).pdf(np.array([0.2, 0.3, 0.5])),
                             (np.array([1.5, 2.0, 3.0]),)),
    "norm-frozen": (lambda x, m: st.norm(m, 2.0).logpdf(x), (X, np.full(5, 0.4))),
    "gamma-frozen": (lambda x, a: st.gamma(a).logpdf(x), (X, np.full(5, 1.7))),
}


def _mvn_available():
    from tracegrad import numpy as tnp
    return hasattr(getattr(tnp, "linalg", None), "cholesky")


_COV = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]])
MVN = {
    "multivariate_normal.logpdf": (lambda x, m, c: st.multivariate_normal.logpdf(x, m, c),
                                   (rng.normal(size=(4, 3)), rng.normal(size=3), _COV)),
    "multivariate_normal.logpdf-1d": (lambda x: st.multivariate_normal.logpdf(x, cov=_COV),
                                      (rng.normal(size=3),)),
    "multivariate_normal-frozen-traced-mean": (
        lambda x, m: st.multivariate_normal(m, _COV).logpdf(x),
        (rng.normal(size=(4, 3)), rng.normal(size=3))),
    "multivariate_normal-frozen-traced-x": (
        lambda x: st.multivariate_normal(np.ones(3), _COV).logpdf(x), (rng.normal(size=(2, 3)),)),
    "multivariate_normal.pdf-diag": (lambda x, c: st.multivariate_normal.pdf(x, np.zeros(3), c),
                                     (rng.normal(size=(2, 3)), np.array([1.0, 2.0, 0.5]))),
}
mvn = pytest.mark.skipif(not _mvn_available(), reason="tracegrad.numpy.linalg.cholesky not here")
ALL = [pytest.param(k, *v, id=k) for k, v in CALLS.items()] + \
      [pytest.param(k, *v, id=k, marks=mvn) for k, v in MVN.items()]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,fn,args", ALL)
def test_stats_forward_matches_scipy(name, fn, args, backend):
    got = tg.jit(fn, backend=backend)(*args)
    np.testing.assert_allclose(got, fn(*args), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,fn,args", ALL)
def test_stats_gradients(name, fn, args):
    check_grads(fn, args, order=2, modes=("rev", "fwd"), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ["norm.logpdf", "poisson.logpmf", "gamma.logpdf",
                                  "bernoulli.logpmf", "dirichlet.logpdf", "norm.cdf"])
def test_float32_inputs_compute_in_float64_as_scipy(name):
    """SciPy's distributions return float64 for float32 inputs (some standardise x in float32
    first, so values agree to float32 precision; tracegrad computes all of it in float64)."""
    fn, args = CALLS[name]
    args = tuple(a.astype(np.float32) for a in args)
    want, got = fn(*args), tg.jit(fn)(*args)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=2e-7)
    exact = fn(*(a.astype(np.float64) for a in args))
    np.testing.assert_allclose(got, exact, rtol=1e-13)


def test_support_and_invalid_parameters_as_scipy():
    """-inf outside the support, NaN for invalid parameters, as SciPy returns them."""
    x = np.array([-1.0, 0.0, 0.5, 1.0, 1.5])
    cases = [(lambda x, a: st.gamma.logpdf(x, a), (x, np.array([1.0, 1.0, 2.0, -1.0, 0.5]))),
             (lambda x, a: st.beta.logpdf(x, a, 2.0), (x, np.array([2.0, 2.0, 2.0, 2.0, 1.0]))),
             (lambda x, s: st.norm.logpdf(x, 0.0, s), (x, np.array([1.0, -1.0, 0.0, 2.0, 1.0]))),
             (lambda k, mu: st.poisson.logpmf(k, mu), (np.array([1.5, -1.0, 0.0, 2.0, 3.0]),
                                                       np.array([2.0, 2.0, 0.0, -1.0, 1.0]))),
             (lambda k, p: st.bernoulli.logpmf(k, p), (np.array([0.0, 1.0, 2.0, 0.5, 1.0]),
                                                       np.array([0.3, 0.0, 0.5, 0.5, 1.5])))]
    for fn, args in cases:
        with np.errstate(all="ignore"):
            got, want = tg.jit(fn)(*args), fn(*args)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_unsupported_cdf_names_the_scipy_method_and_the_page():
    with pytest.raises(UnsupportedOperationError) as info:
        tg.jit(lambda x: st.cauchy.cdf(x, 3.0))(X)  # (t.cdf is supported since betainc)
    msg = str(info.value)
    assert "scipy.stats.cauchy.cdf" in msg and "docs/numpy-coverage.md" in msg
    assert "test_stats.py" in msg  # the user's line, not SciPy's or tracegrad's


def test_frozen_distribution_error_names_the_user_line():
    """A frozen distribution's method reaches the routed one from SciPy's own file: the error
    still names this file's line (SciPy's frames are library frames, source_info.py)."""
    with pytest.raises(UnsupportedOperationError) as info:
        tg.jit(lambda x: st.cauchy(3.0).cdf(x))(X)
    assert "test_stats.py" in str(info.value) and "_distn_infrastructure" not in str(info.value)


def test_poisson_cdf_needs_a_concrete_k():
    with pytest.raises(UnsupportedOperationError, match="poisson.cdf with a traced k"):
        tg.jit(lambda k, mu: st.poisson.cdf(k, mu))(K, np.ones(5))


# --- routing -------------------------------------------------------------------------------
def test_names_bound_before_tracegrad_loads_are_routed():
    """``from scipy.special import logsumexp`` before ``import tracegrad``: the name is the
    same function object, so routing by rebinding module attributes would miss it."""
    code = ("import numpy as np\n"
            "from scipy.special import logsumexp, softmax\n"
            "from scipy.stats import norm\n"
            "logpdf = norm.logpdf\n"
            "import tracegrad as tg\n"
            "x = np.array([0.5, 1.0, 2.0])\n"
            "v = tg.jit(lambda x: logsumexp(x) + softmax(x)[0] + logpdf(x).sum())(x)\n"
            "g = tg.grad(lambda x: logsumexp(x))(x)\n"
            "want = logsumexp(x) + softmax(x)[0] + logpdf(x).sum()\n"
            "print(abs(v - want) < 1e-12, np.allclose(g, softmax(x), rtol=1e-14))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.stdout.split() == ["True", "True"], out.stderr[-2000:]


def test_scipy_imported_after_the_first_trace_is_routed_in_the_same_trace():
    """A traced function that imports SciPy itself: the routes are installed when the import
    finishes (an import hook registered at the first trace), not at the next trace."""
    code = ("import numpy as np, tracegrad as tg\n"
            "tg.jit(lambda x: x + 1)(np.ones(2))\n"
            "def f(x):\n"
            "    from scipy.special import logsumexp\n"
            "    return logsumexp(x)\n"
            "print(abs(tg.jit(f)(np.ones(3)) - (1 + np.log(3))) < 1e-14)\n"
            "import scipy.stats as st\n"
            "print(tg.grad(lambda x: np.sum(st.norm.logpdf(x)))(np.ones(2)).tolist())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.stdout.split() == ["True", "[-1.0,", "-1.0]"], out.stderr[-2000:]


def test_import_tracegrad_does_not_import_scipy_stats():
    """Neither the import nor a trace loads SciPy's modules: routes are installed only for
    the ones the user's program imported."""
    code = ("import sys, numpy as np, tracegrad as tg\n"
            "print('scipy.stats' in sys.modules)\n"
            "tg.grad(lambda x: np.sum(np.tanh(x)))(np.ones(3))\n"
            "print('scipy.stats' in sys.modules, 'scipy.special' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_concrete_calls_are_scipy_unchanged():
    tg.jit(lambda x: st.norm.logpdf(x) + sc.logsumexp(x))(X)  # installs the routes
    assert {"scipy.special", "scipy.stats"} <= routing._INSTALLED  # (and scipy.signal if loaded)
    got = st.norm.logpdf(X, 1.0, 2.0)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, -0.5 * ((X - 1) / 2) ** 2 - np.log(2)
                               - 0.5 * np.log(2 * np.pi), rtol=1e-15)
    r = sc.logsumexp([[1.0, 2.0]], axis=1, return_sign=True)
    assert isinstance(r, tuple) and r[1].tolist() == [1.0]
    with pytest.raises(ValueError):  # SciPy's own validation still runs
        st.multivariate_normal.logpdf(np.ones(3), np.zeros(3), -np.eye(3))
    import inspect
    assert list(inspect.signature(sc.logsumexp).parameters) == \
        ["a", "axis", "b", "keepdims", "return_sign"]


def _dummy(a, axis=None, b=None):
    return a


def test_routing_overhead_on_concrete_calls_is_small():
    """The trampoline costs one Python call and an isinstance scan of the arguments: measured
    on a function that does nothing (SciPy's own work, ~20 us for logsumexp, would drown it),
    as the best of several runs against an unrouted copy of it."""
    plain = routing._copy(_dummy)
    routing.route_function(_dummy, lambda *a, **k: None, "test._dummy")
    try:
        a = np.ones(4)

        def per_call(f):
            best = float("inf")
            for _ in range(7):
                t = time.perf_counter()
                for _ in range(2000):
                    f(a, axis=0)
                best = min(best, (time.perf_counter() - t) / 2000)
            return best
        routed, original = per_call(_dummy), per_call(plain)
        assert _dummy(a) is a
        assert routed - original < 2e-6, (routed, original)  # ~0.4 us here
    finally:
        code, _ = routing._ROUTED_FUNCTIONS.pop(_dummy)
        _dummy.__code__ = code


def test_uninstall_restores_scipy_and_install_is_once_under_threads():
    tg.jit(lambda x: sc.logsumexp(st.norm.logpdf(x)))(X)  # installed
    scipy_code = {fn: code for fn, (code, _) in routing._ROUTED_FUNCTIONS.items()}
    assert sc.logsumexp in scipy_code and st.rv_continuous.logpdf in scipy_code
    routing.uninstall()
    try:
        for fn, code in scipy_code.items():
            assert fn.__code__ is code and not hasattr(fn, "__wrapped__"), fn
        assert not routing._INSTALLED and not routing._ROUTED_FUNCTIONS
        errors = []

        def work():
            try:
                f = tg.jit(lambda x: sc.logsumexp(st.norm.logpdf(x)))
                np.testing.assert_allclose(f(X), sc.logsumexp(st.norm.logpdf(X)), rtol=1e-13)
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(exc)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        # installed once, every route restored (scipy.signal's too, when another test loaded
        # it first): every router calls SciPy's own code, never another trampoline
        assert set(routing._ROUTED_FUNCTIONS) == set(scipy_code)
        for fn, (code, router) in routing._ROUTED_FUNCTIONS.items():
            assert code is scipy_code[fn] and router.original.__code__ is code
    finally:
        routing.install()
