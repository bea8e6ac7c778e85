"""Named passes and pipelines, and the manager that runs them (recording each stage).

A pass is a pure function ``Graph -> Graph``. ``run_pipeline`` runs a named pipeline, verifying
after each pass when asked, and returns the final graph with a record of every stage.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from tracegrad.ir import Graph, verify

from .dce import dce

PASSES: dict[str, Callable[[Graph], Graph]] = {"dce": dce}
PIPELINES: dict[str, list[str]] = {"O0": [], "O1": ["dce"], "O2": ["dce"]}


@dataclass
class PipelineRecord:
    """What happened in one pipeline run: the graph after each pass and its time."""

    stages: list[tuple[str, Graph]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def run_pipeline(graph: Graph, pipeline: str | list[str] = "O2", *, check: bool = False,
                 disable: tuple[str, ...] = (), stop_after: str | None = None
                 ) -> tuple[Graph, PipelineRecord]:
    names = PIPELINES[pipeline] if isinstance(pipeline, str) else list(pipeline)
    rec = PipelineRecord()
    for name in names:
        if name in disable:
            continue
        t0 = time.perf_counter()
        graph = PASSES[name](graph)
        rec.seconds[name] = time.perf_counter() - t0
        if check:
            verify(graph)
        rec.stages.append((name, graph))
        if name == stop_after:
            break
    return graph, rec
