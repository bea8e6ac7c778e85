"""tg.nn.RNN / LSTM / GRU and their cells: forward against a float64 NumPy implementation of
PyTorch's formulas (written out here, gate order i,f,g,o and r,z,n), gradients of every
parameter, the input and the initial state against central differences of that reference,
PyTorch's parameter names, shapes and initialisation, one scan per layer and direction whatever
the sequence length, and training through eager tensors and tg.compile."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn
from tracegrad.errors import ArgumentError, ShapeError

RNG = np.random.default_rng(1)


# --- the NumPy reference ----------------------------------------------------------------------
def _sig(x):
    return 1 / (1 + np.exp(-x))


def ref_cell(mode, x, state, w_ih, w_hh, b_ih, b_hh):
    gi = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = state[0] @ w_hh.T + (b_hh if b_hh is not None else 0)
    n = state[0].shape[-1]
    if mode in ("RNN_TANH", "RNN_RELU"):
        a = gi + gh
        return (np.tanh(a) if mode == "RNN_TANH" else np.maximum(a, 0),)
    if mode == "LSTM":
        a = gi + gh
        i, f, g, o = _sig(a[:, :n]), _sig(a[:, n:2 * n]), np.tanh(a[:, 2 * n:3 * n]), \
            _sig(a[:, 3 * n:])
        c = f * state[1] + i * g
        return o * np.tanh(c), c
    r = _sig(gi[:, :n] + gh[:, :n])
    z = _sig(gi[:, n:2 * n] + gh[:, n:2 * n])
    new = np.tanh(gi[:, 2 * n:] + r * gh[:, 2 * n:])
    return ((1 - z) * new + z * state[0],)


def ref_seq(mode, params, x, states, num_layers, dirs):
    """x: (T, N, in); states: list of (L*D, N, H) arrays; returns (output, final states)."""
    finals = [[] for _ in states]
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = [params.get(k + sfx) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            st = tuple(s[layer * dirs + d] for s in states)
            ys = [None] * len(x)
            for t in (range(len(x)) if d == 0 else reversed(range(len(x)))):
                st = ref_cell(mode, x[t], st, *w)
                ys[t] = st[0]
            outs.append(np.stack(ys))
            for acc, s in zip(finals, st):
                acc.append(s)
        x = np.concatenate(outs, axis=2)
    return x, [np.stack(f) for f in finals]


def _float64(module):
    for name, p in list(module.named_parameters()):
        setattr(module, name, nn.Parameter(p.detach().numpy().astype(np.float64)))
    return module


def _params(module):
    return {k: v.detach().numpy() for k, v in module.named_parameters()}


def fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


LAYERS = {"RNN": lambda **k: nn.RNN(**k), "RNN_RELU": lambda **k: nn.RNN(nonlinearity="relu", **k),
          "LSTM": lambda **k: nn.LSTM(**k), "GRU": lambda **k: nn.GRU(**k)}
MODES = {"RNN": "RNN_TANH", "RNN_RELU": "RNN_RELU", "LSTM": "LSTM", "GRU": "GRU"}


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_sequence_layer_forward_and_every_gradient_match_reference(kind, batch_first):
    tg.manual_seed(3)
    T, N, I, H, L = 4, 2, 3, 3, 2
    m = _float64(LAYERS[kind](input_size=I, hidden_size=H, num_layers=L, bidirectional=True,
                              batch_first=batch_first))
    mode, lstm = MODES[kind], kind == "LSTM"
    x0 = RNG.normal(size=(T, N, I))
    h00 = RNG.normal(size=(2 * L, N, H)) * 0.5
    c00 = RNG.normal(size=(2 * L, N, H)) * 0.5
    x = tg.tensor(x0.transpose(1, 0, 2) if batch_first else x0, requires_grad=True)
    h0 = tg.tensor(h00, requires_grad=True)
    c0 = tg.tensor(c00, requires_grad=True)
    out, hn = m(x, (h0, c0) if lstm else h0)
    states = [h00, c00] if lstm else [h00]
    want_out, want_states = ref_seq(mode, _params(m), x0, states, L, 2)
    got_out = out.detach().numpy()
    assert np.allclose(got_out.transpose(1, 0, 2) if batch_first else got_out, want_out,
                       atol=1e-12)
    for got, want in zip(hn if lstm else (hn,), want_states):
        assert np.allclose(got.detach().numpy(), want, atol=1e-12)

    # loss = weighted sum of the output and of the final states
    wo, ws = RNG.normal(size=want_out.shape), [RNG.normal(size=s.shape) for s in want_states]

    def ref_loss(params, x_, states_):
        o, s = ref_seq(mode, params, x_, states_, L, 2)
        return np.sum(o * wo) + sum(np.sum(a * b) for a, b in zip(s, ws))
    wo_t = wo.transpose(1, 0, 2) if batch_first else wo
    loss = (out * tg.tensor(wo_t)).sum() + sum(
        (s * tg.tensor(w)).sum() for s, w in zip(hn if lstm else (hn,), ws))
    loss.backward()
    assert np.isclose(loss.item(), ref_loss(_params(m), x0, states))
    params = _params(m)
    for name, p in m.named_parameters():
        def f(v, name=name):
            return ref_loss({**params, name: v}, x0, states)
        assert p.grad is not None, f"{name} got no gradient"
        assert np.allclose(p.grad.numpy(), fd(f, params[name]), atol=1e-6), name
    gx = x.grad.numpy()
    assert np.allclose(gx.transpose(1, 0, 2) if batch_first else gx,
                       fd(lambda v: ref_loss(params, v, states), x0), atol=1e-6)
    assert np.allclose(h0.grad.numpy(),
                       fd(lambda v: ref_loss(params, x0, [v] + states[1:]), h00), atol=1e-6)
    if lstm:
        assert np.allclose(c0.grad.numpy(),
                           fd(lambda v: ref_loss(params, x0, [h00, v]), c00), atol=1e-6)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_reference_with_gradients(kind):
    tg.manual_seed(4)
    cell = _float64(getattr(nn, kind)(3, 4))
    mode = {"RNNCell": "RNN_TANH", "LSTMCell": "LSTM", "GRUCell": "GRU"}[kind]
    x0, h00, c00 = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 4)), RNG.normal(size=(2, 4))
    x = tg.tensor(x0, requires_grad=True)
    st = (tg.tensor(h00), tg.tensor(c00)) if mode == "LSTM" else tg.tensor(h00)
    out = cell(x, st)
    outs = out if mode == "LSTM" else (out,)
    p = _params(cell)
    states = (h00, c00) if mode == "LSTM" else (h00,)
    want = ref_cell(mode, x0, states, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    for g, w in zip(outs, want):
        assert np.allclose(g.detach().numpy(), w, atol=1e-12)
    sum(o.sum() for o in outs).backward()

    def f(v):
        q = {**p, "weight_hh": v}
        return sum(np.sum(a) for a in ref_cell(mode, x0, states, q["weight_ih"], v,
                                               q["bias_ih"], q["bias_hh"]))
    assert np.allclose(cell.weight_hh.grad.numpy(), fd(f, p["weight_hh"]), atol=1e-6)
    # unbatched input and default (zero) state
    single = cell(x[0])
    first = single[0] if mode == "LSTM" else single
    zero = (np.zeros((1, 4)),) * (2 if mode == "LSTM" else 1)
    assert np.allclose(first.detach().numpy(),
                       ref_cell(mode, x0[:1], zero, p["weight_ih"], p["weight_hh"],
                                p["bias_ih"], p["bias_hh"])[0][0], atol=1e-12)


def test_parameter_names_shapes_and_init_follow_pytorch():
    tg.manual_seed(0)
    m = nn.LSTM(3, 16, num_layers=2, bidirectional=True)
    shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
    assert list(shapes)[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert shapes["weight_ih_l0"] == (64, 3) and shapes["weight_hh_l0_reverse"] == (64, 16)
    assert shapes["weight_ih_l1"] == (64, 32) and shapes["bias_hh_l1_reverse"] == (64,)
    assert len(shapes) == 16
    assert [tuple(v.shape) for v in nn.GRU(5, 7, bias=False).parameters()] == [(21, 5), (21, 7)]
    k = 1 / math.sqrt(16)
    vals = np.concatenate([v.detach().numpy().ravel() for v in m.parameters()])
    assert np.abs(vals).max() <= k and abs(vals.std() - k / math.sqrt(3)) < 0.1 * k
    assert nn.RNN(2, 3).weight_ih_l0.dtype == np.float32
    assert "num_layers=2" in repr(m) and "bidirectional=True" in repr(m)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_one_scan_per_layer_and_direction_whatever_the_length(kind):
    from tracegrad.tensor import _Walk
    m = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True)
    counts = []
    for T in (3, 60):
        out, _ = m(tg.randn(T, 1, 2))
        nodes = _Walk([out._node], grad_mode=False).nodes
        counts.append((len(nodes), sum(n.op.name == "scan" for n in nodes)))
    assert counts[0] == counts[1] and counts[0][1] == 4


def _sine_batches(n=32, t=12):
    phase = RNG.uniform(0, 2 * np.pi, size=n)
    s = np.sin(phase[None, :] + 0.4 * np.arange(t + 1)[:, None]).astype(np.float32)
    return tg.tensor(s[:-1, :, None]), tg.tensor(s[1:, :, None])


class Predictor(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.rnn = getattr(nn, kind)(1, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "tg.compile"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_sine_prediction_trains(kind, compiled):
    tg.manual_seed(0)
    model = Predictor(kind)
    opt = tg.optim.Adam(model.parameters(), lr=0.03)
    x, y = _sine_batches()
    lossf = nn.MSELoss()

    def step(x, y):
        opt.zero_grad()
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = tg.compile(step)
    losses = [step(x, y).item() for _ in range(80)]
    assert losses[-1] < 0.05 * losses[0], losses[::20]
    assert all(p.grad is not None for p in model.parameters())
    if compiled:  # captured once, then replayed without running the Python step
        assert step.cache_info()["captures"] == 1 and step.cache_info()["hits"] == 79


def test_errors_name_the_fix():
    with pytest.raises(ShapeError, match=r"\(seq, batch, 3\)"):
        nn.LSTM(3, 4)(tg.randn(5, 2, 4))
    with pytest.raises(ArgumentError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ArgumentError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ShapeError, match="initial state"):
        nn.GRU(3, 4)(tg.randn(5, 2, 3), tg.zeros(1, 3, 4))


def test_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    for kind in ("RNN", "LSTM", "GRU"):
        ours = getattr(nn, kind)(3, 5, num_layers=2, bidirectional=True, batch_first=True)
        theirs = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True,
                                         batch_first=True)
        with torch.no_grad():
            for name, p in theirs.named_parameters():
                p.copy_(torch.from_numpy(getattr(ours, name).detach().numpy()))
        x = RNG.normal(size=(2, 6, 3)).astype(np.float32)
        o1, _ = ours(tg.tensor(x))
        o2, _ = theirs(torch.from_numpy(x))
        assert np.allclose(o1.detach().numpy(), o2.detach().numpy(), atol=1e-5)
        (o1 ** 2).sum().backward()
        (o2 ** 2).sum().backward()
        for name, p in theirs.named_parameters():
            assert np.allclose(getattr(ours, name).grad.numpy(), p.grad.numpy(), atol=1e-4), name
