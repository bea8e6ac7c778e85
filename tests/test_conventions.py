"""The gradient conventions of docs/gradients.md, one test per row, in both modes, plus the
NaN-safety guarantees and stop_gradient / detach."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg


def both_modes(f, x):
    """(reverse-mode gradient, forward-mode directional derivatives along each basis vector)."""
    x = np.asarray(x, dtype=np.float64)
    rev = tg.grad(lambda v: np.sum(f(v)))(x)
    fwd = np.array([float(np.sum(tg.jvp(f, (x,), (e.reshape(x.shape),))[1]))
                    for e in np.eye(x.size)]).reshape(x.shape)
    return rev, fwd


@pytest.mark.parametrize("name,f,x,expected", [
    ("relu (where form) at 0 is 0", lambda v: np.where(v > 0, v, 0.0), [-1.0, 0.0, 2.0],
     [0.0, 0.0, 1.0]),
    ("maximum(x, 0) at 0 splits the tie", lambda v: np.maximum(v, 0.0), [-1.0, 0.0, 2.0],
     [0.0, 0.5, 1.0]),
    ("abs at 0 is 0", np.abs, [-2.0, 0.0, 3.0], [-1.0, 0.0, 1.0]),
    ("sign is 0", np.sign, [-2.0, 0.0, 3.0], [0.0, 0.0, 0.0]),
    ("floor is 0", np.floor, [-1.5, 0.5], [0.0, 0.0]),
    ("ceil is 0", np.ceil, [-1.5, 0.5], [0.0, 0.0]),
    ("round is 0", np.round, [-1.5, 0.4], [0.0, 0.0]),
    ("comparison is 0", lambda v: (v > 0).astype(np.float64) * v, [-1.0, 2.0], [0.0, 1.0]),
    ("maximum tie splits", lambda v: np.maximum(v, 1.0), [1.0], [0.5]),
    ("minimum tie splits", lambda v: np.minimum(v, 1.0), [1.0], [0.5]),
    ("reduce_max ties split", lambda v: np.max(v), [2.0, 2.0, 1.0], [0.5, 0.5, 0.0]),
    ("reduce_min ties split", lambda v: np.min(v), [1.0, 3.0, 1.0], [0.5, 0.0, 0.5]),
])
def test_convention(name, f, x, expected):
    rev, fwd = both_modes(f, x)
    np.testing.assert_array_equal(rev, expected)
    np.testing.assert_array_equal(fwd, expected)  # forward and reverse agree at the kink


def test_argmax_gradient_is_zero():
    g = tg.grad(lambda v: np.sum(v * np.argmax(v).astype(np.float64)))(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])  # only through v, not through argmax


@pytest.mark.parametrize("name,f,x", [
    ("sqrt of negative in the untaken branch", lambda v: np.where(v > 0, np.sqrt(v), 0.0),
     [-1.0, 0.0, 4.0]),
    ("log of zero in the untaken branch", lambda v: np.where(v > 0, v * np.log(v), 0.0),
     [-1.0, 0.0, 2.0]),
    ("NaN then sin in the untaken branch", lambda v: np.where(v > 0, np.sin(np.log(v)), 1.0),
     [-1.0, 0.0, 2.0]),
    ("sinc at 0", lambda v: np.where(v != 0, np.sin(v) / np.where(v != 0, v, 1.0), 1.0),
     [0.0, 1.0]),
    ("division by zero in the untaken branch", lambda v: np.where(v > 0, 1.0 / v, v),
     [0.0, -2.0, 2.0]),
    ("exp overflow in the untaken branch", lambda v: np.where(v > 100, v, np.exp(v)),
     [1000.0, 1.0]),
])
def test_where_gradient_not_polluted(name, f, x):
    x = np.asarray(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = tg.grad(lambda v: np.sum(f(v)))(x)
    assert np.all(np.isfinite(g)), g
    eps = 1e-7
    for i in range(x.size):
        if x[i] == 0 or abs(x[i]) > 100:
            continue  # at the branch point / overflow the finite difference is not meaningful
        e = np.zeros_like(x)
        e[i] = eps
        num = (np.sum(f(x + e)) - np.sum(f(x - e))) / (2 * eps)
        assert g[i] == pytest.approx(num, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("f", [np.sqrt, np.log, lambda v: v ** 0.5],
                         ids=["sqrt", "log", "pow"])
def test_singular_point_reached_through_zero_cotangent(f):
    """sqrt/log/pow at 0 multiplied by a zero weight: the gradient is 0, not NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = tg.grad(lambda v: np.sum(f(v) * np.array([0.0, 1.0])))(np.array([0.0, 4.0]))
    assert g[0] == 0.0 and np.isfinite(g[1])


def test_stop_gradient_and_detach():
    def f(x):
        return np.sum(x * tg.stop_gradient(x))
    np.testing.assert_array_equal(tg.grad(f)(np.array([2.0, 3.0])), [2.0, 3.0])

    def h(x):
        return np.sum(x * x.detach())
    np.testing.assert_array_equal(tg.grad(h)(np.array([2.0, 3.0])), [2.0, 3.0])
    _, t = tg.jvp(lambda v: v * tg.stop_gradient(v), (np.array([2.0]),), (np.array([1.0]),))
    np.testing.assert_array_equal(t, [2.0])
