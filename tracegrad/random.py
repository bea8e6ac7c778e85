"""``tg.random``: JAX-style random numbers on explicit keys, the same functions eagerly (on an
array key) and inside traced code (on a traced key), the same bits on every backend.

    key = tg.random.key(0)
    k1, k2 = tg.random.split(key)
    z = tg.random.normal(k1, (3,))            # a pure function of k1

The stream is Threefry-2x32's (tracegrad/prims/np_random.py), not NumPy's: the same seed gives
different numbers from ``np.random``. See docs/random.md.
"""
from __future__ import annotations

import numpy as np

from .random_draws import (bernoulli, binomial, bits, choice, exponential, fold_in, gumbel,
                           integers, key, normal, permutation, shuffle, split, uniform)

PRNGKey = key  # JAX's older name


def randint(key, shape, minval, maxval, dtype=np.int64):
    """JAX's ``randint(key, shape, minval, maxval)``: integers uniform on [minval, maxval)."""
    return integers(key, minval, maxval, shape, dtype)

__all__ = ["PRNGKey", "bernoulli", "binomial", "bits", "choice", "exponential", "fold_in",
           "gumbel", "integers", "key", "normal", "permutation", "randint", "shuffle", "split",
           "uniform"]
