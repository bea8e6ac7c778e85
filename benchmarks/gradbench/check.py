"""Validation of a tool's answer the way GradBench's evals judge it.

GradBench compares every number of the answer with the golden one by
|x - y| / max(1, |x| + |y|) <= 1e-4 (ADBench's Jacobian comparison), after checking that the
JSON shapes and types agree. Here the golden value is the eval's independent NumPy reference
(spec.Eval.reference) or, for a gradient without a closed form, central differences of the
reference objective along random directions (spec.Eval.directional).
"""
from __future__ import annotations

from typing import Any

import numpy as np

TOLERANCE = 1e-4


def difference(expected: Any, actual: Any) -> float:
    """Worst relative difference between two JSON values; inf when their structure differs."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(expected) != set(actual):
            return float("inf")
        return max((difference(expected[k], actual[k]) for k in expected), default=0.0)
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return float("inf")
        e = np.asarray(expected, dtype=np.float64)
        a = np.asarray(actual, dtype=np.float64)
        if e.shape != a.shape:
            return float("inf")
        if e.size == 0:
            return 0.0
        err = np.abs(e - a) / np.maximum(1.0, np.abs(e) + np.abs(a))
        return float(np.max(np.where(np.isfinite(err), err, np.inf)))  # NaN is a failure
    if isinstance(expected, int):  # counts (ba's "repeated"): equal or not
        return 0.0 if type(actual) is int and actual == expected else float("inf")
    if not isinstance(actual, float):  # GradBench requires a float where a float is expected
        return float("inf")
    err = abs(expected - actual) / max(1.0, abs(expected) + abs(actual))
    return err if np.isfinite(err) else float("inf")


def validate(ev, function: str, inp: dict, output: Any) -> tuple[bool, float]:
    """(within tolerance, worst difference) of ``output`` for ``function`` at ``inp``."""
    expected = ev.reference(function, inp)
    if expected is None:
        err = ev.directional(inp, output)
    else:
        err = difference(expected, output)
    return err <= TOLERANCE, err


def directional_error(objective, params, grads, directions=3, seed=0, h=1e-4) -> float:
    """Worst relative difference between <grads, v> and the derivative of ``objective`` along
    random unit directions v (over all ``params`` together), the latter by fourth-order central
    differences (f(x-2hv) - 8 f(x-hv) + 8 f(x+hv) - f(x+2hv)) / 12h. A unit v keeps the third
    and fifth derivatives along v moderate where thousands of coordinates move at once (gmm's
    exp(2q) terms); rounding is about eps |f| / h, far below the tolerance for |f| < 1e6."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(directions):
        v = [rng.standard_normal(np.shape(p)) for p in params]
        norm = np.sqrt(sum(float(np.sum(w * w)) for w in v))
        v = [w / norm for w in v]

        def at(t, v=v):
            return objective([p + t * w for p, w in zip(params, v)])
        fd = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)
        exact = sum(float(np.sum(np.asarray(g) * w)) for g, w in zip(grads, v))
        err = abs(fd - exact) / max(1.0, abs(fd) + abs(exact))
        worst = max(worst, err if np.isfinite(err) else float("inf"))  # NaN is a failure
    return worst
