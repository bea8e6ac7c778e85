"""Named regression tests: each failure found by the random-program fuzzer (tests/test_fuzz.py)
or the fault and input tests, reduced to the program that showed it, with what went wrong.

The programs are kept as the fuzzer printed them (plain NumPy), so each test runs the same
checks as the fuzzer (``fuzz_check``) on the same source.
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg


def _assert_fresh(outs):
    for k, o in enumerate(outs):
        for j in range(k):
            assert not np.shares_memory(o, outs[j]), f"outputs {j} and {k} share memory"


@pytest.mark.parametrize("level", ["O0", "O2"])
def test_numpy_backend_outputs_that_are_views_of_each_other_are_copied(level):
    """The NumPy backend returned ``y`` and ``y[None]`` as two views of one buffer, so writing
    into one output changed another; outputs were only checked against the inputs."""
    def prog(a0):
        y = np.exp(a0)
        return y[None], y, y.reshape(3, 1), y

    outs = tg.jit(prog, backend="numpy", opt_level=level)(np.ones(3))
    _assert_fresh(outs)
    outs[1][0] = 100.0
    assert outs[0][0, 0] == np.e
