"""The public transformations: ``jit``, ``make_ir`` and (with autodiff) ``grad`` and friends.

``jit`` traces once per call signature (pytree structure, leaf shapes and dtypes, static argument
values), runs the pass pipeline, generates code and caches the executable. Calls under an
active trace are inlined instead, so transforms compose in any order.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from . import options
from .errors import TracegradError, UnsupportedOperationError
from .ir import AVal, Graph
from .pytree import TreeDef, tree_flatten, tree_unflatten
from .staging import Traced, arg_names, as_array, leaf_aval, trace
from .tracer import _ACTIVE, Tracer

BACKENDS = ("auto", "numpy", "c")


def _normalize_argnums(argnums, n: int, what: str) -> tuple[int, ...]:
    if argnums is None:
        return ()
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out = []
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TracegradError(f"{what} must be ints, got {a!r}")
        if not -n <= a < n:
            raise TracegradError(f"{what}={argnums!r} is out of range for a call with {n} "
                                 "positional arguments")
        out.append(a % n)
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class Signature:
    """What a compiled entry is specialised on."""

    tree: TreeDef
    avals: tuple          # (shape, dtype, weak) per dynamic leaf
    statics: tuple        # (position, value) per static argument

    def describe_change(self, new: "Signature") -> str:
        if self.statics != new.statics:
            for (pa, va), (pb, vb) in zip(self.statics, new.statics):
                if va != vb:
                    return f"static argument {pa} changed: {va!r} -> {vb!r}"
            return "static arguments changed"
        if self.tree != new.tree:
            return f"pytree structure changed: {self.tree} -> {new.tree}"
        for i, (a, b) in enumerate(zip(self.avals, new.avals)):
            if a[0] != b[0]:
                return f"shape of argument leaf {i} changed: {a[0]} -> {b[0]}"
            if a[1] != b[1]:
                return f"dtype of argument leaf {i} changed: {a[1]} -> {b[1]}"
            if a[2] != b[2]:
                return f"argument leaf {i} changed between a Python scalar and an array"
        return "signature changed"


@dataclass
class CacheInfo:
    hits: int = 0
    misses: int = 0
    miss_reasons: list = field(default_factory=list)  # one string per miss
    currsize: int = 0

    def __repr__(self) -> str:
        return (f"CacheInfo(hits={self.hits}, misses={self.misses}, currsize={self.currsize}, "
                f"miss_reasons={self.miss_reasons})")


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

    def __str__(self) -> str:
        return self.source


class JitFunction:
    """A function compiled per call signature; see ``tracegrad.jit``."""

    def __init__(self, fn, *, backend="auto", static_argnums=(), donate_argnums=(),
                 opt_level=None, transform=None):
        if backend not in BACKENDS:
            raise TracegradError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.fn = fn
        self.backend = backend
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) \
            else tuple(static_argnums)
        self.donate_argnums = (donate_argnums,) if isinstance(donate_argnums, int) \
            else tuple(donate_argnums)
        self.opt_level = opt_level
        self._cache: dict[Signature, Lowered] = {}
        self._info = CacheInfo()
        self._last_sig: Signature | None = None
        functools.update_wrapper(self, fn)

    # --- signature ----------------------------------------------------------------------------
    def _split(self, args, kwargs):
        n = len(args)
        statics = _normalize_argnums(self.static_argnums, n, "static_argnums") if \
            self.static_argnums else ()
        static_vals = []
        for i in statics:
            v = args[i]
            try:
                hash(v)
            except TypeError:
                raise TracegradError(
                    f"static argument {i} ({type(v).__name__}) is unhashable; static arguments are "
                    "part of the cache key, so pass a hashable value (a tuple instead of a list, "
                    "for example)") from None
            if isinstance(v, (np.ndarray, Tracer)):
                raise TracegradError(f"static argument {i} is an array; static arguments must be "
                                     "hashable Python values (drop it from static_argnums)")
            static_vals.append((i, v))
        dyn = tuple(a for i, a in enumerate(args) if i not in statics)
        return dyn, kwargs, tuple(static_vals)

    def _signature(self, dyn, kwargs, statics) -> tuple[Signature, list]:
        leaves, tree = tree_flatten((dyn, kwargs))
        names = arg_names(self.fn, len(dyn))
        avals = []
        for i, leaf in enumerate(leaves):
            aval, weak = leaf_aval(leaf, f"argument leaf {i} of {self.__name__} "
                                         f"({names[0] if len(names) == 1 else 'see its signature'})")
            avals.append((aval.shape, aval.dtype, weak))
        return Signature(tree, tuple(avals), statics), leaves

    def _rebuild(self, statics):
        positions = dict(statics)

        def rebuild(dyn_args, kwargs):
            args, it = [], iter(dyn_args)
            for i in range(len(dyn_args) + len(positions)):
                args.append(positions[i] if i in positions else next(it))
            return self.fn(*args, **kwargs)
        return rebuild

    # --- calling ------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if _ACTIVE:
            # Under another transform: trace straight through (the enclosing one compiles).
            return self.fn(*args, **kwargs)
        dyn, kwargs, statics = self._split(args, kwargs)
        sig, leaves = self._signature(dyn, kwargs, statics)
        entry = self._cache.get(sig)
        if entry is None:
            entry = self._compile(sig, dyn, kwargs, statics)
        else:
            self._info.hits += 1
        flat = [as_array(x, AVal(s, d)) for x, (s, d, _) in zip(leaves, sig.avals)]
        outs = entry.executable(*flat)
        return tree_unflatten(entry.out_tree, outs)

    def _compile(self, sig, dyn, kwargs, statics) -> Lowered:
        reason = "first call" if self._last_sig is None else self._last_sig.describe_change(sig)
        self._info.misses += 1
        self._info.miss_reasons.append(reason)
        entry = self._lower(dyn, kwargs, statics)
        self._cache[sig] = entry
        self._last_sig = sig
        self._info.currsize = len(self._cache)
        return entry

    def _lower(self, dyn, kwargs, statics) -> Lowered:
        traced = trace(self.fn, dyn, kwargs, name=getattr(self.fn, "__name__", "fn"),
                       rebuild=self._rebuild(statics))
        return compile_traced(traced, backend=self.backend, opt_level=self.opt_level,
                              name=getattr(self.fn, "__name__", "fn"))

    def lower(self, *args, **kwargs) -> Lowered:
        dyn, kwargs, statics = self._split(args, kwargs)
        sig, _ = self._signature(dyn, kwargs, statics)
        entry = self._cache.get(sig)
        return entry if entry is not None else self._compile(sig, dyn, kwargs, statics)

    def cache_info(self) -> CacheInfo:
        return self._info

    def cache_clear(self) -> None:
        self._cache.clear()
        self._info = CacheInfo()
        self._last_sig = None


def compile_traced(traced: Traced, *, backend="auto", opt_level=None, name="fn") -> Lowered:
    """Optimise a traced graph, generate code for it and wrap it as a ``Lowered``."""
    from tracegrad.passes import run_pipeline
    from tracegrad.passes.cost import flops, naive_peak_bytes
    from tracegrad.passes.inline import inline_calls

    if traced.captured:
        raise TracegradError("internal: a top-level jit trace captured outer tracers")
    level = opt_level or options.get("TRACEGRAD_OPT_LEVEL")
    disable = tuple(p for p in options.get("TRACEGRAD_DISABLE_PASSES").split(",") if p)
    graph, record = run_pipeline(inline_calls(traced.graph), level, check=options.flag("TRACEGRAD_VERIFY"),
                                 disable=disable,
                                 stop_after=options.get("TRACEGRAD_STOP_AFTER") or None)
    executable = make_executable(graph, backend, name)
    stats = {
        "eqns": {"traced": len(traced.graph.eqns), **{n: len(g.eqns) for n, g in record.stages},
                 "final": len(graph.eqns)},
        "kernels": sum(1 for e in graph.eqns if e.prim.name != "constant"),
        "peak_bytes": naive_peak_bytes(graph),
        "flops": flops(graph),
        "pass_seconds": record.seconds,
        "backend": executable.backend,
    }
    return Lowered(graph, executable.source, stats, traced.graph, record.stages, executable,
                   traced.out_tree)


def make_executable(graph: Graph, backend: str, name: str):
    from tracegrad.codegen.executable import NumpyExecutable

    backend = options.get("TRACEGRAD_BACKEND") if backend == "auto" else backend
    if backend == "c":
        raise UnsupportedOperationError(
            "the C backend is not available in this version of tracegrad; use backend='numpy' "
            "or backend='auto'")
    return NumpyExecutable(graph, _ident(name))


def _ident(name: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if s and not s[0].isdigit() else f"fn_{s}"


def jit(fn=None, *, backend="auto", static_argnums=(), donate_argnums=(), opt_level=None):
    """Compile ``fn`` per call signature. Usable as ``@jit`` and ``@jit(backend="numpy")``."""
    if fn is None:
        return lambda f: JitFunction(f, backend=backend, static_argnums=static_argnums,
                                     donate_argnums=donate_argnums, opt_level=opt_level)
    if not callable(fn):
        raise TracegradError(f"jit expects a function, got {type(fn).__name__}")
    return JitFunction(fn, backend=backend, static_argnums=static_argnums,
                       donate_argnums=donate_argnums, opt_level=opt_level)


def make_ir(fn, *, grad=False, stage="optimized", static_argnums=(), argnums=0):
    """``make_ir(f, stage=...)(*args)`` returns the Graph of ``f`` at a pipeline stage.

    Stages: ``traced`` (the function as written), ``grad`` (value and gradient as derived by the
    autodiff pass, before optimisation; implies ``grad=True``), ``optimized`` (after the default
    pipeline; of the gradient program when ``grad=True``).
    """
    stages = ("traced", "grad", "optimized")
    if stage not in stages:
        raise TracegradError(f"stage must be one of {stages}, got {stage!r}")

    def build(*args, **kwargs):
        target = fn
        if grad or stage == "grad":
            if stage != "traced":
                from .autodiff_api import value_and_grad
                target = value_and_grad(fn, argnums=argnums)
        jf = JitFunction(target, backend="numpy", static_argnums=static_argnums)
        dyn, kw, statics = jf._split(args, kwargs)
        traced = trace(jf.fn, dyn, kw, rebuild=jf._rebuild(statics))
        if stage in ("traced", "grad"):
            return traced.graph
        return compile_traced(traced, backend="numpy").ir
    return build
