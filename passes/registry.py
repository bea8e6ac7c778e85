"""The pass manager: named passes, named pipelines, and instruments around each pass.

A pass is a pure function ``Graph -> Graph`` registered with ``@register(name, doc)``; an
analysis (``@register(name, doc, analysis=True)``) is a stage that leaves the graph as it is and
returns a result (``memplan``: the memory plan), which the run's ``PipelineRecord.analyses``
hands to whoever runs the pipeline (code generation), so nothing travels inside the graph. A
pipeline is a list of pass names (``O0``, ``O1``, ``O2``; ``O2`` is jit's default). The manager
runs a pipeline through instruments (dump before / after / diff, timing, ``verify``), and can
skip passes or stop after one (from the API or ``TRACEGRAD_DISABLE_PASSES`` /
``TRACEGRAD_STOP_AFTER``, see tracegrad/options.py) to bisect a wrong result.
"""
from __future__ import annotations

import contextlib
import difflib
import gc
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from tracegrad.errors import TracegradError
from tracegrad.ir import Graph, verify


@dataclass(frozen=True)
class PassInfo:
    name: str
    fn: Callable[..., object]  # a pass: Graph -> Graph; an analysis: Graph -> its result
    doc: str
    analysis: bool = False


PASSES: dict[str, PassInfo] = {}


def register(name: str, doc: str, *, analysis: bool = False):
    def deco(fn):
        if name in PASSES:
            raise ValueError(f"pass {name!r} registered twice")
        PASSES[name] = PassInfo(name, fn, doc, analysis)
        return fn
    return deco


# The pipelines. O0: only what code generation needs; O1: cheap clean-ups; O2 adds numerical
# stabilisation, fusion and memory planning (the default of tg.jit). Each has a variant per
# backend that needs one: the C backend's (``O2-c``) fuses at any size and leaves the memory
# plan to the backend (it plans top-level values only, with its own views; codegen/c/emit.py).
# Every pass but memplan also works inside loop bodies and branches (passes/bodies.py);
# ``hoist`` moves loop invariants out before ``cse`` merges them with the values outside.
PIPELINES: dict[str, list[str]] = {
    "O0": ["lower", "dce"],
    "O1": ["lower", "simplify", "constfold", "hoist", "cse", "dce"],
    "O2": ["stabilize", "lower", "simplify", "constfold", "hoist", "cse", "sum-products",
           "dce", "fuse", "memplan"],
    "O0-c": ["lower", "dce", "fuse-all"],
    "O1-c": ["lower", "simplify", "constfold", "hoist", "cse", "dce", "fuse-all",
             "fuse-rows"],
    "O2-c": ["stabilize", "lower", "simplify", "constfold", "hoist", "cse", "sum-products",
             "dce", "merge-products", "onepass-products", "fuse-all", "fuse-rows"],
}
# merge-products (A @ x and A @ v as one product reading A once; after dce, so dead products
# stay out) is C's only: NumPy's matmul of the stacked rows is OpenBLAS's sgemm, which packs A
# first (slower than two gemv: passes/merge_products.py).
# onepass-products after it: A.T @ g(A @ X) (the HVP's merged product, GLM gradients) as one
# kernel streaming A once (passes/onepass_products.py); C only, before fusion takes g apart.
# Run on a traced function before it is differentiated, so gradients come from stable forms.
# loop-args after cse: the capture sites cse merged reach a scan once (one cotangent
# accumulator per value, not per site; passes/loop_args.py).
PRE_AD = ["stabilize", "cse", "loop-args", "dce"]


def _load_passes():
    """Import the pass modules (each registers itself) the first time a pipeline runs."""
    if "stabilize" in PASSES:
        return
    from . import (constfold, cse, dce, fuse, fuse_all, fuse_rows, hoist,  # noqa: F401
                   loop_args, lowering, memplan, merge_products, onepass_products,
                   simplify, stabilize, sum_products)


def backend_pipeline(pipeline, backend: str):
    """The pipeline ``pipeline`` means on ``backend`` (``c``, ``numpy``): a named pipeline's
    variant for that backend (``O2`` -> ``O2-c``) when there is one; a list of pass names, or a
    pipeline without a variant, as given."""
    if isinstance(pipeline, str) and f"{pipeline}-{backend}" in PIPELINES:
        return f"{pipeline}-{backend}"
    return pipeline


def pipeline_names(pipeline) -> list[str]:
    _load_passes()
    if isinstance(pipeline, str):
        if pipeline not in PIPELINES:
            raise TracegradError(f"unknown pipeline {pipeline!r}; choose one of "
                                 f"{sorted(PIPELINES)}")
        names = list(PIPELINES[pipeline])
    else:
        names = list(pipeline)
    for n in names:
        if n not in PASSES:
            raise TracegradError(f"unknown pass {n!r}; known passes: {sorted(PASSES)}")
    return names


# --- instruments --------------------------------------------------------------------------------
class Instrument:
    """Hooks around each pass; subclasses override what they need."""

    def before(self, name: str, graph: Graph) -> None:
        pass

    def after(self, name: str, before: Graph, after: Graph, seconds: float) -> None:
        pass


class VerifyInstrument(Instrument):
    """Run ``ir.verify`` after every pass, naming the pass that broke an invariant."""

    def after(self, name, before, after, seconds):
        try:
            verify(after)
        except TracegradError as exc:
            raise TracegradError(f"pass {name!r} produced an invalid graph: {exc}") from exc


class TimingInstrument(Instrument):
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def after(self, name, before, after, seconds):
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


class DumpInstrument(Instrument):
    """Print the graph before and/or after each pass, or a unified diff when it changed."""

    def __init__(self, mode: str = "after", stream=None):
        if mode not in ("before", "after", "diff", "all"):
            raise TracegradError(f"dump mode must be before, after, diff or all, got {mode!r}")
        self.mode = mode
        self.stream = stream or sys.stderr

    def before(self, name, graph):
        if self.mode in ("before", "all"):
            self.stream.write(f"// ----- before {name} -----\n{graph}\n")

    def after(self, name, before, after, seconds):
        if self.mode in ("after", "all"):
            self.stream.write(f"// ----- after {name} ({seconds * 1e3:.2f} ms) -----\n{after}\n")
        if self.mode == "diff":
            text = diff_graphs(before, after, name)
            if text:
                self.stream.write(text)


def diff_graphs(before: Graph, after: Graph, name: str) -> str:
    # a final newline on both, so a changed last line does not run into the next diff line
    a = (str(before) + "\n").splitlines(keepends=True)
    b = (str(after) + "\n").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"before {name}", f"after {name}"))


@dataclass
class PipelineRecord:
    """What happened in one pipeline run: the graph after each pass and its time, and the
    result of each analysis that ran (``analyses["memplan"]``: the memory plan, or None when
    the program is too small to plan)."""

    stages: list[tuple[str, Graph]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    analyses: dict[str, object] = field(default_factory=dict)


def run_pipeline(graph: Graph, pipeline="O2", *, check: bool = False,
                 disable=(), stop_after: str | None = None,
                 instruments: list[Instrument] | None = None,
                 pass_args: dict[str, dict] | None = None) -> tuple[Graph, PipelineRecord]:
    """Run ``pipeline`` (a name or a list of pass names) on ``graph``. ``pass_args``: keyword
    arguments of a pass or analysis by name (``{"memplan": {"donate": (0,)}}``)."""
    names = pipeline_names(pipeline)
    disable = tuple(disable or ())
    for n in disable:
        if n not in PASSES:
            raise TracegradError(f"cannot disable unknown pass {n!r}; known: {sorted(PASSES)}")
    if stop_after is not None and stop_after not in names:
        raise TracegradError(f"stop_after={stop_after!r} is not in the pipeline {names}")
    instruments = list(instruments or [])
    if check:
        instruments.append(VerifyInstrument())
    rec = PipelineRecord()
    with gc_paused():
        _run_passes(graph, names, disable, stop_after, instruments, rec, pass_args or {})
    return rec.stages[-1][1] if rec.stages else graph, rec


_GC_LOCK = threading.Lock()
_GC_DEPTH = [0, False]  # pipelines running now, and whether the collector was on before them


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while passes run: a pass allocates many small
    objects that live until it ends, and the full collections this triggers were half the time
    of a 50,000-equation pipeline (benchmarks/compile_scaling.py --pause-gc), growing it
    superlinearly. Reference counting still frees everything acyclic; the collector is back on
    (if it was on) when the last pipeline running in the process ends."""
    with _GC_LOCK:
        if _GC_DEPTH[0] == 0:
            _GC_DEPTH[1] = gc.isenabled()
            gc.disable()
        _GC_DEPTH[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_DEPTH[0] -= 1
            if _GC_DEPTH[0] == 0 and _GC_DEPTH[1]:
                gc.enable()


def _run_passes(graph, names, disable, stop_after, instruments, rec, pass_args):
    for name in names:
        if name in disable:
            rec.skipped.append(name)
            continue
        for ins in instruments:
            ins.before(name, graph)
        t0 = time.perf_counter()
        info = PASSES[name]
        new = info.fn(graph, **pass_args.get(name, {}))
        dt = time.perf_counter() - t0
        if info.analysis:
            rec.analyses[name], new = new, graph
        rec.seconds[name] = rec.seconds.get(name, 0.0) + dt
        for ins in instruments:
            ins.after(name, graph, new, dt)
        graph = new
        rec.stages.append((name, graph))
        if name == stop_after:
            break
