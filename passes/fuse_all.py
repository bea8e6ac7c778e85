"""``fuse-all``: fusion at any program size, the fusion step of the C backend's pipelines (a C
kernel gains from fusion at every size; NumPy's ``fuse`` skips small programs)."""
from __future__ import annotations

from tracegrad.ir import Graph

from .fuse import fuse
from .registry import register


@register("fuse-all", "fuse as `fuse` does, at any program size (the -c pipelines: a C kernel "
          "call costs nothing next to a NumPy dispatch, so small programs gain too)")
def fuse_all(graph: Graph) -> Graph:
    return fuse(graph, force=True)
