"""Issue 18 item 2, training pieces: lr schedulers, Adagrad, clip_grad_norm_, tg.save/tg.load,
each against a NumPy/closed-form reference of PyTorch's formulas (and PyTorch when installed)."""
from __future__ import annotations

import io
import math
import pickle
import re

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn
from tracegrad.errors import TracegradError
from tracegrad.optim import lr_scheduler

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _opt(lr=1.0, n_groups=1):
    ps = [tg.tensor(np.ones(2), requires_grad=True) for _ in range(n_groups)]
    return tg.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(ps)], lr=lr)


def _lrs(sched, n):
    out = [sched.get_last_lr()[0]]
    for _ in range(n):
        sched.optimizer.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return np.array(out)


# --- schedulers --------------------------------------------------------------------------------
def test_step_and_exponential_lr_closed_forms():
    s = lr_scheduler.StepLR(_opt(0.5), step_size=3, gamma=0.2)
    np.testing.assert_allclose(_lrs(s, 10), [0.5 * 0.2 ** (e // 3) for e in range(11)])
    s = lr_scheduler.ExponentialLR(_opt(0.5), gamma=0.9)
    np.testing.assert_allclose(_lrs(s, 10), [0.5 * 0.9 ** e for e in range(11)])
    assert s.optimizer.param_groups[0]["initial_lr"] == 0.5


def test_cosine_annealing_matches_closed_form_over_several_periods():
    s = lr_scheduler.CosineAnnealingLR(_opt(0.3), T_max=5, eta_min=0.01)
    ref = [0.01 + (0.3 - 0.01) * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(21)]
    np.testing.assert_allclose(_lrs(s, 20), ref, rtol=1e-12, atol=1e-15)


def test_schedulers_act_on_every_group_and_resume_from_state_dict():
    opt = _opt(1.0, n_groups=2)
    s = lr_scheduler.StepLR(opt, 1, gamma=0.5)
    s.step()
    assert s.get_last_lr() == [0.5, 1.0]
    state = s.state_dict()
    assert "optimizer" not in state
    s2 = lr_scheduler.StepLR(opt, 1, gamma=0.5)
    s2.load_state_dict(state)
    assert s2.last_epoch == 1
    with pytest.raises(TracegradError, match="initial_lr"):
        lr_scheduler.StepLR(_opt(), 1, last_epoch=3)


def test_reduce_lr_on_plateau_patience_cooldown_min_lr():
    s = lr_scheduler.ReduceLROnPlateau(_opt(1.0), factor=0.5, patience=2)
    got = []
    for m in [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]:
        s.step(m)
        got.append(s.get_last_lr()[0])
    assert got == [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]
    # cooldown 2: after a reduction two bad epochs are ignored; min_lr floors the rate
    s = lr_scheduler.ReduceLROnPlateau(_opt(1.0), factor=0.1, patience=0, cooldown=2,
                                       min_lr=0.05)
    got = []
    for m in [3, 3, 3, 3, 3, 3, 3]:
        s.step(tg.tensor(m))
        got.append(s.get_last_lr()[0])
    np.testing.assert_allclose(got, [1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    # mode max, absolute threshold: 1.05 is no improvement over 1.0 with threshold 0.1
    s = lr_scheduler.ReduceLROnPlateau(_opt(1.0), mode="max", patience=0, threshold=0.1,
                                       threshold_mode="abs")
    s.step(1.0)
    s.step(1.05)
    assert s.get_last_lr() == [0.1]
    with pytest.raises(TracegradError):
        lr_scheduler.ReduceLROnPlateau(_opt(), factor=1.5)


def test_schedule_changes_lr_of_a_compiled_step_without_recompiling():
    p = tg.tensor(np.zeros(1), requires_grad=True)
    opt = tg.optim.SGD([p], lr=1.0)
    sched = lr_scheduler.StepLR(opt, 1, gamma=0.5)

    @tg.compile
    def step():
        opt.zero_grad()
        (p * 1.0).sum().backward()  # gradient 1: each step moves p by -lr
        opt.step()
    for _ in range(4):
        step()
        sched.step()
    np.testing.assert_allclose(p.numpy(), [-(1 + 0.5 + 0.25 + 0.125)])


# --- Adagrad -----------------------------------------------------------------------------------
def adagrad_ref(p, grads, lr, lr_decay, wd, init, eps):
    p, s = p.copy(), np.full_like(p, init)
    for t, g in enumerate(grads, 1):
        g = g + wd * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p, s


@pytest.mark.parametrize("lr_decay,wd,init", [(0.0, 0.0, 0.0), (0.1, 0.01, 0.3)])
def test_adagrad_matches_pytorch_formula(lr_decay, wd, init):
    rng = np.random.default_rng(1)
    p0 = [rng.standard_normal(3), rng.standard_normal((2, 2))]
    ps = [tg.tensor(a.copy(), requires_grad=True) for a in p0]
    opt = tg.optim.Adagrad(ps, lr=0.05, lr_decay=lr_decay, weight_decay=wd,
                           initial_accumulator_value=init)
    grads = [[rng.standard_normal(a.shape) for a in p0] for _ in range(4)]
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = tg.tensor(g)
        opt.step()
    for i, a in enumerate(p0):
        ref_p, ref_s = adagrad_ref(a, [gs[i] for gs in grads], 0.05, lr_decay, wd, init, 1e-10)
        np.testing.assert_allclose(ps[i].numpy(), ref_p, rtol=1e-12)
        np.testing.assert_allclose(opt.state[ps[i]]["sum"].numpy(), ref_s, rtol=1e-12)


def test_adagrad_trains_with_a_subset_of_gradients():
    a = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = tg.tensor(np.array([3.0]), requires_grad=True)
    opt = tg.optim.Adagrad([a, b], lr=0.1, initial_accumulator_value=1.0)
    (a * a).sum().backward()  # b has no gradient: the per-parameter path
    opt.step()
    g = np.array([2.0, 4.0])
    np.testing.assert_allclose(a.numpy(), [1, 2] - 0.1 * g / (np.sqrt(1 + g * g) + 1e-10))
    assert b.numpy()[0] == 3.0


# --- clip_grad_norm_ ---------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch_rule(norm_type, max_norm):
    rng = np.random.default_rng(2)
    gs = [rng.standard_normal(4), rng.standard_normal((2, 3))]
    ps = [tg.tensor(np.zeros_like(g), requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = tg.tensor(g)
    flat = np.concatenate([g.ravel() for g in gs])
    total = np.abs(flat).max() if norm_type == math.inf else \
        (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    got = nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    np.testing.assert_allclose(float(got.item()), total, rtol=1e-12)
    coef = min(max_norm / (total + 1e-6), 1.0)
    for p, g in zip(ps, gs):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)


def test_clip_grad_norm_nonfinite_and_inside_compile():
    p = tg.tensor(np.zeros(2), requires_grad=True)
    p.grad = tg.tensor(np.array([np.inf, 1.0]))
    with pytest.raises(TracegradError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    w = tg.tensor(np.array([3.0, 4.0]), requires_grad=True)
    opt = tg.optim.SGD([w], lr=1.0)

    @tg.compile
    def step():
        opt.zero_grad()
        (w * tg.tensor(np.array([3.0, 4.0]))).sum().backward()  # gradient (3, 4), norm 5
        nn.utils.clip_grad_norm_([w], 1.0)
        opt.step()
    step()
    step()  # the replayed program clips too
    np.testing.assert_allclose(w.numpy(), [3 - 1.2, 4 - 1.6], rtol=1e-5)
    nn.utils.clip_grad_value_([p], 0.5)
    np.testing.assert_array_equal(p.grad.numpy(), [0.5, 0.5])


# --- save / load -------------------------------------------------------------------------------
def test_save_load_round_trip_of_model_and_optimizer(tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    opt = tg.optim.Adam(model.parameters(), lr=0.01)
    x = tg.tensor(np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32))
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    path = tmp_path / "ckpt.pt"
    tg.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3,
             "t": tg.tensor([1.0, 2.0], requires_grad=True)}, path)
    with np.load(path, allow_pickle=False) as z:  # a plain .npz, readable without pickle
        assert "__tracegrad_tree__" in z.files
    ck = tg.load(path)
    assert ck["epoch"] == 3 and isinstance(ck["t"], tg.Tensor) and ck["t"].requires_grad
    tg.manual_seed(1)
    model2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    opt2 = tg.optim.Adam(model2.parameters(), lr=0.5)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(model2.state_dict()[k], v)
        assert model2.state_dict()[k].dtype == v.dtype
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    for m, o in ((model, opt), (model2, opt2)):  # the restored pair takes the same next step
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    buf = io.BytesIO()  # file objects work too
    tg.save([1.5, (2, None), {"a": np.arange(3)}, float("nan")], buf)
    buf.seek(0)
    got = tg.load(buf)
    assert got[:2] == [1.5, (2, None)] and math.isnan(got[3])
    np.testing.assert_array_equal(got[2]["a"], np.arange(3))


def test_save_refuses_what_is_not_an_array_tree_and_load_never_unpickles(tmp_path):
    for bad, where in [({"f": print}, "['f']"), ({"m": nn.Linear(1, 1)}, "['m']"),
                       ([np.array([object()], dtype=object)], "[0]"), ({1.5: 1}, "1.5"),
                       ({"s": {1, 2}}, "['s']")]:
        with pytest.raises(tg.SerializationError, match=re.escape(where)):
            tg.save(bad, tmp_path / "x.npz")
    # a pickle with code in it, and a foreign .npz: typed errors, nothing executed
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"x": np.ones(2)}))
    with pytest.raises(tg.SerializationError):
        tg.load(evil)
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(tg.SerializationError, match="not written by tg.save"):
        tg.load(tmp_path / "plain.npz")
    with pytest.raises(TracegradError, match="CPU"):
        tg.load(tmp_path / "plain.npz", map_location="cuda:0")


@needs_torch
def test_schedulers_and_adagrad_against_pytorch():  # pragma: no cover - needs torch
    tp = torch.nn.Parameter(torch.ones(2))
    topt = torch.optim.SGD([tp], lr=0.3)
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=4, eta_min=0.01)
    s = lr_scheduler.CosineAnnealingLR(_opt(0.3), T_max=4, eta_min=0.01)
    ours = _lrs(s, 12)
    theirs = [ts.get_last_lr()[0]]
    for _ in range(12):
        topt.step()
        ts.step()
        theirs.append(ts.get_last_lr()[0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
