"""C lowerings of loops and branches (``scan``, ``while``, ``cond``): each nested graph becomes a
static C function written by the same emitter (so a body holds fused kernels, BLAS calls and
loops of its own), and the equation a C ``for``/``while``/``switch`` around calls of it.

Invariants: nothing is allocated per step. A body's intermediates live in its own planned
arena, laid out once by the body's memory plan inside its caller's scratch space; the carry is
double-buffered between the equation's output buffer and one scratch buffer (the step writes
one while reading the other: no per-step copy), so the source is the same for any trip count
but the constant bound. A body returns nonzero when Ctrl-C cut it short, and its loop returns.
"""
from __future__ import annotations

from tracegrad.errors import CompileError, TracegradError, UnsupportedOperationError
from tracegrad.ir import Graph, Lit
from tracegrad.prims import cond_p, scan_p, while_p

from .emit import _Emitter, plan_c
from .kernels import size
from .lowerings import ctype, register_lowering

# a while loop without max_iter may run for ever: its work counts as this many steps of its
# body when the module decides whether to release the GIL and to watch for Ctrl-C (module.py),
# so that such a loop can always be interrupted
UNBOUNDED_STEPS = 1 << 30


class _BodyEmitter(_Emitter):
    """Emits one nested graph as ``TG_KERNEL int <name>(in.., cst.., out.., arena)``: inputs
    and outputs are the caller's buffers, ``arena`` the caller's scratch region of
    ``arena_bytes``. Kernels, constants and dtypes are the enclosing module's (shared lists)."""

    def __init__(self, parent: _Emitter, graph: Graph, fname: str):
        super().__init__(graph, plan_c(graph), f"{parent.name}_{fname}", parent.libmvec)
        self.fname = fname
        self.kernels = parent.kernels          # one module: functions before their callers
        self.constants = parent.constants      # passed to tg_program, then down as cst<k>
        self.dtypes = parent.dtypes
        self.n_kernels = parent.n_kernels      # kernel names unique across the module
        self.index_sites = parent.index_sites  # numbered across the module (bounds.py)
        # so are LAPACK's failure sites and helpers (lapack.py): a body's were lost, and a
        # factorisation inside a loop called a helper the module never defined
        self.lapack_sites = parent.__dict__.setdefault("lapack_sites", [])
        self.lapack_used = parent.__dict__.setdefault("lapack_used", set())
        self.kernel_prefix = f"{fname}_"       # fusion names kernels per graph (kernel0 ...)
        self.first_const = len(parent.constants)

    def finish(self):
        g = self.graph
        params = [f"const {ctype(v.aval.dtype)}* restrict in{i}" for i, v in enumerate(g.inputs)]
        # the constants this body registered: fixed now, since the next body of the same
        # equation (a while's body after its condition, the next branch) appends its own to
        # the shared list before the calls are written
        self.end_const = len(self.constants)
        params += [f"const {ctype(c.dtype)}* restrict cst{k}"
                   for k, c in enumerate(self.constants)
                   if self.first_const <= k < self.end_const]
        params += [f"{ctype(a.aval.dtype)}* restrict out{j}" for j, a in enumerate(g.outputs)]
        params.append("char* restrict arena")
        self.kernels.append("\n".join(
            [f"TG_KERNEL int {self.fname}(", "    " + ",\n    ".join(params) + ") {",
             "    (void)arena;", *self.lines, "    return 0;", "}"]))
        self.arena_bytes = self.arena_planned + self.scratch_bytes
        return self

    def call(self, ins: list[str], outs: list[str], arena: str) -> str:
        """The C call of this body on pointer expressions (nonzero: interrupted)."""
        csts = [f"cst{k}" for k in range(self.first_const, self.end_const)]
        return f"{self.fname}({', '.join(ins + csts + outs + [arena])})"


def emit_body(em: _Emitter, e, graph: Graph, what: str) -> _BodyEmitter:
    """Emit ``graph`` (a nested graph of equation ``e``) as a function of the module; a body
    the C backend cannot hold is an ``UnsupportedOperationError`` naming ``e``'s primitive."""
    em.n_kernels += 1
    try:
        sub = _BodyEmitter(em, graph, f"tg_{e.prim.name}{em.n_kernels}")
        sub.emit()
    except (CompileError, UnsupportedOperationError) as exc:
        if exc.src is None and e.src:
            raise exc.with_src(e.src)
        raise
    except TracegradError as exc:
        raise UnsupportedOperationError(
            f"the {what} of this {e.prim.name} cannot be compiled to C: {exc}",
            src=e.src) from exc
    em.n_kernels = sub.n_kernels
    em.uses_blas |= sub.uses_blas
    if getattr(sub, "uses_lapack", False):
        em.uses_lapack = True
    return sub


def _add_work(em, e, steps: int, *bodies) -> None:
    """Record the loop's work (steps x its bodies' work) for module.py's GIL/Ctrl-C choices."""
    from .module import program_work
    per_step = sum(max(program_work(b.graph), 1) + getattr(b, "loop_work", 0) for b in bodies)
    em.loop_work = getattr(em, "loop_work", 0) + steps * per_step


def _ptr_type(a) -> str:
    return ctype(a.aval.dtype)


def _region(em, nbytes_list: list[int]) -> list[str]:
    """Consecutive scratch buffers of the given sizes (the caller's scratch space is free for
    the duration of one equation)."""
    out, off = [], 0
    for n in nbytes_list:
        p, off = em.scratch(n, off)
        out.append(p)
    return out


def _carry_buffers(em, finals, extra_bytes: int):
    """(output pointers, spare scratch pointers, body arena pointer) of a loop's carry."""
    outs = [em.storage(o) for o in finals]
    ptrs = _region(em, [o.aval.nbytes for o in finals] + [extra_bytes])
    spares = [f"(({_ptr_type(o)}*){p})" for o, p in zip(finals, ptrs)]
    return outs, spares, ptrs[-1]


def emit_scan(em, e):
    p = e.params
    nc, nk, T, rev = p["num_consts"], p["num_carry"], p["length"], p["reverse"]
    consts, init, xs = e.inputs[:nc], e.inputs[nc:nc + nk], e.inputs[nc + nk:]
    finals, ys = e.outputs[:nk], e.outputs[nk:]
    body = emit_body(em, e, p["body"], "body")
    _add_work(em, e, T, body)
    ys_ptrs = [em.storage(o) for o in ys]
    outs, spares, arena = _carry_buffers(em, finals, body.arena_bytes)
    em.stmt(f"    /* scan: {T} steps{' in reverse' if rev else ''}, body {body.fname} */", e)
    if T == 0:  # the carry passes through; ys are empty
        for o, a, out in zip(finals, init, outs):
            em.stmt(f"    memcpy({out}, {em.read(a)}, {o.aval.nbytes});")
        return
    # step s writes buffer (s+1) % 2 of each carry and reads the other; choose the pair's
    # order so that the last step (s = T-1) writes the equation's output buffer
    odd, even = (outs, spares) if T % 2 == 0 else (spares, outs)
    lines = ["    {"]
    lines += [f"        const {_ptr_type(a)}* c{k} = {em.read(a)};" for k, a in enumerate(init)]
    lines.append(f"        for (int64_t s = 0; s < {T}; s++) {{")
    lines.append(f"            const int64_t t = {f'{T - 1} - s' if rev else 's'};")
    lines += [f"            {_ptr_type(o)}* n{k} = (s & 1) ? {odd[k]} : {even[k]};"
              for k, o in enumerate(finals)]
    ins = [em.read(a) for a in consts] + [f"c{k}" for k in range(nk)] + \
        [f"{em.read(x)} + t*{size(x.aval.shape[1:])}" for x in xs]
    outp = [f"n{k}" for k in range(nk)] + \
        [f"{yp} + t*{size(y.aval.shape[1:])}" for y, yp in zip(ys, ys_ptrs)]
    lines.append(f"            if ({body.call(ins, outp, arena)}) return 1;")
    lines += [f"            c{k} = n{k};" for k in range(nk)]
    lines += ["        }", "    }"]
    em.stmt("\n".join(lines))


def emit_while(em, e):
    p = e.params
    ncc, nbc, max_iter = p["cond_nconsts"], p["body_nconsts"], p["max_iter"]
    cc, bc, init = e.inputs[:ncc], e.inputs[ncc:ncc + nbc], e.inputs[ncc + nbc:]
    finals = e.outputs
    cond = emit_body(em, e, p["cond"], "condition")
    body = emit_body(em, e, p["body"], "body")
    _add_work(em, e, UNBOUNDED_STEPS if max_iter is None else max_iter, cond, body)
    # cond and body run one after the other: one region serves both
    outs, spares, arena = _carry_buffers(em, finals, max(cond.arena_bytes, body.arena_bytes))
    bound = "" if max_iter is None else f" (at most {max_iter})"
    em.stmt(f"    /* while{bound}: condition {cond.fname}, body {body.fname} */", e)
    nk = len(init)
    carry = [f"c{k}" for k in range(nk)]
    lines = ["    {", "        uint8_t go = 0;"]
    lines += [f"        const {_ptr_type(a)}* c{k} = {em.read(a)};" for k, a in enumerate(init)]
    lines.append("        for (int64_t s = 0; ; s++) {")
    if max_iter is not None:
        lines.append(f"            if (s >= {max_iter}) break;")
    lines.append(f"            if ({cond.call([em.read(a) for a in cc] + carry, ['&go'], arena)})"
                 " return 1;")
    lines.append("            if (!go) break;")
    lines += [f"            {_ptr_type(o)}* n{k} = (s & 1) ? {outs[k]} : {spares[k]};"
              for k, o in enumerate(finals)]
    nexts = [f"n{k}" for k in range(nk)]
    lines.append(f"            if ({body.call([em.read(a) for a in bc] + carry, nexts, arena)})"
                 " return 1;")
    lines += [f"            c{k} = n{k};" for k in range(nk)]
    lines.append("        }")
    # the trip count decides which buffer holds the result: copy it out when it is the spare
    lines += [f"        if ((const void*)c{k} != (const void*){outs[k]}) "
              f"memcpy({outs[k]}, c{k}, {o.aval.nbytes});" for k, o in enumerate(finals)]
    lines.append("    }")
    em.stmt("\n".join(lines))


def emit_cond(em, e):
    branches = e.params["branches"]
    index, ops = e.inputs[0], e.inputs[1:]
    subs = [emit_body(em, e, b, f"branch {k}") for k, b in enumerate(branches)]
    from .module import program_work
    em.loop_work = getattr(em, "loop_work", 0) + max(
        program_work(s.graph) + getattr(s, "loop_work", 0) for s in subs)
    outs = [em.storage(o) for o in e.outputs]
    (arena,) = _region(em, [max(s.arena_bytes for s in subs)])
    n = len(subs)
    idx = f"(int32_t){index.value}" if isinstance(index, Lit) else f"{em.read(index)}[0]"
    em.stmt(f"    /* cond: {n} branches */", e)
    lines = ["    {", f"        int32_t k = {idx};",
             f"        k = k < 0 ? 0 : (k > {n - 1} ? {n - 1} : k);  /* clamped, as lax.switch */",
             "        switch (k) {"]
    for k, s in enumerate(subs):
        lines.append(f"        case {k}: if ({s.call([em.read(a) for a in ops], outs, arena)}) "
                     "return 1; break;")
    lines += ["        }", "    }"]
    em.stmt("\n".join(lines))


register_lowering(scan_p, emit=emit_scan)
register_lowering(while_p, emit=emit_while)
register_lowering(cond_p, emit=emit_cond)
