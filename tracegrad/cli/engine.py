"""The work behind ``tracegrad dump``: trace, transform, run the pass pipeline, generate code,
and keep every intermediate graph and the time of every phase (rendering is elsewhere).

Nothing here prints; errors a user can cause become ``CLIError`` with a one-line message.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import CLIError, describe_trace_error, one_line
from .loading import BoundArgs, Target

TRANSFORMS = ("grad", "value_and_grad", "jvp", "hessian")
# The pipeline's last two passes change how the program runs, not what it computes: the
# "optimized" stage is the graph before them, "fused" the graph after them.
_LATE_PASSES = ("fuse", "fuse-all", "memplan")


@dataclass
class PassStep:
    name: str
    status: str                 # "ran", "disabled", or "not run" (after --stop-after)
    before: object = None       # Graph
    after: object = None        # Graph
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return self.status == "ran" and str(self.before) != str(self.after)


@dataclass
class DumpResult:
    target: Target
    bound: BoundArgs
    transform: str | None
    argnums: tuple
    pipeline: str
    traced: object                                  # Graph of the function as written
    grad: object = None                             # Graph of the transform, as derived
    steps: list[PassStep] = field(default_factory=list)
    optimized: object = None
    final: object = None
    source: str | None = None
    backend: str | None = None
    seconds: dict = field(default_factory=dict)     # phase -> seconds, in running order
    input_names: list = field(default_factory=list)  # per input of the transformed graph
    statics: dict = field(default_factory=dict)     # static arguments bound into the function
    plan: object = None                             # the memplan analysis's plan, if it made one

    @property
    def program(self):
        """The graph the pipeline ran on: the transform's if any, else the traced one."""
        return self.grad if self.grad is not None else self.traced


def resolve_argnums(spec: str | None, bound: BoundArgs) -> tuple[int, ...]:
    """``0``, ``0,1`` or parameter names (``w,b``) -> positional indices."""
    if spec is None or spec == "":
        return (0,)
    out = []
    for part in spec.split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            i = int(part)
            n = len(bound.args)
            if not -n <= i < n:
                raise CLIError(f"argnums {spec!r}: {i} is out of range for {n} positional "
                               f"argument{'s' if n != 1 else ''}")
            out.append(i % n)
        elif part in bound.names:
            out.append(bound.names.index(part))
        else:
            raise CLIError(f"argnums {spec!r}: {part!r} is neither an index nor a positional "
                           f"parameter ({', '.join(bound.names) or 'none'})")
    return tuple(dict.fromkeys(out))


def _transformed(fn, transform: str, argnums: tuple, bound: BoundArgs, func_name: str):
    """``(callable, args, kwargs, input names, name)`` to trace for ``transform``."""
    import tracegrad as tg

    nums = argnums[0] if len(argnums) == 1 else argnums
    names = bound.leaf_names()
    if transform == "grad":
        return tg.grad(fn, nums).fn, bound.args, bound.kwargs, names, f"grad_{func_name}"
    if transform == "value_and_grad":
        return (tg.value_and_grad(fn, nums).fn, bound.args, bound.kwargs, names,
                f"value_and_grad_{func_name}")
    if transform == "hessian":
        return tg.hessian(fn, nums).fn, bound.args, bound.kwargs, names, f"hessian_{func_name}"
    # jvp: inputs are the primals, then one tangent per primal (same types); keyword
    # arguments are traced too but get no tangent
    n = len(bound.args)

    def jvp_body(*args, **kwargs):
        return tg.jvp(lambda *p: fn(*p, **kwargs), tuple(args[:n]), tuple(args[n:]))
    from tracegrad.pytree import tree_flatten
    n_pos_leaves = len(tree_flatten(bound.args)[0])
    pos_names, kw_names = names[:n_pos_leaves], names[n_pos_leaves:]
    return (jvp_body, bound.args + bound.args, bound.kwargs,
            pos_names + [f"tangent[{x}]" for x in pos_names] + kw_names, f"jvp_{func_name}")


def _call_detached(fn):
    """``fn()`` on a fresh bare thread (``_thread``: no threading.py frames above it).

    Why: an equation's ``src`` is the innermost frame outside tracegrad. Equations tracegrad
    adds itself while transforming (a gradient's seed ``1.0``) would otherwise be named after
    whatever launched the CLI (runpy, the console script, pytest), differently per launcher;
    on a bare thread only tracegrad's frames sit above the trace, so they get no line at all.
    """
    import _thread

    done = _thread.allocate_lock()
    done.acquire()
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the calling thread)
            box["error"] = exc
        finally:
            done.release()
    _thread.start_new_thread(run, ())
    done.acquire()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _trace(fn, args, kwargs, name, target: Target, what: str, recorder=None):
    """Trace on a bare thread; ``recorder`` (a record_derivatives scope) is opened on that
    thread, since tracing state (and so the derivative notes) is per thread."""
    import contextlib

    from tracegrad.staging import trace

    def run():
        with recorder if recorder is not None else contextlib.nullcontext():
            return trace(fn, args, kwargs, name=name)
    try:
        return _call_detached(run)
    except CLIError:
        raise
    except Exception as exc:
        raise CLIError(describe_trace_error(exc, what, target.path)) from exc


def run_dump(target: Target, bound: BoundArgs, *, transform: str | None = None,
             argnums: tuple = (0,), pipeline: str = "O2", disable=(), stop_after=None,
             emit: str | None = None, verify: bool = False) -> DumpResult:
    from tracegrad.passes.registry import PIPELINES, pipeline_names

    if pipeline not in PIPELINES:
        raise CLIError(f"unknown pipeline {pipeline!r}; choose one of {', '.join(PIPELINES)}")
    if emit is not None:  # what jit runs on that backend (O2 on C is O2-c)
        from tracegrad.api.lowering import target_backend
        from tracegrad.passes.registry import backend_pipeline
        pipeline = backend_pipeline(pipeline, target_backend(emit))
    names = pipeline_names(pipeline)
    from tracegrad.passes.registry import PASSES
    for p in disable:
        if p not in PASSES:
            raise CLIError(f"--disable {p}: no such pass; passes: {', '.join(sorted(PASSES))}")
    if stop_after is not None and stop_after not in names:
        raise CLIError(f"--stop-after {stop_after}: not a pass of {pipeline} "
                       f"({', '.join(names)})")

    from .loading import close_statics
    base, bound, argnums, statics = close_statics(target, bound, argnums)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    traced = _trace(base, bound.args, bound.kwargs, target.func_name, target,
                    target.func_name).graph
    seconds["trace"] = time.perf_counter() - t0
    result = DumpResult(target, bound, transform, argnums, pipeline, traced, seconds=seconds,
                        input_names=bound.leaf_names(), statics=statics)
    code_name = target.func_name
    if transform is not None:
        from tracegrad.passes.autodiff import record_derivatives
        fn, args, kwargs, result.input_names, code_name = _transformed(
            base, transform, argnums, bound, target.func_name)
        t0 = time.perf_counter()
        rec = record_derivatives()
        tr = _trace(fn, args, kwargs, code_name, target, f"{transform}({target.func_name})",
                    recorder=rec)
        result.grad = rec.mark(tr.graph)
        seconds[transform] = time.perf_counter() - t0

    _run_passes(result, names, disable, stop_after, verify)
    if emit is not None:
        result.backend = emit
        result.source = codegen(result.final, emit, code_name, seconds, result.plan)
    return result


def _run_passes(result: DumpResult, names, disable, stop_after, verify) -> None:
    from tracegrad.errors import TracegradError
    from tracegrad.passes.registry import run_pipeline

    graph = result.program
    try:
        final, record = run_pipeline(graph, names, check=verify, disable=tuple(disable),
                                     stop_after=stop_after)
    except TracegradError as exc:
        raise CLIError(one_line(exc)) from exc
    ran = iter(record.stages)
    before = graph
    stopped = False
    late = min((names.index(p) for p in _LATE_PASSES if p in names), default=len(names))
    result.optimized = graph
    for i, name in enumerate(names):
        if stopped:
            result.steps.append(PassStep(name, "not run"))
            continue
        if name in record.skipped:
            result.steps.append(PassStep(name, "disabled"))
            continue
        _, after = next(ran)
        result.steps.append(PassStep(name, "ran", before, after, record.seconds.get(name, 0.0)))
        result.seconds[f"pass {name}"] = record.seconds.get(name, 0.0)
        if i < late:
            result.optimized = after
        before = after
        stopped = name == stop_after
    result.final = final
    result.plan = record.analyses.get("memplan")


def codegen(graph, backend: str, name: str, seconds: dict, plan=None) -> str:
    """Generated source for ``backend``, by the API's own lowering (so it is what ``jit`` runs);
    records the codegen and compile times."""
    from tracegrad.api import make_executable
    from tracegrad.errors import TracegradError

    t0 = time.perf_counter()
    try:
        exe = make_executable(graph, backend, name, plan=plan)
    except TracegradError as exc:
        raise CLIError(f"--emit {backend}: {one_line(exc)}") from exc
    # the NumPy backend times its two phases; the C backend's are one compiler run
    seconds.update(getattr(exe, "seconds", None) or
                   {"codegen+compile": time.perf_counter() - t0})
    return exe.source
