"""Random numbers inside traced functions (issue 15 item 1): the Threefry-2x32 ``random_bits``
primitive (known answers; the same bits eagerly, on the NumPy backend and in C), the
distributions built from it (moments against their exact values at large n and a fixed key;
tolerances of about five standard errors, so a wrong formula fails), np.random draws that are
fresh at each call and reproducible under ``np.random.seed``, and reparameterised gradients.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import ArgumentError, ImmutableArrayError, TracedRandomError
from tracegrad.prims.np_random import threefry2x32
from tracegrad.prims.random import random_bits_p
from tracegrad.testing import check_grads
from tracegrad.tracer import bind

R = tg.random
BACKENDS = ("numpy", "c")


# --- the cipher -------------------------------------------------------------------------------
# Random123's known-answer vectors for threefry2x32 with 20 rounds: (key, counter, output)
KAT = [((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
       ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
       ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0))]


@pytest.mark.parametrize("k,c,want", KAT)
def test_threefry_known_answers(k, c, want):
    y = threefry2x32(*(np.full(1, v, np.uint32) for v in (*k, *c)))
    assert (int(y[0][0]), int(y[1][0])) == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_compiled_bits_match_the_known_answer(backend):
    """Block 0 of a draw is the cipher at counter (0, 0): Random123's first vector in C too."""
    f = tg.jit(lambda k: bind(random_bits_p, k, shape=(3,)), backend=backend)
    out = f(np.zeros(2, np.int64))
    assert out[:2].tolist() == [0x6B200159, 0x99BA4EFE]
    assert out.dtype == np.int64 and 0 <= out.min() and out.max() < 2 ** 32


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(), (1,), (7,), (4, 5), (0, 3), (100001,)])
def test_backends_give_the_same_bits(backend, shape):
    """The NumPy reference, the NumPy backend and C agree word for word (odd counts use half a
    block; 100001 words run on a thread team in C); keys use only their low 32 bits."""
    keys = [np.array([5, 7]), np.array([-1, 2 ** 40 + 3]), np.array([2 ** 32 - 1, 0])]
    f = tg.jit(lambda k: bind(random_bits_p, k, shape=shape), backend=backend)
    for k in keys:
        want = bind(random_bits_p, k.astype(np.int64), shape=shape)
        assert np.array_equal(f(k.astype(np.int64)), want)
    low = bind(random_bits_p, keys[1] & 0xFFFFFFFF, shape=shape)
    assert np.array_equal(f(keys[1]), low)


@pytest.mark.parametrize("backend", BACKENDS)
def test_draws_are_bit_identical_across_backends(backend):
    """Every distribution built on the bits, eagerly and compiled: integer results exactly,
    float results to the last bit where only exact arithmetic is involved (uniforms), and to
    libm's rounding where a transcendental is (normal, exponential, gumbel)."""
    def draws(k, x, p):
        ks = R.split(k, 10)
        return (R.uniform(ks[0], (50,)), R.uniform(ks[0], (50,), np.float32),
                R.integers(ks[1], -3, 9, (50,)), R.permutation(ks[2], 30),
                R.choice(ks[3], x, (4,), replace=False), R.choice(ks[4], x, (4,), p=p),
                R.choice(ks[5], x, (3,), replace=False, p=p), R.binomial(ks[6], 7, 0.3, (20,)),
                R.bernoulli(ks[7], 0.3, (20,)), R.fold_in(k, 11),
                R.normal(ks[8], (50,)), R.exponential(ks[9], (20,)), R.gumbel(ks[9], (20,)))
    x, p = np.arange(6.0), np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.1])
    k = R.key(42)
    eager = draws(k, x, p)
    compiled = tg.jit(draws, backend=backend)(k, x, p)
    for i, (a, b) in enumerate(zip(eager, compiled)):
        assert a.dtype == b.dtype and a.shape == b.shape, i
        if i < 10:
            assert np.array_equal(a, b), i
        else:
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)


# --- statistics ------------------------------------------------------------------------------
N = 200_000


def _close(value, want, se, what):
    assert abs(value - want) <= 5 * se, f"{what}: {value} vs {want} (5 se = {5 * se:.3g})"


def _moments(x, mean, var, what):
    x = np.asarray(x, np.float64)
    _close(x.mean(), mean, math.sqrt(var / x.size), f"{what} mean")
    # the variance's standard error: sqrt((m4 - var**2) / n), estimated from the sample
    m4 = np.mean((x - x.mean()) ** 4)
    _close(x.var(), var, math.sqrt((m4 - var ** 2) / x.size), f"{what} variance")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_uniform_and_normal_moments(dtype):
    u = R.uniform(R.key(1), (N,), dtype)
    assert u.dtype == dtype and u.min() >= 0 and u.max() < 1
    _moments(u, 0.5, 1 / 12, "uniform")
    z = R.normal(R.key(2), (N,), dtype)
    assert z.dtype == dtype and np.all(np.isfinite(z))
    _moments(z, 0.0, 1.0, "normal")
    # the fourth moment tells a normal from other unit-variance shapes (kurtosis 3; se ~ sqrt(96/n))
    _close(np.mean(z.astype(np.float64) ** 4), 3.0, math.sqrt(96 / N), "normal kurtosis")
    # a tail probability: P(|z| > 2) = 0.0455
    q = 0.04550026
    _close(np.mean(np.abs(z) > 2), q, math.sqrt(q * (1 - q) / N), "normal tail")


def test_uniform_range_and_low_bits():
    u = R.uniform(R.key(3), (N,), np.float64, -2.0, 3.0)
    assert u.min() >= -2 and u.max() < 3
    _moments(u, 0.5, 25 / 12, "uniform(-2, 3)")
    # 53 random bits: the lowest mantissa bits are used (not all-zero as with 32-bit floats)
    m = R.uniform(R.key(4), (1000,)) * 2.0 ** 53
    assert np.all(m == np.floor(m)) and np.mean(m % 2) > 0.4


def test_exponential_and_gumbel_moments():
    e = R.exponential(R.key(5), (N,))
    assert e.min() > 0 and np.all(np.isfinite(e))
    _moments(e, 1.0, 1.0, "exponential")
    g = R.gumbel(R.key(6), (N,))
    _moments(g, np.euler_gamma, math.pi ** 2 / 6, "gumbel")


def test_bernoulli_and_binomial_moments():
    b = R.bernoulli(R.key(7), 0.3, (N,))
    assert b.dtype == np.bool_
    _moments(b, 0.3, 0.21, "bernoulli")
    c = R.binomial(R.key(8), 10, 0.3, (N // 4,))
    assert c.dtype == np.int64 and c.min() >= 0 and c.max() <= 10
    _moments(c, 3.0, 2.1, "binomial(10, 0.3)")


def test_integers_are_uniform_over_their_range():
    x = R.integers(R.key(9), 3, 9, (N,))
    assert x.dtype == np.int64 and x.min() == 3 and x.max() == 8
    freq = np.bincount(x - 3, minlength=6) / N
    se = math.sqrt((1 / 6) * (5 / 6) / N)
    for i, f in enumerate(freq):
        _close(f, 1 / 6, se, f"integers bucket {i}")


def _position_counts(draw, n, m):
    """counts[i, j]: how often element i landed at position j over m draws."""
    counts = np.zeros((n, n))
    for t in range(m):
        p = draw(R.fold_in(R.key(10), t))
        counts[p, np.arange(len(p))] += 1
    return counts


def test_permutation_is_uniform():
    n, m = 5, 4000
    f = tg.jit(lambda k: R.permutation(k, n))
    counts = _position_counts(f, n, m)
    assert np.all(counts.sum(0) == m)  # every draw is a permutation
    se = math.sqrt(m * 0.2 * 0.8)
    assert np.all(np.abs(counts - m / n) <= 5 * se), counts


def test_choice_without_replacement_follows_p():
    """Gumbel top-k: the first pick is element i with probability p_i; picks are distinct."""
    p = np.array([0.5, 0.25, 0.125, 0.125])
    f = tg.jit(lambda k: R.choice(k, 4, (2,), replace=False, p=p))
    first = np.zeros(4)
    for t in range(4000):
        c = f(R.fold_in(R.key(11), t))
        assert c[0] != c[1]
        first[c[0]] += 1
    se = np.sqrt(4000 * p * (1 - p))
    assert np.all(np.abs(first - 4000 * p) <= 5 * se), first


def test_choice_with_replacement_follows_p():
    p = np.array([0.1, 0.6, 0.3])
    x = R.choice(R.key(12), 3, (N,), p=p)
    freq = np.bincount(x, minlength=3) / N
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / N)), freq


# --- np.random inside traced functions ---------------------------------------------------------
def test_np_random_calls_differ_and_seed_reproduces():
    f = tg.jit(lambda x: x + np.random.randn(3))
    x = np.zeros(3)
    assert not np.array_equal(f(x), f(x))  # fresh numbers at every call
    np.random.seed(0)
    a = f(x)
    np.random.seed(0)
    assert np.array_equal(f(x), a)
    # the hidden key is an input of the program, after the argument
    assert len(f.lower(x).ir.inputs) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_generator_and_randomstate_methods_are_fresh_and_seedable(backend):
    rng = np.random.default_rng(0)
    rs = np.random.RandomState(0)

    def f(x):
        return (x + rng.standard_normal(3) + rng.integers(0, 10, 3),
                rs.uniform(-1, 1, 3) + rs.exponential(2.0, 3) + rs.gumbel(size=3),
                rng.choice(5, 3, replace=False), rs.permutation(4), rs.binomial(4, 0.5, 3))
    g = tg.jit(f, backend=backend)
    x = np.zeros(3)
    a, b = g(x), g(x)
    assert not np.array_equal(a[0], b[0]) and not np.array_equal(a[1], b[1])
    rng2, rs2 = np.random.default_rng(5), np.random.RandomState(5)
    rng.bit_generator.state = rng2.bit_generator.state
    rs.set_state(rs2.get_state())
    c = g(x)
    rng.bit_generator.state = np.random.default_rng(5).bit_generator.state
    rs.set_state(np.random.RandomState(5).get_state())
    d = g(x)
    for u, v in zip(c, d):
        assert np.array_equal(u, v)
    assert sorted(c[2].tolist()) == sorted(set(c[2].tolist())) and sorted(c[3]) == [0, 1, 2, 3]


def test_both_backends_draw_the_same_numbers_from_the_same_host_state():
    outs = []
    for backend in BACKENDS:
        np.random.seed(7)
        outs.append(tg.jit(lambda x: x * np.random.rand(4), backend=backend)(np.ones(4)))
    assert np.array_equal(*outs)


def test_generator_made_inside_the_function_repeats_like_eager_numpy():
    """Made inside, a seeded generator starts afresh at each call: the same numbers each call,
    as eagerly (its key is a constant of the program, not a hidden input)."""
    def f(x):
        return x + np.random.default_rng(3).normal(size=2)
    g = tg.jit(f)
    x = np.zeros(2)
    assert np.array_equal(g(x), g(x))
    assert len(g.lower(x).ir.inputs) == 1


def test_vjp_pullback_sees_the_forward_noise():
    rs = np.random.RandomState(1)
    out, pull = tg.vjp(lambda mu: mu * rs.randn(3), np.ones(3))
    np.testing.assert_allclose(pull(np.ones(3))[0], out)  # d(mu * z)/dmu = z, the same z
    np.testing.assert_allclose(pull(np.ones(3))[0], out)


def test_in_place_shuffle_and_traced_binomial_count_are_refused():
    with pytest.raises(ImmutableArrayError, match="permutation"):
        tg.jit(lambda x: (np.random.shuffle(x), x)[1])(np.arange(4.0))
    with pytest.raises(ArgumentError, match="n must be"):
        tg.jit(lambda n: R.binomial(R.key(0), n, 0.5))(np.int64(3))
    with pytest.raises(TracedRandomError, match="RandomState.gamma"):
        tg.jit(lambda x: x * np.random.RandomState(0).gamma(2.0))(1.0)


# --- gradients through reparameterised draws ---------------------------------------------------
def test_reparameterised_gradient_matches_finite_differences():
    """mu + sigma * z with a fixed key: d/dmu and d/dsigma, both modes and second order."""
    def f(mu, sigma, key):
        z = mu + sigma * R.normal(key, (5,))
        return np.sum(np.tanh(z) ** 2)
    check_grads(f, (np.array(0.3), np.array(1.7), R.key(3)), order=2)


def test_gradient_through_np_random_with_a_fixed_seed():
    """grad of E[(mu + sigma z)^2] over np.random draws: with the host state reset before each
    call the noise is the same, so central differences of the compiled value agree."""
    def f(mu, sigma):
        return np.mean((mu + sigma * np.random.standard_normal(64)) ** 2)
    value, grad = tg.jit(f), tg.grad(f, argnums=(0, 1))
    np.random.seed(3)
    g = grad(0.4, 1.3)
    h = 1e-6
    fd = []
    for d in ((h, 0), (0, h)):
        np.random.seed(3)
        hi = value(0.4 + d[0], 1.3 + d[1])
        np.random.seed(3)
        lo = value(0.4 - d[0], 1.3 - d[1])
        fd.append((hi - lo) / (2 * h))
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_explicit_keys():
    k = R.key(0)
    assert k.dtype == np.int64 and k.shape == (2,)
    ks = R.split(k, 3)
    assert ks.shape == (3, 2) and len({tuple(r) for r in ks}) == 3
    assert not np.array_equal(R.fold_in(k, 1), R.fold_in(k, 2))
    assert not np.array_equal(R.fold_in(k, 0), ks[0])
    assert np.array_equal(R.normal(k, (3,)), R.normal(R.key(0), (3,)))  # a pure function
    with pytest.raises(ArgumentError, match="shape \\(2,\\)"):
        R.normal(np.zeros(3, np.int64), (2,))


@pytest.mark.parametrize("seed", [3, -1, 2 ** 40 + 5, -(2 ** 63)])
def test_a_traced_seed_makes_the_eager_key(seed):
    f = tg.jit(lambda s: R.key(s))
    assert np.array_equal(f(np.int64(seed)), R.key(seed))


def test_tracing_generators_copy_pickle_and_pass_isinstance():
    """The tracing subclasses survive copy and pickle (NumPy's __reduce__ names its own
    class), and NumPy's own instances still pass isinstance against np.random's names."""
    import copy
    import pickle
    rng, rs = np.random.default_rng(0), np.random.RandomState(0)
    for g in (copy.deepcopy(rng), pickle.loads(pickle.dumps(rs))):
        assert type(g) is type(rng if isinstance(g, np.random.Generator) else rs)
        f = tg.jit(lambda x, g=g: x + (g.standard_normal(2) if isinstance(g, np.random.Generator)
                                       else g.randn(2)))
        assert not np.array_equal(f(np.zeros(2)), f(np.zeros(2)))
    assert copy.deepcopy(rng).normal() == rng.normal()
    assert isinstance(np.random.mtrand.RandomState(1), np.random.RandomState)
    assert isinstance(np.random._generator.Generator(np.random.PCG64()), np.random.Generator)

    class Mine(np.random.RandomState):
        pass
    assert not isinstance(np.random.RandomState(0), Mine) and isinstance(Mine(0), np.random.RandomState)


@pytest.mark.parametrize("k", [[0, 0], [5, 7], [2 ** 32 - 1, 123], [-3, 2 ** 40]])
def test_the_python_and_vector_cipher_paths_agree(k, monkeypatch):
    """Small draws run the unrolled Python-int cipher, large ones NumPy's ufuncs: the same
    words at every size around the switch."""
    from tracegrad.prims import np_random
    key = np.array(k, np.int64)
    small = [np_random.threefry_bits(key, (n,)) for n in range(60)]
    monkeypatch.setattr(np_random, "SMALL_BLOCKS", -1)
    for n in range(60):
        assert np.array_equal(np_random.threefry_bits(key, (n,)), small[n]), n


def test_integers_refuse_a_range_beyond_53_bits():
    with pytest.raises(ArgumentError, match="2\\*\\*53"):
        R.integers(R.key(0), 0, 2 ** 60, (3,))


def test_randint_takes_jax_argument_order():
    a = R.randint(R.key(1), (1000,), 5, 8)
    assert a.shape == (1000,) and set(a.tolist()) == {5, 6, 7}
    assert np.array_equal(a, R.integers(R.key(1), 5, 8, (1000,)))


@pytest.mark.parametrize("transform", ["value_and_grad", "jit_value_and_grad", "jvp",
                                       "value_and_grad_aux"])
def test_value_and_derivative_of_one_call_see_the_same_noise(transform):
    """f(mu) = sum(mu * z): within one call the value is mu times the derivative, which holds
    only if both were computed from one draw of z."""
    rs = np.random.RandomState(2)

    def f(mu):
        return np.sum(mu * rs.randn(5))
    if transform == "value_and_grad":
        v, d = tg.value_and_grad(f)(2.0)
    elif transform == "jit_value_and_grad":
        v, d = tg.jit(tg.value_and_grad(f))(2.0)
    elif transform == "jvp":
        v, d = tg.jvp(f, (2.0,), (1.0,))
    else:
        (v, _), d = tg.value_and_grad(lambda mu: (f(mu), mu), has_aux=True)(2.0)
    assert d != 0 and np.isclose(v, 2.0 * d)


# (sampler, args, mean, variance) of NumPy's definitions
CONTINUOUS = [
    ("lognormal", (0.0, 0.5), math.exp(0.125), (math.exp(0.25) - 1) * math.exp(0.25)),
    ("laplace", (1.0, 2.0), 1.0, 8.0),
    ("logistic", (0.0, 1.0), 0.0, math.pi ** 2 / 3),
    ("rayleigh", (1.0,), math.sqrt(math.pi / 2), (4 - math.pi) / 2),
    ("weibull", (2.0,), math.sqrt(math.pi) / 2, 1 - math.pi / 4),
    ("pareto", (6.0,), 0.2, 6 / (25 * 4)),
    ("power", (3.0,), 0.75, 3 / (16 * 5)),
    ("exponential", (2.0,), 2.0, 4.0),
    ("gumbel", (1.0, 2.0), 1.0 + 2 * np.euler_gamma, 4 * math.pi ** 2 / 6),
    ("normal", (1.0, 3.0), 1.0, 9.0),
    ("uniform", (-1.0, 3.0), 1.0, 16 / 12),
]


@pytest.mark.parametrize("name,args,mean,var", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_np_random_sampler_moments(name, args, mean, var):
    """The NumPy-API samplers (random_numpy.py) with NumPy's parameterisations, eagerly on a
    fixed key: mean and variance at five standard errors."""
    from tracegrad import random_numpy
    x = getattr(random_numpy, name)(R.key(20), *args, size=N)
    assert x.shape == (N,) and np.all(np.isfinite(x))
    _moments(x, mean, var, name)


def test_cauchy_quartiles_and_multivariate_normal_covariance():
    from tracegrad import random_numpy
    c = random_numpy.standard_cauchy(R.key(21), size=N)
    q = 0.75  # P(X < 1)
    _close(np.mean(c < 1), q, math.sqrt(q * (1 - q) / N), "cauchy quartile")
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    m = random_numpy.multivariate_normal(R.key(22), np.array([1.0, -1.0]), cov, size=N)
    assert m.shape == (N, 2)
    emp = np.cov(m.T)
    assert np.allclose(m.mean(0), [1.0, -1.0], atol=5 * math.sqrt(2 / N))
    assert np.allclose(emp, cov, atol=5 * math.sqrt(2 * 2.0 ** 2 / N)), emp


def test_reparameterised_gradients_agree_across_backends():
    def f(mu, sigma, key):
        z = mu + sigma * R.normal(key, (64,)) + R.gumbel(R.fold_in(key, 1), (64,))
        return np.mean(np.sin(z) * z)
    args = (np.array(0.3), np.array(1.7), R.key(5))
    out = [tg.jit(tg.grad(f, argnums=(0, 1)), backend=b)(*args) for b in BACKENDS]
    np.testing.assert_allclose(out[0], out[1], rtol=1e-12)
    h = [tg.jit(tg.hessian(lambda m: f(m, args[1], args[2])), backend=b)(args[0])
         for b in BACKENDS]
    np.testing.assert_allclose(h[0], h[1], rtol=1e-12)


def test_gradient_conventions_of_draws():
    """docs/gradients.md: a discrete draw gives its probability no gradient; a location
    parameter gets exactly 1 per element."""
    k = R.key(9)
    g = tg.grad(lambda p: np.mean(R.bernoulli(k, p, (100,)).astype(np.float64)))(0.3)
    assert g == 0.0
    g = tg.grad(lambda a: np.sum(R.uniform(k, (10,), np.float64, a, a + 2.0)))(1.0)
    np.testing.assert_allclose(g, 10.0)


SANITIZED_CHILD = """
import numpy as np
import tracegrad as tg
from tracegrad.prims.random import random_bits_p
from tracegrad.tracer import bind
R = tg.random
for shape in [(), (1,), (7,), (4, 5), (0, 3), (300001,)]:
    for key in (np.array([5, 7]), np.array([-1, 2 ** 40 + 3])):
        f = tg.jit(lambda k: bind(random_bits_p, k, shape=shape), backend="c")
        assert np.array_equal(f(key), bind(random_bits_p, key, shape=shape)), shape
g = tg.jit(lambda k: (R.normal(k, (1001,)), R.permutation(k, 33), R.binomial(k, 5, 0.3, (7,))),
           backend="c")
g(R.key(1))
ks = np.arange(10, dtype=np.int64).reshape(5, 2)
h = tg.jit(lambda ks: bind(random_bits_p, ks, shape=(3,)), backend="c")
assert np.array_equal(h(ks), bind(random_bits_p, ks, shape=(3,)))
print("SANITIZED OK")
"""


@pytest.mark.slow
def test_threefry_kernel_under_address_and_undefined_sanitizers(tmp_path):
    """The C cipher's shifts and wrapping adds are defined behaviour (uint32_t) and its odd
    last block writes in bounds: built with ASan and UBSan, on a thread team too."""
    import os
    import subprocess
    import sys

    from test_sanitized import SAN_FLAGS, _sanitizer_runtime
    asan, why = _sanitizer_runtime()
    if asan is None:
        pytest.skip(why)
    env = {**os.environ, "TRACEGRAD_CFLAGS": SAN_FLAGS,
           "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache"), "TRACEGRAD_NUM_THREADS": "2",
           "LD_PRELOAD": asan, "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    r = subprocess.run([sys.executable, "-c", SANITIZED_CHILD], env=env, capture_output=True,
                       text=True, timeout=600, check=False)
    report = r.stdout[-3000:] + r.stderr[-6000:]
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr, report
    assert r.returncode == 0 and "SANITIZED OK" in r.stdout, report


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_over_keys_draws_one_stream_per_key(backend):
    """JAX's idiom vmap(f)(split(key, n)): the batching rule draws with the batch of keys,
    each row the draw its key gives alone (a batch of keys is random_bits' own form)."""
    keys = R.split(R.key(3), 4)

    def f(k):
        return R.normal(k, (5,)) + R.permutation(R.fold_in(k, 1), 5)
    got = tg.jit(tg.vmap(f), backend=backend)(keys)
    want = np.stack([f(k) for k in keys])
    np.testing.assert_allclose(got, want, rtol=1e-14)
    bits = tg.jit(lambda ks: bind(random_bits_p, ks, shape=(3,)), backend=backend)
    ks = np.arange(12, dtype=np.int64).reshape(2, 3, 2)
    assert np.array_equal(bits(ks), np.stack([[bind(random_bits_p, k, shape=(3,)) for k in row]
                                              for row in ks]))
