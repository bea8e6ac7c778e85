"""Lowering a traced graph: ``compile_traced`` runs the pass pipeline and wraps the result;
``make_executable`` is the one place that picks a backend's emitter (the CLI's too)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import options
from ..errors import TracegradError
from ..ir import Graph
from ..pytree import TreeDef
from ..staging import Traced


@dataclass
class Lowered:
    """The result of lowering one signature: final graph, generated source, statistics."""

    ir: Graph
    source: str
    stats: dict
    traced_ir: Graph
    stages: list
    executable: object
    out_tree: TreeDef
    last_use: int = field(default=0, repr=False, compare=False)  # JitFunction's LRU clock
    int_checks: tuple = field(default=(), repr=False)  # see int_range.run_checks

    def __str__(self) -> str:
        return self.source


def compile_traced(traced: Traced, *, backend="auto", opt_level=None, name="fn",
                   donate: tuple[int, ...] = (), trace_seconds: float | None = None) -> Lowered:
    """Optimise a traced graph, generate code for it and wrap it as a ``Lowered``.

    ``donate`` lists graph inputs whose storage the memory plan may reuse (the NumPy backend
    writes intermediates into them; the C backend keeps its own arena and ignores it). The
    optimized graph (before the memory plan, which is re-made in a moment) comes from the
    on-disk program cache when this traced graph was optimized before with the same options
    (program_cache.py); ``stats["times"]`` says where the time went."""
    from tracegrad.passes.cost import flops, kernel_count, naive_peak_bytes

    if traced.captured:
        raise TracegradError("internal: a top-level jit trace captured outer tracers")
    level = opt_level or options.get("TRACEGRAD_OPT_LEVEL")
    disable = tuple(p for p in options.get("TRACEGRAD_DISABLE_PASSES").split(",") if p)
    start = traced.graph
    t0 = time.perf_counter()
    # each backend runs its own variant of the pipeline (O2 on C is O2-c: see passes/registry)
    from tracegrad.passes.registry import backend_pipeline
    level = backend_pipeline(level, target_backend(backend))
    graph, record, eqns, cache_state = _optimize(start, level, disable, backend, donate)
    t1 = time.perf_counter()
    # NumPy's memory plan is the pipeline's memplan analysis, handed over explicitly
    executable = make_executable(graph, backend, name, plan=record.analyses.get("memplan"))
    if traced.host_random:  # np.random draws: fresh keys from the host generators per call
        from ..random_host import with_host_keys
        executable = with_host_keys(executable, traced.host_random)
    t2 = time.perf_counter()
    made = getattr(executable, "seconds", None) or {}
    codegen = made.get("codegen", t2 - t1)
    # the plan the executable runs with: the C backend's own (top-level values only), or the
    # memplan analysis's for NumPy (None: not planned)
    plan = getattr(executable, "plan", None)
    stats = {
        "eqns": {"traced": len(traced.graph.eqns), **eqns, "final": len(graph.eqns)},
        "kernels": kernel_count(graph),
        "peak_bytes": planned_peak_bytes(executable),
        "unplanned_peak_bytes": naive_peak_bytes(graph),
        "memplan": plan.table() if plan is not None else [],
        "flops": flops(graph),
        "pass_seconds": record.seconds,
        "backend": executable.backend,
        # trace: tracing (and differentiating) the function; passes: the pipeline (only the
        # memory plan on a program-cache hit); codegen: writing the source; load: compiling or
        # loading it (a C kernel found in the kernel cache is loaded, not compiled)
        "times": {"trace": trace_seconds, "passes": t1 - t0, "codegen": codegen,
                  "load": t2 - t1 - codegen},
        "program_cache": cache_state,
    }
    return Lowered(graph, executable.source, stats, traced.graph, record.stages, executable,
                   traced.out_tree, int_checks=traced.int_checks)


def _optimize(start: Graph, level, disable: tuple, backend: str, donate: tuple = ()):
    """``(graph, record, eqns per stage, program-cache state)``: the pass pipeline, its part
    before the memory plan read from or written to the program cache (``record.analyses``
    holds the plan, made with ``donate``, on a hit too)."""
    from tracegrad.passes import run_pipeline
    from tracegrad.passes.registry import pipeline_names

    from . import program_cache
    check = options.flag("TRACEGRAD_VERIFY")
    stop_after = options.get("TRACEGRAD_STOP_AFTER") or None
    names = list(pipeline_names(level))
    pass_args = {"memplan": {"donate": tuple(donate)}}  # jit(donate_argnums)
    if stop_after is not None or not program_cache.enabled():
        graph, record = run_pipeline(start, names, check=check, disable=disable,
                                     stop_after=stop_after, pass_args=pass_args)
        return graph, record, {n: len(g.eqns) for n, g in record.stages}, "off"
    # the memory plan (keyed by Var identity) is made again after a hit; the rest is stored
    tail = [n for n in names[-1:] if n == "memplan"]
    head = names[:len(names) - len(tail)]
    config = {"pipeline": names, "disable": list(disable), "backend": backend,
              "default_backend": options.get("TRACEGRAD_BACKEND")}
    key = program_cache.program_key(start, config)
    hit = program_cache.lookup(key, start) if key is not None else None
    if hit is not None:
        mid, info = hit
        eqns = {str(k): int(v) for k, v in info.get("eqns", {}).items()}
        state = "hit"
    else:
        mid, rec_head = run_pipeline(start, head, check=check, disable=disable)
        eqns = {n: len(g.eqns) for n, g in rec_head.stages}
        state = "uncacheable" if key is None else \
            "stored" if program_cache.store(key, mid, {"eqns": eqns}) else "not stored"
    graph, record = run_pipeline(mid, tail, check=check, disable=disable, pass_args=pass_args)
    if hit is None:
        record.stages[:0] = rec_head.stages
        record.seconds = {**rec_head.seconds, **record.seconds}
        record.skipped[:0] = rec_head.skipped
    eqns.update({n: len(g.eqns) for n, g in record.stages[len(record.stages) - len(tail):]
                 if n in tail})
    return graph, record, eqns, state


def planned_peak_bytes(executable) -> int:
    """Bytes a call holds for intermediates (inputs and outputs excluded), as the executable
    plans them: the C backend's per-thread arena, or the NumPy code's arena plus the peak of
    the values it frees after their last use."""
    if executable.backend == "c":
        return executable.program.arena_bytes
    return executable.peak_bytes


_C_UNAVAILABLE: list = []  # the CompileError that made "auto" fall back (warned once)


def target_backend(backend: str) -> str:
    """The backend ``make_executable`` will use for ``backend`` (``auto``: C unless a C compiler
    was found missing already), so the pipeline can be that backend's."""
    if backend == "auto":
        backend = options.get("TRACEGRAD_BACKEND")
    if backend == "auto":
        return "numpy" if _C_UNAVAILABLE else "c"
    return backend


def make_executable(graph: Graph, backend: str, name: str, plan=None):
    """The executable of ``graph`` on ``backend``: ``c``, ``numpy``, or ``auto`` (C when a C
    compiler works, else NumPy with one warning). ``plan``: the NumPy backend's memory plan
    (the pipeline's ``memplan`` analysis; the C backend makes its own)."""
    from tracegrad.codegen.executable import NumpyExecutable

    if backend == "auto":
        backend = options.get("TRACEGRAD_BACKEND")
    if backend == "numpy":
        return NumpyExecutable(graph, ident(name), plan)
    if backend not in ("auto", "c"):
        raise TracegradError(f"TRACEGRAD_BACKEND must be auto, numpy or c, got {backend!r}")
    from tracegrad.codegen.c.executable import CExecutable
    from ..errors import CompileError, TracegradWarning
    if backend == "c":
        return CExecutable(graph, ident(name))
    from tracegrad.codegen.c.unsupported import first_complex
    if _C_UNAVAILABLE or first_complex(graph) is not None:  # eig's complex outputs: NumPy only
        return NumpyExecutable(graph, ident(name), plan)
    try:
        if options.flag("TRACEGRAD_BACKGROUND_BUILD"):
            # a long build not in the cache runs in a thread; NumPy answers until it is done
            from tracegrad.codegen.c.background import maybe_background
            return maybe_background(graph, ident(name), plan)
        return CExecutable(graph, ident(name))
    except CompileError as exc:
        if exc.source_path is not None:
            raise  # the compiler works but rejected this program: a bug to report, not hide
        _C_UNAVAILABLE.append(exc)
        import warnings
        warnings.warn(f"tracegrad: no working C compiler ({str(exc).splitlines()[0]}); using the "
                      "NumPy backend (set CC to a C compiler, or backend='numpy' to silence "
                      "this)", TracegradWarning, stacklevel=4)
        return NumpyExecutable(graph, ident(name), plan)


def ident(name: str) -> str:
    """``name`` as a C/Python identifier for generated code (``fn.<lambda>`` -> ``fn__lambda_``)."""
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if s and not s[0].isdigit() else f"fn_{s}"


