"""tg.optim against hand-written PyTorch update rules, tg.compile against the eager step,
gradient accumulation, hyper-parameter changes without recompiling, and errors."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn

T = sys.modules["tracegrad.tensor"]


def quadratic_grads(p0, steps, opt_factory):
    """Run an optimizer on loss = sum(c * p**2) (gradient 2 c p); return the parameter path."""
    c = np.array([1.0, -0.5, 3.0])
    p = tg.tensor(p0.copy(), requires_grad=True)
    opt = opt_factory([p])
    path = []
    for _ in range(steps):
        opt.zero_grad()
        (tg.tensor(c) * p * p).sum().backward()
        opt.step()
        path.append(p.numpy().copy())
    return c, path


P0 = np.array([1.0, 2.0, -1.5])


def test_sgd_momentum_weight_decay_nesterov():
    for nesterov in (False, True):
        c, path = quadratic_grads(P0, 4, lambda ps: tg.optim.SGD(
            ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=nesterov))
        p, buf = P0.copy(), np.zeros(3)
        for got in path:
            g = 2 * c * p + 0.01 * p
            buf = 0.9 * buf + g
            p = p - 0.1 * (g + 0.9 * buf if nesterov else buf)
            np.testing.assert_allclose(got, p, rtol=1e-12)
    _, path = quadratic_grads(P0, 1, lambda ps: tg.optim.SGD(ps, lr=0.5))
    np.testing.assert_allclose(path[0], P0 - 0.5 * 2 * np.array([1.0, -0.5, 3.0]) * P0)


def test_adam_and_adamw():
    for cls, wd in ((tg.optim.Adam, 0.1), (tg.optim.AdamW, 0.1)):
        c, path = quadratic_grads(P0, 5, lambda ps: cls(ps, lr=0.05, betas=(0.8, 0.9), eps=1e-6,
                                                        weight_decay=wd))
        p, m, v = P0.copy(), np.zeros(3), np.zeros(3)
        for t, got in enumerate(path, 1):
            g = 2 * c * p
            if cls is tg.optim.AdamW:
                p = p * (1 - 0.05 * wd)
            else:
                g = g + wd * p
            m = 0.8 * m + 0.2 * g
            v = 0.9 * v + 0.1 * g * g
            denom = np.sqrt(v) / np.sqrt(1 - 0.9**t) + 1e-6
            p = p - 0.05 / (1 - 0.8**t) * m / denom
            np.testing.assert_allclose(got, p, rtol=1e-12)


def test_rmsprop():
    for centered, momentum in ((False, 0.0), (True, 0.5)):
        c, path = quadratic_grads(P0, 4, lambda ps: tg.optim.RMSprop(
            ps, lr=0.01, alpha=0.9, eps=1e-8, momentum=momentum, centered=centered))
        p, sq, ga, buf = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
        for got in path:
            g = 2 * c * p
            sq = 0.9 * sq + 0.1 * g * g
            if centered:
                ga = 0.9 * ga + 0.1 * g
                avg = np.sqrt(sq - ga * ga) + 1e-8
            else:
                avg = np.sqrt(sq) + 1e-8
            if momentum:
                buf = momentum * buf + g / avg
                p = p - 0.01 * buf
            else:
                p = p - 0.01 * g / avg
            np.testing.assert_allclose(got, p, rtol=1e-10)


def test_zero_grad_skip_and_lr_change_without_recompiling():
    w = tg.tensor([1.0], requires_grad=True)
    unused = tg.tensor([5.0], requires_grad=True)
    opt = tg.optim.SGD([w, unused], lr=0.5)
    (w * w).sum().backward()
    opt.step()  # unused has no gradient: left alone
    assert w.item() == 0.0 and unused.item() == 5.0
    opt.zero_grad()
    assert w.grad is None
    opt.zero_grad(set_to_none=False)
    counts = []
    for lr in (0.1, 0.2, 0.3):
        opt.param_groups[0]["lr"] = lr
        w.data[...] = 1.0
        (w * w).sum().backward()
        opt.step()
        opt.zero_grad()
        assert np.isclose(w.item(), 1.0 - lr * 2.0)
        counts.append((len(T._PROGRAMS), len(T._OP_CACHE)))
    assert counts[0] == counts[-1]  # a new lr is an input of the update, not a new program


def test_optimizer_errors():
    with pytest.raises(tg.TracegradError, match="empty"):
        tg.optim.SGD([], lr=0.1)
    with pytest.raises(tg.TracegradError, match="iterable"):
        tg.optim.SGD(tg.tensor([1.0], requires_grad=True), lr=0.1)
    with pytest.raises(tg.TracegradError, match="leaf"):
        tg.optim.SGD([tg.tensor([1.0], requires_grad=True) * 2], lr=0.1)
    with pytest.raises(tg.TracegradError, match="learning rate"):
        tg.optim.Adam([tg.tensor([1.0], requires_grad=True)], lr=-1)
    with pytest.raises(tg.TracegradError, match="Nesterov"):
        tg.optim.SGD([tg.tensor([1.0], requires_grad=True)], lr=0.1, nesterov=True)


def _setup(opt_cls, **kw):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.2, seed=3), nn.Linear(16, 3))
    return model, opt_cls(model.parameters(), **kw)


DATA = np.random.default_rng(0).standard_normal((40, 5)).astype(np.float32)
LABELS = np.arange(40) % 3


@pytest.mark.parametrize("opt_cls,kw", [(tg.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                                        (tg.optim.Adam, {"lr": 0.01, "weight_decay": 0.01}),
                                        (tg.optim.RMSprop, {"lr": 0.01})])
def test_compiled_step_equals_eager_step(opt_cls, kw):
    crit = nn.CrossEntropyLoss()
    m1, o1 = _setup(opt_cls, **kw)
    m2, o2 = _setup(opt_cls, **kw)

    def eager(x, y):
        o1.zero_grad()
        loss = crit(m1(x), y)
        loss.backward()
        o1.step()
        return loss

    @tg.compile
    def compiled(x, y):
        o2.zero_grad()
        loss = crit(m2(x), y)
        loss.backward()
        o2.step()
        return loss

    loader = tg.data.DataLoader((DATA, LABELS), batch_size=10, shuffle=True, seed=0)
    for epoch in range(2):
        for x, y in loader:
            l1, l2 = eager(x, y), compiled(x, y)
            assert l1.item() == l2.item()
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
        assert np.array_equal(p.grad.numpy(), q.grad.numpy())
    info = compiled.cache_info()
    assert info["captures"] == 1 and info["hits"] == 7
    m2.eval()  # a different graph (no dropout): captured again, then replayed
    compiled(DATA[:10], LABELS[:10])
    compiled(DATA[:10], LABELS[:10])
    assert compiled.cache_info()["captures"] == 2


def test_compile_reads_and_errors():
    w = tg.tensor([1.0, 2.0], requires_grad=True)

    @tg.compile
    def bad(x):
        return (w * x).sum().item()

    with pytest.raises(tg.TracegradError, match="tg.compile"):
        bad(np.ones(2, np.float32))

    @tg.compile
    def accumulate(x):  # no zero_grad: gradients add up across calls, like the eager loop
        (w * x).sum().backward()
        return w.grad

    g1 = accumulate(np.ones(2, np.float32)).numpy().copy()
    g2 = accumulate(np.ones(2, np.float32)).numpy()
    assert g1.tolist() == [1.0, 1.0] and g2.tolist() == [2.0, 2.0]
    assert w.grad.numpy().tolist() == [2.0, 2.0]
    with pytest.raises(tg.TracegradError, match="function"):
        tg.compile(3)


def test_gradient_accumulation_equals_big_batch():
    crit = nn.CrossEntropyLoss(reduction="sum")
    m1, _ = _setup(tg.optim.SGD, lr=0.1)
    m2, _ = _setup(tg.optim.SGD, lr=0.1)
    m1.eval()
    m2.eval()
    for x, y in tg.data.DataLoader((DATA, LABELS), batch_size=10):  # 4 micro-batches
        crit(m1(x), y).backward()
    crit(m2(DATA), LABELS).backward()  # one 4-times-larger batch
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_flat_state_views_and_partial_steps():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([[3.0]], requires_grad=True)
    opt = tg.optim.Adam([a, b], lr=0.1)
    (a * a).sum().backward()  # b has no gradient: the per-parameter path, on state views
    opt.step()
    assert b.item() == 3.0 and np.all(opt.state[b]["exp_avg"].numpy() == 0)
    np.testing.assert_allclose(opt.state[a]["exp_avg"].numpy(), 0.1 * 2 * np.array([1, 2]),
                               rtol=1e-6)  # float32
    opt.zero_grad()
    (a * a).sum().backward()
    (b * b).sum().backward()  # now both: one pass over the flat buffers
    opt.step()
    assert opt.state[b]["exp_avg"].numpy().shape == (1, 1)
    np.testing.assert_allclose(opt.state[b]["exp_avg"].numpy(), [[0.1 * 6.0]], rtol=1e-6)
    sd = opt.state_dict()
    opt2 = tg.optim.Adam([tg.tensor([0.0, 0.0], requires_grad=True),
                          tg.tensor([[0.0]], requires_grad=True)], lr=0.1)
    opt2.load_state_dict(sd)
    np.testing.assert_allclose(opt2.state_dict()["state"][1]["exp_avg"], [[0.6]], rtol=1e-6)


def test_compiled_step_sees_lr_changes_and_outside_writes():
    w1 = tg.tensor([1.0, -2.0], requires_grad=True)
    w2 = tg.tensor([1.0, -2.0], requires_grad=True)
    o1, o2 = tg.optim.SGD([w1], lr=0.1, momentum=0.5), tg.optim.SGD([w2], lr=0.1, momentum=0.5)

    def body(w, opt):
        opt.zero_grad()
        loss = (w * w * w).sum()
        loss.backward()
        opt.step()
        return loss

    compiled = tg.compile(lambda: body(w2, o2))
    for i in range(6):
        if i == 3:
            for o in (o1, o2):
                o.param_groups[0]["lr"] = 0.01  # a schedule: read at every replay
            for w in (w1, w2):
                w.data[0] = 0.5  # written outside the step: replays read current values
        assert body(w1, o1).item() == compiled().item()
        assert np.array_equal(w1.numpy(), w2.numpy())
    assert compiled.cache_info()["captures"] == 1
