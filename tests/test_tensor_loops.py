"""Loops on tensors (tracegrad/tensor/control.py): tg.scan / fori_loop / while_loop / cond /
switch / checkpoint called with tg.Tensor values record one lazy operation whose body sees
tensors. Forward against the loop unrolled in NumPy, gradients (of arguments AND of parameters
the body closes over) against central differences in float64, training through eager tensors
and tg.compile, one loop operation whatever the trip count, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import ShapeError, TracegradError, UnsupportedOperationError

RNG = np.random.default_rng(0)


def fd_grad(f, x, eps=1e-6):
    """Central differences of the scalar ``f`` at float64 array ``x``."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def rnn_ref(w, h0, xs):
    h, s = h0, 0.0
    for x in xs:
        h = np.tanh(h @ w + x)
        s += np.sum(h * h)
    return np.sum(h) + s


def test_scan_on_tensors_matches_numpy_and_differentiates_closed_over_parameter():
    w0, h00, xs0 = RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(2, 4)), \
        RNG.normal(size=(6, 2, 4))
    w = tg.tensor(w0, requires_grad=True)        # read by the body from the enclosing scope
    h0 = tg.tensor(h00, requires_grad=True)
    xs = tg.tensor(xs0, requires_grad=True)

    def step(h, x):                              # torch-style code on tensors
        h = tg.tanh(h @ w + x)
        return h, (h * h).sum(dim=1)
    h, ys = tg.scan(step, h0, xs)
    assert isinstance(h, tg.Tensor) and ys.shape == (6, 2)
    loss = h.sum() + ys.sum()
    loss.backward()
    assert np.allclose(loss.item(), rnn_ref(w0, h00, xs0), rtol=1e-12)
    assert w.grad is not None, "a parameter the body closes over got no gradient"
    assert np.allclose(w.grad.numpy(), fd_grad(lambda v: rnn_ref(v, h00, xs0), w0), atol=1e-7)
    assert np.allclose(h0.grad.numpy(), fd_grad(lambda v: rnn_ref(w0, v, xs0), h00), atol=1e-7)
    assert np.allclose(xs.grad.numpy(), fd_grad(lambda v: rnn_ref(w0, h00, v), xs0), atol=1e-7)


class Elman(tg.nn.Module):
    """A module whose scan body reads ``self.w_hh`` (a closure over a registered parameter)."""

    def __init__(self, n_in, n_h):
        super().__init__()
        self.w_ih = tg.nn.Parameter(tg.randn(n_in, n_h) * 0.3)
        self.w_hh = tg.nn.Parameter(tg.randn(n_h, n_h) * 0.3)
        self.out = tg.nn.Linear(n_h, 1)

    def forward(self, x):                        # x: (T, N, n_in)
        def step(h, xt):
            return tg.tanh(xt @ self.w_ih + h @ self.w_hh), None
        h, _ = tg.scan(step, tg.zeros(x.shape[1], self.w_hh.shape[0]), x)
        return self.out(h).squeeze(1)


def _sum_task(n=64, t=8):
    x = RNG.uniform(-1, 1, size=(t, n, 1)).astype(np.float32)
    return tg.tensor(x), tg.tensor(x.sum(axis=(0, 2)) / 4)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tg.compile"])
def test_module_with_scan_learns_to_sum_and_every_parameter_trains(compiled):
    tg.manual_seed(0)
    model = Elman(1, 8)
    before = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    opt = tg.optim.Adam(model.parameters(), lr=0.02)
    x, y = _sum_task()

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = tg.compile(step)
    losses = [step(x, y).item() for _ in range(150)]
    assert losses[-1] < 0.1 * losses[0], losses[::30]
    for k, v in model.named_parameters():        # the closed-over w_hh moved too
        assert not np.allclose(v.detach().numpy(), before[k]), f"{k} was not trained"
    if compiled:
        assert step.cache_info()["captures"] == 1


def _dag_nodes(t):
    from tracegrad.tensor import _Walk
    return _Walk([t._node], grad_mode=False).nodes


@pytest.mark.parametrize("length", [3, 40])
def test_one_loop_operation_whatever_the_length(length):
    w = tg.randn(5, 5, requires_grad=True)
    xs = tg.randn(length, 5)

    def step(h, x):
        return tg.tanh(h @ w + x), None
    h, _ = tg.scan(step, tg.zeros(5), xs)
    nodes = _dag_nodes(h)
    assert [n.op.name for n in nodes] == ["scan"]
    (eqn,) = [e for e in nodes[0].op.graph.eqns if e.prim.name == "scan"]
    assert eqn.params["length"] == length
    # the program is traced once per body structure: a second call reuses the operation
    h2, _ = tg.scan(step, tg.zeros(5), xs)
    assert h2._node.op is h._node.op


def test_scan_reverse_and_pytree_carry_and_int_counter():
    xs0 = RNG.normal(size=(5, 3))
    xs = tg.tensor(xs0, requires_grad=True)

    def step(c, x):
        s, k = c["s"], c["k"]
        s = s * 0.5 + x
        return {"s": s, "k": k + 1}, s.sum()
    c, ys = tg.scan(step, {"s": tg.zeros(3, dtype=tg.float64), "k": tg.tensor(0)}, xs,
                    reverse=True)
    s, want = np.zeros(3), []
    for x in xs0[::-1]:
        s = s * 0.5 + x
        want.append(s.sum())
    assert c["k"].item() == 5 and c["k"].dtype == np.int64
    assert np.allclose(c["s"].numpy(), s) and np.allclose(ys.numpy(), want[::-1])
    ys.sum().backward()
    assert np.allclose(xs.grad.numpy(), fd_grad(
        lambda v: sum(_rev_sums(v)), xs0), atol=1e-7)


def _rev_sums(xs):
    s, out = np.zeros(3), []
    for x in xs[::-1]:
        s = s * 0.5 + x
        out.append(s.sum())
    return out


def test_fori_loop_while_loop_cond_switch_checkpoint_on_tensors():
    a0 = RNG.normal(size=3)
    a = tg.tensor(a0, requires_grad=True)
    scale = tg.tensor(0.9, dtype=tg.float64, requires_grad=True)   # closed over

    v = tg.fori_loop(0, 4, lambda i, x: x * scale + i, a)
    want = a0.copy()
    for i in range(4):
        want = want * 0.9 + i
    assert np.allclose(v.numpy(), want)
    v.sum().backward()
    assert np.allclose(scale.grad.item(), fd_grad(
        lambda s: _fori_ref(a0, s), np.array(0.9)), atol=1e-6)

    # while_loop with max_iter: differentiable in reverse mode
    x = tg.tensor(2.0, dtype=tg.float64, requires_grad=True)
    n, y = tg.while_loop(lambda c: c[1] < 100.0, lambda c: (c[0] + 1, c[1] * x),
                         (tg.tensor(0), x), max_iter=20)
    assert n.item() == 6 and y.item() == 128.0
    y.backward()
    assert np.isclose(x.grad.item(), 7 * 2.0 ** 6)

    p = tg.tensor(1.5, dtype=tg.float64, requires_grad=True)
    for pred, want_v, want_g in [(True, 1.5 ** 2, 3.0), (False, np.sin(1.5), np.cos(1.5))]:
        p.grad = None
        out = tg.cond(tg.tensor(pred), lambda q: q * q, lambda q: tg.sin(q), p)
        out.backward()
        assert np.isclose(out.item(), want_v) and np.isclose(p.grad.item(), want_g)

    outs = [tg.switch(tg.tensor(k), [lambda q: q + 1, lambda q: q * 3, lambda q: -q], p).item()
            for k in (0, 1, 2, 7)]
    assert np.allclose(outs, [2.5, 4.5, -1.5, -1.5])

    w = tg.tensor(RNG.normal(size=(3, 3)), requires_grad=True)
    f = tg.checkpoint(lambda u: tg.tanh(u @ w).sum())
    out = f(a)
    out.backward()
    assert np.isclose(out.item(), np.tanh(a0 @ w.detach().numpy()).sum())
    assert np.allclose(w.grad.numpy(), fd_grad(lambda m: np.tanh(a0 @ m).sum(),
                                               w.detach().numpy()), atol=1e-7)


def _fori_ref(a0, s):
    x = a0.copy()
    for i in range(4):
        x = x * s + i
    return x.sum()


def test_reading_a_value_inside_a_body_says_why():
    def step(h, x):
        if (h.sum() > 0).item():
            return h, None
        return h + x, None
    with pytest.raises(TracegradError, match="tg.where"):
        tg.scan(step, tg.zeros(2), tg.ones(3, 2))


def test_in_place_update_inside_a_body_is_refused():
    w = tg.zeros(2)

    def step(h, x):
        with tg.no_grad():
            w.add_(1.0)
        return h + x, None
    with pytest.raises(UnsupportedOperationError, match="carry"):
        tg.scan(step, tg.zeros(2), tg.ones(3, 2))


def test_carry_changing_type_names_the_users_line():
    with pytest.raises(ShapeError, match="test_tensor_loops.py"):
        tg.scan(lambda h, x: (h.sum(), None), tg.zeros(2), tg.ones(3, 2))


def test_body_started_on_arrays_reading_a_parameter_is_a_typed_error_not_a_constant():
    """The silent-freeze hazard: a loop started on NumPy arrays whose body reads a Parameter
    must not bake the parameter in as a constant (it would never get a gradient)."""
    w = tg.nn.Parameter(tg.randn(3, 3))
    for body in (lambda h: h @ w, lambda h: w @ h, lambda h: np.tanh(h) * w):
        with pytest.raises(UnsupportedOperationError, match="tg.as_tensor"):
            tg.scan(lambda h, x, b=body: (b(h), None), np.zeros(3, np.float32),
                    np.ones((2, 3), np.float32))


@pytest.mark.parametrize("read", [lambda h: np.asarray(h), lambda h: h.numpy(),
                                  lambda h: h.data, lambda h: float(h.sum()), lambda h: bool(h[0])],
                         ids=["np.asarray", "numpy", "data", "float", "bool"])
def test_loop_values_cannot_be_read_as_made_up_numbers(read):
    """A loop value inside the body has no value yet: every way of reading one raises (a
    placeholder that returned zeros would silently compute the wrong thing)."""
    def step(h, x):
        read(h)
        return h + x, None
    with pytest.raises(TracegradError, match="symbolic"):
        tg.scan(step, tg.ones(2), tg.ones(3, 2))


def test_augmented_assignment_in_a_body_rebinds_and_nested_loops_differentiate_twice():
    w0 = np.array([[0.5, -0.2], [0.3, 0.1]])
    xs0 = np.arange(12.).reshape(3, 2, 2) * 0.1
    w = tg.tensor(w0, requires_grad=True)

    def ref(m):
        h = np.zeros(2)
        for x in xs0:
            for row in x:
                h = np.tanh(h @ m + row)
        return h.sum()

    def model(w):
        def outer(c, x):
            h, k = c

            def inner(hh, row):
                hh += row                    # rebinds hh (a computed tensor), as in PyTorch
                return tg.tanh((hh - row) @ w + row), None
            h, _ = tg.scan(inner, h, x)
            return (h, k), h.sum()         # k passes through unchanged
        (h, k), ys = tg.scan(outer, (tg.zeros(2, dtype=tg.float64), tg.tensor(3.0)),
                             tg.tensor(xs0))
        assert k.item() == 3.0 and np.isclose(ys[-1].item(), h.sum().item())
        return h.sum()

    (g,) = tg.autograd.grad(model(w), w, create_graph=True)
    assert np.allclose(g.detach().numpy(), fd_grad(ref, w0), atol=1e-8)
    (g ** 2).sum().backward()                # second order through both loops

    def g2(m):
        v = tg.tensor(m, requires_grad=True)
        (gv,) = tg.autograd.grad(model(v), v)
        return float((gv.numpy() ** 2).sum())
    assert np.allclose(w.grad.numpy(), fd_grad(g2, w0, eps=1e-5), atol=1e-6)


X0 = np.array([1.0, 2.0])
LOOPS = {
    "scan": lambda w, x: tg.scan(lambda a, k: (a * w + k, None), x, tg.tensor([0., 1., 2.],
                                                                           dtype=tg.float64))[0],
    "fori": lambda w, x: tg.fori_loop(0, 3, lambda i, a: a * w + i.to(a.dtype), x),
    "while": lambda w, x: tg.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * 1.5 + w),
                                        (tg.tensor(0), x), max_iter=5)[1],
    "cond": lambda w, x: tg.cond((x.sum() > 0), lambda v: v * w, lambda v: v * w * w, x),
    "switch": lambda w, x: tg.switch(tg.tensor(1), [lambda v: v + w, lambda v: tg.sin(v * w)],
                                     x),
}


@pytest.mark.parametrize("kind", list(LOOPS))
def test_each_loop_on_tensors_differentiates_closed_over_weight(kind):
    def value(wv, grad=False):
        w = tg.tensor(wv, requires_grad=grad)
        out = LOOPS[kind](w, tg.tensor(X0)).sum()
        if grad:
            out.backward()
            return w.grad.numpy()
        return out.item()
    w0 = np.array([0.7, -0.3])
    assert np.allclose(value(w0, grad=True), fd_grad(value, w0), atol=1e-7)


def test_loops_in_a_compiled_step_match_the_eager_step():
    def run(compiled):
        w = tg.nn.Parameter(tg.tensor([0.7, -0.3]))
        opt = tg.optim.SGD([w], lr=0.05)

        def step(x):
            opt.zero_grad()
            loss = sum(LOOPS[k](w, x).sum() for k in ("fori", "while", "cond", "switch"))
            loss.backward()
            opt.step()
            return loss
        if compiled:
            step = tg.compile(step)
        x = tg.tensor([1.0, 2.0])
        return [(step(x).item(), w.detach().numpy().copy()) for _ in range(3)]
    for (le, we), (lc, wc) in zip(run(False), run(True)):
        assert np.isclose(le, lc, rtol=1e-6) and np.allclose(we, wc, rtol=1e-6)


def test_dropout_in_a_body_draws_one_mask_per_call_and_anew_per_compiled_replay():
    import tracegrad.nn.functional as F
    tg.manual_seed(0)

    def masks(x):
        return tg.scan(lambda c, _: (c, F.dropout(x, 0.5, True)), tg.zeros(1), None,
                       length=4)[1]
    x = tg.ones(64)
    ys = masks(x).numpy()
    assert (ys == ys[0]).all() and 0 < (ys[0] == 0).sum() < 64   # the same mask every step
    compiled = tg.compile(masks)
    a, b = compiled(x).numpy(), compiled(x).numpy()
    assert compiled.cache_info()["hits"] == 1 and not np.array_equal(a[0], b[0])
