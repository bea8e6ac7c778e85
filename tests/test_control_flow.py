"""tg.scan / fori_loop / while_loop / cond / switch: forward against the same loop unrolled in
eager NumPy, gradients against finite differences (both modes, second order), pytrees, mixed
dtypes, zero-trip loops, nesting, and the errors that name the user's line.
(The C backend's loops: tests/test_c_loops.py; passes inside bodies: test_passes_loops.py.)"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import GradientError, ShapeError, TracerBoolError
from tracegrad.testing import check_grads

RNG = np.random.default_rng(0)


def rnn_loss(w, h0, xs):
    def step(h, x):
        h = np.tanh(h @ w + x)
        return h, np.sum(h * h)
    h, ys = tg.scan(step, h0, xs)
    return np.sum(h) + np.sum(ys)


def rnn_loss_ref(w, h0, xs):
    h, s = h0, 0.0
    for x in xs:
        h = np.tanh(h @ w + x)
        s = s + np.sum(h * h)
    return np.sum(h) + s


def test_scan_matches_unrolled_numpy_eager_and_jitted():
    w, h0, xs = RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(2, 4)), RNG.normal(size=(6, 2, 4))
    want = rnn_loss_ref(w, h0, xs)
    assert np.allclose(rnn_loss(w, h0, xs), want, rtol=1e-13)       # eager (no trace)
    assert np.allclose(tg.jit(rnn_loss)(w, h0, xs), want, rtol=1e-13)


def test_scan_body_is_traced_once_whatever_the_length():
    for n in (3, 300):
        ir = tg.make_ir(rnn_loss)(np.eye(2), np.zeros((1, 2)), np.zeros((n, 1, 2)))
        scans = [e for e in ir.eqns if e.prim.name == "scan"]
        assert len(scans) == 1 and scans[0].params["length"] == n
        assert len(ir.eqns) < 20


@pytest.mark.parametrize("order", [1, 2])
def test_scan_gradients_both_modes(order):
    w, h0, xs = RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=(2, 3)), RNG.normal(size=(4, 2, 3))
    check_grads(rnn_loss, (w, h0, xs), order=order, modes=("rev", "fwd"))
    g = tg.grad(rnn_loss, argnums=(0, 1, 2))(w, h0, xs)
    eps = 1e-6
    d = np.zeros_like(w)
    d[1, 2] = eps
    fd = (rnn_loss_ref(w + d, h0, xs) - rnn_loss_ref(w - d, h0, xs)) / (2 * eps)
    assert abs(g[0][1, 2] - fd) < 1e-7


def test_scan_reverse_and_pytrees_and_mixed_dtypes():
    def f(a, xs):
        def step(carry, x):
            v, count = carry["v"], carry["n"]
            v = v * x["scale"] + np.sin(v)
            return {"v": v, "n": count + 1}, (v.sum(), count)
        carry, (sums, counts) = tg.scan(step, {"v": a, "n": np.int32(0)},
                                        {"scale": xs}, reverse=True)
        return carry["v"].sum() + sums.sum() + counts.sum()

    def ref(a, xs):
        v, total = a, 0.0
        for t, x in enumerate(xs[::-1]):
            v = v * x + np.sin(v)
            total += v.sum() + t
        return v.sum() + total

    a, xs = RNG.normal(size=3), RNG.normal(size=(5, 3))
    assert np.allclose(tg.jit(f)(a, xs), ref(a, xs), rtol=1e-13)
    check_grads(f, (a, xs), order=1)


def test_zero_trip_loops():
    def f(a):
        h, ys = tg.scan(lambda h, x: (h * x, h), a, np.zeros((0, 3)))
        w = tg.while_loop(lambda v: np.sum(v) > 1e9, lambda v: v * 2, a, max_iter=5)
        return h.sum() + ys.sum() + w.sum() + tg.fori_loop(3, 3, lambda i, v: v * 5, a).sum()
    a = RNG.normal(size=3)
    assert np.allclose(tg.jit(f)(a), 3 * a.sum())
    assert np.allclose(tg.grad(f)(a), 3.0)


def test_fori_loop_static_and_traced_bounds():
    def f(x, n):
        return tg.fori_loop(0, n, lambda i, v: v * 1.5 + i, x)
    x = RNG.normal(size=2)
    ref = x.copy()
    for i in range(4):
        ref = ref * 1.5 + i
    assert np.allclose(tg.jit(f, static_argnums=1)(x, 4), ref)
    assert np.allclose(tg.jit(f)(x, np.int64(4)), ref)        # traced upper bound: a while
    assert np.allclose(tg.grad(lambda x: f(x, 4).sum())(x), 1.5 ** 4)


def newton_sqrt(a):
    """sqrt(a) by Newton's method, stopping on a traced tolerance."""
    def cond(c):
        x, it = c
        return np.abs(x * x - a) > 1e-12 * a
    def body(c):
        x, it = c
        return 0.5 * (x + a / x), it + 1
    x, _ = tg.while_loop(cond, body, (a, np.int32(0)), max_iter=60)
    return x


def test_while_loop_iterative_solver_and_its_gradient():
    a = np.array(7.3)
    assert np.allclose(tg.jit(newton_sqrt)(a), np.sqrt(7.3), rtol=1e-14)
    # differentiated through the iterations: d sqrt(a)/da = 1 / (2 sqrt(a))
    assert np.allclose(tg.grad(newton_sqrt)(a), 0.5 / np.sqrt(7.3), rtol=1e-9)
    _, t = tg.jvp(newton_sqrt, (a,), (np.array(1.0),))
    assert np.allclose(t, 0.5 / np.sqrt(7.3), rtol=1e-9)


def test_while_loop_reverse_mode_needs_max_iter():
    def f(a):
        return tg.while_loop(lambda x: x < 10.0, lambda x: x * 1.5, a)
    assert np.allclose(tg.jit(f)(np.array(1.0)), 1.5 ** 6)
    _, t = tg.jvp(f, (np.array(1.0),), (np.array(1.0),))     # forward mode: no bound needed
    assert np.allclose(t, 1.5 ** 6)
    with pytest.raises(GradientError, match="max_iter"):
        tg.grad(f)(np.array(1.0))


def test_while_loop_max_iter_caps_the_iterations():
    f = tg.jit(lambda a: tg.while_loop(lambda x: x < 1e6, lambda x: x * 2.0, a, max_iter=3))
    assert f(np.array(1.0)) == 8.0


def test_cond_and_switch_differentiate_the_taken_branch():
    def f(x):
        return tg.cond(np.sum(x) > 0, lambda v: np.sin(v) * 2.0, lambda v: np.exp(v), x)
    for x in (RNG.uniform(0.5, 1.0, size=3), -RNG.uniform(0.5, 1.0, size=3)):
        ref = np.sin(x) * 2 if x.sum() > 0 else np.exp(x)
        assert np.allclose(tg.jit(f)(x), ref)
        check_grads(lambda x: np.sum(f(x) ** 2), (x,), order=2)

    def g(i, x):
        return tg.switch(i, [lambda v: v * 2.0, lambda v: v ** 3, lambda v: np.cos(v)], x)
    x = np.array([0.3, -0.7])
    jg = tg.jit(g)
    for i, ref in ((0, x * 2), (1, x ** 3), (2, np.cos(x)), (7, np.cos(x)), (-3, x * 2)):
        assert np.allclose(jg(np.int32(i), x), ref)
    assert np.allclose(tg.grad(lambda x: g(np.int32(1), x).sum())(x), 3 * x ** 2)


def test_nested_loops_and_cond_inside_scan():
    def f(w, xs):
        def outer(h, x):
            def inner(c, _):
                return np.tanh(c * w), None
            h2, _ = tg.scan(inner, h + x, None, length=3)
            h3 = tg.cond(np.sum(h2) > 0, lambda v: v * 2.0, lambda v: v * 0.5, h2)
            return h3, np.sum(h3)
        h, ys = tg.scan(outer, np.zeros(2), xs)
        return np.sum(h) + np.sum(ys)

    def ref(w, xs):
        h, total = np.zeros(2), 0.0
        for x in xs:
            c = h + x
            for _ in range(3):
                c = np.tanh(c * w)
            h = c * 2.0 if c.sum() > 0 else c * 0.5
            total += h.sum()
        return h.sum() + total

    w, xs = np.array([0.9, -0.4]), RNG.normal(size=(5, 2))
    assert np.allclose(tg.jit(f)(w, xs), ref(w, xs), rtol=1e-13)
    check_grads(f, (w, xs), order=2)


def test_captured_values_become_loop_constants():
    big = RNG.normal(size=(3, 3))  # a closed-over array and a traced value from outside

    def f(a, xs):
        scale = np.sum(a)
        return tg.scan(lambda h, x: (h @ big * scale + x, None), a, xs)[0].sum()
    a, xs = RNG.normal(size=3) * 0.3, RNG.normal(size=(4, 3))
    h = a
    for x in xs:
        h = h @ big * a.sum() + x
    assert np.allclose(tg.jit(f)(a, xs), h.sum())
    check_grads(f, (a, xs), order=1)


def test_carry_type_change_names_the_user_line():
    def f(a):
        return tg.scan(lambda h, x: (h.astype(np.float32), x), a, np.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"keep the carry.*float32|f32") as info:
        tg.jit(f)(np.zeros(3))
    assert "test_control_flow.py" in str(info.value)
    with pytest.raises(ShapeError, match="same structure"):
        tg.jit(lambda a: tg.while_loop(lambda c: c[0] < 1, lambda c: c[0], (a, a)))(np.zeros(()))
    with pytest.raises(ShapeError, match="branch 1"):
        tg.jit(lambda x: tg.cond(x.sum() > 0, lambda v: v, lambda v: v[:1], x))(np.zeros(2))


def test_python_if_on_a_traced_value_suggests_cond_and_while_loop():
    def f(x):
        if x > 0:
            return x
        return -x
    with pytest.raises(TracerBoolError, match="tg.cond") as info:
        tg.jit(f)(np.array(1.0))
    assert "tg.while_loop" in str(info.value)


def test_long_rnn_compiles_once_and_matches():
    """1,000 steps: the graph has one scan whatever the length, gradient agrees with unrolled
    NumPy reverse mode written by hand."""
    n, hdim = 1000, 8
    w, h0 = RNG.normal(size=(hdim, hdim)) * 0.3, np.zeros((2, hdim))
    xs = RNG.normal(size=(n, 2, hdim)) * 0.1
    value, g = tg.value_and_grad(rnn_loss)(w, h0, xs)
    assert np.allclose(value, rnn_loss_ref(w, h0, xs), rtol=1e-12)
    # hand-written backward of the same RNN
    hs = [h0]
    for x in xs:
        hs.append(np.tanh(hs[-1] @ w + x))
    gw, gh = np.zeros_like(w), np.ones_like(h0)
    for t in range(n, 0, -1):
        gh = gh + 2 * hs[t]                      # d sum(h*h) at step t
        gz = gh * (1 - hs[t] ** 2)
        gw += hs[t - 1].T @ gz
        gh = gz @ w.T
    assert np.allclose(g, gw, rtol=1e-10, atol=1e-12)


def test_grad_of_grad_through_scan():
    def f(a):
        return tg.scan(lambda h, x: (np.sin(h * a) + x, h * h), a, np.ones(3))[1].sum()
    a = np.array(0.4)
    check_grads(f, (a,), order=2)
    h2 = tg.grad(tg.grad(f))(a)
    eps = 1e-4
    g = tg.grad(f)
    assert np.allclose(h2, (g(a + eps) - g(a - eps)) / (2 * eps), rtol=1e-6)


def _ckpt_loss(k, reverse=False):
    def loss(w, h0, xs):
        def step(h, x):
            h = np.tanh(h @ w + x)
            return h, np.sum(h * h)
        h, ys = tg.scan(step, h0, xs, checkpoint=k, reverse=reverse)
        return np.sum(h) + np.sum(ys * np.arange(1.0, xs.shape[0] + 1))
    return loss


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_checkpoint_gives_the_same_gradient(reverse):
    w, h0, xs = RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=(2, 3)), RNG.normal(size=(10, 2, 3))
    want = tg.grad(_ckpt_loss(None, reverse), argnums=(0, 1, 2))(w, h0, xs)
    for k in (1, 3, 5, 10, 20):  # every step, uneven segments with a tail, one segment
        got = tg.grad(_ckpt_loss(k, reverse), argnums=(0, 1, 2))(w, h0, xs)
        for a, b in zip(got, want):
            assert np.allclose(a, b, rtol=1e-13, atol=1e-14)
    check_grads(_ckpt_loss(3, reverse), (w, h0, xs), order=2)


def _stored_carries(graph, carry_elems):
    """Per-step values the top-level loops of ``graph`` stack for the backward pass, counted in
    carries (the forward loops' outputs beyond the user's own)."""
    total = 0
    for e in graph.eqns:
        if e.prim.name == "scan" and e.params["reverse"] is False:
            ys = e.outputs[e.params["num_carry"]:]
            total += sum(o.aval.size for o in ys)
    return total / carry_elems


def test_scan_checkpoint_sqrt_t_stores_o_sqrt_t_carries():
    t, hdim = 400, 4
    w, h0, xs = np.eye(hdim) * 0.5, np.zeros((1, hdim)), RNG.normal(size=(t, 1, hdim))
    plain = tg.make_ir(tg.grad(_ckpt_loss(None)))(w, h0, xs)
    ckpt = tg.make_ir(tg.grad(_ckpt_loss(20)))(w, h0, xs)
    stored_plain = _stored_carries(plain, hdim)
    stored_ckpt = _stored_carries(ckpt, hdim)
    assert stored_plain >= t                    # at least one carry-sized residual per step
    # the outer loop keeps T/k segment starts (+ the user's per-step scalars): <= 3 sqrt(T)
    assert stored_ckpt - t / hdim <= 3 * np.sqrt(t), stored_ckpt


def test_tg_checkpoint_recomputes_and_matches():
    def block(w, x):
        return np.tanh(np.sin(x @ w) * 2.0)

    def loss(w, x, ck):
        f = tg.checkpoint(block) if ck else block
        return np.sum(f(w, f(w, x)))
    w, x = RNG.normal(size=(3, 3)), RNG.normal(size=(2, 3))
    a = tg.grad(lambda w, x: loss(w, x, True), argnums=(0, 1))(w, x)
    b = tg.grad(lambda w, x: loss(w, x, False), argnums=(0, 1))(w, x)
    for u, v in zip(a, b):
        assert np.allclose(u, v, rtol=1e-13)
    assert np.allclose(tg.checkpoint(block)(w, x), block(w, x))
    check_grads(lambda w, x: loss(w, x, True), (w, x), order=2)
