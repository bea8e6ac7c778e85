"""The C backend's executable: a program's extension module plus the per-call marshalling
(inputs made C-contiguous, outputs allocated fresh, one call into C).

Each calling thread gets its own arena (the program's intermediates), owned by a
``threading.local``: it is freed when the thread ends or the executable is dropped."""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from tracegrad.ir import Graph

from . import threads as c_threads
from .emit import emit_c, plan_c

ARENA_ALIGN = 64  # bytes: cache lines, and the widest vector loads


def num_threads() -> int:
    from tracegrad import options
    value = options.get("TRACEGRAD_NUM_THREADS")
    if value:
        return max(1, int(value))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def adapt_threads() -> bool:
    """Whether thread counts follow the load: by default yes, unless the user fixed a count."""
    from tracegrad import options
    if options.get("TRACEGRAD_ADAPT_THREADS").strip():
        return options.flag("TRACEGRAD_ADAPT_THREADS")
    return not options.get("TRACEGRAD_NUM_THREADS").strip()


def prepare(graph: Graph, fn_name: str) -> tuple:
    """``(plan, CProgram, seconds)``: the memory plan and the generated source of ``graph``
    (raises ``CompileError`` when no compiler works: its libmvec support decides the source)."""
    from .loader import compiler_info
    from .unsupported import refuse_complex
    refuse_complex(graph)  # before planning: a typed error, never a kernel reading complex as real
    t0 = time.perf_counter()
    plan = plan_c(graph)
    prog = emit_c(graph, fn_name, libmvec=bool(compiler_info().get("libmvec")), plan=plan)
    return plan, prog, time.perf_counter() - t0


class CExecutable:
    """Runs a graph compiled to C. Inputs are never written; outputs are fresh arrays."""

    backend = "c"

    def __init__(self, graph: Graph, fn_name: str = "program", prepared=None):
        """``graph`` comes out of the pass pipeline (the ``-c`` pipelines fuse it for C at any
        size); its memory plan is the C backend's own (``plan_c``: top-level values only),
        made here and handed to the emitter. ``prepared``: ``(plan, program, codegen
        seconds)`` of ``prepare`` (the background build emits first, then builds)."""
        from .loader import load_extension
        self.graph = graph
        if prepared is None:
            prepared = prepare(graph, fn_name)
        self.plan, prog, codegen = prepared
        self.program = prog
        self.source = prog.source
        c_threads.prepare_openmp()  # before the first module pulls libgomp in
        t1 = time.perf_counter()
        # contractions call the BLAS through addresses (blas_lib.py), so nothing is linked
        self.module = load_extension(prog.source, uses_blas=False)
        # as NumpyExecutable.seconds: writing the source, and compiling or loading it
        self.seconds = {"codegen": codegen, "compile": time.perf_counter() - t1}
        blas_threads = (0, 0)
        if prog.uses_blas:
            from .blas_lib import blas_functions, gemv_functions
            self.module.set_blas(*blas_functions()[:3], *gemv_functions())
            if hasattr(self.module, "set_zblas"):  # complex products: cgemm/zgemm
                from .blas_complex import prepare_module
                prepare_module(self.module)
            blas_threads = c_threads.blas_thread_functions()
        self._blas_threads = blas_threads
        self._adapt = adapt_threads()
        self.set_threads(num_threads())
        self._run = self.module.run
        if hasattr(self.module, "set_lapack"):  # factorisations: addresses, failures raise
            from .lapack import prepare_module
            self._run = prepare_module(self.module)
        if prog.index_sites:  # gathers and scatters: an index out of range raises (bounds.py)
            from .bounds import checked
            self._run = checked(self._run, self.module.index_status, prog.index_sites)
        self._consts = prog.constants
        self._out_specs = [(a.shape, a.dtype) for a in prog.out_avals]
        self._arena_bytes = max(prog.arena_bytes, ARENA_ALIGN)
        self._local = threading.local()

    def set_threads(self, n: int) -> None:
        """At most ``n`` threads for this program's loops and BLAS calls (fewer while other
        processes hold the CPUs, when ``adapt_threads()``)."""
        self.threads = max(1, int(n))
        # the load is sampled only where a call may use several threads (a big loop or BLAS)
        self._sample_load = self._adapt and self.threads > 1 and \
            (self.program.parallel or self.program.uses_blas)
        self.module.set_threads(self.threads,
                                c_threads.shared_address() if self._sample_load else 0,
                                c_threads.shared_address(), *self._blas_threads)

    def _new_arena(self) -> np.ndarray:
        raw = np.empty(self._arena_bytes + ARENA_ALIGN, np.uint8)
        skip = -raw.ctypes.data % ARENA_ALIGN
        self._local.arena = arena = raw[skip:skip + self._arena_bytes]
        return arena

    def __call__(self, *args) -> list[np.ndarray]:
        # C reads each input as a contiguous, element-aligned array; anything else (a strided
        # view, Fortran order, a frombuffer view at an odd offset) is copied first: reading a
        # misaligned double* is undefined behaviour (and np.ascontiguousarray keeps it as is)
        ins = [a if a.flags.c_contiguous and a.flags.aligned else np.array(a, order="C")
               for a in args]
        outs = [np.empty(s, d) for s, d in self._out_specs]
        try:
            arena = self._local.arena
        except AttributeError:
            arena = self._new_arena()
        if self._sample_load:
            c_threads.refresh(time.monotonic())
        self._run(*ins, *self._consts, *outs, arena)
        return outs
