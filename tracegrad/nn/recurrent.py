"""Recurrent layers with PyTorch's formulas, parameter names, shapes and initialisation:
``RNNCell``/``LSTMCell``/``GRUCell`` (one step) and ``RNN``/``LSTM``/``GRU`` (whole sequences,
``num_layers``, ``batch_first``, ``dropout`` between layers, ``bidirectional``).

A sequence layer computes the input projections of every step at once (one matmul over the
sequence, as cuDNN does) and runs the recurrence as ONE ``tg.scan`` per layer and direction, so
the graph, its compile time and its gradient program do not grow with the sequence length. The
scan body reads ``weight_hh`` from the layer (tracegrad/tensor/control.py makes such closed-over
parameters operands of the loop, so they get gradients).

Gate layouts (rows of ``weight_ih``/``weight_hh``), as PyTorch's: LSTM ``(i, f, g, o)``, GRU
``(r, z, n)``; GRU's ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
"""
from __future__ import annotations

import math

from ..errors import ArgumentError, ShapeError
from ..tensor.functions import cat, stack
from . import functional as F
from .modules import Module, Parameter, _uniform


# --- one step, from the input projection ``gi = x W_ih^T + b_ih`` ---------------------------
def _rnn_step(gi, h, w_hh_t, b_hh, act):
    g = gi + h @ w_hh_t
    return act(g + b_hh if b_hh is not None else g)


def _lstm_step(gi, h, c, w_hh_t, b_hh):
    g = gi + h @ w_hh_t
    if b_hh is not None:
        g = g + b_hh
    n = h.shape[-1]
    i, f = F.sigmoid(g[..., :n]), F.sigmoid(g[..., n:2 * n])
    cell, o = F.tanh(g[..., 2 * n:3 * n]), F.sigmoid(g[..., 3 * n:])
    c = f * c + i * cell
    return o * F.tanh(c), c


def _gru_step(gi, h, w_hh_t, b_hh):
    gh = h @ w_hh_t
    if b_hh is not None:
        gh = gh + b_hh
    n = h.shape[-1]
    r = F.sigmoid(gi[..., :n] + gh[..., :n])
    z = F.sigmoid(gi[..., n:2 * n] + gh[..., n:2 * n])
    new = F.tanh(gi[..., 2 * n:] + r * gh[..., 2 * n:])
    return (1 - z) * new + z * h


_ACTS = {"tanh": F.tanh, "relu": F.relu}
_CHUNKS = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in _ACTS:
        raise ArgumentError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def _sizes(input_size, hidden_size):
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ArgumentError(f"{name} must be a positive int, got {v!r}")


# --- cells ------------------------------------------------------------------------------------
class _CellBase(Module):
    def __init__(self, input_size, hidden_size, bias, chunks):
        super().__init__()
        _sizes(input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        k = 1.0 / math.sqrt(hidden_size)  # PyTorch: every weight and bias U(-k, k)
        self.weight_ih = Parameter(_uniform((chunks * hidden_size, input_size), k))
        self.weight_hh = Parameter(_uniform((chunks * hidden_size, hidden_size), k))
        if bias:
            self.bias_ih = Parameter(_uniform((chunks * hidden_size,), k))
            self.bias_hh = Parameter(_uniform((chunks * hidden_size,), k))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def _prepare(self, input, hx):
        """(gi, hidden states batched, whether the input was unbatched)."""
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__} expects input of shape (batch, "
                             f"{self.input_size}) or ({self.input_size},), got "
                             f"{tuple(input.shape)}")
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)
        gi = F.linear(input, self.weight_ih, self.bias_ih)
        shape = (input.shape[0], self.hidden_size)
        hs = []
        for h in (hx if isinstance(hx, tuple) else (hx,)):
            if h is None:
                from ..tensor import zeros
                h = zeros(*shape, dtype=gi.dtype)
            elif unbatched:
                h = h.unsqueeze(0)
            if tuple(h.shape) != shape:
                raise ShapeError(f"{type(self).__name__}: hidden state of shape "
                                 f"{tuple(h.shape)}, expected {shape}")
            hs.append(h)
        return gi, hs, unbatched

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``act`` tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        super().__init__(input_size, hidden_size, bias, 1)
        self.nonlinearity = _check_nonlinearity(nonlinearity)

    def forward(self, input, hx=None):
        gi, (h,), unbatched = self._prepare(input, hx)
        out = _rnn_step(gi, h, self.weight_hh.t(), self.bias_hh, _ACTS[self.nonlinearity])
        return out.squeeze(0) if unbatched else out


class LSTMCell(_CellBase):
    """``(h', c')`` from ``(h, c)`` with gates ``i, f, g, o`` (PyTorch's order)."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias, 4)

    def forward(self, input, hx=None):
        gi, (h, c), unbatched = self._prepare(input, hx if hx is not None else (None, None))
        h, c = _lstm_step(gi, h, c, self.weight_hh.t(), self.bias_hh)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_CellBase):
    """``h' = (1 - z) n + z h`` with gates ``r, z, n`` (PyTorch's order and formula)."""

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__(input_size, hidden_size, bias, 3)

    def forward(self, input, hx=None):
        gi, (h,), unbatched = self._prepare(input, hx)
        out = _gru_step(gi, h, self.weight_hh.t(), self.bias_hh)
        return out.squeeze(0) if unbatched else out


# --- sequence layers --------------------------------------------------------------------------
class _RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0):
        super().__init__()
        _sizes(input_size, hidden_size)
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ArgumentError(f"num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= float(dropout) <= 1.0:
            raise ArgumentError(f"dropout must be in [0, 1], got {dropout!r}")
        if proj_size:
            raise ArgumentError("LSTM(proj_size=...) is not supported yet; use proj_size=0 "
                                "and a Linear layer on the output")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        dirs = 2 if self.bidirectional else 1
        g, k = _CHUNKS[mode], 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else hidden_size * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                setattr(self, "weight_ih" + sfx, Parameter(_uniform((g * hidden_size, n_in), k)))
                setattr(self, "weight_hh" + sfx,
                        Parameter(_uniform((g * hidden_size, hidden_size), k)))
                if bias:
                    setattr(self, "bias_ih" + sfx, Parameter(_uniform((g * hidden_size,), k)))
                    setattr(self, "bias_hh" + sfx, Parameter(_uniform((g * hidden_size,), k)))

    def _weights(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = self._parameters.get
        return (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
                get("bias_hh" + sfx))

    @property
    def all_weights(self):
        dirs = 2 if self.bidirectional else 1
        return [[p for p in self._weights(layer, d) if p is not None]
                for layer in range(self.num_layers) for d in range(dirs)]

    def flatten_parameters(self) -> None:
        """PyTorch's cuDNN hint: nothing to do here."""

    def _run_direction(self, x, states, layer, d):
        """One layer in one direction: the input projection of every step at once, then one
        scan over the steps. ``states``: the initial (h,) or (h, c)."""
        from ..control_flow import scan
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
        gi = F.linear(x, w_ih, b_ih)              # (T, N, chunks * H)
        w_hh_t = w_hh.t()
        mode = self.mode
        if mode != "GRU" and b_hh is not None:
            gi, b_hh = gi + b_hh, None           # both biases add before the nonlinearity
        if mode == "LSTM":
            def step(carry, g):
                h, c = _lstm_step(g, carry[0], carry[1], w_hh_t, b_hh)
                return (h, c), h
        elif mode == "GRU":
            def step(carry, g):
                h = _gru_step(g, carry[0], w_hh_t, b_hh)
                return (h,), h
        else:
            act = _ACTS["relu" if mode == "RNN_RELU" else "tanh"]

            def step(carry, g):
                h = _rnn_step(g, carry[0], w_hh_t, b_hh, act)
                return (h,), h
        final, ys = scan(step, tuple(states), gi, reverse=bool(d))
        return ys, final

    def forward(self, input, hx=None):
        lstm = self.mode == "LSTM"
        name = type(self).__name__
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ShapeError(f"{name} expects input of shape (seq, batch, {self.input_size})"
                             f"{' with batch_first=True: (batch, seq, ...)' if self.batch_first else ''}"
                             f" or (seq, {self.input_size}), got {tuple(input.shape)}")
        unbatched = input.ndim == 2
        x = input.unsqueeze(1) if unbatched else (
            input.transpose(0, 1) if self.batch_first else input)
        dirs = 2 if self.bidirectional else 1
        shape = (self.num_layers * dirs, x.shape[1], self.hidden_size)
        if lstm and hx is not None and not (isinstance(hx, tuple) and len(hx) == 2):
            raise ArgumentError("LSTM's hx must be a tuple (h_0, c_0)")
        parts = hx if lstm else (hx,)
        hs = []
        for h in (parts if hx is not None else (None,) * (2 if lstm else 1)):
            if h is None:
                from ..tensor import zeros
                h = zeros(*shape, dtype=x.dtype)
            elif unbatched:
                h = h.unsqueeze(1)
            if tuple(h.shape) != shape:
                raise ShapeError(f"{name}: initial state of shape {tuple(h.shape)}, expected "
                                 f"{shape if not unbatched else (shape[0], shape[2])}")
            hs.append(h)
        finals = [[] for _ in hs]
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                ys, final = self._run_direction(x, [h[k] for h in hs], layer, d)
                outs.append(ys)
                for acc, f in zip(finals, final):
                    acc.append(f)
            x = outs[0] if dirs == 1 else cat(outs, dim=2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        states = [stack(f, 0) for f in finals]
        if unbatched:
            x, states = x.squeeze(1), [s.squeeze(1) for s in states]
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, (tuple(states) if lstm else states[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        for attr, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, attr) != default:
                s += f", {attr}={getattr(self, attr)}"
        return s


class RNN(_RNNBase):
    """Elman RNN, ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``; returns
    ``(output, h_n)``."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False):
        mode = "RNN_RELU" if _check_nonlinearity(nonlinearity) == "relu" else "RNN_TANH"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)
        self.nonlinearity = nonlinearity


class LSTM(_RNNBase):
    """Long short-term memory; returns ``(output, (h_n, c_n))``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size)


class GRU(_RNNBase):
    """Gated recurrent unit; returns ``(output, h_n)``."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)
