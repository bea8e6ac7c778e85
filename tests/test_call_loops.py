"""Fused elementwise kernels on the C backend around libm calls (codegen/c/call_loops.py,
kernels.py): a busy loop runs its calls first, in a loop of their own over blocks held in L1,
with the same bits as the one loop; a parallel 1-D loop keeps its SIMD pragma (vector libm)."""
from __future__ import annotations

import re
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
def _split_from(spills: int):
    """Loops split from ``spills`` values live across calls; sin/cos pairs (sincos.py) off,
    since a split loop keeps libm's calls and a pair differs from them in the last bit."""
    from tracegrad.codegen.c import call_loops as cl, sincos
    saved, cl.SPLIT_MIN_SPILLS = cl.SPLIT_MIN_SPILLS, spills
    pairs, sincos.pairs = sincos.pairs, lambda eqns: {}
    try:
        yield
    finally:
        cl.SPLIT_MIN_SPILLS, sincos.pairs = saved, pairs


def _same_bits(got, ref):
    for a, b in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def lean(x, y, z):  # 3 outputs, 3 calls, ~16 values live across them
    a, b, c, d = x * y, y * z, x * z, x + y + z
    t = np.tanh(a + b)
    e = np.exp(-c * c)
    return t * a + e * b + c * d - a * b * c, t * e * d + a - b * c + x * t, np.sin(d) * a + b * t


def busy(x, y, z, w):  # ~50 values live across its 3 calls
    v = [x, y, z, w, x * y, y * z, z * w, x * w]
    t = np.tanh(v[4] + v[5])
    u = [a * t + b for a, b in zip(v, v[1:] + v[:1])]
    e = np.exp(-u[0] * u[1])
    r = [a * e - b * t for a, b in zip(u, u[3:] + u[:3])]
    s = np.sin(r[0] + r[1])
    o = [a * s + b * e + c for a, b, c in zip(r, u, v)]
    return o[0] + o[1] * o[2], o[3] - o[4] * o[5], o[6] + o[7]


def _kernel_sources(src: str) -> list[str]:
    return re.findall(r"TG_KERNEL void kernel\d+\(.*?\n}\n", src, re.S)


def test_a_parallel_1d_loop_with_several_outputs_calls_vector_libm():
    """A 1-D elementwise loop big enough for a team had "omp parallel for" and no SIMD pragma
    (the two cannot share a loop), and gcc's own vectoriser gave up on three outputs (alias
    checks): the loop called scalar tanhf/expf/sinf, 16x slower (26.5 vs 1.4 ms for 1M). Its
    blocks now run under TG_SIMD, so it computes what the same loop below team size computes,
    bit for bit (scalar and vector libm differ in the last bit of some elements)."""
    rng = np.random.default_rng(3)
    n, parts = 1 << 20, 8
    args = [rng.uniform(-3, 3, n).astype(np.float32) for _ in range(3)]
    f = tg.jit(lean, backend="c")
    src = f.lower(*args).source
    (k,) = [s for s in _kernel_sources(src) if "tg_tanhf(" in s]
    assert "TG_PARALLEL_FOR_N(" in k, "the test needs a parallel loop"
    loops = k.split("for (int64_t ")
    inner = [lp for lp in loops if "tg_tanhf(" in lp]
    assert len(inner) == 1 and loops[loops.index(inner[0]) - 1].rstrip().endswith("TG_SIMD")
    small = tg.jit(lean, backend="c")
    pieces = [small(*[a[j * n // parts:(j + 1) * n // parts] for a in args])
              for j in range(parts)]
    _same_bits(f(*args), tuple(np.concatenate([p[i] for p in pieces]) for i in range(3)))


def test_every_elementwise_loop_with_a_call_is_under_a_simd_pragma():
    """The class: at every size path of nest() (one thread, a team, strip-mined blocks for
    polling, 2-D) the innermost loop computing a libm call carries TG_SIMD or TG_SIMD_RED."""
    for shape in [(1000,), (300_000,), (1 << 22,), (300, 1000), (3, 5)]:
        args = [np.zeros(shape, np.float32)] * 3
        for fn in (lean, lambda x, y, z: np.sum(lean(x, y, z)[1])):
            src = tg.jit(fn, backend="c").lower(*args).source
            for k in _kernel_sources(src):
                lines = k.splitlines()
                for j, ln in enumerate(lines):
                    if "tg_" in ln and "f(" in ln and "const float" in ln:
                        head = max(i for i in range(j) if "for (int64_t" in lines[i])
                        assert "TG_SIMD" in lines[head - 1], (shape, lines[head - 1])


def test_a_busy_loop_runs_its_calls_first_and_a_lean_one_does_not(monkeypatch):
    """W4's row loops gained from the split (rows); in elementwise kernels it pays only for a
    busy body: ~50 values live across the calls 2.55 -> 2.0 ms (1M elements, one thread, CPU),
    ~16 (``lean``) lost 1.40 -> 1.83 ms; same bits either way."""
    rng = np.random.default_rng(5)
    args = [rng.uniform(-1, 1, 3000).astype(np.float32) for _ in range(4)]
    src = tg.jit(busy, backend="c").lower(*args).source
    (k,) = [s for s in _kernel_sources(src) if "tg_tanhf(" in s]
    assert "/* call buffer */" in k
    call_loop, main_loop = k.split("for (int64_t tg_k = 0;")[1:]
    assert "tg_tanhf(" in call_loop and "tg_expf(" in call_loop and "tg_sinf(" in call_loop
    assert "tg_" not in main_loop.replace("tg_k", "").replace("tg_j", "").replace("tg_n", "")
    split = tg.jit(busy, backend="c")(*args)
    assert "call buffer" not in tg.jit(lean, backend="c").lower(*args[:3]).source
    with _split_from(10 ** 9):
        assert "call buffer" not in tg.jit(busy, backend="c").lower(*args).source
        _same_bits(tg.jit(busy, backend="c")(*args), split)


def test_split_gradients_match_finite_differences():
    rng = np.random.default_rng(11)
    args = [rng.uniform(-1, 1, 50) for _ in range(4)]
    loss = lambda *a: sum(np.sum(o) for o in busy(*a))  # noqa: E731
    with _split_from(0):
        g = tg.jit(tg.grad(loss, argnums=(0, 1, 2, 3)), backend="c")
        assert "call buffer" in g.lower(*args).source
        grads = g(*args)
    eps = 1e-6
    for i in range(4):
        for j in (0, 17, 49):
            up = [a.copy() for a in args]
            dn = [a.copy() for a in args]
            up[i][j] += eps
            dn[i][j] -= eps
            fd = (loss(*up) - loss(*dn)) / (2 * eps)
            assert abs(grads[i][j] - fd) <= 1e-6 * max(1.0, abs(fd)), (i, j, grads[i][j], fd)


# --- the class: random elementwise programs with calls, split or not, give the same bits -----
_FUZZ = settings(max_examples=20, derandomize=True, database=None, deadline=None,
                 suppress_health_check=list(HealthCheck), print_blob=True)
_CALLS = [np.tanh, np.sin, np.cos, lambda x: np.exp(-x * x), lambda x: np.log1p(x * x)]
FORMED = {"split": 0}


def _program(steps, n_out):
    def prog(*xs):
        vals = list(xs)
        for kind, a, b in steps:
            x, y = vals[a % len(vals)], vals[b % len(vals)]
            vals.append(_CALLS[kind](x + y) if kind < len(_CALLS) else
                        x * y - x if kind == len(_CALLS) else x + 0.5 * y)
        return tuple(vals[-1 - k] * vals[k % len(xs)] for k in range(n_out))
    return prog


@st.composite
def programs(draw):
    shape = draw(st.sampled_from([(37,), (1000,), (300_000,), (7, 129), (129,)]))
    n_in = draw(st.integers(2, 4))
    steps = draw(st.lists(st.tuples(st.integers(0, len(_CALLS) + 1), st.integers(0, 30),
                                    st.integers(0, 30)), min_size=3, max_size=24))
    n_out = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    bcast = draw(st.booleans()) and len(shape) == 2  # one operand a row broadcast in-body
    return shape, n_in, steps, n_out, dtype, bcast, draw(st.integers(0, 2 ** 16))


@_FUZZ
@given(programs())
def test_random_elementwise_programs_split_or_not_give_the_same_bits(case):
    """Every call-bearing elementwise loop split (threshold 0) vs none split: values and
    gradients bit for bit, on 1-D loops on one thread and on a team, 2-D and broadcast
    operands; and close to the NumPy backend."""
    shape, n_in, steps, n_out, dtype, bcast, seed = case
    rng = np.random.default_rng(seed)
    f = _program(steps, n_out)
    args = [rng.uniform(-1, 1, shape[-1:] if bcast and k == 0 else shape).astype(dtype)
            for k in range(n_in)]
    fb = (lambda *a: f(np.broadcast_to(a[0], shape) * 1, *a[1:])) if bcast else f
    loss = lambda *a: sum(np.sum(o * o) for o in fb(*a))  # noqa: E731
    grad = tg.grad(loss, argnums=tuple(range(n_in)))
    with _split_from(0):
        src = tg.jit(fb, backend="c").lower(*args).source + \
            tg.jit(grad, backend="c").lower(*args).source
        FORMED["split"] += "call buffer" in src
        split = tg.jit(fb, backend="c")(*args), tg.jit(grad, backend="c")(*args)
    with _split_from(10 ** 9):
        whole = tg.jit(fb, backend="c")(*args), tg.jit(grad, backend="c")(*args)
    _same_bits(split, whole)
    ref = tg.jit(fb, backend="numpy")(*args)
    tol = dict(rtol=2e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for a, b in zip(tree_flatten(split[0])[0], tree_flatten(ref)[0]):
        np.testing.assert_allclose(a, b, equal_nan=True, **tol)


def test_the_fuzz_test_above_split_loops():
    """Runs after it (file order): the drawn programs must have split loops."""
    if FORMED["split"] == 0:
        test_random_elementwise_programs_split_or_not_give_the_same_bits()
    assert FORMED["split"] >= 10
