"""Loop nests of the C backend: a fused kernel (an elementwise body with broadcasts as index
maps and at most one final reduction), and the loop-nest builder every emitter uses (thread
teams by work size, Ctrl-C polling, SIMD pragmas)."""
from __future__ import annotations


from tracegrad.ir import Graph, Lit
from tracegrad.printing import Namer, format_eqn
from tracegrad.prims import broadcast_in_dim_p, select_p

from ..safe_text import c_comment
from . import call_loops
from . import sincos
from .call_loops import Stmt, call_loop, is_call, spills, split
from .lowerings import c_literal, ctype, lowering, scalar_expr

PARALLEL_MIN_ELEMENTS = 1 << 17   # elements of work per thread of a loop's team: smaller loops
                                  # run on fewer threads. Idle threads sleep (threads.py), and
                                  # waking one cost 50 us on our 2-CPU VMs: x*2+1 on 64k floats
                                  # took 3.6 us on one thread, 57 us on two; 1M: 73 vs 45 us
POLL_MIN_ELEMENTS = 1 << 20       # loop nests this large poll for Ctrl-C in their outer loop
STRIP_MIN_ELEMENTS = 1 << 22      # 1-D loops this large run in blocks, so that they can poll
STRIP_BLOCK = 1 << 16
PARALLEL_BLOCK = 1 << 12          # a parallel 1-D loop's SIMD blocks (the team splits them)
# a full reduction's chunks: one per REDUCTION_CHUNK elements (four per thread a loop is worth,
# so a team smaller than team_size still splits evenly), at most MAX_REDUCTION_CHUNKS partials
REDUCTION_CHUNK = PARALLEL_MIN_ELEMENTS // 4
MAX_REDUCTION_CHUNKS = 256


def team_size(work: int) -> int:
    """Threads a loop of ``work`` elements is worth (the module caps it by the thread setting
    and by the CPUs free at the call: TG_TEAM_NOW); 1 means no parallel region at all."""
    # capped at the module's TG_MAX_THREADS (256), so TG_TEAM's (int) cast can never truncate
    return max(1, min(work // PARALLEL_MIN_ELEMENTS, 256))


def reduction_chunks(work: int, outer: int) -> int:
    """Chunks of a full reduction of ``work`` elements whose outer loop has ``outer``
    iterations: chosen by size alone, so its sum never depends on the team (or the load)."""
    if team_size(work) < 2:
        return 1  # one thread: one pass, no partials
    return max(1, min(work // REDUCTION_CHUNK, MAX_REDUCTION_CHUNKS, outer))


def parallel_for(work: int) -> str:
    """The pragma line for a loop of ``work`` elements, or "" when one thread is best."""
    k = team_size(work)
    return f"TG_PARALLEL_FOR_N({k})" if k >= 2 else ""


def size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def strides(shape) -> list[int]:
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return list(reversed(st))


def comment(text: str, src: str | None = None) -> str:
    """The only way user text (an equation's params, the user's ``file:line``) enters the C
    source: ``c_comment`` keeps it inside ``/* */`` (no newline, NUL, ``*/`` or trigraph)."""
    return c_comment(text, 150) + (f" ({c_comment(src)})" if src else "")


def nest(shape, body: list[str], indent="    ", parallel=True, names=None,
          work: int | None = None, inner=None) -> list[str]:
    """Loops over ``shape`` with index variables ``names`` (default i0..i{n-1}); ``body``
    at the innermost. The outer loop runs on a team sized by ``work`` (elements the whole
    nest touches; default the iteration count) and, in a big nest, skips its remaining
    iterations once Ctrl-C is pressed; a big 1-D loop runs in blocks to be able to.
    ``inner(var, lo, hi)``, when given, writes the innermost loop itself (over ``var`` in
    [lo, hi), with ``body`` ignored): a loop split around its libm calls (call_loops.py)."""
    n = len(shape)
    names = names or [f"i{d}" for d in range(n)]
    total = size(shape)
    work = total if work is None else work
    if n == 0:
        return [indent + "{"] + [indent + "    " + b for b in body] + [indent + "}"]
    par = parallel_for(work) if parallel else ""
    # poll where a check is cheap next to the work it guards: an outer loop over rows, or
    # a 1-D loop whose every iteration does much work (a row reduction), never a SIMD loop
    heavy = n == 1 and work >= 64 * total
    poll = work >= POLL_MIN_ELEMENTS and (n >= 2 or total >= STRIP_MIN_ELEMENTS or heavy)
    if n == 1 and par and total < STRIP_MIN_ELEMENTS and not (heavy and poll):
        # a parallel 1-D loop in blocks, each block's loop under TG_SIMD: the pragma cannot
        # share the loop with "omp parallel for", and gcc's own vectoriser gave up on
        # elementwise loops with several outputs (too many alias checks between them and the
        # operands): a 1M-element gradient body with 3 outputs and 3 libm calls ran its
        # scalar libm calls, 16x slower than the same loop under TG_SIMD
        inner = lambda var, lo, hi, f=inner: _par_blocks(var, lo, hi, body, f)  # noqa: E731
    if n == 1 and total >= STRIP_MIN_ELEMENTS:
        i, nb = names[0], -(-total // STRIP_BLOCK)
        out = [f"{indent}TG_PARALLEL_FOR_N({team_size(work)})" if par else "",
               f"{indent}for (int64_t tg_b = 0; tg_b < {nb}; tg_b++) {{",
               f"{indent}    TG_POLL_SKIP",
               f"{indent}    const int64_t tg_hi = tg_b == {nb - 1} ? {total} : "
               f"(tg_b + 1) * {STRIP_BLOCK};",
               *_innermost(i, f"tg_b * {STRIP_BLOCK}", "tg_hi", body, inner, indent + "    "),
               f"{indent}}}"]
    else:
        out = []
        for d, extent in enumerate(shape):
            pad = indent + "    " * d
            if d == 0 and par:
                out.append(f"{pad}{par}")
            if d == n - 1 and inner is not None:
                out += _innermost(names[d], "0", str(extent), body, inner, pad)
                break
            if d == n - 1 and not (heavy and poll) and not (d == 0 and par):
                out.append(f"{pad}TG_SIMD")
            out.append(f"{pad}for (int64_t {names[d]} = 0; {names[d]} < {extent}; "
                       f"{names[d]}++) {{")
            if d == 0 and poll:
                out.append(f"{pad}    TG_POLL_SKIP")
        if inner is None:
            pad = indent + "    " * n
            out += [pad + b for b in body]
        for d in reversed(range(n if inner is None else n - 1)):
            out.append(indent + "    " * d + "}")
    out = [ln for ln in out if ln]
    if poll:  # the count of SIGINTs at the call's start, read on the calling thread
        out = [indent + "{", indent + "TG_POLL_DECL"] + out + [indent + "}"]
    return out

def _par_blocks(var, lo, hi, body, inner) -> list[str]:
    B = PARALLEL_BLOCK
    return [f"for (int64_t tg_p = {lo}; tg_p < {hi}; tg_p += {B}) {{",
            f"    const int64_t tg_pe = {hi} - tg_p < {B} ? {hi} : tg_p + {B};",
            *_innermost(var, "tg_p", "tg_pe", body, inner, "    "), "}"]


def with_fallback(var, lo, hi, body, plain) -> list[str]:
    """The loop over ``var`` in [lo, hi) of ``body`` (sin/cos pairs in one pass), then again
    of ``plain`` (libm's calls) when an operand was out of the pass's range (sincos.py)."""
    f = sincos.FLAG
    return ["{", f"    int {f} = 0;", f"    TG_SIMD_RED(reduction(|:{f}))",
            f"    for (int64_t {var} = {lo}; {var} < {hi}; {var}++) {{",
            *["        " + b for b in body], "    }", f"    if ({f}) {{",
            *["        " + ln for ln in _innermost(var, lo, hi, plain, None, "")], "    }", "}"]


def _innermost(var, lo, hi, body, inner, pad) -> list[str]:
    if inner is not None:
        return [pad + ln for ln in inner(var, lo, hi)]
    return [f"{pad}TG_SIMD", f"{pad}for (int64_t {var} = {lo}; {var} < {hi}; {var}++) {{",
            *[pad + "    " + b for b in body], f"{pad}}}"]


def index(coeffs: list[tuple[str, int]], base: int = 0) -> str:
    terms = [f"{v}*{c}" if c != 1 else v for v, c in coeffs if c != 0]
    if base:
        terms.append(str(base))
    return " + ".join(terms) if terms else "0"


class Kernel:
    """One loop nest: the elementwise body of a fused kernel (or of a single equation) over
    the iteration space of its outputs, with broadcasts as index maps and at most one final
    reduction."""

    def __init__(self, em, name: str, body: Graph, eqn, aliased=frozenset(),
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
        from .bounds import DomainFlags  # equations NumPy raises for: flags, sites (bounds.py)
        S = self.shape
        n = len(S)
        st = strides(S)
        flags = DomainFlags(self.em, self.body.eqns)
        self.raises = flags.raises  # the call returns 1 then (emit.py)
        body_in = list(self.body.inputs)
        params = [f"const {ctype(v.aval.dtype)}* {'' if k in self.aliased else 'restrict '}"
                  f"p_{self.namer(v)}" for k, v in enumerate(body_in)]
        outs = list(self.body.outputs)
        out_names = [f"q{j}" for j in range(len(outs))]
        params += [f"{ctype(o.aval.dtype)}* q{j}" for j, o in enumerate(outs)]
        flat = index([(f"i{d}", st[d]) for d in range(n)])
        scalars, stmts, recs = [], [], []  # recs: stmts as call_loops.Stmt records
        at: dict[int, int] = {}  # equation id -> its statement's index in stmts
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
            if e.prim is broadcast_in_dim_p:
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
                    ist = strides(src.aval.shape)
                    coeffs = [(f"i{d}", ist[k]) for k, d in enumerate(dims)
                              if src.aval.shape[k] != 1]
                    expr = f"p_{self.namer(src)}[{index(coeffs)}]"
            else:
                args = [c_literal(a) if isinstance(a, Lit) else val[id(a)] for a in e.inputs]
                in_dt = e.inputs[-1].aval.dtype if e.prim is select_p else \
                    e.inputs[0].aval.dtype
                expr = scalar_expr(e.prim, args, in_dt, o.aval.dtype, e.params,
                                   [a if isinstance(a, Lit) else uniform.get(id(a))
                                    for a in e.inputs], flags.flag(e))
                if o.aval.shape == ():
                    uniform[id(o)] = True
            cmt = comment(format_eqn(e, self.namer), e.src)
            target = f"v_{onm}"
            if o.aval.shape == () and n:
                scalars.append(f"const {t} {target} = {expr}; /* {cmt} */")
            else:
                stmts.append(f"const {t} {target} = {expr}; /* {cmt} */")
                at[id(e)] = len(stmts) - 1
                uses = () if e.prim is broadcast_in_dim_p else \
                    tuple(val[id(a)] for a in e.inputs if not isinstance(a, Lit))
                recs.append(Stmt(target, stmts[-1], uses,
                                 e.prim is not broadcast_in_dim_p and is_call(e), t))
            val[id(o)] = target
        writes = []
        for j, o in enumerate(outs):
            if epi is not None and o is epi.outputs[0]:
                continue
            writes.append(f"{out_names[j]}[{flat}] = {val[id(o)]};")
        fn = [f"TG_KERNEL {flags.ret} {self.name}({', '.join(params)}) {{"]
        fn += ["    " + s for s in flags.decls() + scalars]
        live_out = {val[id(o)] for o in outs if epi is None or o is not epi.outputs[0]}
        paired = self.paired(stmts, at, val) if n else None
        if paired is not None:
            fn.insert(0, sincos.SOURCE)
        if epi is None and n and spills(recs, live_out) >= call_loops.SPLIT_MIN_SPILLS:
            fn += nest(S, [], inner=lambda var, lo, hi: self.split_loop(var, lo, hi, recs,
                                                                        writes))
        elif epi is None and paired is not None:
            fn += nest(S, [], inner=lambda var, lo, hi: with_fallback(
                var, lo, hi, paired + writes, stmts + writes))
        elif epi is None:
            fn += nest(S, stmts + writes)
        else:
            fn += self.reduction_loops(S, stmts, writes, val, outs, out_names, paired)
        fn += ["    " + s for s in flags.report()]
        fn.append("}")
        from .simd_limit import drop_forced_simd  # a huge body: no forced vectorisation
        return "\n".join(drop_forced_simd(fn, len(stmts)))

    def paired(self, stmts, at, val):
        """``stmts`` with each float32 sin/cos pair of one operand computed by one statement
        (sincos.py), or None when the body has no pair."""
        from .simd_limit import SIMD_MAX_STATEMENTS  # its flag's loop is a forced SIMD one
        pairs = sincos.pairs(e for e in self.body.eqns if id(e) in at)
        if not pairs or len(stmts) > SIMD_MAX_STATEMENTS:
            return None
        out = list(stmts)
        for s, c in set(pairs.values()):
            i, j = sorted((at[id(s)], at[id(c)]))
            out[i] = sincos.statement(val[id(s.inputs[0])], val[id(s.outputs[0])],
                                      val[id(c.outputs[0])])
            out[j] = ""
        return [ln for ln in out if ln]

    def split_loop(self, var, lo, hi, recs, writes) -> list[str]:
        """The innermost loop over ``var`` in [lo, hi) in blocks of CALL_BLOCK elements: per
        block, the libm calls (and what feeds them) into L1 buffers, then the rest of the
        body reading them (call_loops.py: a vector call spills every live vector value).
        Kernels with a reduction keep one loop: blocks would change the order of its sum."""
        B = call_loops.CALL_BLOCK
        pre, stores, main = split(recs, lambda nm: f"rb_{nm}[tg_k]")
        idx = f"const int64_t {var} = tg_j + tg_k;"
        return [f"for (int64_t tg_j = {lo}; tg_j < {hi}; tg_j += {B}) {{",
                f"    const int64_t tg_n = {hi} - tg_j < {B} ? {hi} - tg_j : {B};",
                *[f"    {r.ctype} rb_{r.name}[{B}]; /* call buffer */" for r in recs if r.call],
                *["    " + ln for ln in call_loop("tg_k", "tg_n", [idx] + pre + stores)],
                *["    " + ln for ln in call_loop("tg_k", "tg_n",
                                                  [idx] + [r.text for r in main] + writes)],
                "}"]

    def reduction_loops(self, S, stmts, writes, val, outs, out_names, paired=None):
        epi = self.epilogue
        axes = tuple(epi.params["axes"])
        src = epi.inputs[0]
        op = lowering(epi.prim)
        o = epi.outputs[0]
        j_out = next(j for j, x in enumerate(outs) if x is o)
        q = out_names[j_out]
        t_out = ctype(o.aval.dtype)
        red = op.reduction
        acc_t = {"float": "double", "double": "double", "int32_t": "int64_t",
                 "int64_t": "int64_t", "uint8_t": "int64_t", "float _Complex": "double _Complex",
                 "double _Complex": "double _Complex"}[ctype(src.aval.dtype)] \
            if red.widen else ctype(src.aval.dtype)
        x = val[id(src)] if not isinstance(src, Lit) else c_literal(src)
        isfloat = ctype(src.aval.dtype) in ("float", "double")
        nan = isfloat and red.nan  # max/min of floats: a NaN anywhere is the result
        init = red.init(isfloat, src.aval.dtype)
        combine = red.combine + (" nan |= ({x} != {x});" if nan else "")
        simd_red = f"reduction({red.simd}:acc)" + (" reduction(|:nan)" if nan else "")
        n = len(S)
        kept = [d for d in range(n) if d not in axes]
        finish = "(nan ? NAN : acc)" if nan else "acc"
        body = stmts + writes + [combine.format(x=f"(({acc_t}){x})")]
        nan_decl = "int nan = 0; " if nan else ""
        if kept == list(range(len(kept))):
            # reduced axes are a suffix: one accumulator per output element
            kshape = [S[d] for d in kept]
            rshape = [S[d] for d in axes]
            ost = strides(kshape)
            dst = index([(f"i{d}", ost[k]) for k, d in enumerate(kept)])
            inner = []
            for k, d in enumerate(axes):
                pad = "    " * k
                if k == len(axes) - 1:
                    inner.append(f"{pad}TG_SIMD_RED({simd_red})")
                inner.append(f"{pad}for (int64_t i{d} = 0; i{d} < {S[d]}; i{d}++) {{")
            inner += ["    " * len(axes) + b for b in body]
            inner += ["    " * k + "}" for k in reversed(range(len(axes)))]
            inner_total = size(rshape)
            block = [f"{acc_t} acc = {init}; {nan_decl}"] + inner + \
                [f"{q}[{dst}] = ({t_out}){finish};"]
            if not kept:
                # a 1-D sum with a sin/cos pair: the pair in one pass, the chunk again with
                # the libm calls when an operand was out of the pass's range (sincos.py)
                pbody = paired + body[len(stmts):] if paired is not None and n == 1 else None
                return self.full_reduction(S, body, acc_t, init, simd_red, q, t_out, finish,
                                           nan_decl, inner_total, pbody)
            return nest(kshape, block, work=size(S))
        # general axes: accumulate into a zeroed double/int64 array of the output's size
        ost = strides(o.aval.shape)
        oidx = index([(f"i{d}", ost[k]) for k, d in enumerate(kept)])
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
        lines += nest(S, gbody, parallel=False)
        fin = "(nans[k] ? NAN : accs[k])" if nan_decl else "accs[k]"
        lines += [f"for (int64_t k = 0; k < {nout}; k++) {q}[k] = ({t_out}){fin};",
                  "free(accs);" + (" free(nans);" if nan_decl else "")]
        return ["    " + ln for ln in lines]

    def full_reduction(self, S, body, acc_t, init, simd_red, q, t_out, finish, nan_decl, total,
                       pbody=None):
        """All axes reduced: the outer loop cut into ``reduction_chunks`` chunks chosen by size
        alone, each chunk's partial stored at its index and the partials combined in chunk
        order, so the result is the same whatever team ran it; the team follows the CPUs free
        (TG_PARALLEL_FOR_N), as any loop's."""
        n = len(S)
        outer = S[0] if n else 1
        nc = reduction_chunks(total, outer)
        blocks = n == 1 and total >= STRIP_MIN_ELEMENTS  # a long 1-D sum polls between blocks
        lines = ["TG_POLL_DECL" if blocks or (n >= 2 and total >= POLL_MIN_ELEMENTS) else "",
                 f"{acc_t} parts[{nc}];", f"int nanparts[{nc}];" if nan_decl else ""]
        if pbody is not None:  # n == 1
            flag = sincos.FLAG
            inner = [f"int {flag} = 0;"] + self._chunk_loops(
                S, pbody, f"{simd_red} reduction(|:{flag})", total, blocks) + \
                [f"if ({flag}) {{", f"    acc = {init};" + (" nan = 0;" if nan_decl else "")] + \
                ["    " + ln for ln in self._chunk_loops(S, body, simd_red, total, blocks)] + ["}"]
        else:
            inner = self._chunk_loops(S, body, simd_red, total, blocks)
        # chunk t: a fixed contiguous share of the outer loop (the same for any team)
        chunk = [f"const int64_t lo = (int64_t){outer} * t / {nc}, "
                 f"hi = (int64_t){outer} * (t + 1) / {nc};",
                 f"{acc_t} acc = {init}; {nan_decl}"] + inner + \
            ["parts[t] = acc;" + (" nanparts[t] = nan;" if nan_decl else "")]
        # no more threads than chunks (a short outer loop)
        par = f"TG_PARALLEL_FOR_N({min(team_size(total), nc)})" if nc >= 2 else ""
        lines += [par, f"for (int t = 0; t < {nc}; t++) {{"] + ["    " + r for r in chunk] + ["}"]
        comb = lowering(self.epilogue.prim).reduction.merge
        nanc = " anynan |= nanparts[t];" if nan_decl else ""
        lines += [f"{{ {acc_t} a = parts[0]; int anynan = 0;" + (" anynan = nanparts[0];"
                                                                 if nan_decl else ""),
                  f"  for (int t = 1; t < {nc}; t++) {{ {comb}{nanc} }}",
                  f"  {q}[0] = ({t_out})" + ("(anynan ? NAN : a); }" if nan_decl else "a; }")]
        return ["    " + ln for ln in lines if ln]

    def _chunk_loops(self, S, body, simd_red, total, blocks) -> list[str]:
        """The loops of one chunk [lo, hi) of a full reduction's outer loop."""
        n = len(S)
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
        return inner
