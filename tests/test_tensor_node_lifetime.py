"""Lifetime of the lazy tensor DAG: a computed node that does not require grad is never walked
again (walks cut at computed values), so it must not keep its inputs alive. Otherwise a loop of
deferred in-place updates chains every iteration's nodes (and their values) to the previous
one's, and memory and the garbage collector's work grow with the number of iterations."""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np

import tracegrad as tg


def _step(x, y, params, lr=1e-6):
    a, b, c, d = params
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum().item()
    g = 2.0 * (y_pred - y)
    a -= lr * g.sum()
    b -= lr * (g * x).sum()
    c -= lr * (g * x ** 2).sum()
    d -= lr * (g * x ** 3).sum()
    return loss, y_pred


def test_deferred_update_loop_does_not_chain_iterations():
    """Before: each iteration's y_pred read the deferred value of ``a`` (a node whose inputs
    reach the previous iteration's gradient, hence its y_pred, ...): every node ever recorded
    stayed reachable from the parameters."""
    x = tg.tensor(np.linspace(-math.pi, math.pi, 50, dtype=np.float32))
    y = tg.sin(x)
    params = [tg.tensor(float(v)) for v in (0.1, 0.2, 0.3, 0.4)]
    _, y_pred = _step(x, y, params)
    first = weakref.ref(y_pred._node)
    del y_pred
    for _ in range(5):
        _step(x, y, params)
    gc.collect()
    assert first() is None


def test_loop_allocations_stay_flat():
    x = tg.tensor(np.linspace(-1, 1, 20, dtype=np.float32))
    y = x * 0.5
    params = [tg.tensor(float(v)) for v in (0.1, 0.2, 0.3, 0.4)]
    for _ in range(20):
        _step(x, y, params)
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(200):
        _step(x, y, params)
    gc.collect()
    assert len(gc.get_objects()) - before < 200  # was ~110 objects per iteration


def test_computed_node_keeps_its_inputs_while_it_requires_grad():
    """A computed node that requires grad is walked by backward: it keeps its inputs."""
    w = tg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    h = w * 3.0
    loss = (h * h).sum()
    assert loss.item() == 45.0  # computes h and loss
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [18.0, 36.0])
    v = tg.tensor(np.array([1.0, 2.0], np.float32))
    k = v * 3.0
    k.numpy()
    assert k._node.inputs == ()  # computed, no gradient: cut from the DAG
    np.testing.assert_array_equal((k + 1.0).numpy(), [4.0, 7.0])
