"""Executables: compiled code plus the contract that outputs are fresh arrays of the declared
avals."""
from __future__ import annotations

import hashlib
import itertools
import linecache
import threading
import time
import weakref

import numpy as np

from tracegrad.ir import Graph
from tracegrad.prims import np_helpers

from .numpy_emit import emit_numpy, py_ident


_SERIAL = itertools.count()


class NumpyExecutable:
    """Runs graph-generated NumPy source. Tracebacks show the generated lines (via linecache).

    ``peak_bytes`` is the most memory a call holds for intermediates (inputs and outputs
    excluded): the planned arena plus the peak of the values the code frees after last use;
    ``seconds`` the time spent generating (``codegen``) and compiling (``compile``) the source.
    ``plan``: the memory plan of ``graph`` (the pipeline's ``memplan`` analysis), or None to
    let NumPy allocate every intermediate."""

    backend = "numpy"

    def __init__(self, graph: Graph, fn_name: str = "kernel", plan=None):
        self.graph = graph
        self.plan = plan
        fn_name = py_ident(fn_name)  # a traced function may be called `not` or `np`
        views = None
        info: dict = {}
        t0 = time.perf_counter()
        if plan is not None or any(e.prim.name == "fused" for e in graph.eqns):
            from .numpy_plan import arena_slot_bytes, emit_numpy_planned
            self.source, consts, buffers = emit_numpy_planned(graph, plan, fn_name, info)
            if plan is not None:
                views = _ArenaViews(arena_slot_bytes(plan, buffers), buffers)
        else:
            self.source, consts = emit_numpy(graph, fn_name, info)
        self.peak_bytes = info["peak_bytes"]
        digest = hashlib.sha256(self.source.encode()).hexdigest()[:12]
        # one name per executable (the serial): each owns its linecache entry, and dropping the
        # executable (an evicted signature, a dropped jitted function) drops its source too
        self.filename = f"<tracegrad-numpy:{fn_name}:{digest}:{next(_SERIAL)}>"
        lines = self.source.splitlines(keepends=True)
        linecache.cache[self.filename] = (len(self.source), None, lines, self.filename)
        weakref.finalize(self, linecache.cache.pop, self.filename, None)
        namespace = {"np": np, "rt": np_helpers, "_views": views, **consts}
        t1 = time.perf_counter()
        exec(compile(self.source, self.filename, "exec"), namespace)
        self.seconds = {"codegen": t1 - t0, "compile": time.perf_counter() - t1}
        self._fn = namespace[fn_name]
        self._out_dtypes = [a.dtype for a in graph.out_avals]
        # inputs whose storage the plan reuses (donate_argnums): they must be writable
        self._donated = sorted(set(plan.donated_slots.values())) if plan is not None else []

    def __call__(self, *args) -> list[np.ndarray]:
        if self._donated:
            args = list(args)
            for i in self._donated:
                a = args[i]
                if not (isinstance(a, np.ndarray) and a.flags.writeable and
                        a.flags.c_contiguous and a.flags.aligned):
                    args[i] = np.array(a, order="C")  # cannot write there: work on a copy
        outs = self._fn(*args)
        return finish_outputs(outs, self._out_dtypes, args)


class _ArenaViews:
    """Per-thread planned buffers: one byte arena per slot the code reads (``slot_bytes``:
    slot -> bytes), and a typed view per buffer into its slot, made on a thread's first call
    and reused by every later call on that thread."""

    def __init__(self, slot_bytes: dict, buffers):
        self.slot_bytes = dict(slot_bytes)
        self.buffers = list(buffers)
        self.local = threading.local()

    def __call__(self):
        views = getattr(self.local, "views", None)
        if views is None:
            slots = {s: np.empty(max(n, 1), dtype=np.uint8) for s, n in self.slot_bytes.items()}
            views = [slots[s][:int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize]
                     .view(dt).reshape(shape) for s, shape, dt in self.buffers]
            self.local.views = views
        return views


def finish_outputs(outs, out_dtypes, args) -> list[np.ndarray]:
    """Outputs as writable arrays that share memory with no input and no other output (users
    may mutate each of them)."""
    result = []
    seen = {id(a) for a in args}  # inputs, then outputs already returned
    views = []  # outputs returned so far that are views (base not None)
    for o, dt in zip(outs, out_dtypes):
        o = np.asarray(o)
        if o.dtype != dt:
            o = o.astype(dt)
        # Two arrays can share memory only if one of them is a view, so an array that owns
        # its memory is checked against the views returned so far, and a view against the
        # inputs and every output so far (`y` and `y[None]` both returned is one buffer).
        # Checking only views keeps this linear for programs with many inputs and outputs.
        if o.base is None:
            shared = any(np.may_share_memory(o, v) for v in views)
        else:
            shared = any(isinstance(a, np.ndarray) and np.may_share_memory(o, a)
                         for a in (*args, *result))
        if not o.flags.writeable or id(o) in seen or shared:
            o = np.array(o, copy=True)
        seen.add(id(o))
        if o.base is not None:
            views.append(o)
        result.append(o)
    return result
