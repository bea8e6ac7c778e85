"""tg.nn: module bookkeeping, PyTorch's Linear layout and initialisation, layers and losses
against NumPy references, numerical stability at extreme inputs, and errors."""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn
from tracegrad.nn import functional as F


def mlp():
    tg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_linear_layout_init_and_forward():
    tg.manual_seed(0)
    layer = nn.Linear(100, 30)
    assert layer.weight.shape == (30, 100) and layer.bias.shape == (30,)
    bound = 1 / math.sqrt(100)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound  # U(-1/sqrt(in), ..)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01
    assert layer.weight.requires_grad and isinstance(layer.weight, nn.Parameter)
    x = np.random.default_rng(0).standard_normal((5, 100)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), x @ w.T + layer.bias.numpy(), rtol=1e-5)
    assert nn.Linear(3, 2, bias=False).bias is None


def test_module_bookkeeping():
    m = mlp()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(m.parameters())) == 4 and len(m) == 3 and isinstance(m[1], nn.ReLU)
    assert "Linear(in_features=4, out_features=8, bias=True)" in repr(m)
    assert m.training and not m.eval().training and not m[0].training and m.train().training

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = mlp()
            self.scale = nn.Parameter(np.ones(3, np.float32))
            self.register_buffer("offset", np.zeros(3, np.float32))

        def forward(self, x):
            return self.body(x) * self.scale + self.offset

    net = Net()
    assert [n for n, _ in net.named_parameters()][0] == "scale"  # own first, as PyTorch
    assert set(net.state_dict()) == {"body.0.weight", "body.0.bias", "body.2.weight",
                                      "body.2.bias", "scale", "offset"}
    assert net(np.zeros((2, 4), np.float32)).shape == (2, 3)

    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(1))

    with pytest.raises(tg.TracegradError, match="super"):
        Bad()
    seq = nn.Sequential(OrderedDict(a=nn.Tanh(), b=nn.Sigmoid()))
    assert [n for n, _ in seq.named_children()] == ["a", "b"]


def test_state_dict_roundtrip_and_errors():
    a, b = mlp(), mlp()
    for p in b.parameters():
        p.data[...] = 0
    sd = a.state_dict()
    b.load_state_dict(sd)
    for p, q in zip(a.parameters(), b.parameters()):
        assert np.array_equal(p.numpy(), q.numpy())
    sd["0.weight"][...] = 7  # a snapshot: changing it does not touch the module
    assert not np.any(a[0].weight.numpy() == 7)
    with pytest.raises(tg.TracegradError, match="missing"):
        b.load_state_dict({"0.weight": sd["0.weight"]})
    res = b.load_state_dict({"0.weight": sd["0.weight"]}, strict=False)
    assert "0.bias" in res.missing_keys
    with pytest.raises(tg.ShapeError, match="shape"):
        b.load_state_dict({**a.state_dict(), "0.bias": np.zeros(3)})


def test_activations_match_references():
    x = np.linspace(-5, 5, 41).astype(np.float64)
    t = tg.tensor(x)
    from scipy.special import erf
    refs = {
        F.relu: np.maximum(x, 0), F.sigmoid: 1 / (1 + np.exp(-x)), F.tanh: np.tanh(x),
        F.softplus: np.log1p(np.exp(x)), F.gelu: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    }
    for fn, want in refs.items():
        np.testing.assert_allclose(fn(t).numpy(), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fn(x), want, rtol=1e-12, atol=1e-12)  # on plain arrays too
    tanh_gelu = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(nn.GELU("tanh")(t).numpy(), tanh_gelu, rtol=1e-12)
    for mod, fn in [(nn.ReLU(), F.relu), (nn.Sigmoid(), F.sigmoid), (nn.Tanh(), F.tanh)]:
        np.testing.assert_array_equal(mod(t).numpy(), fn(t).numpy())


def test_relu_gradient_at_zero_is_zero():
    x = tg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    F.relu(x).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 0.0, 1.0]


def test_stability_at_extremes():
    s = F.sigmoid(tg.tensor([-800.0, 800.0], requires_grad=True))
    assert s.numpy().tolist() == [0.0, 1.0]
    x = tg.tensor([-800.0, 0.0, 800.0], requires_grad=True)
    y = F.softplus(x)
    np.testing.assert_allclose(y.numpy(), [0.0, np.log(2), 800.0], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 1.0])
    logits = tg.tensor([[1e4, 0.0, -1e4], [0.0, 1e30, 0.0]], requires_grad=True)
    target = tg.tensor([1, 1])
    loss = F.cross_entropy(logits, target)
    assert np.isfinite(loss.item()) and abs(loss.item() - 5e3) < 1e-3 * 5e3
    loss.backward()
    assert np.all(np.isfinite(logits.grad.numpy()))
    sm = F.softmax(tg.tensor([[1000.0, 1000.0]]))
    assert sm.numpy().tolist() == [[0.5, 0.5]]
    assert np.all(np.isfinite(F.log_softmax(tg.tensor([[1e30, -1e30]])).numpy()))


def test_cross_entropy_and_mse_match_numpy_and_grad():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    nll = -logp[np.arange(6), y]
    for red, want in [("mean", nll.mean()), ("sum", nll.sum())]:
        np.testing.assert_allclose(nn.CrossEntropyLoss(reduction=red)(tg.tensor(z), y).item(),
                                   want, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(tg.tensor(z), tg.tensor(y),
                                               reduction="none").numpy(), nll, rtol=1e-12)
    t = tg.tensor(z, requires_grad=True)
    F.cross_entropy(t, y).backward()
    want = tg.grad(lambda a: F.cross_entropy(a, y))(z)
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12)
    soft = np.exp(logp)
    np.testing.assert_allclose(t.grad.numpy(), (soft - np.eye(5)[y]) / 6, rtol=1e-10)
    target = rng.standard_normal((6, 5))
    np.testing.assert_allclose(nn.MSELoss()(tg.tensor(z), target).item(),
                               ((z - target) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.MSELoss(reduction="sum")(tg.tensor(z), target).item(),
                               ((z - target) ** 2).sum(), rtol=1e-12)


def test_loss_errors():
    with pytest.raises(tg.TracegradError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(tg.ShapeError, match="shape"):
        F.mse_loss(tg.zeros(3), tg.zeros(4))
    with pytest.raises(tg.ShapeError, match="targets"):
        F.cross_entropy(tg.zeros(4, 3), tg.tensor([0, 1]))
    with pytest.raises(tg.TracegradError, match="integer"):
        F.cross_entropy(tg.zeros(2, 3), tg.zeros(2))


def test_layer_norm_softmax():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6))
    ln = nn.LayerNorm(6)
    ln.weight.data[...] = np.arange(6)
    ln.bias.data[...] = 1.0
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    want = (x - mu) / np.sqrt(var + 1e-5) * np.arange(6) + 1.0
    np.testing.assert_allclose(ln(tg.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(tg.ShapeError, match="normalized_shape"):
        F.layer_norm(tg.tensor(x), (5,))
    sm = F.softmax(tg.tensor(x), dim=0).numpy()
    np.testing.assert_allclose(sm.sum(0), 1.0, rtol=1e-12)


def test_dropout_seeded_and_eval_identity():
    x = tg.ones(1000)
    a, b = nn.Dropout(0.25, seed=5), nn.Dropout(0.25, seed=5)
    ya, yb = a(x).numpy(), b(x).numpy()
    assert np.array_equal(ya, yb)
    assert set(np.unique(ya)) == {0.0, np.float32(1 / 0.75)}
    assert 0.18 < (ya == 0).mean() < 0.32
    assert not np.array_equal(ya, a(x).numpy())  # a new mask each call
    a.eval()
    assert np.array_equal(a(x).numpy(), x.numpy())
    with pytest.raises(tg.TracegradError, match="probability"):
        nn.Dropout(1.5)
