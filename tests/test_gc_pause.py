"""The pass pipeline pauses Python's cyclic collector while it runs and always restores it
(passes/registry.gc_paused): after a pipeline, after a failing pass, nested, and when the
collector was off before."""
from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import TracegradError
from tracegrad.passes import registry


def _graph():
    return tg.make_ir(lambda x: np.sum(np.tanh(x) * 2.0))(np.ones(3))


def test_collector_is_off_inside_a_pipeline_and_back_on_after():
    seen = []
    registry.register("probe_gc", "records whether the collector runs")(
        lambda g: (seen.append(gc.isenabled()), g)[1])
    try:
        assert gc.isenabled()
        registry.run_pipeline(_graph(), ["simplify", "probe_gc", "dce"])
        assert seen == [False] and gc.isenabled()
    finally:
        registry.PASSES.pop("probe_gc", None)


def test_collector_is_restored_when_a_pass_raises_and_stays_off_if_it_was_off():
    def boom(g):
        raise TracegradError("a failing pass")
    registry.register("probe_boom", "raises")(boom)
    try:
        with pytest.raises(TracegradError):
            registry.run_pipeline(_graph(), ["probe_boom"])
        assert gc.isenabled()
        gc.disable()
        try:
            registry.run_pipeline(_graph(), ["simplify"])
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        registry.PASSES.pop("probe_boom", None)


def test_nested_and_concurrent_pauses_end_with_the_collector_on():
    with registry.gc_paused():
        with registry.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    threads = [threading.Thread(target=lambda: registry.run_pipeline(_graph(), "O2"))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()
