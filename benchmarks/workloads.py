"""The workloads W1-W6 (BENCHMARKS.md): each has a tracegrad function, its arguments, and a
NumPy eager implementation of the same forward + gradient with a hand-written backward."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

F32 = np.float32


@dataclass
class Workload:
    name: str
    what: str
    make_args: Callable        # (rng, scale) -> args
    traced: Callable           # args -> outputs, built from tg transforms (jit-compiled by runner)
    eager: Callable            # args -> outputs, NumPy with a hand-written backward
    forward: Callable | None = None  # plain forward for the forward-only column


# --- W1 ----------------------------------------------------------------------------------------
def w1_f(x, y):
    return np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))


def w1_eager(x, y):
    t = np.tanh(x * y + np.sin(x))
    e = np.exp(-y * y)
    value = np.sum(t * e)
    da = (1 - t * t) * e
    dx = da * (y + np.cos(x))
    dy = da * x - 2 * y * t * e
    return value, dx, dy


def w1_args(rng, scale):
    n = int(4_000_000 * scale)
    return rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)


# --- W2 ----------------------------------------------------------------------------------------
def mlp_loss(params, x, labels):
    w1, b1, w2, b2, w3, b3 = params
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    logits = h2 @ w3 + b3
    m = np.max(logits, axis=1, keepdims=True)
    z = logits - m
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(np.take_along_axis(logp, labels[:, None], axis=1))


def mlp_eager(params, x, labels):
    w1, b1, w2, b2, w3, b3 = params
    a1 = x @ w1 + b1
    h1 = np.maximum(a1, 0)
    a2 = h1 @ w2 + b2
    h2 = np.maximum(a2, 0)
    logits = h2 @ w3 + b3
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.mean((logits - m - np.log(s))[np.arange(n), labels])
    d = e / s
    d[np.arange(n), labels] -= 1
    d /= n
    gw3, gb3 = h2.T @ d, d.sum(0)
    d2 = (d @ w3.T) * (a2 > 0)
    gw2, gb2 = h1.T @ d2, d2.sum(0)
    d1 = (d2 @ w2.T) * (a1 > 0)
    gw1, gb1 = x.T @ d1, d1.sum(0)
    return loss, (gw1, gb1, gw2, gb2, gw3, gb3)


def mlp_args(rng, scale):
    sizes = [784, 256, 256, 10]
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        params += [(rng.standard_normal((i, o)) / np.sqrt(i)).astype(F32), np.zeros(o, F32)]
    batch = max(8, int(256 * scale))
    x = rng.standard_normal((batch, 784)).astype(F32)
    labels = rng.integers(0, 10, batch)
    return tuple(params), x, labels


def sgd_step_traced(grad_fn):
    def step(params, x, labels):
        loss, g = grad_fn(params, x, labels)
        return loss, tuple(p - 0.01 * gp for p, gp in zip(params, g))
    return step


def sgd_step_eager(params, x, labels):
    loss, g = mlp_eager(params, x, labels)
    return loss, tuple(p - np.float32(0.01) * gp for p, gp in zip(params, g))


# --- W3 ----------------------------------------------------------------------------------------
def w3_f(a):
    m = np.max(a, axis=1, keepdims=True)
    return np.sum(np.log(np.sum(np.exp(a - m), axis=1)) + m[:, 0])


def w3_eager(a):
    m = a.max(axis=1, keepdims=True)
    e = np.exp(a - m)
    s = e.sum(axis=1, keepdims=True)
    return np.sum(np.log(s) + m), e / s


def w3_args(rng, scale):
    return (rng.standard_normal((max(8, int(2048 * scale)), 1024)).astype(F32),)


# --- W4 ----------------------------------------------------------------------------------------
_C = np.float32(0.7978845608028654)


def w4_f(x, gain, bias):
    mu = np.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=-1, keepdims=True)
    y = xc / np.sqrt(var + 1e-5) * gain + bias
    g = 0.5 * y * (1 + np.tanh(_C * (y + 0.044715 * y * y * y)))
    return np.sum(g * g)


def w4_eager(x, gain, bias):
    n = x.shape[-1]
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(var + np.float32(1e-5))
    xhat = xc * rstd
    y = xhat * gain + bias
    u = _C * (y + np.float32(0.044715) * y * y * y)
    t = np.tanh(u)
    g = np.float32(0.5) * y * (1 + t)
    value = np.sum(g * g)
    dg = 2 * g
    dy = dg * (np.float32(0.5) * (1 + t) + np.float32(0.5) * y * (1 - t * t) * _C *
               (1 + np.float32(3 * 0.044715) * y * y))
    dgain = (dy * xhat).sum(0)
    dbias = dy.sum(0)
    dxhat = dy * gain
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) -
                 xhat * (dxhat * xhat).mean(-1, keepdims=True))
    _ = n
    return value, (dx, dgain, dbias)


def w4_args(rng, scale):
    rows = max(8, int(4096 * scale))
    return (rng.standard_normal((rows, 1024)).astype(F32),
            (1 + 0.1 * rng.standard_normal(1024)).astype(F32),
            (0.1 * rng.standard_normal(1024)).astype(F32))


# --- W5 ----------------------------------------------------------------------------------------
def w5_f(x):
    for _ in range(25):
        x = np.sin(x) * 1.01 + 0.1 * x * x
    return np.sum(x)


def w5_eager(x):
    xs = []
    for _ in range(25):
        xs.append(x)
        x = np.sin(x) * 1.01 + 0.1 * x * x
    g = np.ones_like(x)
    for xi in reversed(xs):
        g = g * (np.cos(xi) * 1.01 + 0.2 * xi)
    return np.sum(x), g


def w5_args(rng, scale):
    return ((0.5 * rng.standard_normal(16)).astype(F32),)


# --- W6 ----------------------------------------------------------------------------------------
def w6_f(a, x):
    return np.sum(np.log(1 + np.exp(a @ x)))


def w6_eager(a, x, v):
    z = a @ x
    s = 1 / (1 + np.exp(-z))
    return a.T @ (s * (1 - s) * (a @ v))


def w6_args(rng, scale):
    n = max(8, int(1000 * scale))
    a = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(F32)
    return a, rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
