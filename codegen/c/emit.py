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

from .alias import aliased_inputs, separate_unsafe
from .lowerings import c_literal, ctype, scalar_expr
from ..safe_text import c_comment

PARALLEL_MIN_ELEMENTS = 1 << 17   # elements of work per thread of a loop's team: smaller loops
                                  # run on fewer threads. Idle threads sleep (c_threads), and
                                  # waking one cost 50 us on our 2-CPU VMs: x*2+1 on 64k floats
                                  # took 3.6 us on one thread, 57 us on two; 1M: 73 vs 45 us
POLL_MIN_ELEMENTS = 1 << 20       # loop nests this large poll for Ctrl-C in their outer loop
STRIP_MIN_ELEMENTS = 1 << 22      # 1-D loops this large run in blocks, so that they can poll
STRIP_BLOCK = 1 << 16
C_VIEWS = {"reshape"}             # contiguous buffers: a reshape is the same pointer


def _is_kernel(e) -> bool:
    """Equations emitted as a ``_Kernel`` loop nest (elementwise chains, broadcasts, reductions)."""
    return e.prim.kind in ("elementwise", "fused") or e.prim.traits.reduction or \
        e.prim.name == "broadcast_in_dim"


def _dtypes_in(e) -> set[str]:
    """Dtypes of ``e``'s operands and results and of every value in its nested bodies."""
    out = {str(a.aval.dtype) for a in list(e.inputs) + list(e.outputs)}
    for p in e.params.values():
        if isinstance(p, Graph):
            for inner in p.eqns:
                out |= _dtypes_in(inner)
    return out


def team_size(work: int) -> int:
    """Threads a loop of ``work`` elements is worth (the module caps it by the thread setting
    and by the CPUs free at the call: TG_TEAM_NOW); 1 means no parallel region at all."""
    return max(1, work // PARALLEL_MIN_ELEMENTS)


def parallel_for(work: int) -> str:
    """The pragma line for a loop of ``work`` elements, or "" when one thread is best."""
    k = team_size(work)
    return f"TG_PARALLEL_FOR_N({k})" if k >= 2 else ""


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _strides(shape) -> list[int]:
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return list(reversed(st))


def _comment(text: str, src: str | None = None) -> str:
    """The only way user text (an equation's params, the user's ``file:line``) enters the C
    source: ``c_comment`` keeps it inside ``/* */`` (no newline, NUL, ``*/`` or trigraph)."""
    return c_comment(text, 150) + (f" ({c_comment(src)})" if src else "")


@dataclass
class CProgram:
    source: str
    n_inputs: int
    constants: list            # arrays passed after the inputs
    out_avals: list
    uses_blas: bool
    arena_bytes: int
    in_nbytes: list = field(default_factory=list)
    parallel: bool = False     # some loop may run on a team (then c_executable samples the load)


class _Emitter:
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
        # top-level values equal at every element (broadcasts of a literal or a scalar):
        # id -> the Lit, or True; kernels reading them know their operand is loop-invariant
        self.uniform: dict[int, object] = {}

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
                    producer[id(base)].prim.name in C_VIEWS:
                base = producer[id(base)].inputs[0]
            if base is not a and isinstance(base, Var) and id(base) not in inputs and \
                    id(base) not in self.out_index and id(base) not in self.plan.slot_of:
                self.out_index[id(base)] = j

    def storage(self, v: Var) -> str:
        """Pointer expression of the buffer ``v`` is written to."""
        t = ctype(v.aval.dtype)
        if id(v) in self.out_index:
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
            self.lines.append(f"    /* {_comment(format_eqn(e, self.namer), e.src)} */")
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
        name = e.prim.name
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
        if name == "constant":
            k = len(self.constants)
            self.constants.append(np.ascontiguousarray(e.params["value"]))
            cptr = f"cst{k}"
            o = e.outputs[0]
            if id(o) in self.out_index:
                self.stmt(f"    memcpy(out{self.out_index[id(o)]}, {cptr}, {o.aval.nbytes});", e)
                self.ptr[id(o)] = f"out{self.out_index[id(o)]}"
            else:
                self.ptr[id(o)] = cptr
            return
        if name in C_VIEWS:
            src = e.inputs[0]
            o = e.outputs[0]
            if isinstance(src, Lit):
                self.emit_kernel_for(e)
                return
            if id(o) in self.out_index and self.read(src) != f"out{self.out_index[id(o)]}":
                self.stmt(f"    memcpy({self.storage(o)}, {self.read(src)}, {o.aval.nbytes});", e)
            else:
                self.ptr[id(o)] = self.read(src)
            return
        if _is_kernel(e):
            self.emit_kernel_for(e)
            return
        getattr(self, f"emit_{name}")(e)

    # --- kernels: elementwise chains, broadcasts, one reduction -----------------------------
    def emit_kernel_for(self, e):
        from tracegrad.ir import Eqn
        if e.prim.name == "fused":
            body = e.params["body"]
            kname = e.params["name"]
        else:
            ins = tuple(Var(a.aval) if isinstance(a, Var) else a for a in e.inputs)
            outs = tuple(Var(o.aval) for o in e.outputs)
            be = Eqn(e.prim, ins, e.params, outs, e.src)
            body = Graph(tuple(a for a in ins if isinstance(a, Var)), (be,), outs)
            self.n_kernels += 1
            kname = f"op{self.n_kernels}"
        outer_ins = [a for a in e.inputs if isinstance(a, Var)] if e.prim.name != "fused" \
            else list(e.inputs)
        if e.prim.name == "broadcast_in_dim":
            src = e.inputs[0]
            if isinstance(src, Lit) or src.aval.size == 1 or id(src) in self.uniform:
                self.uniform[id(e.outputs[0])] = src if isinstance(src, Lit) else \
                    self.uniform.get(id(src), True)
        in_ptrs = [self.read(a) if isinstance(a, Var) else None for a in outer_ins]
        out_ptrs = [self.storage(o) for o in e.outputs]
        # an operand written over in place (the plan's in-place pairs, see c_alias) is read
        # and written through two pointers: neither may be declared restrict
        k = _Kernel(self, kname, body, e, aliased_inputs(in_ptrs, out_ptrs),
                    {id(bv): self.uniform[id(a)] for bv, a in zip(body.inputs, outer_ins)
                     if isinstance(a, Var) and id(a) in self.uniform})
        self.kernels.append(k.function())
        args = [p for p in in_ptrs if p is not None] + out_ptrs
        self.stmt(f"    {kname}({', '.join(args)});", e)

    # --- index/copy operations ----------------------------------------------------------------
    def _nest(self, shape, body: list[str], indent="    ", parallel=True, names=None,
              work: int | None = None) -> list[str]:
        """Loops over ``shape`` with index variables ``names`` (default i0..i{n-1}); ``body``
        at the innermost. The outer loop runs on a team sized by ``work`` (elements the whole
        nest touches; default the iteration count) and, in a big nest, skips its remaining
        iterations once Ctrl-C is pressed; a big 1-D loop runs in blocks to be able to."""
        n = len(shape)
        names = names or [f"i{d}" for d in range(n)]
        total = _size(shape)
        work = total if work is None else work
        if n == 0:
            return [indent + "{"] + [indent + "    " + b for b in body] + [indent + "}"]
        par = parallel_for(work) if parallel else ""
        # poll where a check is cheap next to the work it guards: an outer loop over rows, or
        # a 1-D loop whose every iteration does much work (a row reduction), never a SIMD loop
        heavy = n == 1 and work >= 64 * total
        poll = work >= POLL_MIN_ELEMENTS and (n >= 2 or total >= STRIP_MIN_ELEMENTS or heavy)
        if n == 1 and total >= STRIP_MIN_ELEMENTS:
            i, nb = names[0], -(-total // STRIP_BLOCK)
            out = [f"{indent}TG_PARALLEL_FOR_N({team_size(work)})" if par else "",
                   f"{indent}for (int64_t tg_b = 0; tg_b < {nb}; tg_b++) {{",
                   f"{indent}    TG_POLL_SKIP",
                   f"{indent}    const int64_t tg_hi = tg_b == {nb - 1} ? {total} : "
                   f"(tg_b + 1) * {STRIP_BLOCK};",
                   f"{indent}    TG_SIMD",
                   f"{indent}    for (int64_t {i} = tg_b * {STRIP_BLOCK}; {i} < tg_hi; {i}++) {{",
                   *[indent + "        " + b for b in body],
                   f"{indent}    }}", f"{indent}}}"]
        else:
            out = []
            for d, size in enumerate(shape):
                pad = indent + "    " * d
                if d == 0 and par:
                    out.append(f"{pad}{par}")
                elif d == n - 1 and not (heavy and poll):
                    out.append(f"{pad}TG_SIMD")
                out.append(f"{pad}for (int64_t {names[d]} = 0; {names[d]} < {size}; "
                           f"{names[d]}++) {{")
                if d == 0 and poll:
                    out.append(f"{pad}    TG_POLL_SKIP")
            pad = indent + "    " * n
            out += [pad + b for b in body]
            for d in reversed(range(n)):
                out.append(indent + "    " * d + "}")
        out = [ln for ln in out if ln]
        if poll:  # the count of SIGINTs at the call's start, read on the calling thread
            out = [indent + "{", indent + "TG_POLL_DECL"] + out + [indent + "}"]
        return out

    @staticmethod
    def _index(coeffs: list[tuple[str, int]], base: int = 0) -> str:
        terms = [f"{v}*{c}" if c != 1 else v for v, c in coeffs if c != 0]
        if base:
            terms.append(str(base))
        return " + ".join(terms) if terms else "0"

    def emit_transpose(self, e):
        x, o = e.inputs[0], e.outputs[0]
        perm = e.params["permutation"]
        ist = _strides(x.aval.shape)
        ost = _strides(o.aval.shape)
        src = self._index([(f"i{d}", ist[perm[d]]) for d in range(len(perm))])
        dst = self._index([(f"i{d}", ost[d]) for d in range(len(perm))])
        self._copy_kernel(e, o.aval.shape, [f"o[{dst}] = x[{src}];"])

    def _copy_kernel(self, e, shape, body, extra_inputs=()):
        x, o = e.inputs[0], e.outputs[0]
        t_in, t_out = ctype(x.aval.dtype), ctype(o.aval.dtype)
        self.n_kernels += 1
        kname = f"op{self.n_kernels}"
        params = [f"const {t_in}* restrict x"] + [f"const {ctype(a.aval.dtype)}* restrict {n}"
                                                  for n, a in extra_inputs]
        params.append(f"{t_out}* restrict o")
        fn = [f"static void {kname}({', '.join(params)}) {{"]
        fn += self._nest(shape, body)
        fn.append("}")
        self.kernels.append("\n".join(fn))
        args = [self.read(x)] + [self.read(a) for _, a in extra_inputs] + [self.storage(o)]
        self.stmt(f"    {kname}({', '.join(args)});", e)

    def emit_slice(self, e):
        x, o = e.inputs[0], e.outputs[0]
        ist, ost = _strides(x.aval.shape), _strides(o.aval.shape)
        starts, steps = e.params["start_indices"], e.params["strides"]
        base = sum(s * st for s, st in zip(starts, ist))
        src = self._index([(f"i{d}", ist[d] * steps[d]) for d in range(len(ist))], base)
        dst = self._index([(f"i{d}", ost[d]) for d in range(len(ost))])
        self._copy_kernel(e, o.aval.shape, [f"o[{dst}] = x[{src}];"])

    def emit_rev(self, e):
        x, o = e.inputs[0], e.outputs[0]
        shape = x.aval.shape
        st = _strides(shape)
        dims = set(e.params["dimensions"])
        base = sum((shape[d] - 1) * st[d] for d in dims)
        src = self._index([(f"i{d}", -st[d] if d in dims else st[d]) for d in range(len(st))],
                          base)
        dst = self._index([(f"i{d}", st[d]) for d in range(len(st))])
        self._copy_kernel(e, shape, [f"o[{dst}] = x[{src}];"])

    def emit_pad(self, e):
        x, pv, o = e.inputs[0], e.inputs[1], e.outputs[0]
        t = ctype(o.aval.dtype)
        out = self.storage(o)
        val = c_literal(pv) if isinstance(pv, Lit) else f"{self.read(pv)}[0]"
        self.stmt(f"    {{ {t} pv = {val}; for (int64_t i = 0; i < {o.aval.size}; i++) "
                  f"{out}[i] = pv; }}", e)
        if x.aval.size == 0:
            return
        ost = _strides(o.aval.shape)
        ist = _strides(x.aval.shape)
        lo, it = e.params["low"], e.params["interior"]
        dst = self._index([(f"i{d}", ost[d] * (it[d] + 1)) for d in range(len(ost))],
                          sum(l * s for l, s in zip(lo, ost)))
        src = self._index([(f"i{d}", ist[d]) for d in range(len(ist))])
        self._strided_copy(x, out, t, dst, src)

    def _strided_copy(self, x, out: str, t: str, dst: str, src: str, e=None):
        """A kernel copying every element of ``x`` to ``o[dst]`` (index expressions over the
        loop indices i0.. of x's shape); pad and concatenate place their operands this way."""
        self.n_kernels += 1
        kname = f"op{self.n_kernels}"
        fn = [f"static void {kname}(const {t}* restrict x, {t}* restrict o) {{"]
        fn += self._nest(x.aval.shape, [f"o[{dst}] = x[{src}];"])
        fn.append("}")
        self.kernels.append("\n".join(fn))
        self.stmt(f"    {kname}({self.read(x)}, {out});", e)

    def emit_concatenate(self, e):
        o = e.outputs[0]
        ax = e.params["dimension"]
        t = ctype(o.aval.dtype)
        out = self.storage(o)
        ost = _strides(o.aval.shape)
        offset = 0
        first = True
        for x in e.inputs:
            if x.aval.size:
                ist = _strides(x.aval.shape)
                dst = self._index([(f"i{d}", ost[d]) for d in range(len(ost))], offset * ost[ax])
                src = self._index([(f"i{d}", ist[d]) for d in range(len(ist))])
                self._strided_copy(x, out, t, dst, src, e if first else None)
                first = False
            offset += x.aval.shape[ax]

    def _gather_base(self, x, idx):
        """C statements computing ``base`` for index row ``b`` (indices clamped to range)."""
        k = idx.aval.shape[-1]
        xst = _strides(x.aval.shape)
        parts = []
        for j in range(k):
            dim = x.aval.shape[j]
            parts.append(f"{{ int64_t v = (int64_t)ix[b*{k} + {j}]; if (v < 0) v += {dim}; "
                         f"v = v < 0 ? 0 : (v >= {dim} ? {dim} - 1 : v); base += v*{xst[j]}; }}")
        return parts

    def _index_row_kernel(self, x, idx, params: str, prologue: list[str], row: str,
                          parallel: bool) -> str:
        """A kernel looping over the index rows of ``idx`` (``b``), computing each row's
        clamped ``base`` offset into ``x``, then ``row`` for r in the trailing block."""
        k = idx.aval.shape[-1]
        nb = _size(idx.aval.shape[:-1])
        r = _size(x.aval.shape[k:])
        self.n_kernels += 1
        kname = f"op{self.n_kernels}"
        par = parallel_for(nb * r) + "\n    " if parallel and team_size(nb * r) >= 2 else ""
        fn = [f"static void {kname}({params}) {{", *prologue,
              f"    {par}for (int64_t b = 0; b < {nb}; b++) {{",
              "        int64_t base = 0;"]
        fn += ["        " + p for p in self._gather_base(x, idx)]
        fn += ["        TG_SIMD", f"        for (int64_t r = 0; r < {r}; r++) {row}", "    }",
               "}"]
        self.kernels.append("\n".join(fn))
        return kname

    def emit_gather(self, e):
        x, idx = e.inputs
        o = e.outputs[0]
        r = _size(x.aval.shape[idx.aval.shape[-1]:])
        t, ti = ctype(x.aval.dtype), ctype(idx.aval.dtype)
        kname = self._index_row_kernel(
            x, idx, f"const {t}* restrict x, const {ti}* restrict ix, {t}* restrict o", [],
            f"o[b*{r} + r] = x[base + r];", parallel=True)
        self.stmt(f"    {kname}({self.read(x)}, {self.read(idx)}, {self.storage(o)});", e)

    def emit_scatter_add(self, e):
        x, idx, upd = e.inputs
        o = e.outputs[0]
        r = _size(x.aval.shape[idx.aval.shape[-1]:])
        t, ti = ctype(x.aval.dtype), ctype(idx.aval.dtype)
        # sequential over index rows: duplicates accumulate in a fixed order (deterministic)
        kname = self._index_row_kernel(
            x, idx, f"const {t}* restrict x, const {ti}* restrict ix, const {t}* restrict u, "
            f"{t}* o", [f"    if (o != x) memcpy(o, x, {x.aval.nbytes});"],
            f"o[base + r] += u[b*{r} + r];", parallel=False)
        self.stmt(f"    {kname}({self.read(x)}, {self.read(idx)}, {self.read(upd)}, "
                  f"{self.storage(o)});", e)

    def emit_iota(self, e):
        o = e.outputs[0]
        shape = o.aval.shape
        st = _strides(shape)
        dim = e.params["dimension"]
        t = ctype(o.aval.dtype)
        self.n_kernels += 1
        kname = f"op{self.n_kernels}"
        dst = self._index([(f"i{d}", st[d]) for d in range(len(st))])
        fn = [f"static void {kname}({t}* restrict o) {{"]
        fn += self._nest(shape, [f"o[{dst}] = ({t})i{dim};"])
        fn.append("}")
        self.kernels.append("\n".join(fn))
        self.stmt(f"    {kname}({self.storage(o)});", e)

    def emit_cumsum(self, e):
        x, o = e.inputs[0], e.outputs[0]
        shape = x.aval.shape
        ax, rev = e.params["axis"], e.params["reverse"]
        st = _strides(shape)
        outer = [d for d in range(len(shape)) if d != ax]
        t = ctype(x.aval.dtype)
        acc_t = "double" if t in ("float", "double") else "int64_t"
        n = shape[ax]
        base = self._index([(f"i{d}", st[d]) for d in outer])
        pos = f"(({n} - 1 - j) * {st[ax]})" if rev else f"(j * {st[ax]})"
        self.n_kernels += 1
        kname = f"op{self.n_kernels}"
        body = [f"{acc_t} acc = 0;", f"for (int64_t j = 0; j < {n}; j++) {{",
                f"    int64_t p = {base} + {pos}; acc += x[p]; o[p] = ({t})acc;", "}"]
        fn = [f"static void {kname}(const {t}* restrict x, {t}* restrict o) {{"]
        fn += self._nest([shape[d] for d in outer], body, names=[f"i{d}" for d in outer])
        fn.append("}")
        self.kernels.append("\n".join(fn))
        self.stmt(f"    {kname}({self.read(x)}, {self.storage(o)});", e)

    def _argext(self, e, better: str):
        x, o = e.inputs[0], e.outputs[0]
        shape = x.aval.shape
        ax = e.params["axis"]
        st = _strides(shape)
        outer = [d for d in range(len(shape)) if d != ax]
        ost = _strides([shape[d] for d in outer])
        t, to = ctype(x.aval.dtype), ctype(o.aval.dtype)
        n = shape[ax]
        self.n_kernels += 1
        kname = f"op{self.n_kernels}"
        base = " + ".join([f"o{k}*{st[d]}" for k, d in enumerate(outer)]) or "0"
        dst = " + ".join([f"o{k}*{ost[k]}" for k in range(len(outer))]) or "0"
        loops = []
        for k, d in enumerate(outer):
            loops.append("    " * (k + 1) + f"for (int64_t o{k} = 0; o{k} < {shape[d]}; o{k}++) {{")
        pad = "    " * (len(outer) + 1)
        isfloat = t in ("float", "double")
        nan_first = f" || (v != v && best == best)" if isfloat else ""
        body = [f"{pad}int64_t b0 = {base}; {t} best = x[b0]; int64_t bi = 0;",
                f"{pad}for (int64_t j = 1; j < {n}; j++) {{ {t} v = x[b0 + j*{st[ax]}]; "
                f"if ((v {better} best){nan_first}) {{ best = v; bi = j; }} }}",
                f"{pad}o[{dst}] = ({to})bi;"]
        if isfloat:  # NumPy: the first NaN wins
            body.insert(1, f"{pad}if (best != best) {{ o[{dst}] = 0; }} else {{")
            body.append(f"{pad}}}")
        fn = [f"static void {kname}(const {t}* restrict x, {to}* restrict o) {{"] + loops + body
        fn += ["    " * (k + 1) + "}" for k in reversed(range(len(outer)))] + ["}"]
        self.kernels.append("\n".join(fn))
        self.stmt(f"    {kname}({self.read(x)}, {self.storage(o)});", e)

    def emit_argmax(self, e):
        self._argext(e, ">")

    def emit_argmin(self, e):
        self._argext(e, "<")

    # --- contractions -------------------------------------------------------------------------
    def emit_dot_general(self, e):
        from .blas import emit_dot
        emit_dot(self, e)

    # --- module -------------------------------------------------------------------------------
    def finish(self) -> CProgram:
        from .module import module_source
        return module_source(self)

class _Kernel:
    """One loop nest: the elementwise body of a fused kernel (or of a single equation) over
    the iteration space of its outputs, with broadcasts as index maps and at most one final
    reduction."""

    def __init__(self, em: _Emitter, name: str, body: Graph, eqn, aliased=frozenset(),
                 uniform_in=None):
        self.em = em
        self.aliased = aliased  # positions of body inputs that share an output's storage
        self.uniform_in = uniform_in or {}  # body input id -> Lit / True: loop-invariant
        self.name = name
        self.body = body
        self.eqn = eqn
        # the fusion pass allows one reduction per kernel, anywhere among its members
        self.epilogue = next((e for e in body.eqns if e.prim.traits.reduction), None)
        if self.epilogue is not None:
            self.shape = tuple(self.epilogue.inputs[0].aval.shape)
        else:
            self.shape = max((o.aval.shape for e in body.eqns for o in e.outputs),
                             key=len, default=())
        self.namer = Namer()
        for v in body.inputs:
            self.namer(v)

    def function(self) -> str:
        em = self.em
        S = self.shape
        n = len(S)
        st = _strides(S)
        body_in = list(self.body.inputs)
        params = [f"const {ctype(v.aval.dtype)}* {'' if k in self.aliased else 'restrict '}"
                  f"p_{self.namer(v)}" for k, v in enumerate(body_in)]
        outs = list(self.body.outputs)
        out_names = [f"q{j}" for j in range(len(outs))]
        params += [f"{ctype(o.aval.dtype)}* q{j}" for j, o in enumerate(outs)]
        flat = em._index([(f"i{d}", st[d]) for d in range(n)])
        scalars, stmts = [], []
        val: dict[int, str] = {}
        for v in body_in:
            nm = self.namer(v)
            if v.aval.shape == ():
                scalars.append(f"const {ctype(v.aval.dtype)} s_{nm} = p_{nm}[0];")
                val[id(v)] = f"s_{nm}"
            elif tuple(v.aval.shape) == tuple(S):
                val[id(v)] = f"p_{nm}[{flat}]"
        epi = self.epilogue
        # in-body broadcasts: output -> (operand, broadcast_dimensions), for chains of them
        bcasts: dict[int, tuple] = {}
        # values the same at every element of the loop: id -> their Lit, or True (a scalar)
        uniform: dict[int, object] = {id(v): True for v in body_in if v.aval.shape == ()}
        uniform.update(self.uniform_in)
        for e in self.body.eqns:
            for o in e.outputs:
                self.namer(o)
            if e is epi:
                continue
            o = e.outputs[0]
            t = ctype(o.aval.dtype)
            onm = self.namer(o)
            if e.prim.name == "broadcast_in_dim":
                src, dims = e.inputs[0], tuple(e.params["broadcast_dimensions"])
                # fusion copies chains of broadcasts into the body (b = bcast(s, (1,)),
                # c = bcast(b, (0,))): compose the index maps down to the first operand,
                # which is a literal, a scalar or a kernel input
                while not isinstance(src, Lit) and id(src) in bcasts:
                    inner, inner_dims = bcasts[id(src)]
                    src, dims = inner, tuple(dims[k] for k in inner_dims)
                bcasts[id(o)] = (src, dims)
                if isinstance(src, Lit) or src.aval.size == 1:
                    uniform[id(o)] = src if isinstance(src, Lit) else uniform.get(id(src), True)
                if isinstance(src, Lit):
                    expr = c_literal(src)
                elif src.aval.shape == ():
                    expr = val[id(src)]
                else:
                    ist = _strides(src.aval.shape)
                    coeffs = [(f"i{d}", ist[k]) for k, d in enumerate(dims)
                              if src.aval.shape[k] != 1]
                    expr = f"p_{self.namer(src)}[{em._index(coeffs)}]"
            else:
                args = [c_literal(a) if isinstance(a, Lit) else val[id(a)] for a in e.inputs]
                in_dt = e.inputs[-1].aval.dtype if e.prim.name == "where" else \
                    e.inputs[0].aval.dtype
                expr = scalar_expr(e.prim.name, args, in_dt, o.aval.dtype, e.params,
                                   [a if isinstance(a, Lit) else uniform.get(id(a))
                                    for a in e.inputs])
                if o.aval.shape == ():
                    uniform[id(o)] = True
            cmt = _comment(format_eqn(e, self.namer), e.src)
            target = f"v_{onm}"
            if o.aval.shape == () and n:
                scalars.append(f"const {t} {target} = {expr}; /* {cmt} */")
            else:
                stmts.append(f"const {t} {target} = {expr}; /* {cmt} */")
            val[id(o)] = target
        writes = []
        for j, o in enumerate(outs):
            if epi is not None and o is epi.outputs[0]:
                continue
            writes.append(f"{out_names[j]}[{flat}] = {val[id(o)]};")
        fn = [f"static void {self.name}({', '.join(params)}) {{"]
        fn += ["    " + s for s in scalars]
        if epi is None:
            fn += em._nest(S, stmts + writes)
        else:
            fn += self.reduction_loops(S, stmts, writes, val, outs, out_names)
        fn.append("}")
        return "\n".join(fn)

    def reduction_loops(self, S, stmts, writes, val, outs, out_names):
        em = self.em
        epi = self.epilogue
        axes = tuple(epi.params["axes"])
        src = epi.inputs[0]
        op = epi.prim.name
        o = epi.outputs[0]
        j_out = next(j for j, x in enumerate(outs) if x is o)
        q = out_names[j_out]
        t_out = ctype(o.aval.dtype)
        acc_t = {"float": "double", "double": "double", "int32_t": "int64_t",
                 "int64_t": "int64_t", "uint8_t": "int64_t"}[ctype(src.aval.dtype)] \
            if op in ("reduce_sum", "reduce_prod") else ctype(src.aval.dtype)
        x = val[id(src)] if not isinstance(src, Lit) else c_literal(src)
        isfloat = ctype(src.aval.dtype) in ("float", "double")
        init = {"reduce_sum": "0", "reduce_prod": "1",
                "reduce_max": ("-INFINITY" if isfloat else _int_min(src.aval.dtype)),
                "reduce_min": ("INFINITY" if isfloat else _int_max(src.aval.dtype))}[op]
        combine = {"reduce_sum": "acc += {x};", "reduce_prod": "acc *= {x};",
                   "reduce_max": "acc = {x} > acc ? {x} : acc;" + (" nan |= ({x} != {x});"
                                                                    if isfloat else ""),
                   "reduce_min": "acc = {x} < acc ? {x} : acc;" + (" nan |= ({x} != {x});"
                                                                    if isfloat else "")}[op]
        simd_red = {"reduce_sum": "reduction(+:acc)", "reduce_prod": "reduction(*:acc)",
                    "reduce_max": "reduction(max:acc)", "reduce_min": "reduction(min:acc)"}[op]
        if isfloat and op in ("reduce_max", "reduce_min"):
            simd_red += " reduction(|:nan)"
        n = len(S)
        kept = [d for d in range(n) if d not in axes]
        finish = "(nan ? NAN : acc)" if isfloat and op in ("reduce_max", "reduce_min") else "acc"
        body = stmts + writes + [combine.format(x=f"(({acc_t}){x})")]
        nan_decl = "int nan = 0; " if isfloat and op in ("reduce_max", "reduce_min") else ""
        if kept == list(range(len(kept))):
            # reduced axes are a suffix: one accumulator per output element
            kshape = [S[d] for d in kept]
            rshape = [S[d] for d in axes]
            ost = _strides(kshape)
            dst = em._index([(f"i{d}", ost[k]) for k, d in enumerate(kept)])
            inner = []
            for k, d in enumerate(axes):
                pad = "    " * k
                if k == len(axes) - 1:
                    inner.append(f"{pad}TG_SIMD_RED({simd_red})")
                inner.append(f"{pad}for (int64_t i{d} = 0; i{d} < {S[d]}; i{d}++) {{")
            inner += ["    " * len(axes) + b for b in body]
            inner += ["    " * k + "}" for k in reversed(range(len(axes)))]
            inner_total = _size(rshape)
            block = [f"{acc_t} acc = {init}; {nan_decl}"] + inner + \
                [f"{q}[{dst}] = ({t_out}){finish};"]
            if not kept:
                return self.full_reduction(S, body, acc_t, init, simd_red, q, t_out, finish,
                                           nan_decl, inner_total)
            return em._nest(kshape, block, work=_size(S))
        # general axes: accumulate into a zeroed double/int64 array of the output's size
        ost = _strides(o.aval.shape)
        oidx = em._index([(f"i{d}", ost[k]) for k, d in enumerate(kept)])
        nout = o.aval.size
        lines = [f"{acc_t}* accs = ({acc_t}*)malloc(sizeof({acc_t}) * {max(nout, 1)});",
                 "int* nans = " + ("(int*)calloc(" + str(max(nout, 1)) + ", sizeof(int));"
                                   if nan_decl else "0;"),
                 f"for (int64_t k = 0; k < {nout}; k++) accs[k] = {init};"]
        gbody = stmts + writes + [f"{acc_t} acc = accs[{oidx}]; {nan_decl}",
                                  combine.format(x=f"(({acc_t}){x})"),
                                  f"accs[{oidx}] = acc;"]
        if nan_decl:
            gbody.append(f"if (nan) nans[{oidx}] = 1;")
        lines += em._nest(S, gbody, parallel=False)
        fin = "(nans[k] ? NAN : accs[k])" if nan_decl else "accs[k]"
        lines += [f"for (int64_t k = 0; k < {nout}; k++) {q}[k] = ({t_out}){fin};",
                  "free(accs);" + (" free(nans);" if nan_decl else "")]
        return ["    " + ln for ln in lines]

    def full_reduction(self, S, body, acc_t, init, simd_red, q, t_out, finish, nan_decl, total):
        """All axes reduced: per-thread partials combined in thread order (deterministic for
        a given thread count)."""
        n = len(S)
        par = team_size(total) >= 2 and n >= 1
        blocks = n == 1 and total >= STRIP_MIN_ELEMENTS  # a long 1-D sum polls between blocks
        lines = ["TG_POLL_DECL" if blocks or (n >= 2 and total >= POLL_MIN_ELEMENTS) else "",
                 f"{acc_t} parts[TG_MAX_THREADS]; int nparts = 1;",
                 "int nanparts[TG_MAX_THREADS];" if nan_decl else ""]
        inner = []
        for d in range(n):
            pad = "    " * d
            if d == n - 1:
                inner.append(f"{pad}TG_SIMD_RED({simd_red})")
            lo, hi = ("lo", "hi") if d == 0 else ("0", str(S[d]))
            inner.append(f"{pad}for (int64_t i{d} = {lo}; i{d} < {hi}; i{d}++) {{")
            if d == 0 and n >= 2 and total >= POLL_MIN_ELEMENTS:
                inner.append("    TG_POLL_SKIP")  # Ctrl-C: skip the remaining rows
        inner += ["    " * n + b for b in body]
        inner += ["    " * d + "}" for d in reversed(range(n))]
        if blocks:
            inner = [f"for (int64_t tg_b = lo; tg_b < hi; tg_b += {STRIP_BLOCK}) {{",
                     "    TG_POLL_SKIP",
                     f"    const int64_t tg_hi = hi - tg_b > {STRIP_BLOCK} ? "
                     f"tg_b + {STRIP_BLOCK} : hi;",
                     f"    TG_SIMD_RED({simd_red})",
                     "    for (int64_t i0 = tg_b; i0 < tg_hi; i0++) {",
                     *["        " + b for b in body], "    }", "}"]
        # each thread takes a fixed contiguous share of the outer loop (static partition)
        region = ["int t = TG_THREAD_ID, nt = TG_NUM_THREADS;",
                  f"int64_t lo = (int64_t){S[0] if n else 1} * t / nt, "
                  f"hi = (int64_t){S[0] if n else 1} * (t + 1) / nt;",
                  f"{acc_t} acc = {init}; {nan_decl}"] + inner + \
            ["parts[t] = acc;" + (" nanparts[t] = nan;" if nan_decl else ""),
             "if (t == 0) nparts = nt;"]
        if par:
            lines += [f"TG_PARALLEL_REGION_N({team_size(total)})", "{"] + \
                ["    " + r for r in region] + ["}"]
        else:
            lines += ["{"] + ["    " + r for r in region] + ["}"]
        comb = {"reduce_sum": "a += parts[t];", "reduce_prod": "a *= parts[t];",
                "reduce_max": "a = parts[t] > a ? parts[t] : a;",
                "reduce_min": "a = parts[t] < a ? parts[t] : a;"}[self.epilogue.prim.name]
        nanc = " anynan |= nanparts[t];" if nan_decl else ""
        lines += [f"{{ {acc_t} a = parts[0]; int anynan = 0;" + (" anynan = nanparts[0];"
                                                                 if nan_decl else ""),
                  f"  for (int t = 1; t < nparts; t++) {{ {comb}{nanc} }}",
                  f"  {q}[0] = ({t_out})" + ("(anynan ? NAN : a); }" if nan_decl else "a; }")]
        return ["    " + ln for ln in lines if ln]


def _int_min(dt) -> str:
    return {"int32": "INT32_MIN", "int64": "INT64_MIN", "bool": "0"}[str(np.dtype(dt))]


def _int_max(dt) -> str:
    return {"int32": "INT32_MAX", "int64": "INT64_MAX", "bool": "1"}[str(np.dtype(dt))]


_BLAS_DECLS = """
/* gemm through addresses given by set_blas (codegen/c/blas_lib.py): NumPy's own OpenBLAS
   (ILP64: 64-bit sizes) when found, else scipy-openblas32's (LP64: 32-bit sizes) */
enum TG_CBLAS_ORDER { TgRowMajor = 101 };
enum TG_CBLAS_TRANSPOSE { TgNoTrans = 111, TgTrans = 112 };
typedef void (*tg_sgemm64_t)(int32_t, int32_t, int32_t, int64_t, int64_t, int64_t, float, const float*,
                             int64_t, const float*, int64_t, float, float*, int64_t);
typedef void (*tg_dgemm64_t)(int32_t, int32_t, int32_t, int64_t, int64_t, int64_t, double, const double*,
                             int64_t, const double*, int64_t, double, double*, int64_t);
typedef void (*tg_sgemm32_t)(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, float, const float*,
                             int32_t, const float*, int32_t, float, float*, int32_t);
typedef void (*tg_dgemm32_t)(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, double, const double*,
                             int32_t, const double*, int32_t, double, double*, int32_t);
static void* tg_blas_s = NULL;
static void* tg_blas_d = NULL;
static int64_t tg_blas_ilp64 = 0;
static void tg_sgemm(int32_t o, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float al,
                     const float* a, int64_t lda, const float* b, int64_t ldb, float be,
                     float* c, int64_t ldc) {
    if (tg_blas_ilp64) ((tg_sgemm64_t)tg_blas_s)(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
    else ((tg_sgemm32_t)tg_blas_s)(o, ta, tb, (int32_t)m, (int32_t)n, (int32_t)k, al, a,
                                   (int32_t)lda, b, (int32_t)ldb, be, c, (int32_t)ldc);
}
static void tg_dgemm(int32_t o, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, double al,
                     const double* a, int64_t lda, const double* b, int64_t ldb, double be,
                     double* c, int64_t ldc) {
    if (tg_blas_ilp64) ((tg_dgemm64_t)tg_blas_d)(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
    else ((tg_dgemm32_t)tg_blas_d)(o, ta, tb, (int32_t)m, (int32_t)n, (int32_t)k, al, a,
                                   (int32_t)lda, b, (int32_t)ldb, be, c, (int32_t)ldc);
}
static PyObject* tg_set_blas(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "set_blas(sgemm, dgemm, ilp64)"); return NULL; }
    tg_blas_s = PyLong_AsVoidPtr(args[0]);
    tg_blas_d = PyLong_AsVoidPtr(args[1]);
    tg_blas_ilp64 = (int64_t)PyLong_AsLong(args[2]);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}
#define TG_HAS_BLAS 1
"""

def emit_c(graph: Graph, name: str = "program", libmvec: bool = True) -> CProgram:
    """C source of ``graph`` (already through the pass pipeline). Plans its own top-level
    buffers: values inside a kernel live in registers, not memory."""
    em = _Emitter(graph, plan_c(graph), name, libmvec)
    return em.emit()


def plan_c(graph: Graph, *, check_kernels: bool = True):
    """The C backend's memory plan of ``graph``'s top-level values. ``check_kernels=False``
    gives the plan before ``c_alias.separate_unsafe`` repairs its in-place pairs (for tests)."""
    from tracegrad.passes.memplan import analyse

    def c_plannable(e):
        return e.prim.name not in ("constant",) and not e.prim.name.startswith("custom")
    plan = analyse(graph, flatten_kernels=False, views=C_VIEWS, plannable_fn=c_plannable)
    if check_kernels:
        separate_unsafe(graph, plan, C_VIEWS, _is_kernel)
    return plan

