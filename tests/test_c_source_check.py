"""The static ``restrict`` check of generated C (tests/c_source_check.py) must see the
program's kernels: they are declared ``TG_KERNEL`` (static, noinline), and a check that read
only ``static`` signatures found none and passed every source vacuously."""
from __future__ import annotations

import re

import numpy as np
from c_source_check import _signatures, restrict_violations

import tracegrad as tg


def test_restrict_check_sees_kernels_and_finds_a_planted_alias():
    x = np.linspace(-1.0, 1.0, 16).reshape(4, 4)
    src = tg.jit(lambda a, b: np.tanh(a * b + 1.0) * a, backend="c").lower(x, x).source
    kernels = re.findall(r"^TG_KERNEL \w+ (\w+)\(", src, re.M)
    assert kernels and set(kernels) <= set(_signatures(src))
    assert restrict_violations(src) == []
    # pass the output buffer also as the first (restrict, read-only) operand of a kernel call
    call = re.search(r"^(\s+)((?:kernel|op)\d+)\((.*)\);", src, re.M)
    args = call.group(3).split(", ")
    planted = src.replace(call.group(0),
                          f"{call.group(1)}{call.group(2)}({', '.join([args[-1]] + args[1:])});")
    assert restrict_violations(planted), "the planted alias was not found"
