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
        return float(np.max(np.abs(e - a) / np.maximum(1.0, np.abs(e) + np.abs(a))))
    if not isinstance(actual, float):  # GradBench requires a float where a float is expected
        return float("inf")
    return abs(expected - actual) / max(1.0, abs(expected) + abs(actual))


def validate(ev, function: str, inp: dict, output: Any) -> tuple[bool, float]:
    """(within tolerance, worst difference) of ``output`` for ``function`` at ``inp``."""
    expected = ev.reference(function, inp)
    if expected is None:
        err = ev.directional(inp, output)
    else:
        err = difference(expected, output)
    return err <= TOLERANCE, err
