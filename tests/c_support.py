"""What the C-backend tests share: whether a working C compiler is here (probed once per test
session by compiling a one-line program), and the ``needs_c`` skip marker built on it."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import tracegrad as tg


@functools.lru_cache(maxsize=None)
def c_available() -> bool:
    try:
        tg.jit(lambda x: x + 1, backend="c")(np.ones(2))
        return True
    except tg.CompileError:
        return False


needs_c = pytest.mark.skipif(not c_available(), reason="no working C compiler here")
