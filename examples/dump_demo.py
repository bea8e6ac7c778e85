"""Functions to look at with `tracegrad dump` (the CLI tests and the README use this file).

    tracegrad dump examples/dump_demo.py:loss --example --grad
    tracegrad dump examples/dump_demo.py:mlp_loss --example --value-and-grad params
    tracegrad dump examples/dump_demo.py:loss --example --grad --format dot --svg loss.svg
"""
from __future__ import annotations

import numpy as np


def loss(w, x):
    """A one-layer network's mean squared activation: small, with a matmul and a reduction."""
    h = np.tanh(x @ w)
    return np.mean(h * h)


def example():
    """Arguments for `loss` (only their shapes and dtypes matter to the dump)."""
    return np.zeros((784, 128), np.float32), np.zeros((64, 784), np.float32)


def mlp_loss(params, x, y):
    """Two-layer MLP with a softmax cross-entropy: params is a dict (a pytree argument)."""
    h = np.maximum(x @ params["w1"] + params["b1"], 0.0)
    logits = h @ params["w2"] + params["b2"]
    logits = logits - np.max(logits, axis=1, keepdims=True)
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(logp * y, axis=1))


def mlp_loss_example():
    """Arguments for `mlp_loss` (found by `--example` through its name), as type strings: no
    arrays need to exist."""
    return {"params": {"w1": "f32[784,128]", "b1": "f32[128]", "w2": "f32[128,10]",
                       "b2": "f32[10]"},
            "x": "f32[64,784]", "y": "f32[64,10]"}


def poly(x):
    """A scalar polynomial: its --hessian and --jvp dumps are short."""
    return np.sum(x ** 3 + 2.0 * x * x)


def branchy(x):
    """Fails to trace: Python `if` on a traced value (the CLI names this line)."""
    if np.sum(x) > 0:
        return x
    return -x


if __name__ == "__main__":
    print(loss(*example()))
