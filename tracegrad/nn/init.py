"""``tg.nn.init``: in-place initialisers of leaf tensors (drawn from tg's seeded generator)."""
from __future__ import annotations

import importlib
import math

import numpy as np

T = importlib.import_module("tracegrad.tensor")  # the module (tg.tensor is the function)



def _fill(t, values):
    if T._CAPTURE:  # inside tg.compile: a recorded write (values may be a redrawn draw)
        with T.no_grad():
            t._inplace_assign(values)
        return t
    T._before_mutation()
    np.copyto(t._value, values, casting="unsafe")
    return t


def _fans(t):
    shape = t.shape
    if len(shape) < 2:
        return shape[0] if shape else 1, shape[0] if shape else 1
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform_(t, a=0.0, b=1.0, generator=None):
    g = generator or T.default_generator()
    return _fill(t, g.uniform(a, b, size=t.shape))


def normal_(t, mean=0.0, std=1.0, generator=None):
    g = generator or T.default_generator()
    return _fill(t, g.normal(mean, std, size=t.shape))


def zeros_(t):
    return _fill(t, 0)


def ones_(t):
    return _fill(t, 1)


def constant_(t, value):
    return _fill(t, value)


def xavier_uniform_(t, gain=1.0, generator=None):
    fan_in, fan_out = _fans(t)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a, generator)


def kaiming_uniform_(t, a=0.0, nonlinearity="leaky_relu", generator=None):
    fan_in, _ = _fans(t)
    gain = math.sqrt(2.0 / (1 + a * a)) if nonlinearity == "leaky_relu" else (
        math.sqrt(2.0) if nonlinearity == "relu" else 1.0)
    bound = gain * math.sqrt(3.0 / fan_in)
    return uniform_(t, -bound, bound, generator)
