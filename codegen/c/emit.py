"""Emit one C99 CPython extension module per program.

The module's ``run(*inputs, *constants, *outputs)`` crosses from Python into C once per call.
Inside, each top-level equation becomes a loop (a fused kernel, a reduction, an index/copy
operation) or a BLAS call; intermediate values live in a per-thread arena laid out by the
memory plan and reused across calls. Every emitted statement carries its IR equation and the
user's ``file:line`` as a comment, with the names of the IR dump.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tracegrad.ir import Graph, Lit, Var
from tracegrad.printing import Namer, format_eqn

from tracegrad.prims.fused import is_onepass, is_row_kernel
from tracegrad.prims import broadcast_in_dim_p, constant_p, fused_p

from .alias import aliased_inputs, separate_unsafe
from .kernels import Kernel, comment
from .row_kernels import RowKernel
from .views import (is_partial_view, is_view_eqn, placed_pointer, placement,
                    slice_view_offset)
from .lowerings import c_literal, ctype, lowering, register_lowering


def _is_kernel(e) -> bool:
    """Equations emitted as a ``Kernel`` loop nest (elementwise chains, broadcasts, reductions)."""
    return lowering(e.prim).is_kernel


def is_view(prim) -> bool:
    """Storage-free in C: the output is its operand's buffer (a reshape of a contiguous one)."""
    return lowering(prim).view


def _dtypes_in(e) -> set[str]:
    """Dtypes of ``e``'s operands and results and of every value in its nested bodies."""
    out = {str(a.aval.dtype) for a in list(e.inputs) + list(e.outputs)}
    for p in e.params.values():
        if isinstance(p, Graph):
            for inner in p.eqns:
                out |= _dtypes_in(inner)
    return out


@dataclass
class CProgram:
    source: str
    n_inputs: int
    constants: list            # arrays passed after the inputs
    out_avals: list
    uses_blas: bool
    arena_bytes: int
    in_nbytes: list = field(default_factory=list)
    parallel: bool = False     # some loop may run on a team (then executable.py samples the load)
    index_sites: list = field(default_factory=list)  # (primitive, src) per index check: bounds.py


class _Emitter:
    """Walks the top-level equations in order, giving each value its storage (an input, an
    output, an arena slot of the plan, a constant) and each equation its C statements."""

    def __init__(self, graph: Graph, plan, name: str, libmvec: bool = True):
        self.graph = graph
        self.plan = plan
        self.name = name
        self.namer = Namer()
        for v in graph.inputs:
            self.namer(v)
        self.lines: list[str] = []      # body of tg_program
        self.kernels: list[str] = []    # static kernel functions
        self.dtypes: set[str] = set()
        self.libmvec = libmvec
        self.uses_blas = False
        self.constants: list[np.ndarray] = []
        self.ptr: dict[int, str] = {}   # id(var) -> C pointer expression
        self.scratch_bytes = 0
        self.n_kernels = 0
        self.index_sites: list = []     # the equations checking indices (bounds.py)
        # top-level values equal at every element (broadcasts of a literal or a scalar):
        # id -> the Lit, or True; kernels reading them know their operand is loop-invariant
        self.uniform: dict[int, object] = {}
        # fusion names kernels per graph: a loop body's (loops.py) are prefixed with its name
        self.kernel_prefix = ""

    # --- storage ---------------------------------------------------------------------------
    def layout(self):
        offsets, off = [], 0
        for nbytes in self.plan.slot_bytes:
            offsets.append(off)
            # at least one line per slot, empty ones too: distinct slots, distinct addresses
            off += (max(nbytes, 1) + 63) // 64 * 64
        self.slot_offset = offsets
        self.arena_planned = off
        for i, v in enumerate(self.graph.inputs):
            self.ptr[id(v)] = f"in{i}"
        self.out_index = {}
        inputs = {id(v) for v in self.graph.inputs}
        for j, a in enumerate(self.graph.outputs):
            if isinstance(a, Var) and id(a) not in self.out_index and id(a) not in inputs:
                self.out_index[id(a)] = j
        # a value returned only through reshapes is written straight into that output
        producer = {id(o): e for e in self.graph.eqns for o in e.outputs}
        for j, a in enumerate(self.graph.outputs):
            base = a
            while isinstance(base, Var) and id(base) in producer and \
                    is_view(producer[id(base)].prim):
                base = producer[id(base)].inputs[0]
            if base is not a and isinstance(base, Var) and id(base) not in inputs and \
                    id(base) not in self.out_index and id(base) not in self.plan.slot_of:
                self.out_index[id(base)] = j

    def storage(self, v: Var) -> str:
        """Pointer expression of the buffer ``v`` is written to."""
        t = ctype(v.aval.dtype)
        placed = self.plan.placed.get(id(v)) if hasattr(self.plan, "placed") else None
        if placed is not None:  # computed in its block of a concatenate/pad (views.py)
            p = placed_pointer(self.storage(placed[0]), placed[1])
        elif id(v) in self.out_index:
            p = f"out{self.out_index[id(v)]}"
        elif id(v) in self.plan.slot_of:
            p = f"(({t}*)(arena + {self.slot_offset[self.plan.slot_of[id(v)]]}))"
        else:
            raise AssertionError(f"no storage planned for {self.namer(v)}")
        self.ptr[id(v)] = p
        return p

    def read(self, a) -> str:
        if isinstance(a, Lit):  # a scalar literal where an array is read: a C99 compound literal
            return f"(&(const {ctype(a.aval.dtype)}){{{c_literal(a)}}})"
        return self.ptr[id(a)]

    def scratch(self, nbytes: int, offset: int = 0) -> tuple[str, int]:
        """Scratch space after the planned arena (for transposed copies feeding BLAS)."""
        start = self.arena_planned + offset
        self.scratch_bytes = max(self.scratch_bytes, offset + (nbytes + 63) // 64 * 64)
        return f"(arena + {start})", offset + (nbytes + 63) // 64 * 64

    # --- program ---------------------------------------------------------------------------
    def emit(self) -> CProgram:
        self.layout()
        for e in self.graph.eqns:
            for o in e.outputs:
                self.namer(o)
            self.emit_eqn(e)
        for j, a in enumerate(self.graph.outputs):
            self.emit_output_copy(j, a)
        return self.finish()

    def stmt(self, code: str, e=None):
        if e is not None:  # a new equation: a long program checks for Ctrl-C here
            self.lines.append("    TG_POLL_PROGRAM")
            self.lines.append(f"    /* {comment(format_eqn(e, self.namer), e.src)} */")
        self.lines.append(code)

    def emit_output_copy(self, j, a):
        """Outputs not written in place by their equation: inputs, views, repeats, literals."""
        if isinstance(a, Lit):
            t = ctype(a.aval.dtype)
            self.stmt(f"    (({t}*)out{j})[0] = {c_literal(a)};")
            return
        if self.out_index.get(id(a)) == j and self.ptr.get(id(a)) == f"out{j}":
            return
        n = a.aval.nbytes
        self.stmt(f"    memcpy(out{j}, {self.read(a)}, {n}); /* output {j} */")

    def emit_eqn(self, e):
        low = lowering(e.prim)
        # every dtype a value has anywhere, kernel bodies included: a float32 program may
        # compute in float64 inside one kernel, and needs the float64 math declarations
        self.dtypes.update(_dtypes_in(e))
        if e.outputs and all(o.aval.size == 0 for o in e.outputs):
            # no elements: nothing to compute. (Zero-byte slots share their offset, so a
            # kernel would get one address as a restrict input and its output.)
            for o in e.outputs:
                if id(o) in self.out_index or id(o) in self.plan.slot_of:
                    self.storage(o)
                else:
                    self.ptr[id(o)] = f"(({ctype(o.aval.dtype)}*)arena)"
            self.stmt("    /* no elements */", e)
            return
        offset = 0 if low.view else slice_view_offset(e)
        if offset is not None:  # a reshape, or a slice that is a contiguous block (views.py)
            src = e.inputs[0]
            o = e.outputs[0]
            if isinstance(src, Lit):
                self.emit_kernel_for(e)
                return
            at = self.read(src) if offset == 0 else f"({self.read(src)} + {offset})"
            if id(o) in self.out_index and at != f"out{self.out_index[id(o)]}":
                self.stmt(f"    memcpy({self.storage(o)}, {at}, {o.aval.nbytes});", e)
            else:
                self.ptr[id(o)] = at
            return
        if low.is_kernel:
            self.emit_kernel_for(e)
            return
        low.emit(self, e)

    # --- kernels: elementwise chains, broadcasts, one reduction -----------------------------
    def emit_kernel_for(self, e):
        from tracegrad.ir import Eqn
        if is_onepass(e):  # A.T @ g(A @ X) in one pass over A (onepass.py)
            from .onepass import emit as emit_onepass
            emit_onepass(self, e)
            return
        if e.prim is fused_p:
            body = e.params["body"]
            kname = self.kernel_prefix + e.params["name"]
        else:
            ins = tuple(Var(a.aval) if isinstance(a, Var) else a for a in e.inputs)
            outs = tuple(Var(o.aval) for o in e.outputs)
            be = Eqn(e.prim, ins, e.params, outs, e.src)
            body = Graph(tuple(a for a in ins if isinstance(a, Var)), (be,), outs)
            self.n_kernels += 1
            kname = f"op{self.n_kernels}"
        outer_ins = [a for a in e.inputs if isinstance(a, Var)] if e.prim is not fused_p \
            else list(e.inputs)
        if e.prim is broadcast_in_dim_p:
            src = e.inputs[0]
            if isinstance(src, Lit) or src.aval.size == 1 or id(src) in self.uniform:
                self.uniform[id(e.outputs[0])] = src if isinstance(src, Lit) else \
                    self.uniform.get(id(src), True)
        in_ptrs = [self.read(a) if isinstance(a, Var) else None for a in outer_ins]
        out_ptrs = [self.storage(o) for o in e.outputs]
        # an operand written over in place (the plan's in-place pairs, see alias.py) is read
        # and written through two pointers: neither may be declared restrict
        uni = {id(bv): self.uniform[id(a)] for bv, a in zip(body.inputs, outer_ins)
               if isinstance(a, Var) and id(a) in self.uniform}
        if is_row_kernel(e):  # fuse-rows' kernels: one pass over rows (row_kernels.py)
            k = RowKernel(self, kname, body, e, uni)
        else:
            k = Kernel(self, kname, body, e, aliased_inputs(in_ptrs, out_ptrs), uni)
        self.kernels.append(k.function())
        args = [p for p in in_ptrs if p is not None] + out_ptrs
        call = f"{kname}({', '.join(args)})"  # a kernel that may raise returns 1 (bounds.py)
        self.stmt(f"    if ({call}) return 1;" if k.raises else f"    {call};", e)

    # --- module -------------------------------------------------------------------------------
    def finish(self) -> CProgram:
        from .module import module_source
        return module_source(self)


def emit_constant(em: _Emitter, e) -> None:
    """A constant is passed in by the executable (``cst<k>``), copied only into an output."""
    k = len(em.constants)
    em.constants.append(np.ascontiguousarray(e.params["value"]))
    cptr = f"cst{k}"
    o = e.outputs[0]
    if id(o) in em.out_index:
        em.stmt(f"    memcpy(out{em.out_index[id(o)]}, {cptr}, {o.aval.nbytes});", e)
        em.ptr[id(o)] = f"out{em.out_index[id(o)]}"
    else:
        em.ptr[id(o)] = cptr


register_lowering(constant_p, emit=emit_constant)


def emit_c(graph: Graph, name: str = "program", libmvec: bool = True, *,
           plan=None) -> CProgram:
    """C source of ``graph`` (already through the pass pipeline) with its memory ``plan``
    (``plan_c``, made here when not given; values inside a kernel live in registers)."""
    em = _Emitter(graph, plan_c(graph) if plan is None else plan, name, libmvec)
    return em.emit()


def plan_c(graph: Graph, *, check_kernels: bool = True):
    """The C backend's memory plan of ``graph``'s top-level values. ``check_kernels=False``
    gives the plan before ``alias.separate_unsafe`` repairs its in-place pairs (for tests)."""
    from tracegrad.passes.memplan import analyse

    def c_plannable(e):  # constants are passed in; custom calls never reach the backend
        return e.prim is not constant_p and e.prim.kind != "custom"
    plan = analyse(graph, flatten_kernels=False, plannable_fn=c_plannable,
                   view_eqn=is_view_eqn, partial_view=is_partial_view, place=placement)
    if check_kernels:
        separate_unsafe(graph, plan, is_view, _is_kernel)
    return plan

