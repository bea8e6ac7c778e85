"""The C backend's executable: a program's extension module plus the per-call marshalling
(inputs made C-contiguous, outputs allocated fresh, one call into C)."""
from __future__ import annotations

import os

import numpy as np

from tracegrad.ir import Graph

from .c_emit import emit_c



def num_threads() -> int:
    from tracegrad import options
    value = options.get("TRACEGRAD_NUM_THREADS")
    if value:
        return max(1, int(value))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


class CExecutable:
    """Runs a graph compiled to C. Inputs are never written; outputs are fresh arrays."""

    backend = "c"

    def __init__(self, graph: Graph, fn_name: str = "program"):
        from tracegrad.passes.fuse import fuse

        from .c_runtime import compiler_info, load_extension
        if not any(e.prim.name == "fused" for e in graph.eqns):
            graph = fuse(graph, force=True)  # C kernels gain from fusion at any size
        self.graph = graph
        prog = emit_c(graph, fn_name, libmvec=bool(compiler_info().get("libmvec")))
        self.program = prog
        self.source = prog.source
        # contractions call the BLAS through addresses (c_blas_lib), so nothing is linked
        self.module = load_extension(prog.source, uses_blas=False)
        self.module.set_threads(num_threads())
        if prog.uses_blas:
            from .c_blas_lib import blas_functions
            self.module.set_blas(*blas_functions()[:3])
        self._run = self.module.run
        self._consts = prog.constants
        self._out_specs = [(a.shape, a.dtype) for a in prog.out_avals]

    def __call__(self, *args) -> list[np.ndarray]:
        # C reads each input as a contiguous, element-aligned array; anything else (a strided
        # view, Fortran order, a frombuffer view at an odd offset) is copied first: reading a
        # misaligned double* is undefined behaviour (and np.ascontiguousarray keeps it as is)
        ins = [a if a.flags.c_contiguous and a.flags.aligned else np.array(a, order="C")
               for a in args]
        outs = [np.empty(s, d) for s, d in self._out_specs]
        self._run(*ins, *self._consts, *outs)
        return outs
