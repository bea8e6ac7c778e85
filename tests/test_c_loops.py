"""Loops and branches on the C backend (codegen/c/loops.py): every program runs on C, on the
NumPy backend and as a plain NumPy reference (unrolled, or a hand-written backward), forward and
gradient, at tight tolerances. Covers nested loops, BLAS in a body, pytree and mixed-dtype
carries, zero-trip loops (both carry-buffer parities), reverse scans, while loops with traced
bounds, cond inside scan, second order, and that the generated source does not grow with the
trip count."""
from __future__ import annotations

import re

import numpy as np
import pytest
from c_support import needs_c
from cases import CASES, make_args

import tracegrad as tg
from benchmarks.rnn_scan import make_args as rnn_args
from benchmarks.rnn_scan import numpy_value_and_grad, rnn_loss
from tracegrad import numpy as tnp
from tracegrad.pytree import tree_flatten

pytestmark = [needs_c, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

RTOL = {np.dtype(np.float64): 1e-11, np.dtype(np.float32): 2e-5}


def _same(got, ref, rtol=None):
    gl, rl = tree_flatten(got)[0], tree_flatten(ref)[0]
    assert len(gl) == len(rl)
    for g, r in zip(gl, rl):
        g, r = np.asarray(g), np.asarray(r)
        assert g.shape == r.shape and g.dtype == r.dtype, (g.shape, r.shape, g.dtype, r.dtype)
        if g.dtype.kind in "iub":
            np.testing.assert_array_equal(g, r)
        else:
            tol = rtol or RTOL[g.dtype]
            np.testing.assert_allclose(g, r, rtol=tol, atol=tol)


def _both(fn, *args, ref=None, rtol=None):
    """``fn`` jitted on C equals it on the NumPy backend (and ``ref`` when given)."""
    got = tg.jit(fn, backend="c")(*args)
    _same(got, tg.jit(fn, backend="numpy")(*args), rtol)
    if ref is not None:
        _same(got, ref, rtol)
    return got


def _c_source(fn, *args) -> str:
    return tg.jit(fn, backend="c").lower(*args).source


# --- the primitive table's rows: gradients on C ------------------------------------------------
def _control_rows():
    out = []
    for c in CASES:
        if c.prim in ("scan", "while", "cond"):
            for s in c.shapes:
                out.append(pytest.param(c, s, id=f"{c.id}-{'x'.join(map(str, s))}"))
    return out


@pytest.mark.parametrize("case,shape_set", _control_rows())
def test_table_rows_gradient_on_c(case, shape_set):
    args = make_args(case, shape_set, np.float64, np.random.default_rng(1))
    float_args = tuple(i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f")

    def loss(*a):
        out = tree_flatten(case.fn(*a))[0]
        return sum(tnp.sum(tnp.sin(o)) for o in out)
    _both(tg.value_and_grad(loss, argnums=float_args), *args)


# --- an RNN whose body calls the BLAS -----------------------------------------------------------
def test_rnn_body_with_blas_matches_hand_written_backward():
    args = rnn_args(12)
    vg = tg.value_and_grad(rnn_loss, argnums=(0, 1))
    _both(vg, *args, ref=numpy_value_and_grad(*args))
    src = _c_source(vg, *args)
    bodies = re.findall(r"TG_KERNEL int (tg_scan\d+)\(", src)
    assert len(bodies) == 2  # the forward scan and the reverse scan of the gradient
    body_src = src[src.find(f"TG_KERNEL int {bodies[0]}("):]
    assert "tg_dgemm(" in body_src[:body_src.find("\n}\n")]  # h @ W inside the step


def _small_rnn(W, h0, xs):
    def step(h, x):
        h = tnp.tanh(h @ W + x)
        return h, h
    return tnp.sum(tg.scan(step, h0, xs)[1] ** 2)


def _functions(src: str) -> dict[str, str]:
    """Every ``TG_KERNEL`` function of a module by name."""
    return {m.group(1): m.group(0) for m in
            re.finditer(r"TG_KERNEL \w+ (\w+)\(.*?\n}\n", src, re.DOTALL)}


def test_source_does_not_grow_with_the_trip_count():
    """10 and 10,000 steps: the body functions are the same text, the loops differ only in
    their constants; only top-level kernels over the stacked values may change shape (big
    arrays get thread teams and Ctrl-C polls), never by more than a few lines."""
    rng = np.random.default_rng(0)
    W, h0 = rng.standard_normal((8, 8)) * 0.3, rng.standard_normal((4, 8))
    vg = tg.value_and_grad(_small_rnn, argnums=(0, 1))
    s10 = _c_source(vg, W, h0, rng.standard_normal((10, 4, 8)))
    s10k = _c_source(vg, W, h0, rng.standard_normal((10000, 4, 8)))
    f10, f10k = _functions(s10), _functions(s10k)
    bodies = [n for n in f10 if re.fullmatch(r"tg_scan\d+(_\w+)?", n)]
    assert len([n for n in bodies if "_" not in n[3:]]) == 2  # forward and reverse scans
    for name in bodies:
        assert f10[name] == f10k[name], name

    def loops(src):  # the loop statements of tg_program, numbers replaced
        prog = src[src.index("static int tg_program("):]
        blocks = re.findall(r"/\* scan:.*?\n    }\n", prog, re.DOTALL)
        return [re.sub(r"\d+", "N", b) for b in blocks]
    assert len(loops(s10)) == 2 and loops(s10) == loops(s10k)
    assert "for (int64_t s = 0; s < 10000; s++)" in s10k
    assert abs(len(s10k.splitlines()) - len(s10.splitlines())) <= 12


# --- nesting ---------------------------------------------------------------------------------
def test_nested_scans_and_while_inside_scan():
    def f(x, ws):
        def outer(c, w):
            def inner(h, k):
                return tnp.sin(h * w + k), h.sum()
            h, ys = tg.scan(inner, c, tnp.arange(3.0))
            h = tg.while_loop(lambda v: tnp.sum(v * v) > 0.5, lambda v: v * 0.5, h,
                              max_iter=20)
            return h, ys
        return tg.scan(outer, x, ws)

    def ref(x, ws):
        c, outs = x, []
        for w in ws:
            h, ys = c, []
            for k in range(3):
                ys.append(h.sum())
                h = np.sin(h * w + k)
            n = 0
            while np.sum(h * h) > 0.5 and n < 20:
                h, n = h * 0.5, n + 1
            c = h
            outs.append(ys)
        return c, np.array(outs)
    x = np.array([0.3, -1.2, 2.0])
    ws = np.linspace(-1.5, 1.5, 7)
    _both(f, x, ws, ref=ref(x, ws))
    _both(tg.grad(lambda x, ws: tnp.sum(f(x, ws)[1]) + tnp.sum(f(x, ws)[0] ** 2),
                  argnums=(0, 1)), x, ws)
    src = _c_source(f, x, ws)
    assert len(re.findall(r"TG_KERNEL int tg_scan\d+\(", src)) == 2
    assert len(re.findall(r"TG_KERNEL int tg_while\d+\(", src)) == 2  # condition and body


def test_second_order_through_a_scan():
    def f(a, xs):
        def step(h, x):
            return tnp.tanh(a * h + x), h
        return tnp.sum(tg.scan(step, 0.5 * a, xs)[0] ** 2)
    a, xs = np.array(0.7), np.linspace(-1, 1, 9)
    g2 = _both(tg.grad(tg.grad(f)), a, xs)
    h = 1e-5
    g1 = tg.jit(tg.grad(f), backend="c")
    np.testing.assert_allclose(g2, (g1(a + h, xs) - g1(a - h, xs)) / (2 * h), rtol=1e-6)


@pytest.mark.parametrize("k", [1, 3, 4])
def test_checkpointed_scan_gradient(k):
    """scan(checkpoint=k) differentiates through segment scans nested in a scan (and a tail
    scan): the same gradient on C as on NumPy and as without checkpoints."""
    def loss(W, h0, xs, k):
        def step(h, x):
            h = tnp.tanh(h @ W + x)
            return h, tnp.sum(h * h)
        return tnp.sum(tg.scan(step, h0, xs, checkpoint=k)[1])
    rng = np.random.default_rng(5)
    W, h0, xs = rng.standard_normal((4, 4)) * 0.5, rng.standard_normal((2, 4)), \
        rng.standard_normal((10, 2, 4))
    vg = tg.grad(lambda W, h0, xs: loss(W, h0, xs, k), argnums=(0, 1, 2))
    got = _both(vg, W, h0, xs)
    if k > 1:  # segments: C loops inside the bodies of C loops
        body_src = _c_source(vg, W, h0, xs).split("static int tg_program(")[0]
        assert body_src.count("/* scan: ") >= 2
    _same(got, tg.jit(tg.grad(lambda W, h0, xs: loss(W, h0, xs, None), argnums=(0, 1, 2)),
                      backend="numpy")(W, h0, xs))


def test_checkpointed_function_gradient():
    def f(a, x):
        g = tg.checkpoint(lambda x: tnp.sin(x @ a) * x)
        return tnp.sum(g(g(x)) ** 2)
    rng = np.random.default_rng(6)
    a, x = rng.standard_normal((3, 3)), rng.standard_normal((2, 3))
    _both(tg.grad(f, argnums=(0, 1)), a, x)


# --- carries ---------------------------------------------------------------------------------
def test_pytree_carry_of_mixed_dtypes():
    def f(x32, x64, xs):
        def step(c, x):
            n = c["n"] + np.int32(1)
            f32 = c["f32"] * np.float32(0.9) + x.astype(np.float32)
            f64 = c["f64"] + tnp.sin(x) * n.astype(np.float64)
            return {"n": n, "f32": f32, "f64": f64, "flag": f64.sum() > 0}, (n * 2, f32.sum())
        init = {"n": np.int32(0), "f32": x32, "f64": x64, "flag": np.bool_(False)}
        return tg.scan(step, init, xs)

    def ref(x32, x64, xs):
        n, f32, f64, flag, ys = np.int32(0), x32, x64, False, ([], [])
        for x in xs:
            n = n + np.int32(1)
            f32 = f32 * np.float32(0.9) + x.astype(np.float32)
            f64 = f64 + np.sin(x) * np.float64(n)
            flag = f64.sum() > 0
            ys[0].append(n * 2)
            ys[1].append(f32.sum())
        return ({"n": np.asarray(n), "f32": f32, "f64": f64, "flag": np.asarray(flag)},
                (np.array(ys[0], np.int32), np.array(ys[1], np.float32)))
    x32 = np.array([1.0, -2.0], np.float32)
    x64 = np.array([0.5, 0.25])
    xs = np.linspace(-2, 2, 10).reshape(5, 2)
    _both(f, x32, x64, xs, ref=ref(x32, x64, xs), rtol=1e-5)
    _both(tg.grad(lambda a, xs: tnp.sum(f(x32, a, xs)[0]["f64"] ** 2), argnums=(0, 1)),
          x64, xs)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_trip_counts_zero_and_both_buffer_parities(n):
    """Zero steps pass the carry through; odd and even counts end in either carry buffer."""
    def f(h, xs):
        def step(c, x):
            return (c[0] * 0.5 + x, c[1] + 1), c[0].sum()
        return tg.scan(step, (h, np.int32(0)), xs)
    h, xs = np.array([1.0, 2.0, 3.0]), np.arange(3.0 * n).reshape(n, 3)
    c, ref_ys = (h, 0), []
    for x in xs:
        ref_ys.append(c[0].sum())
        c = (c[0] * 0.5 + x, c[1] + 1)
    _both(f, h, xs, ref=((c[0], np.asarray(c[1], np.int32)), np.array(ref_ys).reshape(n)))
    _both(tg.grad(lambda h, xs: tnp.sum(f(h, xs)[0][0] ** 2) + tnp.sum(f(h, xs)[1])), h, xs)

    def w(h, k):  # a while loop stopping after k steps (k = 0 runs none)
        return tg.while_loop(lambda c: c[1] < k, lambda c: (tnp.cos(c[0]) + c[0], c[1] + 1),
                             (h, np.int32(0)), max_iter=5)
    ref_h = h
    for _ in range(n):
        ref_h = np.cos(ref_h) + ref_h
    _both(w, h, np.int32(n), ref=(ref_h, np.asarray(n, np.int32)))
    _both(tg.grad(lambda h, k: tnp.sum(w(h, k)[0])), h, np.int32(n))


def test_reverse_scan_forward_and_gradient():
    def f(h, xs):
        return tg.scan(lambda c, x: (tnp.sin(c) * x + c, c * x), h, xs, reverse=True)

    def ref(h, xs):
        c, ys = h, [None] * len(xs)
        for t in range(len(xs) - 1, -1, -1):
            ys[t] = c * xs[t]
            c = np.sin(c) * xs[t] + c
        return c, np.array(ys)
    h, xs = np.array([0.2, -0.4]), np.random.default_rng(3).standard_normal((6, 2))
    _both(f, h, xs, ref=ref(h, xs))
    _both(tg.grad(lambda h, xs: tnp.sum(f(h, xs)[1] ** 2), argnums=(0, 1)), h, xs)


# --- while with traced bounds, cond in scan --------------------------------------------------
def test_fori_loop_with_traced_bounds_newton_solver():
    """Newton's method for x**3 = a run for a traced number of steps, and its derivative."""
    def cbrt(a, n):
        return tg.fori_loop(0, n, lambda i, x: x - (x ** 3 - a) / (3 * x ** 2), a)
    a = np.array([2.0, 27.0, 0.5])
    for n in (0, 1, 9):
        x = a
        for _ in range(n):
            x = x - (x ** 3 - a) / (3 * x ** 2)
        _both(cbrt, a, np.int32(n), ref=x)
    # reverse mode needs max_iter (a traced bound gives none): forward mode through the loop
    got = _both(lambda a, n: tg.jvp(lambda a: cbrt(a, n), (a,), (np.ones_like(a),)),
                a, np.int32(30))
    np.testing.assert_allclose(got[1], a ** (-2.0 / 3) / 3, rtol=1e-10)


def test_cond_inside_scan_forward_and_gradient():
    def f(h, xs):
        def step(c, x):
            c = tg.cond(x > 0, lambda c: tnp.sin(c) * x, lambda c: c * c - x, c)
            return c, tg.switch((x * 2).astype(np.int32), [lambda c: c, lambda c: -c,
                                                   lambda c: 2 * c], c)
        return tg.scan(step, h, xs)

    def ref(h, xs):
        c, ys = h, []
        for x in xs:
            c = np.sin(c) * x if x > 0 else c * c - x
            ys.append([c, -c, 2 * c][int(np.clip(int(x * 2), 0, 2))])
        return c, np.array(ys)
    h, xs = np.array([0.3, 0.9]), np.array([0.4, -0.3, 1.2, 0.7, -1.0, 0.1])
    _both(f, h, xs, ref=ref(h, xs))
    _both(tg.grad(lambda h, xs: tnp.sum(f(h, xs)[1]) + tnp.sum(f(h, xs)[0]), argnums=(0, 1)),
          h, xs)


# --- errors ----------------------------------------------------------------------------------
def test_body_the_c_backend_cannot_hold_names_the_loop(monkeypatch):
    from tracegrad.codegen.c import lowerings

    from tracegrad.prims import cumsum_p
    lowerings.lowering(cumsum_p)  # every emitter module registered
    monkeypatch.delitem(lowerings.LOWERINGS, cumsum_p)

    def f(xs):
        return tg.scan(lambda c, x: (c + tnp.cumsum(x)[-1], c), 0.0, xs)[0]
    line = f.__code__.co_firstlineno + 1
    with pytest.raises(tg.errors.UnsupportedOperationError,
                       match=r"body of this scan cannot be compiled to C.*'cumsum'") as info:
        tg.jit(f, backend="c")(np.ones((4, 3)))
    assert f"test_c_loops.py:{line}" in str(info.value)
    # the NumPy backend runs it
    np.testing.assert_allclose(tg.jit(f, backend="numpy")(np.ones((4, 3))), 12.0)


def test_ctrl_c_stops_an_endless_while_loop():
    """A while loop with no bound whose condition never turns false: SIGINT raises
    KeyboardInterrupt (the bodies poll between equations and the loop returns), and the
    function still computes afterwards."""
    import os
    import signal
    import threading

    f = tg.jit(lambda x, stop: tg.while_loop(lambda v: v[0] < stop, lambda v: v + 1e-300, x),
               backend="c")
    x = np.zeros(4)
    np.testing.assert_allclose(f(x, 1e-299), np.full(4, 1e-299), rtol=1e-12)  # 10 steps
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        f(x, 1.0)  # 1e-300 added to 0 forever: never reaches 1
    timer.join()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    np.testing.assert_allclose(f(x, 1e-299), np.full(4, 1e-299), rtol=1e-12)


# --- memory safety ---------------------------------------------------------------------------
_SANITIZED_CHILD = """
import sys, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])
warnings.simplefilter("ignore", RuntimeWarning)
import tracegrad as tg
from tracegrad import numpy as tnp
from tracegrad.pytree import tree_flatten


def progs(W, h0, xs, k):
    def step(h, x):  # gemm in the body, a cond and a nested while
        h = tnp.tanh(h @ W + x)
        h = tg.cond(h.sum() > 0, lambda h: h * 0.5, lambda h: -h, h)
        h = tg.while_loop(lambda v: tnp.sum(v * v) > 4.0, lambda v: v * 0.5, h, max_iter=3)
        return h, h[0]
    c, ys = tg.scan(step, h0, xs)
    r, _ = tg.scan(lambda a, y: (a * 0.9 + y, None), h0[0], ys, reverse=True)
    w = tg.fori_loop(0, k, lambda i, v: tnp.cos(v) + v, c)  # traced bound: a while loop
    return tnp.sum(c ** 2) + tnp.sum(ys) + tnp.sum(r), tnp.sum(w)


rng = np.random.default_rng(0)
W, h0 = rng.standard_normal((8, 8)) * 0.4, rng.standard_normal((3, 8))
checked = 0
for T in (0, 1, 7):
    args = (W, h0, rng.standard_normal((T, 3, 8)), np.int32(min(T, 2)))
    loss = lambda W, h0, xs, k: progs(W, h0, xs, k)[0]  # noqa: E731 (the while has no bound)
    for f in (progs, tg.value_and_grad(loss, argnums=(0, 1, 2))):
        got, want = tg.jit(f, backend="c")(*args), tg.jit(f, backend="numpy")(*args)
        for g, r in zip(tree_flatten(got)[0], tree_flatten(want)[0]):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)
            checked += 1
print("SANITIZED OK", checked)
"""


@pytest.mark.slow
def test_loops_built_with_sanitizers_report_nothing(tmp_path):
    """Step slices (xs/ys at t*slice), the swapped carry buffers and the body arenas stay in
    bounds under AddressSanitizer and UBSan, for 0, 1 and 7 steps."""
    import os
    import subprocess
    import sys

    from test_sanitized import SAN_FLAGS, _sanitizer_runtime
    asan, why = _sanitizer_runtime()
    if asan is None:
        pytest.skip(why)
    env = {**os.environ, "TRACEGRAD_CFLAGS": SAN_FLAGS,
           "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache"), "LD_PRELOAD": asan,
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    r = subprocess.run([sys.executable, "-c", _SANITIZED_CHILD, os.path.dirname(__file__)],
                       env=env, capture_output=True, text=True, timeout=900, check=False)
    report = r.stdout[-3000:] + r.stderr[-6000:]
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr, report
    assert r.returncode == 0 and "SANITIZED OK" in r.stdout, report
