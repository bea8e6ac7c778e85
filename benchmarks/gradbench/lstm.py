"""GradBench's lstm eval (ADBench's LSTM: diagonal weights, l stacked layers, a character
sequence as bit vectors): the mean log-likelihood of each next character, and its gradient in
the main and extra parameters, concatenated row-major.

The traced program runs the sequence through ``tg.scan`` (one traced step, whatever the length)
and the layers through a Python loop inside the step (the layer count is a shape). The
reference is a plain NumPy double loop over characters and layers; its gradient is checked by
central differences along random directions.

Input generation: GradBench encodes the first c characters of a text file as 7-bit vectors.
The text is not redistributed here; ``generate`` draws random 7-bit characters instead (same
shapes and values in {0, 1}), and the parameters and state uniformly in [0, 1) as the eval does.
"""
from __future__ import annotations

import numpy as np

import tracegrad as tg

from .check import directional_error
from .spec import Eval, Function, tolist

CHAR_BITS = 7


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _cell(weight, bias, hidden, cell, x):
    b = hidden.shape[0]
    gates = np.concatenate([x, hidden, x, hidden]) * weight + bias
    forget = _sigmoid(gates[:b])
    ingate = _sigmoid(gates[b:2 * b])
    outgate = _sigmoid(gates[2 * b:3 * b])
    change = np.tanh(gates[3 * b:])
    cell = cell * forget + ingate * change
    return outgate * np.tanh(cell), cell


def lstm_objective(main, extra, state, sequence):
    layers = state.shape[0] // 2

    def step(s, pair):
        x, target = pair
        x = x * extra[0]
        rows = []
        for i in range(layers):
            hidden, cell = _cell(main[2 * i], main[2 * i + 1], s[2 * i], s[2 * i + 1], x)
            rows += [hidden, cell]
            x = hidden
        y = x * extra[1] + extra[2]
        ynorm = y - np.log(np.sum(np.exp(y)) + 2)
        return np.stack(rows), np.sum(target * ynorm)

    _, scores = tg.scan(step, state, (sequence[:-1], sequence[1:]))
    return -np.sum(scores) / ((sequence.shape[0] - 1) * sequence.shape[1])


def lstm_numpy(main, extra, state, sequence):
    """The reference: the same model as plain NumPy loops."""
    s = state.copy()
    total = 0.0
    for t in range(len(sequence) - 1):
        x = sequence[t] * extra[0]
        new = s.copy()
        for i in range(0, len(s), 2):
            new[i], new[i + 1] = _cell(main[i], main[i + 1], s[i], s[i + 1], x)
            x = new[i]
        s = new
        y = x * extra[1] + extra[2]
        total += np.sum(sequence[t + 1] * (y - np.log(np.sum(np.exp(y)) + 2)))
    return -total / ((len(sequence) - 1) * sequence.shape[1])


def _prepare(inp):
    f = lambda key: np.asarray(inp[key], dtype=np.float64)
    return (f("main_params"), f("extra_params"), f("state"), f("sequence")), ()


def _build(grad):
    def build(backend, static):
        if grad:
            g = tg.grad(lstm_objective, argnums=(0, 1))
            f = lambda m, e, s, q: np.concatenate([v.ravel() for v in g(m, e, s, q)])
        else:
            f = lstm_objective
        return tg.jit(f, backend=backend)
    return build


def _reference(function, inp):
    if function == "objective":
        return tolist(lstm_numpy(*_prepare(inp)[0]))
    return None


def _directional(inp, output):
    """<gradient, v> against differences of the reference along random unit directions."""
    main, extra, state, sequence = _prepare(inp)[0]
    grad = np.asarray(output)
    grads = [grad[:main.size].reshape(main.shape), grad[main.size:].reshape(extra.shape)]
    return directional_error(lambda ps: lstm_numpy(ps[0], ps[1], state, sequence),
                             [main, extra], grads)


def _generate(size, seed):
    layers, chars = size
    rng = np.random.default_rng(seed)
    return {"main_params": rng.random((2 * layers, 4 * CHAR_BITS)).tolist(),
            "extra_params": rng.random((3, CHAR_BITS)).tolist(),
            "state": rng.random((2 * layers, CHAR_BITS)).tolist(),
            "sequence": rng.integers(0, 2, (chars, CHAR_BITS)).astype(float).tolist()}


LSTM = Eval(
    name="lstm",
    functions={"objective": Function("objective", _build(False)),
               "jacobian": Function("gradient", _build(True))},
    prepare=_prepare, post=lambda f, r, i: tolist(r), generate=_generate,
    sizes=sorted([(l, c) for l in (2, 4, 6) for c in (1024, 4096, 8192)],
                 key=lambda v: v[0] * v[1]),
    quick_sizes=[(1, 4), (2, 6)], bench_sizes=[(2, 1024), (4, 4096), (6, 8192)],
    reference=_reference, describe=lambda v: "l={},c={}".format(*v), directional=_directional)
