"""A corpus of whole programs (name -> function and argument maker), shared by the
differentiation, pass and backend tests. Each function is plain NumPy, so NumPy eager is the
reference; each returns a scalar loss unless ``scalar`` says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Program:
    name: str
    fn: Callable
    make_args: Callable  # rng -> tuple of arguments
    scalar: bool = True
    small: bool = True   # cheap enough for second-order checks


def _softmax_xent(logits, labels):
    m = np.max(logits, axis=-1, keepdims=True)
    z = logits - m
    logp = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, labels[:, None], axis=1)
    return -np.mean(picked)


def mlp_loss(params, x, labels):
    (w1, b1), (w2, b2) = params
    h = np.maximum(x @ w1 + b1, 0.0)
    return _softmax_xent(h @ w2 + b2, labels)


def _mlp_args(rng):
    w1 = rng.standard_normal((6, 5)) * 0.5
    b1 = rng.standard_normal(5) * 0.1
    w2 = rng.standard_normal((5, 3)) * 0.5
    b2 = rng.standard_normal(3) * 0.1
    x = rng.standard_normal((4, 6))
    labels = rng.integers(0, 3, size=4)
    return (((w1, b1), (w2, b2)), x, labels)


def layernorm_gelu(x, gain, bias):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * gain + bias
    g = 0.5 * y * (1.0 + np.tanh(0.7978845608028654 * (y + 0.044715 * y ** 3)))
    return np.sum(g * g)


def _ln_args(rng):
    return (rng.standard_normal((3, 5)), 1.0 + 0.1 * rng.standard_normal(5),
            0.1 * rng.standard_normal(5))


def logsumexp_rows(a):
    m = np.max(a, axis=1, keepdims=True)
    return np.sum(np.log(np.sum(np.exp(a - m), axis=1)) + m[:, 0])


def rnn_tanh(h0, wx, wh, xs):
    h = h0
    for t in range(5):
        h = np.tanh(xs[t] @ wx + h @ wh)
    return np.sum(h * h)


def _rnn_args(rng):
    return (rng.standard_normal(4) * 0.5, rng.standard_normal((3, 4)) * 0.5,
            rng.standard_normal((4, 4)) * 0.5, rng.standard_normal((5, 3)))


def polynomial(x):
    return np.sum(x ** 2 + 3 * x + 1)


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def softmax_weighted(x, w):
    e = np.exp(x - np.max(x))
    p = e / np.sum(e)
    return np.dot(p, w)


def w1_like(x, y):
    return np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))


def einsum_bilinear(a, b, c):
    return np.einsum("ij,jk,k->", a, b, c)


def indexing_mix(x, idx):
    y = x[1:, ::2] * 2.0
    z = x[idx] + x[idx, -1][:, None]
    return np.sum(y ** 2) + np.sum(np.cumsum(z, axis=0)) + np.prod(x[0, :3])


PROGRAMS = [
    Program("mlp_softmax_xent", mlp_loss, _mlp_args),
    Program("layernorm_gelu", layernorm_gelu, _ln_args),
    Program("logsumexp", logsumexp_rows, lambda r: (r.standard_normal((3, 4)) * 3,)),
    Program("rnn_tanh_5", rnn_tanh, _rnn_args),
    Program("polynomial", polynomial, lambda r: (r.standard_normal(4),)),
    Program("rosenbrock", rosenbrock, lambda r: (r.standard_normal(6) * 0.5,)),
    Program("softmax_weighted", softmax_weighted,
            lambda r: (r.standard_normal(5), r.standard_normal(5))),
    Program("w1_like", w1_like, lambda r: (r.standard_normal(7), r.standard_normal(7))),
    Program("einsum_bilinear", einsum_bilinear,
            lambda r: (r.standard_normal((2, 3)), r.standard_normal((3, 4)),
                       r.standard_normal(4))),
    Program("indexing_mix", indexing_mix,
            lambda r: (r.standard_normal((4, 5)), np.array([2, 0, -1]))),
]
