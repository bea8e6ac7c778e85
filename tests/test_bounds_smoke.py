"""benchmarks/bounds.py builds and runs (never timed here: the figures are for the benchmark's
own runs): its C loops compile with the C backend's compiler, and every stream and math case
returns a positive thread-CPU time on small arrays."""
from __future__ import annotations

import numpy as np
import pytest

from c_support import needs_c

pytestmark = needs_c


def test_bounds_loops_build_and_run():
    from tracegrad.codegen.c.loader import compiler_info
    if not compiler_info()["libmvec"]:
        pytest.skip("the bounds are libmvec's (glibc's vector math)")
    from benchmarks import bounds
    from benchmarks.bounds_c import MATH, load
    so = load()
    for nin, nout in ((2, 2), (1, 1)):
        res = bounds.stream_bounds(so, 4099, nin, nout, reps=2)  # 4099: the scalar tails too
        assert set(res) == {"warm", "nt", "fresh", "fresh-nt", "read"}
        assert all(np.isfinite(t) and t > 0 for t in res.values()), res
    costs = bounds.math_costs(so, reps=1)
    assert set(MATH) | {"arith"} <= set(costs) and all(t > 0 for t in costs.values())
    assert set(bounds.SHAPES) == {"W1", "W3", "W4"}
