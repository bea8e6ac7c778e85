"""The C backend runs its own pipeline variant (issue 12 item 3): ``O2`` on C is ``O2-c``, whose
``fuse-all`` fuses at any program size, and the backend's memory plan is made once, by the
executable, and handed to the emitter. Codegen runs no pass of its own (tests/test_layering.py
forbids the import; these check the behaviour)."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.passes.registry import PIPELINES, backend_pipeline

from c_support import needs_c


def _small(x):
    return np.sum(np.tanh(x) * 2.0 + 1.0)


def test_every_level_has_a_c_variant_that_fuses_at_any_size_and_plans_nothing():
    for level in ("O0", "O1", "O2"):
        c = backend_pipeline(level, "c")
        assert c == f"{level}-c"
        names = PIPELINES[c]
        # fuse-all, then (O1, O2) fuse-rows joining its kernels across row reductions
        tail = ["fuse-all"] + (["fuse-rows"] if level != "O0" else [])
        assert names[-len(tail):] == tail and "memplan" not in names and "fuse" not in names
        # the rest is the level's own pipeline, in its order (O2-c also merges products that
        # share a large operand: C multiplies the stacked rows in one pass, passes/merge_products)
        c_only = ["merge-products", "onepass-products"] if level == "O2" else []
        assert [n for n in names[:-len(tail)] if n not in c_only] == \
            [n for n in PIPELINES[level] if n not in ("fuse", "memplan")]
        assert all(n in names for n in c_only)
    assert backend_pipeline("O2", "numpy") == "O2"
    assert backend_pipeline(["lower", "dce"], "c") == ["lower", "dce"]


@needs_c
@pytest.mark.parametrize("level", ["O0", "O1", "O2"])
def test_jit_on_c_runs_the_c_pipeline_and_the_executable_keeps_its_graph(level):
    x = np.linspace(-1.0, 1.0, 7)
    low = tg.jit(_small, backend="c", opt_level=level).lower(x)
    assert "fuse-all" in low.stats["pass_seconds"] and "memplan" not in low.stats["pass_seconds"]
    # a program far below fuse's size threshold is still one kernel on C
    assert low.stats["kernels"] == 1
    assert low.executable.graph is low.ir  # the backend did not re-run fusion
    np.testing.assert_allclose(low.executable(x)[0], _small(x))


@needs_c
def test_the_c_executable_runs_no_pass_and_emits_with_its_own_plan():
    from tracegrad.codegen.c.emit import plan_c
    from tracegrad.codegen.c.executable import CExecutable

    x = np.linspace(-1.0, 1.0, 7)
    graph = tg.make_ir(lambda v: np.exp(v) * np.sin(v) + 1.0)(x)  # small: NumPy's O2 fuses nothing
    exe = CExecutable(graph)
    assert exe.graph is graph
    assert not any(e.prim.name == "fused" for e in exe.graph.eqns)
    assert exe.plan.slot_bytes == plan_c(graph).slot_bytes
    np.testing.assert_allclose(exe(x)[0], np.exp(x) * np.sin(x) + 1.0)
