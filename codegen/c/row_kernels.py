"""The C loop of a row kernel (``rows<n>``, passes/fuse_rows.py): one pass over the rows of an
[R, C] space; per row, the per-row scalar code and one column loop per phase.

Values by shape: E ([R, C]) live in a column loop, S ([R] / [R, 1]) are locals of the row,
K ([C] / [1, C]) are read at the column, U ([]) are computed once. A row reduction over an E
value of phase p gives an S value of level p + 1, which the S code after loop p computes on and
loop p + 1 reads: a softmax is max (loop 0), then sum of exp (loop 1), then the output (loop 2),
each reading the row from cache. An E value needed in a later loop is recomputed there when its
chain costs at most a store and a load (passes/cost.op_weight), else stored in a row buffer
(C elements per chunk of rows) by its own loop; a busy loop's libm calls run first in a loop
of their own, into row buffers (a vector call spills every live vector register). The rows are
split into a number of chunks fixed by size; column sums and full sums accumulate per chunk (in
double for floats, like every reduction here; float column sums through float blocks of
ROW_BLOCK rows) and are added in chunk order after the rows, so a result is the same for every
thread count, and the team is sized by the CPUs free at the call (a fixed team waits for a
descheduled thread on a loaded machine).
"""
from __future__ import annotations

from tracegrad.ir import Graph, Lit
from tracegrad.passes.cost import STORE_AND_LOAD, op_weight
from tracegrad.printing import Namer, format_eqn
from tracegrad.prims import broadcast_in_dim_p, reshape_p, select_p

from .call_loops import call_loop, is_call
from .kernels import POLL_MIN_ELEMENTS, comment, parallel_for, team_size
from .lowerings import c_literal, ctype, lowering, scalar_expr

MAX_CHUNKS = 64  # partial column sums: chunks x C doubles
CHUNKS_PER_THREAD = 4
PARTIALS_BYTES = 1 << 19  # all chunks' partial columns (at 1 MB, the harness took page faults)
SPLIT_MIN_STMTS = 16  # a loop this busy computes its calls in a loop of their own first
ROW_BLOCK = 16   # float column sums gather this many rows in float before adding into double
_WIDE = {"float": "double", "double": "double", "int32_t": "int64_t", "int64_t": "int64_t",
         "uint8_t": "int64_t"}


def row_space(body: Graph) -> tuple[int, int]:
    for e in body.eqns:
        for a in list(e.inputs) + list(e.outputs):
            if len(a.aval.shape) == 2 and 1 not in a.aval.shape:
                return tuple(a.aval.shape)
    raise AssertionError("a row kernel without a 2-D value")


class RowKernel:
    def __init__(self, em, name: str, body: Graph, eqn, uniform_in=None):
        self.name, self.body, self.eqn = name, body, eqn
        self.R, self.C = row_space(body)
        self.namer = Namer()
        for v in body.inputs:
            self.namer(v)
        for e in body.eqns:
            for o in e.outputs:
                self.namer(o)
        self.uniform_in = uniform_in or {}
        from .bounds import DomainFlags  # equations NumPy raises for: flags, sites (bounds.py)
        self.flags = DomainFlags(em, body.eqns)
        self.raises = self.flags.raises  # the call returns 1 then (emit.py)

    # --- classes and levels -------------------------------------------------------------------
    def cls(self, v) -> str:
        s = tuple(v.aval.shape)
        R, C = self.R, self.C
        return {(R, C): "E", (R,): "S", (R, 1): "S", (C,): "K", (1, C): "K", (): "U"}[s]

    def analyse(self):
        self.alias, self.expr, self.level, self.uni = {}, {}, {}, {}
        self.def_eqn = {}           # computed E value -> its equation
        self.e_input = set()        # E values read from an operand
        self.s_code: dict[int, list] = {}   # level -> row-scope statements
        self.pre: list[str] = []    # U code, once per call
        self.reds = []              # (kind, eqn, phase)
        for v in self.body.inputs:
            nm, c, t = self.namer(v), self.cls(v), ctype(v.aval.dtype)
            self.level[id(v)] = 0
            if c == "E":
                self.e_input.add(id(v))
            elif c == "S":
                self.s_code.setdefault(0, []).append(f"const {t} s_{nm} = p_{nm}[i0];")
                self.expr[id(v)] = f"s_{nm}"
            elif c == "K":
                self.expr[id(v)] = f"p_{nm}[i1]"
            else:
                self.pre.append(f"const {t} s_{nm} = p_{nm}[0];")
                self.expr[id(v)] = f"s_{nm}"
                self.uni[id(v)] = True
            if id(v) in self.uniform_in:
                self.uni[id(v)] = self.uniform_in[id(v)]
        for e in self.body.eqns:
            o = e.outputs[0]
            oc = self.cls(o)
            lv = max([self.lvl(a) for a in e.inputs] or [0])
            cmt = comment(format_eqn(e, self.namer), e.src)
            if e.prim.traits.reduction:
                x = e.inputs[0]
                xc = "E" if isinstance(x, Lit) else self.cls(self.res(x))
                axes = tuple(e.params["axes"])
                kind = "row" if xc == "E" and axes == (1,) else \
                    "col" if xc == "E" and axes == (0,) else "full" if xc == "E" else "rowsum"
                self.reds.append((kind, e, lv))
                if kind == "row":
                    self.level[id(o)] = lv + 1
                    self.expr[id(o)] = f"s_{self.namer(o)}"
                continue
            if e.prim is broadcast_in_dim_p or e.prim is reshape_p:
                src = e.inputs[0]
                if not isinstance(src, Lit) and self.cls(src) == oc:
                    self.alias[id(o)] = self.res(src)
                    continue
                self.expr[id(o)] = c_literal(src) if isinstance(src, Lit) else \
                    self.expr[id(self.res(src))]
                self.uni[id(o)] = src if isinstance(src, Lit) else self.uni.get(id(src))
                self.level[id(o)] = lv
                continue
            self.level[id(o)] = lv
            if oc == "E":
                self.def_eqn[id(o)] = e
                continue
            t = ctype(o.aval.dtype)
            rhs = self.scalar(e, [self.expr[id(self.res(a))] if not isinstance(a, Lit)
                                  else c_literal(a) for a in e.inputs])
            line = f"const {t} s_{self.namer(o)} = {rhs}; /* {cmt} */"
            self.expr[id(o)] = f"s_{self.namer(o)}"
            if oc == "U":
                self.uni[id(o)] = True
                self.pre.append(line)
            else:
                self.s_code.setdefault(lv, []).append(line)

    def res(self, v):
        while id(v) in self.alias:
            v = self.alias[id(v)]
        return v

    def lvl(self, a) -> int:
        return 0 if isinstance(a, Lit) else self.level.get(id(self.res(a)), 0)

    def scalar(self, e, args):
        o = e.outputs[0]
        in_dt = e.inputs[-1].aval.dtype if e.prim is select_p else e.inputs[0].aval.dtype
        uni = [a if isinstance(a, Lit) else self.uni.get(id(self.res(a))) for a in e.inputs]
        return scalar_expr(e.prim, args, in_dt, o.aval.dtype, e.params, uni,
                           self.flags.flag(e))

    # --- the recompute-or-buffer choice --------------------------------------------------------
    def rc_cost(self, v, depth: int = 0) -> int:
        """Cost of computing ``v`` again in a later loop (loads of operands count 1); past a
        few levels the answer is "dearer than a store and a load" (a chain that long is)."""
        v = self.res(v)
        if id(v) in self.e_input:
            return 1
        e = self.def_eqn.get(id(v))
        if e is None:  # a broadcast of a row scalar, column value or constant: free
            return 0
        if depth >= 4:
            return STORE_AND_LOAD + 1
        cost = op_weight(e)
        for a in e.inputs:
            if cost > STORE_AND_LOAD:
                break
            if not isinstance(a, Lit):
                c = self.rc_cost(a, depth + 1)
                cost += c if c <= STORE_AND_LOAD else 1  # dearer operands come from a buffer
        return cost

    # --- one column loop ---------------------------------------------------------------------
    def need(self, v, p: int, ph: dict) -> str:
        """C expression of ``v`` in loop ``p``, adding the statements it needs to ``ph``."""
        if isinstance(v, Lit):
            return c_literal(v)
        v = self.res(v)
        nm = self.namer(v)
        if id(v) in ph["have"]:
            return ph["have"][id(v)]
        t = ctype(v.aval.dtype)
        if id(v) in self.e_input:
            ph["stmts"].append(f"const {t} v_{nm} = p_{nm}[i0*{self.C} + i1];")
        elif id(v) not in self.def_eqn:
            return self.expr[id(v)]
        else:
            pv = self.level[id(v)]
            if pv < p and self.rc_cost(v) > STORE_AND_LOAD:
                self.buffered[id(v)] = v
                self.roots.setdefault(pv, []).append(("store", v))
                ph["have"][id(v)] = f"rb_{nm}[i1]"
                return ph["have"][id(v)]
            e = self.def_eqn[id(v)]
            if is_call(e):
                if ph["split"]:  # computed by the loop's call loop, read from its buffer
                    pre = ph["pre"]
                    pre["tail"].append(f"rb_{nm}[i1] = {self.need(v, p, pre)};")
                    self.buffered[id(v)] = v
                    ph["have"][id(v)] = f"rb_{nm}[i1]"
                    return ph["have"][id(v)]
                ph["calls"].append(v)
            args = [self.need(a, p, ph) for a in e.inputs]
            cmt = comment(format_eqn(e, self.namer), e.src)
            ph["stmts"].append(f"const {t} v_{nm} = {self.scalar(e, args)}; /* {cmt} */")
        ph["have"][id(v)] = f"v_{nm}"
        return ph["have"][id(v)]

    def function(self) -> str:
        self.analyse()
        # chunks of rows, by size alone: CHUNKS_PER_THREAD per thread the loop is worth, so
        # that a smaller team (the CPUs free at the call) still splits them evenly (3 chunks
        # on 2 threads ran 2 on one); each chunk's partial sums are its own, so results never
        # depend on the team
        k = team_size(self.R * self.C)
        # the partial columns of all chunks fit PARTIALS_BYTES: 1 MB of them (W4 at 64
        # chunks) went back to the system when freed and were faulted in again every call
        cols = sum(1 for kind, _, _ in self.reds if kind == "col")
        fit = PARTIALS_BYTES // max(1, 8 * self.C * cols)
        self.chunks = 1 if k < 2 else \
            max(2, min(CHUNKS_PER_THREAD * k, MAX_CHUNKS, fit, self.R))
        R, C = self.R, self.C
        body_in = list(self.body.inputs)
        params = [f"const {ctype(v.aval.dtype)}* restrict p_{self.namer(v)}" for v in body_in]
        outs = list(self.body.outputs)
        params += [f"{ctype(o.aval.dtype)}* q{j}" for j, o in enumerate(outs)]
        out_of = {}
        for j, o in enumerate(outs):
            out_of.setdefault(id(o), []).append(j)
        self.buffered, self.roots = {}, {}
        for kind, e, lv in self.reds:
            if kind != "rowsum":
                self.roots.setdefault(lv, []).append(("red", e))
        for j, o in enumerate(outs):
            r = self.res(o)
            if self.cls(o) == "E" and not any(o is e.outputs[0] for _, e, _ in self.reds):
                self.roots.setdefault(self.lvl(r), []).append(("write", (j, o)))
        loops: dict[int, list] = {}
        p = max(self.roots, default=-1)
        while p >= 0:  # last loop first: a buffered value adds a store to an earlier loop
            if p in self.roots:
                loops[p] = self.column_loop(p, out_of)
            p -= 1
        row, decl, merge = self.row_scope(loops, out_of)
        fn = [f"TG_KERNEL {self.flags.ret} {self.name}({', '.join(params)}) {{"]
        fn += ["    " + s for s in self.flags.decls() + self.pre]
        red_outs = {id(e.outputs[0]) for _, e, _ in self.reds}
        for j, o in enumerate(outs):
            if self.cls(o) in ("K", "U") and id(o) not in red_outs:
                # the pass joins no broadcast into [C]; a [] result is U code's
                assert self.cls(o) == "U", "row kernel: a column result not from a sum"
                fn.append(f"    q{j}[0] = {self.expr[id(self.res(o))]};")
        fn += ["    " + s for s in decl]
        n = self.chunks
        chunk = [f"const int64_t lo = (int64_t){R} * t / {n}, hi = (int64_t){R} * (t + 1) / {n};"]
        chunk += [f"{ctype(v.aval.dtype)}* rb_{self.namer(v)} = ({ctype(v.aval.dtype)}*)"
                  f"malloc(sizeof({ctype(v.aval.dtype)}) * {C}); /* row buffer */"
                  for v in self.buffered.values()]
        chunk += self.thread_acc_init
        chunk += ["for (int64_t i0 = lo; i0 < hi; i0++) {"]
        if R * C >= POLL_MIN_ELEMENTS:
            chunk.append("    TG_POLL_SKIP")
        chunk += ["    " + s for s in row + self.row_end] + ["}"]
        chunk += self.thread_acc_fini
        chunk += [f"free(rb_{self.namer(v)});" for v in self.buffered.values()]
        if R * C >= POLL_MIN_ELEMENTS:
            fn.append("    TG_POLL_DECL")
        # fixed chunks of rows, each with its own partial sums added in chunk order: the
        # result does not depend on the team, which is sized by the CPUs free at the call
        par = parallel_for(R * C)
        if par:
            fn.append("    " + par)
        fn += [f"    for (int t = 0; t < {n}; t++) {{"] + ["        " + s for s in chunk] + \
            ["    }"]
        fn += ["    " + s for s in merge + self.flags.report()]
        fn.append("}")
        return "\n".join(fn)

    def column_loop(self, p: int, out_of) -> list[str]:
        """Loop ``p``; when it is busy and calls libm, the calls first run in a loop of their
        own writing row buffers (L1): a vector call clobbers every vector register (the
        x86-64 vector ABI saves none), so a long loop body spills each value live across it
        and reloads it after (W4's backward loop: 16 spills, 6.3 -> 5.2 ms on one thread;
        the same operations in the same order, so the same bits)."""
        lines, ph = self._column_loop(p, out_of, split=False)
        if ph["calls"] and len(ph["stmts"]) - len(ph["calls"]) >= SPLIT_MIN_STMTS:
            lines, _ = self._column_loop(p, out_of, split=True)
        return lines

    def _column_loop(self, p: int, out_of, split: bool):
        ph = {"have": {}, "stmts": [], "calls": [], "split": split,
              "pre": {"have": {}, "stmts": [], "calls": [], "split": False, "tail": []}}
        tail, red_clause, before, after = [], [], [], []
        done = set()
        for kind, item in self.roots[p]:  # roots added while this loop is built come later
            if kind == "write":
                j, o = item
                tail.append(f"q{j}[i0*{self.C} + i1] = {self.need(o, p, ph)};")
            elif kind == "store":
                if id(item) in done:
                    continue
                done.add(id(item))
                val = self.need(item, p, ph)
                if val != f"rb_{self.namer(item)}[i1]":  # else its call loop stores it
                    tail.append(f"rb_{self.namer(item)}[i1] = {val};")
            else:
                self.reduction_in_loop(item, p, ph, tail, red_clause, before, after, out_of)
        pre = ph["pre"]
        lines = []
        if pre["tail"]:
            lines += call_loop("i1", str(self.C), pre["stmts"] + pre["tail"])
        lines += before
        lines.append(f"TG_SIMD_RED({' '.join(red_clause)})" if red_clause else "TG_SIMD")
        lines.append(f"for (int64_t i1 = 0; i1 < {self.C}; i1++) {{")
        lines += ["    " + s for s in ph["stmts"] + tail]
        lines.append("}")
        return lines + after, ph

    def reduction_in_loop(self, e, p, ph, tail, clause, before, after, out_of):
        kind = next(k for k, x, _ in self.reds if x is e)
        src, o = e.inputs[0], e.outputs[0]
        red = lowering(e.prim).reduction
        st = ctype(src.aval.dtype)
        acc_t = _WIDE[st] if red.widen else st
        isfloat = st in ("float", "double")
        nm = self.namer(o)
        x = f"(({acc_t}){self.need(src, p, ph)})"
        acc = f"acc_{nm}"
        if kind == "col":
            if self.blocked(e):
                x = f"(({st}){self.need(src, p, ph)})"
                tail.append(red.combine.replace("acc", f"cblk_{nm}[i1]").format(x=x))
            else:
                tail.append(red.combine.replace("acc", f"cacc_{nm}[i1]").format(x=x))
            return
        nan = isfloat and red.nan
        tail.append(red.combine.replace("acc", acc).format(x=x) +
                    (f" nan_{nm} |= ({x} != {x});" if nan else ""))
        clause.append(f"reduction({red.simd}:{acc})" + (f" reduction(|:nan_{nm})" if nan else ""))
        if kind == "full":
            return  # a per-thread accumulator declared with the thread's others
        before.append(f"{acc_t} {acc} = {red.init(isfloat, src.aval.dtype)};" +
                      (f" int nan_{nm} = 0;" if nan else ""))
        fin = f"(nan_{nm} ? NAN : {acc})" if nan else acc
        after.append(f"const {ctype(o.aval.dtype)} s_{nm} = ({ctype(o.aval.dtype)}){fin};")

    def blocked(self, e) -> bool:
        """A float column sum adds each row into a float block of ROW_BLOCK rows, and the block
        into the chunk's double sums: converting every element to double and adding it to a
        double column (two loads, two adds, two stores per 16 floats) took 1.0 of W4's 5.2 ms.
        Each block sums at most ROW_BLOCK floats (error <= 15 ulp of its magnitude), so the
        result stays far closer than a float32 sum over the rows (NumPy's)."""
        red = lowering(e.prim).reduction
        return red.simd == "+" and red.widen and ctype(e.inputs[0].aval.dtype) == "float"

    def row_scope(self, loops, out_of):
        """The row's code (S levels and loops interleaved), the declarations before the thread
        region, and the merge of per-thread accumulators after it."""
        decl, merge = [], []
        self.thread_acc_init, self.thread_acc_fini, self.row_end = [], [], []
        rowsum_at: dict[int, list] = {}
        for kind, e, lv in self.reds:
            src, o = e.inputs[0], e.outputs[0]
            red = lowering(e.prim).reduction
            st = ctype(src.aval.dtype)
            acc_t = _WIDE[st] if red.widen else st
            t_out = ctype(o.aval.dtype)
            nm = self.namer(o)
            q = [f"q{j}" for j in out_of.get(id(o), [])]
            if kind == "row":
                continue
            if kind == "col":
                decl.append(f"{acc_t}* cparts_{nm} = ({acc_t}*)malloc(sizeof({acc_t}) * "
                            f"{self.chunks} * {self.C});")
                self.thread_acc_init += [
                    f"{acc_t}* cacc_{nm} = cparts_{nm} + (int64_t)t * {self.C};",
                    f"for (int64_t i1 = 0; i1 < {self.C}; i1++) cacc_{nm}[i1] = 0;"]
                if self.blocked(e):  # rows lo.. in blocks: fixed by the chunk, not the team
                    self.thread_acc_init.append(
                        f"float* cblk_{nm} = (float*)calloc({self.C}, sizeof(float));")
                    self.thread_acc_fini.append(f"free(cblk_{nm});")
                    self.row_end += [
                        f"if ((i0 - lo) % {ROW_BLOCK} == {ROW_BLOCK - 1} || i0 == hi - 1) {{",
                        "    TG_SIMD",
                        f"    for (int64_t i1 = 0; i1 < {self.C}; i1++) {{",
                        f"        cacc_{nm}[i1] += (double)cblk_{nm}[i1];",
                        f"        cblk_{nm}[i1] = 0;", "    }", "}"]
                # chunk by chunk into the first, the columns in vector lanes: the same
                # additions in the same order as column by column, which was one chain of
                # dependent scalar adds (chunks x C of them)
                merge += [f"for (int t = 1; t < {self.chunks}; t++) {{",
                          f"    const {acc_t}* restrict b = cparts_{nm} + (int64_t)t * {self.C};",
                          "    TG_SIMD",
                          (f"    for (int64_t i1 = 0; i1 < {self.C}; i1++) "
                           f"cparts_{nm}[i1] += b[i1];"),
                          "}", f"for (int64_t i1 = 0; i1 < {self.C}; i1++) {{"] + \
                    [f"    {qq}[i1] = ({t_out})cparts_{nm}[i1];" for qq in q] + \
                    ["}", f"free(cparts_{nm});"]
                continue
            decl.append(f"{acc_t} parts_{nm}[{self.chunks}];")
            self.thread_acc_init.append(f"{acc_t} acc_{nm} = 0;")
            self.thread_acc_fini.append(f"parts_{nm}[t] = acc_{nm};")
            merge += [f"{{ {acc_t} a = parts_{nm}[0];",
                      f"  for (int t = 1; t < {self.chunks}; t++) a += parts_{nm}[t];"] + \
                [f"  {qq}[0] = ({t_out})a;" for qq in q] + ["}"]
            if kind == "rowsum":
                rowsum_at.setdefault(lv, []).append(
                    f"acc_{nm} += ({acc_t}){self.expr[id(self.res(src))] if not isinstance(src, Lit) else c_literal(src)};")
        s_writes: dict[int, list] = {}
        for j, o in enumerate(self.body.outputs):
            if self.cls(o) == "S":
                r = self.res(o)
                s_writes.setdefault(self.lvl(r), []).append(f"q{j}[i0] = {self.expr[id(r)]};")
        top = max(list(loops) + list(self.s_code) + list(rowsum_at) + list(s_writes) + [0])
        row = []
        for lv in range(top + 1):
            row += self.s_code.get(lv, []) + s_writes.get(lv, []) + rowsum_at.get(lv, [])
            if lv in loops:
                row += loops[lv]
        return row, decl, merge
