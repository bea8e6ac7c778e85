"""sin and cos of one float32 operand computed in one pass on the C backend (codegen/c/sincos.py):
present in the emitted C, within 2 ulp of float64 (libm's own sinf/cosf: 1.93), libm's results
beyond the pass's range, and gradients that match finite differences."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.pytree import tree_flatten

from c_support import needs_c

pytestmark = [needs_c, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@contextmanager
def _unpaired():
    from tracegrad.codegen.c import sincos
    pairs, sincos.pairs = sincos.pairs, lambda eqns: {}
    try:
        yield
    finally:
        sincos.pairs = pairs


def _ulps(got, ref):
    """Error of float32 ``got`` in units of the float32 spacing at float64 ``ref``."""
    r = np.abs(ref).astype(np.float32)
    return np.abs(got.astype(np.float64) - ref) / np.spacing(np.maximum(r, np.float32(1e-38)))


def both(x):  # s * c joins them in one kernel (fusion does not group siblings alone)
    s, c = np.sin(x), np.cos(x)
    return s, c, s * c


def test_sin_and_cos_of_one_operand_are_one_call_in_the_emitted_c():
    x = np.linspace(-3, 3, 1000, dtype=np.float32)
    for fn in (both, lambda x: np.sum(np.sin(x) * np.cos(x)), lambda x: np.sin(x) / np.cos(x),
               lambda x: np.cos(2 * x) + np.sin(2 * x) * x):
        src = tg.jit(fn, backend="c").lower(x).source
        first = src[src.index("TG_KERNEL void"):].split("if (tg_big)")[0]
        assert "tg_sincosf_pass(" in first and "= tg_sinf(" not in first \
            and "= tg_cosf(" not in first
    # float64 keeps libm's two calls; operands that differ are no pair
    assert "tg_sincosf_pass(" not in tg.jit(both, backend="c").lower(x.astype(np.float64)).source
    src = tg.jit(lambda x: np.sin(x) + np.cos(x + 1), backend="c").lower(x).source
    assert "tg_sincosf_pass(" not in src


def test_one_pass_sincos_is_within_two_ulp_of_float64():
    """Every 16th float32 in [2^-30, 65536] and its negative (16.6M values): at most 2 ulp
    (measured 1.56; glibc's vector sinf/cosf here: 1.93), where libm's are 1.93."""
    lo = np.float32(2.0 ** -30).view(np.uint32)
    hi = np.float32(65536.0).view(np.uint32)
    x = np.arange(lo, hi, 16, dtype=np.uint32).view(np.float32)
    x = np.concatenate([x, -x])
    s, c, _ = tg.jit(both, backend="c")(x)
    xd = x.astype(np.float64)
    worst = max(_ulps(s, np.sin(xd)).max(), _ulps(c, np.cos(xd)).max())
    assert worst <= 2.0, worst
    with _unpaired():
        s2, c2, _ = tg.jit(both, backend="c")(x)
    libm = max(_ulps(s2, np.sin(xd)).max(), _ulps(c2, np.cos(xd)).max())
    assert worst <= libm + 0.1, (worst, libm)


def test_operands_beyond_the_range_get_libms_results():
    """|x| > 65536, an infinity or a NaN in a loop (or a chunk of a sum): that loop runs again
    with libm's calls, so its results are libm's bit for bit; -0.0 keeps its sign."""
    rng = np.random.default_rng(4)
    base = rng.uniform(-4, 4, 5000).astype(np.float32)
    for odd in (np.float32(1e5), np.float32(3e38), np.float32(np.inf), np.float32(np.nan)):
        x = base.copy()
        x[1234] = odd
        with _unpaired():
            ref = tg.jit(both, backend="c")(x), \
                tg.jit(lambda x: np.sum(np.sin(x) * np.cos(x)), backend="c")(x)
        got = tg.jit(both, backend="c")(x), \
            tg.jit(lambda x: np.sum(np.sin(x) * np.cos(x)), backend="c")(x)
        for a, b in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
            np.testing.assert_array_equal(a, b)
    s, c, _ = tg.jit(both, backend="c")(np.array([-0.0, 0.0], np.float32))
    assert np.signbit(s[0]) and not np.signbit(s[1]) and np.all(c == 1)


def test_w1_like_gradients_with_the_pair_match_finite_differences():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(np.float32)

    def f(x, y):
        return np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))
    g = tg.jit(tg.value_and_grad(f, argnums=(0, 1)), backend="c")
    assert "tg_sincosf_pass(" in g.lower(x, y).source
    _, (dx, dy) = g(x, y)
    xd, yd, eps = x.astype(np.float64), y.astype(np.float64), 1e-6
    for grad, k in ((dx, 0), (dy, 1)):
        for j in (0, 31, 63):
            up, dn = [xd.copy(), yd.copy()], [xd.copy(), yd.copy()]
            up[k][j] += eps
            dn[k][j] -= eps
            fd = (f(*up) - f(*dn)) / (2 * eps)
            assert abs(grad[j] - fd) <= 1e-5 * max(1.0, abs(fd)), (k, j, grad[j], fd)


# --- the class: every loop form a pair can land in, against float64 and the unpaired C ------
_FUZZ = settings(max_examples=12, derandomize=True, database=None, deadline=None,
                 suppress_health_check=list(HealthCheck), print_blob=True)


@_FUZZ
@given(st.sampled_from([(37,), (3000,), (300_000,), (7, 129), (1 << 22,)]),
       st.sampled_from(["map", "sum", "rows", "grad"]), st.integers(0, 2 ** 16),
       st.sampled_from([1.0, 100.0, 1e5]))
def test_pairs_in_every_loop_form_stay_within_two_ulp(shape, kind, seed, scale):
    rng = np.random.default_rng(seed)
    x = (scale * rng.uniform(-1, 1, shape)).astype(np.float32)
    y = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    fns = {"map": lambda x, y: (np.sin(x) * y, np.cos(x) - y, np.sin(x) * np.cos(x)),
           "sum": lambda x, y: np.sum(np.sin(x) * np.cos(x) * y),
           "rows": lambda x, y: np.sum(np.sin(x) + np.cos(x) * y, axis=-1),
           "grad": tg.grad(lambda x, y: np.sum(np.sin(x) * y))}
    fn = fns[kind]
    got = tg.jit(fn, backend="c")(x, y)
    with _unpaired():
        ref = tg.jit(fn, backend="c")(x, y)
    exact = (np.sin(x.astype(np.float64)) * y, np.cos(x.astype(np.float64)) - y)
    for a, b in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * max(1, x.size ** 0.5))
    if kind == "map":  # elementwise: within 2 ulp of the float64 values, before the product
        for a, e in zip(got[:2], exact):
            assert np.all(np.abs(a - e) <= 3 * np.spacing(np.abs(e).astype(np.float32)) + 1e-7)
    if kind == "map" and shape == (3000,):
        assert "tg_sincosf_pass(" in tg.jit(fn, backend="c").lower(x, y).source
