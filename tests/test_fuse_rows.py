"""Row kernels (passes/fuse_rows.py, codegen/c/row_kernels.py): the kernels of one [R, C] space
that row reductions kept apart run as one pass over rows on the C backend, equal to the NumPy
backend and at least as accurate against a float64 reference."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.prims import fused_p
from tracegrad.pytree import tree_flatten

from c_support import needs_c

pytestmark = [needs_c, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def logsumexp(a):
    m = np.max(a, axis=1, keepdims=True)
    return np.sum(np.log(np.sum(np.exp(a - m), axis=1)) + m[:, 0])


def softmax_xent(a):
    z = a - np.max(a, axis=1, keepdims=True)
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    return np.sum(p * z)


def layernorm_gelu(x, gain, bias):
    mu = np.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    y = xc / np.sqrt(var + 1e-5) * gain + bias
    g = 0.5 * y * (1 + np.tanh(0.7978845608 * (y + 0.044715 * y * y * y)))
    return np.sum(g * g)


def row_stats(x):  # max, min, sums over rows and columns, values read back per element
    mx, mn = np.max(x, axis=1), np.min(x, axis=1)
    r = (x - mn[:, None]) / (mx - mn + 1.0)[:, None]
    return r, np.sum(r, axis=0), np.sum(r * r), mx


def _kernels(f, *args):
    lo = tg.jit(f, backend="c").lower(*args)
    return [e for e in lo.ir.eqns if e.prim is fused_p], lo


def _rows_and_ref(f, args, argnums=None):
    g = tg.value_and_grad(f, argnums=argnums) if argnums is not None else f
    return g, tg.jit(g, backend="c")(*args), tg.jit(g, backend="numpy")(*args)


def _close(got, ref, rtol=2e-5, atol=1e-5):
    for a, b in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol,
                                   equal_nan=True)


def test_logsumexp_gradient_is_one_row_kernel():
    a = np.random.default_rng(0).standard_normal((256, 96)).astype(np.float32)
    ks, lo = _kernels(tg.value_and_grad(logsumexp), a)
    assert [e.params["name"] for e in ks] == ["rows1"]
    # no [R, C] value between kernels: the row max, exp and sums stay inside the loop
    assert all(o.aval.shape != (256, 96) or o in lo.ir.outputs
               for e in lo.ir.eqns for o in e.outputs)
    # exp(a - m) is kept in a row buffer (dearer than a store and a load), a - m recomputed
    assert "rb_" in lo.source and lo.source.count("tg_expf(") >= 1


def test_layernorm_gelu_forward_and_backward_in_one_pass():
    rng = np.random.default_rng(1)
    args = (rng.standard_normal((128, 64)).astype(np.float32),
            (1 + 0.1 * rng.standard_normal(64)).astype(np.float32),
            (0.1 * rng.standard_normal(64)).astype(np.float32))
    ks, _ = _kernels(tg.value_and_grad(layernorm_gelu, argnums=(0, 1, 2)), *args)
    assert [e.params["name"] for e in ks] == ["rows1"]
    _, c, n = _rows_and_ref(layernorm_gelu, args, (0, 1, 2))
    _close(c, n)


@pytest.mark.parametrize("f", [logsumexp, softmax_xent])
def test_row_kernels_equal_numpy_backend(f):
    a = np.random.default_rng(2).standard_normal((64, 40)).astype(np.float32) * 5
    _, c, n = _rows_and_ref(f, (a,), 0)
    _close(c, n)


def test_max_min_column_and_full_sums_with_nan_rows():
    x = np.random.default_rng(3).standard_normal((100, 63))
    x[7, 5] = np.nan
    x[9, :] = -np.inf
    c = tg.jit(row_stats, backend="c")(x)
    n = tg.jit(row_stats, backend="numpy")(x)
    _close(c, n, rtol=1e-12, atol=1e-12)
    assert [e.params["name"] for e in _kernels(row_stats, x)[0]] == ["rows1"]


def test_softmax_float32_accuracy_on_large_range_inputs():
    """Large-range rows (+-80 around offsets of 1e4): the row kernel's float32 result is at
    least as close to a float64 reference as the NumPy backend's."""
    rng = np.random.default_rng(4)
    a64 = rng.uniform(-80, 80, (64, 200)) + rng.choice([0, 1e4, -1e4], (64, 1))
    a = a64.astype(np.float32)
    ref = tg.jit(tg.value_and_grad(logsumexp), backend="numpy")(a.astype(np.float64))
    c = tg.jit(tg.value_and_grad(logsumexp), backend="c")(a)
    n = tg.jit(tg.value_and_grad(logsumexp), backend="numpy")(a)

    def err(got):
        return max(float(np.max(np.abs(np.asarray(g, np.float64) - r) / (np.abs(r) + 1e-30)))
                   for g, r in zip(tree_flatten(got)[0], tree_flatten(ref)[0]))
    assert err(c) <= 1.5 * err(n) + 1e-7


def test_a_reader_of_an_outside_value_computed_from_the_group_stays_outside():
    """m feeds a matrix product whose result is read per row again: joining that reader into
    the row kernel would make the kernel wait on itself."""
    def f(x, w):
        m = np.max(x, axis=1, keepdims=True)
        z = np.exp(x - m)
        h = z @ w  # outside (BLAS), reads a member's value
        return np.sum(z * h, axis=1) + np.sum(h, axis=1)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((64, 48)), rng.standard_normal((48, 48)) / 7
    _close(tg.jit(f, backend="c")(x, w), tg.jit(f, backend="numpy")(x, w), 1e-12, 1e-12)


def test_square_spaces_and_wide_rows_are_left_to_fuse():
    a = np.ones((80, 80), np.float32)
    assert not any(e.params["name"].startswith("rows") for e in _kernels(logsumexp, a)[0])
    wide = np.ones((4, 40000), np.float32)  # a row of 160 KB: no longer in L1/L2 per value
    assert not any(e.params["name"].startswith("rows") for e in _kernels(logsumexp, wide)[0])



def test_row_kernels_give_the_same_bits_on_any_thread_count(monkeypatch):
    """Big enough for a team: rows run in fixed chunks, each with its own partial column and
    full sums added in chunk order, so one thread and two give the same bits; the team is
    sized by the CPUs free at the call."""
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "2")
    rng = np.random.default_rng(6)
    a = rng.standard_normal((1024, 512)).astype(np.float32)
    args = (a, np.ones(512, np.float32), np.zeros(512, np.float32))
    soft = lambda a: np.exp(a - np.max(a, axis=1, keepdims=True))  # noqa: E731
    ln = tg.value_and_grad(layernorm_gelu, argnums=(0, 1, 2))
    s2, l2 = tg.jit(soft, backend="c")(a), tg.jit(ln, backend="c")(*args)
    src = tg.jit(ln, backend="c").lower(*args).source
    assert "TG_PARALLEL_FOR_N(4)" in src and "for (int t = 0; t < 16; t++)" in src
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "1")
    np.testing.assert_array_equal(tg.jit(soft, backend="c")(a), s2)
    _close(tg.jit(ln, backend="c")(*args), l2, rtol=0, atol=0)

def test_libm_calls_of_a_busy_loop_run_in_a_loop_of_their_own(monkeypatch):
    """W4's backward loop called tanh among ~40 other statements: the vector call clobbers
    every vector register, so each live value was spilled and reloaded around it. The call
    now runs first, in its own loop writing a row buffer; same operations, same bits."""
    from tracegrad.codegen.c import row_kernels as rk
    rng = np.random.default_rng(9)
    args = (rng.standard_normal((256, 128)).astype(np.float32),
            (1 + 0.1 * rng.standard_normal(128)).astype(np.float32),
            (0.1 * rng.standard_normal(128)).astype(np.float32))
    g = tg.value_and_grad(layernorm_gelu, argnums=(0, 1, 2))
    src = tg.jit(g, backend="c").lower(*args).source
    loops = src.split("for (int64_t i1 = 0; ")
    calls = [lp for lp in loops if "tg_tanhf(" in lp]
    assert calls and all(lp.count("const float v_") <= 12 for lp in calls)
    assert any("rb_" in lp and "tg_tanhf(" not in lp and lp.count("const float v_") > 20
               for lp in loops)
    split = tg.jit(g, backend="c")(*args)
    monkeypatch.setattr(rk, "SPLIT_MIN_STMTS", 10 ** 9)
    assert "tg_tanhf(v_ba); /*" in tg.jit(g, backend="c").lower(*args).source
    _close(tg.jit(g, backend="c")(*args), split, rtol=0, atol=0)


def test_float_column_sums_in_row_blocks_stay_accurate():
    """Float column sums gather ROW_BLOCK rows in float, then add the block into double: over
    4096 rows of offset values their error against a float64 reference stays within 4 ulp of
    the column's magnitude, and below the NumPy backend's float32 sum over the rows."""
    from tracegrad.codegen.c.row_kernels import ROW_BLOCK

    def f(x):
        r = x - np.max(x, axis=1, keepdims=True)
        return np.sum(r, axis=0), np.sum(r * r, axis=0)
    rng = np.random.default_rng(10)
    x = (rng.uniform(0, 1, (4096, 96)) + rng.choice([0.0, 300.0], (4096, 1))).astype(np.float32)
    src = tg.jit(f, backend="c").lower(x).source
    assert f"% {ROW_BLOCK} == {ROW_BLOCK - 1}" in src and "cblk_" in src
    ref = [np.asarray(r) for r in tg.jit(f, backend="numpy")(x.astype(np.float64))]
    c = tg.jit(f, backend="c")(x)
    n = tg.jit(f, backend="numpy")(x)
    for got, numpy_backend, r in zip(c, n, ref):
        err = np.abs(np.asarray(got, np.float64) - r)
        assert np.all(err <= 4 * np.spacing(np.abs(r).astype(np.float32))), err.max()
        assert err.max() <= np.abs(np.asarray(numpy_backend, np.float64) - r).max()


# --- the class: random programs with row kernels formed at every size ------------------------
from contextlib import contextmanager  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


FORMED = {"row kernels": 0}


@contextmanager
def row_kernels_at_any_size():
    """fuse-rows on the fuzzer's small shapes too (its size floor only saves compile work), and
    a count of the row kernels made, so the tests below can tell they exercised some."""
    from tracegrad.passes import fuse_rows as fr
    floor, build = fr.MIN_ELEMENTS, fr._build

    def counted(*a, **k):
        FORMED["row kernels"] += 1
        return build(*a, **k)
    fr.MIN_ELEMENTS, fr._build = 0, counted
    try:
        yield
    finally:
        fr.MIN_ELEMENTS, fr._build = floor, build


@contextmanager
def _split_calls_from(stmts: int):
    from tracegrad.codegen.c import row_kernels as rk
    saved, rk.SPLIT_MIN_STMTS = rk.SPLIT_MIN_STMTS, stmts
    try:
        yield
    finally:
        rk.SPLIT_MIN_STMTS = saved


_FUZZ = settings(max_examples=25, derandomize=True, database=None, deadline=None,
                 suppress_health_check=list(HealthCheck), print_blob=True)

# one stage of a row program: elementwise maps, per-row reductions broadcast back, column
# vectors; maps keep values bounded so float error stays comparable
_MAPS = [np.tanh, np.sin, lambda x: x * x, lambda x: np.exp(-x * x), lambda x: x / 3 + 1]
_REDS = [lambda x: np.max(x, axis=1), lambda x: np.min(x, axis=1),
         lambda x: np.sum(x, axis=1) / x.shape[1], lambda x: np.mean(x * x, axis=1)]


def _row_program(stages):
    def prog(x, g):
        s = None
        for kind, k in stages:
            if kind == "map":
                x = _MAPS[k](x)
            elif kind == "red":
                s = _REDS[k](x)
                x = (x - s[:, None]) if k % 2 == 0 else x / (1 + np.abs(s))[:, None]
            else:
                x = x * g if k == 0 else x + g
        last = np.sum(x, axis=1) if s is None else s
        return x, np.sum(x * x), np.sum(x, axis=0), last
    return prog


@st.composite
def row_programs(draw):
    R = draw(st.sampled_from([2, 3, 5, 17, 64]))
    C = draw(st.sampled_from([c for c in (2, 4, 7, 33, 130) if c != R]))
    stages = draw(st.lists(st.tuples(st.sampled_from(["map", "red", "red", "col"]),
                                     st.integers(0, 4)).map(
        lambda t: (t[0], t[1] % (5 if t[0] == "map" else 4 if t[0] == "red" else 2))),
        min_size=1, max_size=6))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2 ** 16))
    return R, C, stages, dtype, seed


@_FUZZ
@given(row_programs())
def test_random_row_programs_c_equals_numpy(case):
    """Random row programs with row kernels formed at any size: the C backend at O1 and O2
    (row kernels) and O0 (none) equals the NumPy backend, values and gradients."""
    R, C, stages, dtype, seed = case
    rng = np.random.default_rng(seed)
    x, g = rng.uniform(-2, 2, (R, C)).astype(dtype), rng.uniform(0.5, 1.5, C).astype(dtype)
    f = _row_program(stages)
    loss = lambda x, g: np.sum(f(x, g)[0] * np.cos(x)) + np.sum(f(x, g)[2])  # noqa: E731
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)
    with row_kernels_at_any_size():
        ref = tg.jit(f, backend="numpy")(x, g), \
            tg.jit(tg.grad(loss, argnums=(0, 1)), backend="numpy")(x, g)
        for level, split in (("O0", 16), ("O1", 16), ("O2", 16), ("O2", 0)):
            # split 0: every libm call of a row kernel in its own loop (row buffers)
            with _split_calls_from(split):
                got = tg.jit(f, backend="c", opt_level=level)(x, g), \
                    tg.jit(tg.grad(loss, argnums=(0, 1)), backend="c", opt_level=level)(x, g)
            _close(got, ref, **tol)


def test_the_fuzz_test_above_formed_row_kernels():
    """Runs after it (file order): the drawn programs must have made row kernels."""
    if FORMED["row kernels"] == 0:
        test_random_row_programs_c_equals_numpy()
    assert FORMED["row kernels"] >= 10


def test_row_kernels_inside_a_scan_body():
    """fuse-rows runs in loop bodies too (the C loop emitter shares the kernel dispatch): a
    softmax-normalised recurrence, forward and gradient, equals the NumPy backend."""
    def f(h0, w):
        def step(h, _):
            z = np.tanh(h * w)
            p = np.exp(z - np.max(z, axis=1, keepdims=True))
            h = p / np.sum(p, axis=1, keepdims=True) + 0.5 * h
            return h, np.sum(h * h)
        h, ys = tg.scan(step, h0, length=4)
        return np.sum(ys) + np.sum(h)
    rng = np.random.default_rng(7)
    h0, w = rng.standard_normal((64, 100)), rng.standard_normal((64, 100))
    g = tg.value_and_grad(f, argnums=(0, 1))
    src = tg.jit(g, backend="c").lower(h0, w).source
    assert "rows1(" in src  # a row kernel in the step body
    _close(tg.jit(g, backend="c")(h0, w), tg.jit(g, backend="numpy")(h0, w), 1e-10, 1e-12)


def test_a_deep_row_program_splits_into_bounded_row_kernels():
    """60 layernorm layers and their gradient were one row kernel of thousands of equations
    (400 layers: Python's recursion limit in the emitter); groups now close at MAX_BODY_EQNS
    and the next one starts, reading the earlier groups' results."""
    from tracegrad.passes.fuse_rows import MAX_BODY_EQNS

    def f(x):
        for _ in range(60):
            xc = x - np.mean(x, axis=1, keepdims=True)
            x = np.tanh(xc / np.sqrt(np.mean(xc * xc, axis=1, keepdims=True) + 1e-5))
        return np.sum(x * x)
    x = np.random.default_rng(8).standard_normal((64, 128))
    g = tg.value_and_grad(f)
    ks, _ = _kernels(g, x)
    rows = [e for e in ks if e.params["name"].startswith("rows")]
    assert len(rows) >= 2 and all(len(e.params["body"].eqns) <= MAX_BODY_EQNS for e in rows)
    _close(tg.jit(g, backend="c")(x), tg.jit(g, backend="numpy")(x), 1e-9, 1e-12)
